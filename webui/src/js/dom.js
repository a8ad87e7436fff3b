// Building DOM without innerHTML for data: text always goes in as text (no XSS from caller names).
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value") el.value = value;
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

let toastBox = null;
export function toast(text, kind = "") {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h("div", { class: `toast ${kind}` }, text);
  toastBox.append(el);
  setTimeout(() => el.remove(), kind === "alarm" ? 7000 : 3500);
}

// A confirmation dialog; resolves true on confirm.
export function confirmDialog({ title, text, confirm, cancel, danger = false }) {
  return new Promise((resolve) => {
    const ok = h("button", { class: danger ? "alarm" : "primary", type: "button", "data-role": "confirm" }, confirm);
    const no = h("button", { type: "button", "data-role": "cancel" }, cancel);
    const dialog = h("dialog", { class: "confirm" },
      h("div", { class: "d-body" }, h("h2", {}, title), h("p", { class: "muted" }, text)),
      h("div", { class: "d-actions" }, no, ok));
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    ok.addEventListener("click", () => done(true));
    no.addEventListener("click", () => done(false));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(false); });
    document.body.append(dialog);
    dialog.showModal();
    ok.focus();
  });
}
