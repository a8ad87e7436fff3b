// Help: the text comes from help/de.html or help/en.html (our own static files).
import { h } from "./dom.js";
import { lang } from "./i18n.js";

export function mount(main) {
  const box = h("div", { class: "help card card-body", id: "help" });
  main.append(box);
  fetch(`/static/help/${lang()}.html`).then((r) => r.text()).then((html) => { box.innerHTML = html; });
}
