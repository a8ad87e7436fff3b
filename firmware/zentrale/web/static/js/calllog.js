// Anrufliste (call log): the recent calls of my teams (an admin's: all), newest first, a page at a
// time ("Weitere laden"), filtered by team and by outcome. Each row with a number has the viewer's
// one click "Nummer sperren" / "Sperre aufheben" (the same API and audit: /api/caller-lists).
// What a row shows is what the box keeps (GET /api/calllog); retention has already anonymised
// old numbers (docs/privacy.md).
import { get } from "./api.js";
import { clear, h } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, decimal, t } from "./i18n.js";
import { live, on, personName } from "./live.js";
import { failed } from "./refusals.js";
import { blockedNumbers, isAnonymous, setBlocked } from "./callers.js";

const PAGE = 50;
const FILTER_KEY = "zentrale.calllog";
const OUTCOMES = ["answered", "abandoned", "voicemail", "callback", "callback_answered", "callback_no_answer",
  "callback_agent_gone", "callback_abandoned", "blocked", "overflow", "no_message", "hangup", "failed", "time_limit", "callback_no_agent", "shutdown"];

function teamName(id) {
  if (!id) return "–";
  return live.me.teams.find((team) => team.id === id)?.name || id;
}

// The teams whose calls I see: an admin all, an agent his own (the API refuses the others).
function myTeams() {
  if (live.me.role === "admin") return live.me.teams;
  const mine = new Set(live.agent?.teams || []);
  return live.me.teams.filter((x) => mine.has(x.id));
}

function filters() {
  const saved = JSON.parse(localStorage.getItem(FILTER_KEY) || "{}");
  const team = myTeams().some((x) => x.id === saved.team) ? saved.team : "";
  return { team, outcome: OUTCOMES.includes(saved.outcome) ? saved.outcome : "" };
}

// A number to block has digits: not a withheld one, not one retention anonymised (docs/privacy.md).
const blockable = (caller) => !isAnonymous(caller) && /\d/.test(caller);

const secs = (s) => (s === null || s === undefined ? "–" : `${decimal(s, 0)} s`);

function outcomeText(row) {
  if (!row.outcome) return t(row.ended_at ? "calllog.outcome.hangup" : "calllog.outcome.running");
  if (row.outcome === "answered" && row.answered_by) return t("calllog.answered_by", { who: personName(row.answered_by) });
  const text = OUTCOMES.includes(row.outcome) ? t(`calllog.outcome.${row.outcome}`) : row.outcome;
  return row.answered_by ? `${text} · ${personName(row.answered_by)}` : text;
}

export function mount(main) {
  const f = filters();
  let rows = [];
  let more = false;
  let blocked = new Map(); // caller number -> on the block list
  let asked = 0; // the newest load: an older answer arriving late is dropped
  const toolbar = h("div", { class: "toolbar" });
  const body = h("div", { id: "calllog" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("calllog.title")), h("p", {}, t("calllog.subtitle"))),
    h("a", { class: "button small ghost", href: "#/numbers", id: "calllog-numbers" }, icon("ban"), t("callers.open"))),
  toolbar, body);

  const query = (before) => {
    const q = new URLSearchParams({ limit: String(PAGE + 1) });
    if (f.team) q.set("team", f.team);
    if (f.outcome) q.append("outcome", f.outcome);
    if (before) { q.set("before", before.started_at); q.set("before_id", before.call_id); }
    return `/api/calllog?${q}`;
  };

  const load = async (append) => {
    const n = ++asked;
    try {
      const got = await get(query(append ? rows[rows.length - 1] : null));
      if (n !== asked) return;
      more = got.length > PAGE;
      rows = append ? rows.concat(got.slice(0, PAGE)) : got.slice(0, PAGE);
      await lookBlocked();
      if (n === asked) renderRows();
    } catch (err) {
      failed(err);
    }
  };

  const lookBlocked = async () => {
    try {
      blocked = await blockedNumbers(rows.map((r) => r.caller).filter((c) => blockable(c)));
    } catch {
      // the lists could not be read: no block buttons until the next load
    }
  };

  const block = async (row, on) => {
    try {
      await setBlocked(row.caller, on, t("calllog.block_note", { at: dateTime(row.started_at) }));
      await lookBlocked();
      renderRows();
    } catch (err) {
      failed(err);
    }
  };

  const renderToolbar = () => {
    const save = () => { localStorage.setItem(FILTER_KEY, JSON.stringify(f)); renderToolbar(); load(false); };
    const outcome = h("select", { id: "calllog-outcome", class: "inline", "aria-label": t("calllog.outcome"),
      onchange: (e) => { f.outcome = e.target.value; save(); } },
    h("option", { value: "" }, t("calllog.all_outcomes")),
    OUTCOMES.map((o) => h("option", { value: o, selected: f.outcome === o }, t(`calllog.outcome.${o}`))));
    clear(toolbar,
      h("div", { class: "segmented", role: "group", "aria-label": t("calllog.team") },
        [{ id: "", name: t("msg.all_teams") }, ...myTeams()].map((team) => h("button", {
          type: "button", "aria-pressed": String(f.team === team.id), "data-team": team.id,
          onclick: () => { f.team = team.id; save(); },
        }, team.name))),
      outcome);
  };

  const blockButton = (row) => {
    if (!blockable(row.caller) || !blocked.has(row.caller)) return null;
    return blocked.get(row.caller)
      ? h("button", { type: "button", class: "small ghost", "data-action": "unblock", onclick: () => block(row, false) }, icon("undo"), t("callers.unblock"))
      : h("button", { type: "button", class: "small ghost", "data-action": "block", onclick: () => block(row, true) }, icon("ban"), t("callers.block"));
  };

  const renderRows = () => {
    if (!rows.length) {
      clear(body, h("div", { class: "card empty" }, icon("history"), h("b", {}, t("calllog.none")), t("calllog.none_hint")));
      return;
    }
    const tr = (row) => h("tr", { "data-call": row.call_id, "data-outcome": row.outcome || "", "data-caller": row.caller || "" },
      h("td", { class: "nowrap" }, dateTime(row.started_at)),
      h("td", {}, isAnonymous(row.caller)
        ? h("span", { class: "muted", "data-withheld": "" }, t("calllog.withheld"))
        : [row.caller_name ? h("b", {}, row.caller_name, " ") : null, h("span", { class: "num" }, row.caller)]),
      h("td", {}, teamName(row.team)),
      h("td", { class: "outcome" }, outcomeText(row)),
      h("td", { class: "num" }, secs(row.waited_s)),
      h("td", { class: "num" }, secs(row.talk_s)),
      h("td", { class: "actions" }, blockButton(row)));
    // seven columns: on a phone the table scrolls sideways, the page does not
    clear(body, h("section", { class: "card" }, h("div", { class: "table-scroll" }, h("table", { class: "list calllog" },
      h("thead", {}, h("tr", {}, ["time", "caller", "team", "outcome", "wait", "talk"].map((k) => h("th", {}, t(`calllog.${k}`))), h("th", {}))),
      h("tbody", {}, rows.map(tr))))),
    more ? h("p", { class: "load-more" }, h("button", { type: "button", id: "calllog-more", onclick: () => load(true) }, t("calllog.more"))) : null);
  };

  renderToolbar();
  load(false);
  const off = on("agent", renderToolbar); // an agent's teams arrive (or change) after the page is shown
  return () => { asked += 1; off(); };
}
