// The agent client: my workplace (log in with a phone number, teams, pause), the live list of
// waiting calls, "Vermitteln", and the two views the customer knows: the call window (a pop-up
// card plus a browser notification when a call starts waiting) and the compact call bar.
import { api } from "./api.js";
import { $, clear, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { duration, t } from "./i18n.js";
import { emit, live, myTeams, on, refreshAgent, waitingCalls } from "./live.js";
import { failed, refusalNotice } from "./refusals.js";

const VIEW_KEY = "zentrale.view";
const dismissed = new Set();
let lastFailure = null; // {reason, caller, team} of my last failed pull
let workRefusal = null; // the box's answer to my last login, pause or logout, until the next one works
let lastCallTeam = null; // the team of my current or last call (its wrap-up time)
let globalOff = [];

export function view() {
  return localStorage.getItem(VIEW_KEY) === "bar" ? "bar" : "window";
}

function setView(value) {
  localStorage.setItem(VIEW_KEY, value);
  renderGlobal();
  for (const fn of viewListeners) fn();
}
const viewListeners = new Set();

function teamName(id) {
  return live.me.teams.find((team) => team.id === id)?.name || id;
}

function holdText(entry) {
  if (!entry.hold_label) return t("hold.start");
  const kind = entry.hold_label.split(":")[0];
  return `${t(`hold.${kind}`)} · ${t("hold.step", { n: entry.hold_step + 1 })}`;
}

function canPull() {
  return live.agent && live.agent.state === "available";
}

function offerText(entry) {
  if (entry.state !== "offered") return null;
  if (entry.offered_to === live.me.agent_id) return h("span", { class: "pill ring" }, h("span", { class: "dot" }), t("calls.ringing_me"));
  const who = entry.offered_to === "ring_all" ? t("calls.team") : entry.offered_to;
  return h("span", { class: "pill ring" }, t("calls.offered_to", { who }));
}

// a callback (issue 16, 3): the caller hung up and keeps their place; pulling it rings my phone,
// then the box calls the caller (calls/callback.py)
function callbackPill(entry) {
  if (!entry.callback) return null;
  return h("span", { class: "pill warn", "data-callback": entry.callback, title: t("calls.callback_hint") }, icon("phone"), t("calls.callback"));
}

function waitedEl(entry, cls = "") {
  return h("span", { class: cls, "data-base": String(entry._base) }, duration((performance.now() - entry._base) / 1000));
}

function tick() {
  const now = performance.now();
  for (const el of document.querySelectorAll("[data-base]")) {
    el.textContent = duration((now - Number(el.dataset.base)) / 1000);
  }
}
function tickDown() {
  const now = performance.now();
  for (const el of document.querySelectorAll("[data-until]")) {
    el.textContent = duration(Math.ceil((Number(el.dataset.until) - now) / 1000));
  }
}
setInterval(() => { tick(); tickDown(); }, 250); // a quarter second: the shown seconds change on time

export async function pull(entry) {
  if (!live.me.agent_id) return;
  lastFailure = null;
  try {
    await api("POST", `/api/queues/${encodeURIComponent(entry.entry_id)}/pull`, { agent: live.me.agent_id });
    toast(t("pull.ringing", { caller: entry.caller }));
  } catch (err) {
    failed(err);
  }
}

function pullButton(entry, cls = "go") {
  const mine = entry.state === "offered" && entry.offered_to === live.me.agent_id;
  return h("button", {
    type: "button", class: cls, "data-action": "pull", "data-entry": entry.entry_id,
    disabled: !canPull() || entry.state !== "waiting",
    title: !live.me.agent_id ? t("calls.no_agent") : !canPull() ? t("calls.not_available_hint") : null,
    onclick: () => pull(entry),
  }, icon("transfer"), t(mine ? "calls.ringing_short" : "calls.pull"));
}

// --- global parts: call bar and call window ------------------------------------------------

let barEl = null;
let winEl = null;

export function mountGlobal(bar, win) {
  for (const off of globalOff) off();
  barEl = bar;
  winEl = win;
  globalOff = [
    on("queue", renderGlobal),
    on("agent", renderGlobal),
    on("call_waiting", notify),
    on("call_left", (d) => dismissed.delete(d.entry_id)),
    on("pull_failed", (d) => {
      const entry = live.queue.get(d.entry_id);
      lastFailure = { reason: d.reason, caller: entry?.caller, team: entry?.team };
      toast(t("pull.failed", { reason: t(`reason.${d.reason}`) }), "alarm");
      renderGlobal();
    }),
  ];
  renderGlobal();
}

function popupAllowed() {
  return live.agent && ["available", "wrap_up", "ringing"].includes(live.agent.state);
}

function renderGlobal() {
  if (!barEl || !winEl) return;
  const calls = waitingCalls();
  // the call bar: on every page, in the compact view
  if (view() === "bar" && live.me.agent_id) {
    clear(barEl, h("div", { class: "callbar", role: "region", "aria-label": t("calls.bar") },
      h("div", { class: "callbar-inner" },
        h("span", { class: "label" }, t("calls.bar")),
        calls.length === 0
          ? h("span", { class: "none" }, t("calls.none_short"))
          : calls.map((e) => h("div", { class: "callchip", "data-entry": e.entry_id },
            h("span", { class: "pill team" }, teamName(e.team)), callbackPill(e),
            h("span", { class: "num" }, e.caller_name ? `${e.caller} · ${e.caller_name}` : e.caller),
            waitedEl(e, "t"),
            pullButton(e, "go small"))))));
  } else {
    clear(barEl);
  }
  // the call window: a pop-up card for the longest-waiting call I have not put aside
  const candidate = calls.find((e) => !dismissed.has(e.entry_id) && (e.state === "waiting" || e.offered_to === live.me.agent_id));
  if (view() !== "window" || !popupAllowed() || !candidate) {
    clear(winEl);
    reserveSpace(null);
    return;
  }
  const others = calls.length - 1;
  const card = h("section", { class: "callwin", role: "dialog", "aria-live": "assertive", "aria-label": t("calls.window"), "data-entry": candidate.entry_id },
    h("div", { class: "head" },
      h("div", { class: "ringicon" }, icon("phone")),
      h("div", {}, h("b", {}, t("calls.waiting_title")), h("small", {}, t("calls.for_team", { team: teamName(candidate.team) }))),
      h("button", { type: "button", class: "ghost close", "aria-label": t("calls.dismiss"), title: t("calls.dismiss"),
        onclick: () => { dismissed.add(candidate.entry_id); renderGlobal(); } }, icon("x"))),
    h("div", { class: "body" },
      h("div", { class: "num" }, candidate.caller, " ", callbackPill(candidate)),
      candidate.caller_name ? h("div", { class: "name" }, candidate.caller_name) : null,
      h("div", { class: "facts" },
        h("div", { class: "fact" }, h("small", {}, t("calls.waited")), h("b", {}, waitedEl(candidate))),
        h("div", { class: "fact" }, h("small", {}, t("calls.position")), h("b", {}, String(candidate.position))),
        h("div", { class: "fact" }, h("small", {}, t("calls.hold")), h("b", {}, t(`hold.${(candidate.hold_label || "start").split(":")[0]}`)))),
      h("div", { class: "actions" }, pullButton(candidate, "go big")),
      candidate.state === "offered" ? h("div", { class: "status" }, offerText(candidate)) : null,
      others > 0 ? h("div", { class: "more" }, h("a", { href: "#/calls" }, t("calls.more", { n: others }))) : null));
  clear(winEl, card);
  reserveSpace(card);
}

// The page keeps room below its end for the call window, so scrolling brings every button
// above it (the window never hides an action for good).
let watching = null;
const sizes = new ResizeObserver(() => setSpace(watching));
function setSpace(card) {
  const height = card && card.isConnected ? card.getBoundingClientRect().height : 0;
  document.documentElement.style.setProperty("--callwin-space", `${Math.ceil(height ? height + 24 : 0)}px`);
}
function reserveSpace(card) {
  if (watching) sizes.unobserve(watching);
  watching = card;
  if (card) sizes.observe(card);
  setSpace(card);
}

function notify(entry) {
  const teams = myTeams();
  if (teams && !teams.has(entry.team)) return;
  if (!popupAllowed() || !("Notification" in window) || Notification.permission !== "granted") return;
  const n = new Notification(t("notify.title", { team: teamName(entry.team) }), {
    body: t("notify.body", { caller: entry.caller_name ? `${entry.caller} (${entry.caller_name})` : entry.caller }),
    tag: entry.entry_id,
    icon: "/static/img/logo.svg",
  });
  n.onclick = () => { window.focus(); location.hash = "#/calls"; n.close(); };
}

// --- the calls page ------------------------------------------------------------------------

export function mount(main) {
  const workplace = h("section", { class: "card workplace", "aria-label": t("work.title") });
  const listCard = h("section", { class: "card", "aria-label": t("calls.list") });
  const taskCard = h("section", { class: "card", id: "callback-tasks", "aria-label": t("callbacks.title"), hidden: true });
  const toggle = h("div", { class: "segmented", role: "group", "aria-label": t("calls.view") });
  const renderToggle = () => clear(toggle, ["window", "bar"].map((v) => h("button", {
    type: "button", "aria-pressed": String(view() === v), "data-view": v, onclick: () => setView(v),
  }, t(`calls.view_${v}`))));
  main.append(
    h("div", { class: "page-head" },
      h("div", {}, h("h1", {}, t("calls.title")), h("p", {}, t("calls.subtitle"))),
      h("div", { class: "row-buttons" }, notifyButton(), toggle)),
    h("div", { class: "calls-layout" }, workplace, h("div", {}, listCard, taskCard)));
  const rows = new Map();
  const renderList = () => {
    const calls = waitingCalls();
    let list = listCard.querySelector("ul");
    if (!calls.length) {
      rows.clear();
      clear(listCard, listHead(0), h("div", { class: "empty" }, icon("inbox"), h("b", {}, t("calls.none")), t("calls.none_hint")));
      return;
    }
    if (!list) {
      clear(listCard, listHead(calls.length), (list = h("ul", { class: "waiting-list", id: "waiting" })));
      rows.clear();
    } else {
      listCard.querySelector(".card-head").replaceWith(listHead(calls.length));
    }
    list.classList.toggle("compact", view() === "bar");
    const ids = new Set(calls.map((e) => e.entry_id));
    for (const [id, li] of rows) if (!ids.has(id)) { li.remove(); rows.delete(id); }
    calls.forEach((e, i) => {
      const fresh = !rows.has(e.entry_id);
      const li = rows.get(e.entry_id) || h("li", { "data-entry": e.entry_id, class: "new" });
      clear(li,
        h("div", { class: "pos", title: t("calls.position") }, String(e.position)),
        h("div", { class: "caller" },
          h("span", { class: "num" }, e.caller),
          e.caller_name ? h("span", { class: "name" }, e.caller_name) : null,
          h("div", { class: "sub" }, h("span", { class: "pill team" }, teamName(e.team)), callbackPill(e),
            e.vip ? h("span", { class: "pill warn", "data-vip": "true", title: t("callers.vip_title") }, "VIP") : null,
            e.callback ? null : h("span", {}, holdText(e)), offerText(e))),
        h("div", { class: "waited" }, waitedEl(e), h("small", {}, t("calls.waited"))),
        h("div", { class: "act" }, pullButton(e)));
      if (fresh) rows.set(e.entry_id, li);
      if (list.children[i] !== li) list.insertBefore(li, list.children[i] || null);
    });
  };
  const listHead = (n) => h("div", { class: "card-head" },
    h("h2", {}, t("calls.list")), h("span", { class: `pill ${n ? "go" : ""}` }, t("calls.count", { n })));
  const renderWork = () => renderWorkplace(workplace);
  renderToggle();
  renderList();
  renderWork();
  renderTasks(taskCard);
  const offs = [
    on("queue", () => { renderList(); renderTasks(taskCard); }),
    on("agent", () => { renderWork(); renderList(); }),
    on("pull_failed", renderWork),
  ];
  const viewChanged = () => { renderToggle(); renderList(); };
  viewListeners.add(viewChanged);
  return () => { offs.forEach((off) => off()); viewListeners.delete(viewChanged); };
}

// callbacks the box could not complete: tasks until someone marks them done (GET /api/callbacks)
let tasksLoading = null;
async function renderTasks(card) {
  if (tasksLoading) return;
  tasksLoading = api("GET", "/api/callbacks").catch(() => null);
  const tasks = await tasksLoading;
  tasksLoading = null;
  if (!tasks || !tasks.length) { card.hidden = true; clear(card); return; }
  card.hidden = false;
  clear(card,
    h("div", { class: "card-head" }, h("h2", {}, t("callbacks.title")), h("span", { class: "pill warn" }, String(tasks.length))),
    h("ul", { class: "waiting-list" }, tasks.map((task) => h("li", { "data-callback": task.id },
      h("div", { class: "pos" }, icon("phone")),
      h("div", { class: "caller" },
        h("span", { class: "num" }, task.number),
        task.caller_name ? h("span", { class: "name" }, task.caller_name) : null,
        h("div", { class: "sub" }, h("span", { class: "pill team" }, teamName(task.team)),
          h("span", {}, t("callbacks.attempts", { n: task.attempts, reason: t(`reason.${task.outcome || "failed"}`) })))),
      h("div", { class: "act" }, h("button", { type: "button", "data-action": "callback-done", onclick: async () => {
        try {
          await api("POST", `/api/callbacks/${encodeURIComponent(task.id)}/done`);
        } catch (err) {
          failed(err);
        }
        renderTasks(card);
      } }, icon("check"), t("callbacks.done")))))));
}

function notifyButton() {
  if (!("Notification" in window) || Notification.permission !== "default") return null;
  const button = h("button", { type: "button", class: "hide-phone", onclick: async () => {
    await Notification.requestPermission();
    button.remove();
  } }, icon("bell"), t("calls.notify_enable"));
  return button;
}

function currentCall(agent) {
  const entry = agent.current_call ? live.seenCalls.get(agent.current_call) : null;
  if (!entry) return null;
  return `${entry.caller}${entry.caller_name ? ` (${entry.caller_name})` : ""} · ${teamName(entry.team)}`;
}

function renderWorkplace(box) {
  const agent = live.agent;
  if (!live.me.agent_id || !agent) {
    clear(box, h("div", { class: "card-head" }, h("h2", {}, t("work.title"))),
      h("div", { class: "card-body" }, h("div", { class: "notice info" }, icon("info"), t("calls.no_agent"))));
    return;
  }
  const loggedIn = agent.state !== "logged_out";
  const stored = JSON.parse(localStorage.getItem(`zentrale.teams.${agent.id}`) || "null");
  const picked = new Set(loggedIn ? agent.logged_in_teams : stored && stored.length ? stored : agent.teams);
  const numberKey = `zentrale.number.${agent.id}`;
  const number = h("input", { type: "tel", id: "phone-number", autocomplete: "tel",
    value: loggedIn ? agent.number : localStorage.getItem(numberKey) || agent.default_number || "",
    placeholder: t("work.number_placeholder"), disabled: loggedIn });
  const teamBoxes = agent.teams.map((id) => h("label", { class: "check" },
    h("input", { type: "checkbox", value: id, checked: picked.has(id), "data-team": id,
      disabled: loggedIn && ["ringing", "on_call"].includes(agent.state),
      onchange: () => teamsChanged() }), teamName(id)));
  const chosen = () => teamBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
  const teamsChanged = async () => {
    localStorage.setItem(`zentrale.teams.${agent.id}`, JSON.stringify(chosen()));
    if (loggedIn && chosen().length) await act("login", { number: agent.number, teams: chosen() });
    else emit("queue");
  };
  const act = async (what, body) => {
    try {
      live.agent = await api("POST", `/api/agents/${encodeURIComponent(agent.id)}/${what}`, body);
      workRefusal = null;
      await refreshAgent();
    } catch (err) {
      workRefusal = err;
      renderWorkplace(box);
    }
  };
  const login = () => {
    const value = number.value.trim();
    if (!value) { number.focus(); return; }
    if (!chosen().length) { toast(t("work.pick_team"), "alarm"); return; }
    localStorage.setItem(numberKey, value);
    act("login", { number: value, teams: chosen() });
  };
  const stateBox = h("div", { class: `state state-${agent.state}`, id: "agent-state", "data-state": agent.state },
    h("span", { class: "big-dot" }),
    h("div", {}, h("b", {}, t(`state.${agent.state}`)),
      h("small", {}, loggedIn ? t("work.reachable_at", { number: agent.number }) : t("work.logged_out_hint"))));
  const entry = agent.current_call ? live.seenCalls.get(agent.current_call) : null;
  if (entry) lastCallTeam = entry.team;
  const since = performance.now() - (agent.seconds_in_state || 0) * 1000;
  const current = ["ringing", "on_call"].includes(agent.state) ? h("div", { class: "current", id: "current-call" },
    h("div", { class: "k" }, t(agent.state === "ringing" ? "work.ringing" : "work.on_call"),
      agent.state === "on_call" ? h("span", { class: "talk-time", id: "talk-time", title: t("work.talk_time"), "data-base": String(since) },
        duration(agent.seconds_in_state || 0)) : null),
    h("div", { class: "v" }, currentCall(agent) || "–")) : null;
  const wrapUp = agent.state === "wrap_up" ? wrapUpBox(agent, since, () => act("pause", { paused: false })) : null;
  const failure = lastFailure ? h("div", { class: "notice alarm", id: "pull-failure", role: "alert" }, icon("alert"),
    h("div", {}, h("b", {}, t("pull.failed", { reason: t(`reason.${lastFailure.reason}`) })), h("br"),
      lastFailure.reason === "caller_gone" ? t("pull.failed_gone") : t("pull.failed_hint"))) : null;
  const buttons = loggedIn
    ? h("div", { class: "row-buttons" },
      agent.state === "paused"
        ? h("button", { type: "button", class: "primary", id: "resume", onclick: () => act("pause", { paused: false }) }, icon("play"), t("work.resume"))
        : h("button", { type: "button", id: "pause", disabled: !["available", "wrap_up"].includes(agent.state), onclick: () => act("pause", { paused: true }) }, icon("pause"), t("work.pause")),
      h("button", { type: "button", id: "agent-logout", disabled: ["ringing", "on_call"].includes(agent.state), title: t("work.logout_hint"), onclick: () => act("logout") }, icon("logout"), t("work.logout")))
    : h("button", { type: "button", class: "primary", id: "agent-login", onclick: login }, icon("phone"), t("work.login"));
  number.addEventListener("keydown", (e) => { if (e.key === "Enter") login(); });
  clear(box,
    h("div", { class: "card-head" }, h("h2", {}, t("work.title")), h("span", { class: "muted" }, agent.name)),
    h("div", { class: "card-body" },
      stateBox,
      h("label", { class: "field" }, h("span", {}, t("work.number")), number),
      h("div", { class: "field" }, h("span", { class: "muted" }, t("work.teams")), h("div", { class: "team-picks" }, teamBoxes)),
      buttons, current, wrapUp, failure,
      workRefusal ? refusalNotice(workRefusal, "work-refusal") : null,
      workRefusal && workRefusal.code === "number_not_allowed" && live.me.admins?.length
        ? h("div", { class: "muted ask" }, t("work.ask_admins", { names: live.me.admins.join(", ") })) : null));
}

// Wrap-up: how long is left (the team's wrap-up time) and "Fertig" to be free at once.
function wrapUpBox(agent, since, done) {
  const team = live.me.teams.find((x) => x.id === lastCallTeam);
  const length = team?.wrap_up ?? Math.max(0, ...live.me.teams.filter((x) => agent.teams.includes(x.id)).map((x) => x.wrap_up || 0));
  const until = since + length * 1000;
  return h("div", { class: "current wrap-up", id: "wrap-up" },
    h("div", { class: "k" }, t("work.wrap_up_left")),
    h("div", { class: "wrap-row" },
      h("span", { class: "v", id: "wrap-up-left", "data-until": String(until) }, duration(Math.max(0, (until - performance.now()) / 1000))),
      h("button", { type: "button", class: "primary", id: "wrap-up-done", onclick: done }, icon("check"), t("work.wrap_up_done"))));
}
