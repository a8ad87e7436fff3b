// The head of the three pages that shape the call flow: modes, prompts and music, schedule.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

const TABS = [
  { id: "modes", icon: "flow", label: "nav.modes" },
  { id: "prompts", icon: "music", label: "nav.prompts" },
  { id: "schedule", icon: "calendar", label: "nav.schedule" },
];

export function modeTabs(current) {
  return h("nav", { class: "tabs page-tabs", "aria-label": t("nav.modes") },
    TABS.map((tab) => h("a", { href: `#/${tab.id}`, "aria-current": tab.id === current ? "page" : null, "data-tab": tab.id },
      icon(tab.icon), t(tab.label))));
}

export function pageHead(title, subtitle, ...actions) {
  return h("div", { class: "page-head" },
    h("div", {}, h("h1", {}, title), h("p", {}, subtitle)),
    actions.length ? h("div", { class: "row-buttons" }, actions) : null);
}
