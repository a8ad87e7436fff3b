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
// Where short messages appear (top middle); refusals.js puts the ones that stay there too.
export function toastArea() {
  if (!toastBox || !toastBox.isConnected) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  return toastBox;
}

export function toast(text, kind = "") {
  const el = h("div", { class: `toast ${kind}` }, text);
  toastArea().append(el);
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

// A dialog asking for one line of text; resolves the text, or null when cancelled.
export function promptDialog({ title, text = "", label, value = "", placeholder = "", confirm, cancel, check = () => null }) {
  return new Promise((resolve) => {
    const input = h("input", { type: "text", value, placeholder, autocomplete: "off", "data-role": "value" });
    const error = h("p", { class: "error", role: "alert" });
    const ok = h("button", { class: "primary", type: "submit", "data-role": "confirm" }, confirm);
    const no = h("button", { type: "button", "data-role": "cancel" }, cancel);
    const form = h("form", { method: "dialog" },
      h("div", { class: "d-body" }, h("h2", {}, title), text ? h("p", { class: "muted" }, text) : null,
        h("label", { class: "field" }, h("span", {}, label), input), error),
      h("div", { class: "d-actions" }, no, ok));
    const dialog = h("dialog", {}, form);
    const done = (result) => { dialog.close(); dialog.remove(); resolve(result); };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const problem = check(input.value.trim());
      if (problem) { error.textContent = problem; return; }
      done(input.value.trim());
    });
    no.addEventListener("click", () => done(null));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(null); });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
    input.select();
  });
}

// A labelled form field: <label class="field"><span>label</span>input<small>hint</small></label>.
export function field(label, input, hint = null) {
  return h("label", { class: "field" }, h("span", {}, label), input, hint ? h("small", { class: "hint" }, hint) : null);
}

// A dialog with several answers (buttons); resolves the chosen one's value, or null when cancelled.
export function choiceDialog({ title, text, choices, cancel }) {
  return new Promise((resolve) => {
    const buttons = choices.map((c) => h("button", { type: "button", class: c.kind || null, "data-choice": c.value,
      disabled: c.disabled || false, title: c.hint || null }, c.label));
    const no = h("button", { type: "button", "data-role": "cancel" }, cancel);
    const dialog = h("dialog", { class: "confirm choice" },
      h("div", { class: "d-body" }, h("h2", {}, title), h("p", { class: "muted" }, text)),
      h("div", { class: "d-actions" }, no, buttons));
    const done = (value) => { dialog.close(); dialog.remove(); resolve(value); };
    buttons.forEach((b, i) => b.addEventListener("click", () => done(choices[i].value)));
    no.addEventListener("click", () => done(null));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); done(null); });
    document.body.append(dialog);
    dialog.showModal();
    (buttons.find((b) => !b.disabled) || no).focus();
  });
}
