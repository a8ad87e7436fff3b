// Layout checks run in the page by tests/integration/test_webui_layout.py (the body of a
// function returning both checks).

// Elements whose content overflows them or whose box leaves their parent's, except inside
// containers made to scroll (the phone's navigation, wide tables) and fixed layers themselves.
const overflows = () => {
  const seen = [];
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '');
  const path = (el) => { const out = []; for (let e = el; e && e !== document.body; e = e.parentElement) out.unshift(name(e)); return out.slice(-4).join(' > '); };
  const scrolls = (el) => /(auto|scroll)/.test(getComputedStyle(el).overflowX);
  const inScroller = (el) => { for (let e = el.parentElement; e; e = e.parentElement) if (scrolls(e)) return true; return false; };
  for (const el of document.querySelectorAll('#app *, .toasts *')) {
    const style = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0 || style.visibility === 'hidden') continue;
    if (['svg', 'path', 'line', 'circle', 'rect', 'polyline', 'polygon', 'option', 'audio'].includes(el.tagName.toLowerCase())) continue;
    if (inScroller(el)) continue;
    if (!scrolls(el) && el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0 && style.display !== 'inline')
      seen.push(`${path(el)}: content ${el.scrollWidth} px wide in ${el.clientWidth} px`);
    const parent = el.parentElement;
    if (!parent || style.position === 'fixed' || parent.id === 'app') continue;
    const p = parent.getBoundingClientRect();
    if (r.right > p.right + 1 || r.left < p.left - 1)
      seen.push(`${path(el)}: ${Math.round(r.left)}..${Math.round(r.right)} outside ${Math.round(p.left)}..${Math.round(p.right)}`);
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    seen.push(`the page is ${document.documentElement.scrollWidth} px wide in a ${window.innerWidth} px window`);
  return seen;
};

// Every enabled button, link-button and text field of the page (not the call window's own):
// scrolled into the middle of the screen, is it the element under its own centre?
const hiddenActions = () => {
  const hidden = [];
  const actions = [...document.querySelectorAll('main button, main a.button, main textarea, main input, #banners button')]
    .filter((el) => !el.disabled && el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden');
  for (const el of actions) {
    el.scrollIntoView({ block: 'center', inline: 'center' });
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const top = document.elementFromPoint(x, y);
    if (!top || !(top === el || el.contains(top) || top.contains(el)))
      hidden.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}[${(el.textContent || el.placeholder || '').trim().slice(0, 30)}] under ${top ? top.closest('[class]')?.className : 'nothing'}`);
  }
  window.scrollTo(0, 0);
  return { checked: actions.length, hidden };
};

return { overflows: overflows(), hiddenActions: hiddenActions };
