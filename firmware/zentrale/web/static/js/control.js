// Manual control (Manuelle Steuerung): the switches of the active mode, grouped by tab
// ("Allgemein" first). Any agent switches an outage announcement on or off with two clicks:
// choose, confirm. Every change is in the audit log, shown below.
import { get } from "./api.js";
import { clear, h } from "./dom.js";
import { icon } from "./icons.js";
import { clockTime, dateTime, t } from "./i18n.js";
import { live, on, personName } from "./live.js";
import { flipSwitch, switchLabel } from "./switches.js";

let activeTab = null;

// Listening to a switch's announcement before switching it on (one player for the page).
const player = new Audio();
player.preload = "none";
let listening = null; // the switch id
function listenButton(sw, onChange) {
  const on_ = listening === sw.id;
  return h("button", { type: "button", class: "listen", "data-action": "listen", "aria-pressed": String(on_),
    title: t(on_ ? "control.listen_stop" : "control.listen"), onclick: () => {
      if (listening === sw.id) { player.pause(); listening = null; onChange(); return; }
      player.src = `/api/switches/${encodeURIComponent(sw.id)}/audio`;
      listening = sw.id;
      player.play().catch(() => { listening = null; onChange(); });
      onChange();
    } }, icon(on_ ? "stop" : "play"), t(on_ ? "control.listen_stop" : "control.listen"));
}

export function mount(main) {
  const tabs = h("div", { class: "tabs", role: "tablist" });
  const grid = h("div", { class: "switch-grid", id: "switches" });
  const history = h("ul", { class: "history", id: "switch-history" });
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("control.title")), h("p", {}, t("control.subtitle")))),
    tabs, grid,
    h("section", { class: "card", "aria-label": t("control.history") },
      h("div", { class: "card-head" }, h("h2", {}, t("control.history"))),
      h("div", { class: "card-body" }, history)));

  const render = () => {
    const names = [...new Set(live.switches.map((s) => s.tab || "Allgemein"))];
    names.sort((a, b) => (a === "Allgemein" ? -1 : b === "Allgemein" ? 1 : a.localeCompare(b)));
    if (!names.includes(activeTab)) activeTab = names[0] || null;
    clear(tabs, names.map((name) => h("button", { type: "button", role: "tab", "aria-selected": String(name === activeTab),
      onclick: () => { activeTab = name; render(); } }, name === "Allgemein" ? t("control.tab_general") : name)));
    const shown = live.switches.filter((s) => (s.tab || "Allgemein") === activeTab);
    if (!shown.length) {
      clear(grid, h("div", { class: "card empty" }, icon("toggle"), h("b", {}, t("control.none")), t("control.none_hint")));
      return;
    }
    clear(grid, shown.map((sw) => h("article", { class: `card switch ${sw.on ? "on" : ""}`, "data-switch": sw.id, "data-on": String(sw.on) },
      h("div", { class: "title" },
        h("h2", {}, switchLabel(sw)),
        h("span", { class: `pill ${sw.on ? "alarm" : ""}` }, h("span", { class: "dot" }), t(sw.on ? "control.is_on" : "control.is_off"))),
      h("div", { class: "what" }, t("control.replaces", { nodes: sw.replaces.map((n) => t(`node.${n}`) === `node.${n}` ? n : t(`node.${n}`)).join(", ") })),
      sw.on ? h("div", { class: "since" }, t("banner.since", { time: clockTime(sw.since), by: personName(sw.by) })) : h("div", { class: "what" }, sw.since ? t("control.last_off", { time: dateTime(sw.since), by: personName(sw.by) }) : "\u00a0"),
      h("div", { class: "switch-actions" },
        listenButton(sw, render),
        h("button", { type: "button", class: `big ${sw.on ? "" : "alarm"}`, "data-action": sw.on ? "off" : "on",
          onclick: () => flipSwitch(sw, !sw.on) }, icon(sw.on ? "power" : "alert"), t(sw.on ? "control.turn_off" : "control.turn_on"))))));
  };

  const loadHistory = async () => {
    let rows = [];
    try {
      rows = (await get("/api/audit?limit=200")).filter((r) => r.action.startsWith("switch.")).slice(0, 10);
    } catch {
      rows = [];
    }
    const label = (id) => {
      const sw = live.switches.find((s) => s.id === id);
      return sw ? switchLabel(sw) : id;
    };
    clear(history, rows.length ? rows.map((r) => h("li", {},
      h("time", {}, dateTime(r.at)),
      h("span", {}, t(r.action === "switch.on" ? "control.history_on" : "control.history_off", { label: label(r.detail), by: personName(r.who) }))))
      : h("li", { class: "muted" }, t("control.history_none")));
  };

  render();
  loadHistory();
  const ended = () => { listening = null; render(); };
  player.addEventListener("ended", ended);
  const offs = [on("switches", () => { render(); loadHistory(); })];
  return () => { offs.forEach((off) => off()); player.removeEventListener("ended", ended); player.pause(); listening = null; };
}
