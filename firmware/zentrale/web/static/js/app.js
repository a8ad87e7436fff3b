// The logged-in web page: top bar, outage banner, call bar / call window, and the pages.
import { api, ApiError, get, setCsrf } from "./api.js";
import { $, choiceDialog, clear, confirmDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { bytes, clockTime, lang, loadLanguages, setLang, t } from "./i18n.js";
import { connect, live, on, personName, waitingCalls } from "./live.js";
import { failed, setNames } from "./refusals.js";
import { flipSwitch, switchLabel } from "./switches.js";
import { discardUnsavedWork, hasUnsavedWork, setLeaveGuard } from "./guard.js";
import * as calls from "./calls.js";
import * as messages from "./messages.js";
import * as callers from "./callers.js";
import * as calllog from "./calllog.js";
import * as control from "./control.js";
import * as status from "./status.js";
import * as admin from "./admin.js";
import * as help from "./help.js";
import * as modes from "./modes.js";
import * as editor from "./editor.js";
import * as library from "./library.js";
import * as schedule from "./schedule.js";
import * as statistics from "./statistics.js";

const PAGES = [
  { id: "calls", icon: "phone", label: "nav.calls", module: calls },
  { id: "messages", icon: "voicemail", label: "nav.messages", module: messages },
  { id: "calllog", icon: "history", label: "nav.calllog", module: calllog },
  { id: "control", icon: "toggle", label: "nav.control", module: control },
  // the block and VIP lists: reached from the viewer (where numbers are blocked), shown under it
  { id: "numbers", icon: "ban", label: "nav.numbers", module: callers, navAs: "messages" },
  { id: "statistics", icon: "chart", label: "nav.statistics", module: statistics },
  { id: "modes", icon: "flow", label: "nav.modes", module: modes, admin: true },
  // reached from the modes page's tabs, shown under "Betriebsarten" in the navigation
  { id: "editor", label: "nav.editor", module: editor, admin: true, navAs: "modes", wide: true },
  { id: "prompts", label: "nav.prompts", module: library, admin: true, navAs: "modes" },
  { id: "schedule", label: "nav.schedule", module: schedule, admin: true, navAs: "modes" },
  { id: "status", icon: "activity", label: "nav.status", module: status, admin: true },
  { id: "admin", icon: "users", label: "nav.admin", module: admin, admin: true },
  { id: "help", icon: "help", label: "nav.help", module: help },
];

let unmountPage = null;

function pages() {
  return PAGES.filter((p) => !p.admin || live.me.role === "admin");
}

function currentPage() {
  const id = (location.hash.match(/^#\/(\w+)/) || [])[1];
  return pages().find((p) => p.id === id) || pages()[0];
}

function renderTopbar() {
  const page = currentPage();
  const nav = h("nav", { class: "nav", "aria-label": t("nav.label") },
    pages().filter((p) => !p.navAs).map((p) => h("a", {
      href: `#/${p.id}`, "aria-current": p.id === (page.navAs || page.id) ? "page" : null, class: p.admin ? "admin-only" : null,
      "data-page": p.id,
    }, icon(p.icon), h("span", {}, t(p.label)),
    p.id === "calls" ? h("span", { class: "count zero", id: "nav-waiting", title: t("nav.waiting_count") }, "0") : null,
    p.id === "messages" ? h("span", { class: "count zero", id: "nav-messages", title: t("nav.new_messages") }, "0") : null)));
  const langs = h("div", { class: "segmented", role: "group", "aria-label": t("lang.label") },
    ["de", "en"].map((l) => h("button", { type: "button", "aria-pressed": String(lang() === l), "data-lang": l,
      onclick: () => { setLang(l); render(); } }, l.toUpperCase())));
  const user = h("div", { class: "userbox" },
    langs,
    h("button", { type: "button", class: "ghost userchip", id: "account", title: t("account.password"), onclick: changePassword },
      h("b", {}, live.me.display_name), h("small", {}, t(`role.${live.me.role}`))),
    h("span", { class: `conn ${live.connected ? "" : "off"}`, id: "conn", title: t(live.connected ? "conn.on" : "conn.off") }),
    h("button", { class: "ghost logout", type: "button", title: t("auth.logout_hint"), "aria-label": t("auth.logout"),
      id: "logout", onclick: logout }, icon("logout"), h("span", { class: "logout-label" }, t("auth.logout"))));
  // the word "Ausloggen" beside the icon where the navigation leaves room (an agent's four pages)
  return h("header", { class: `topbar ${pages().filter((p) => !p.navAs).length <= 4 ? "roomy" : ""}` },
    h("a", { class: "brand", href: "#/calls" }, h("img", { src: "/static/img/logo.svg", alt: "" }), "Zentrale"),
    nav, user);
}

function changePassword() {
  const field = (id, label) => h("label", { class: "field" }, h("span", {}, label),
    h("input", { type: "password", id, autocomplete: id === "pw-old" ? "current-password" : "new-password" }));
  const error = h("p", { class: "error", role: "alert" });
  const save = h("button", { type: "submit", class: "primary" }, t("common.save"));
  const cancel = h("button", { type: "button" }, t("common.cancel"));
  const form = h("form", { method: "dialog" },
    h("div", { class: "d-body" }, h("h2", {}, t("account.password")),
      h("p", { class: "muted" }, t("account.password_hint")),
      field("pw-old", t("account.old")), field("pw-new", t("account.new")), field("pw-repeat", t("setup.repeat")), error),
    h("div", { class: "d-actions" }, cancel, save));
  const dialog = h("dialog", {}, form);
  cancel.addEventListener("click", () => { dialog.close(); dialog.remove(); });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const value = (id) => form.querySelector(`#${id}`).value;
    if (value("pw-new") !== value("pw-repeat")) { error.textContent = t("setup.mismatch"); return; }
    try {
      await api("PUT", "/api/auth/password", { old: value("pw-old"), new: value("pw-new") });
      dialog.close();
      dialog.remove();
      toast(t("account.changed"));
    } catch (err) {
      error.textContent = err.status === 401 ? t("account.wrong_old") : err.message;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

// Logging out of the page is not logging out of the phone service: an agent still logged in
// there would keep getting calls with nobody at the page. Ask what should happen.
async function logout() {
  const agent = live.agent;
  if (agent && agent.state !== "logged_out") {
    const busy = ["ringing", "on_call"].includes(agent.state);
    const choice = await choiceDialog({
      title: t("logout.title"),
      text: t(busy ? "logout.text_busy" : "logout.text", { state: t(`state.${agent.state}`), number: agent.number || "" }),
      choices: [
        { value: "page", label: t("logout.page_only") },
        { value: "service", label: t("logout.also_service"), kind: "primary", disabled: busy, hint: busy ? t("logout.busy_hint") : null },
      ],
      cancel: t("common.cancel"),
    });
    if (choice === null) return;
    if (choice === "service") {
      try {
        await api("POST", `/api/agents/${encodeURIComponent(agent.id)}/logout`);
      } catch (err) {
        failed(err);
        return;
      }
    }
  }
  try {
    await api("POST", "/api/auth/logout");
  } finally {
    window.location.href = "/login";
  }
}

// New messages of my teams (the agent's teams; an admin's: all), in the navigation like the
// waiting calls; kept current by the message events.
let newMessages = 0;
async function countNewMessages() {
  let rows;
  try {
    rows = await get("/api/messages?limit=500");
  } catch {
    return;
  }
  const mine = live.agent && live.me.role !== "admin" ? new Set(live.agent.teams) : null;
  newMessages = rows.filter((m) => m.status === "new" && (!mine || !m.team || mine.has(m.team))).length;
  updateCount();
}
let recount = null;
function countSoon() {
  clearTimeout(recount);
  recount = setTimeout(countNewMessages, 150);
}

// What the box says everyone should know (GET /api/notices): a data disk on which no message
// can be recorded. Polled: it changes rarely and has no event of its own.
let notices = [];
const NOTICE_EVERY_MS = 15000;

const DISK_TEXT = { full: "banner.disk_full", low: "banner.disk_low", failing: "banner.disk_failing" };

function noticeBanner(n) {
  return h("div", { class: "banner notice", role: "alert", "data-notice": n.id, "data-space": n.space, title: n.detail },
    h("div", { class: "banner-inner" },
      icon("alert"),
      h("span", { class: "what" }, t(DISK_TEXT[n.space] || "banner.disk_failing", { free: bytes(n.free) })),
      h("span", { class: "meta" }, t("banner.disk_hint", { min: bytes(n.min_free) }))));
}

async function loadNotices() {
  try {
    notices = await get("/api/notices");
  } catch {
    return;
  }
  renderBanner();
}

function renderBanner() {
  const box = $("#banners");
  if (!box) return;
  const on_ = live.switches.filter((s) => s.on);
  clear(box, notices.map(noticeBanner), on_.map((sw) => h("div", { class: "banner", role: "alert", "data-switch": sw.id },
    h("div", { class: "banner-inner" },
      icon("alert"),
      h("span", { class: "what" }, t("banner.on", { label: switchLabel(sw) })),
      h("span", { class: "meta" }, t("banner.since", { time: clockTime(sw.since), by: personName(sw.by) })),
      h("button", { type: "button", class: "small", onclick: () => flipSwitch(sw, false) }, icon("power"), t("control.turn_off"))))));
}

let shownHash = location.hash;

async function onHashChange() {
  if (location.hash === shownHash) return;
  if (hasUnsavedWork()) {
    const target = location.hash;
    history.replaceState(null, "", shownHash);
    const ok = await confirmDialog({ title: t("editor.leave_title"), text: t("editor.leave_text"),
      confirm: t("editor.leave_confirm"), cancel: t("editor.leave_stay"), danger: true });
    if (!ok) return;
    discardUnsavedWork();
    history.pushState(null, "", target);
  }
  mountPage();
}

function mountPage() {
  if (unmountPage) unmountPage();
  setLeaveGuard(null);
  shownHash = location.hash;
  const page = currentPage();
  for (const a of document.querySelectorAll(".nav a")) a.setAttribute("aria-current", a.dataset.page === (page.navAs || page.id) ? "page" : "false");
  const main = $("#main");
  clear(main);
  main.className = page.wide ? "wide" : "";
  document.title = `${t(page.label)} · Zentrale`;
  unmountPage = page.module.mount(main) || null;
  updateCount();
}

function updateCount() {
  for (const [id, n] of [["#nav-waiting", waitingCalls().length], ["#nav-messages", newMessages]]) {
    const el = $(id);
    if (!el) continue;
    el.textContent = String(n);
    el.classList.toggle("zero", n === 0);
  }
}

function render() {
  const root = $("#app");
  clear(root,
    renderTopbar(),
    h("div", { id: "banners" }),
    h("div", { id: "callbar" }),
    h("main", { id: "main" }),
    h("div", { id: "callwindow" }));
  renderBanner();
  calls.mountGlobal($("#callbar"), $("#callwindow"));
  mountPage();
}

async function boot() {
  let me;
  try {
    me = await get("/api/auth/me");
  } catch (err) {
    if (!(err instanceof ApiError)) throw err;
    return;
  }
  live.me = me;
  setCsrf(me.csrf);
  setNames({ team: (id) => me.teams.find((team) => team.id === id)?.name || id, user: personName });
  await loadLanguages(me.language);
  render();
  window.addEventListener("hashchange", onHashChange);
  on("switches", renderBanner);
  on("queue", updateCount);
  on("agent", () => { updateCount(); countSoon(); });
  for (const kind of ["message_stored", "message_updated", "message_deleted"]) on(kind, countSoon);
  on("connection", () => {
    const dot = $("#conn");
    if (dot) {
      dot.classList.toggle("off", !live.connected);
      dot.title = t(live.connected ? "conn.on" : "conn.off");
    }
  });
  connect();
  countNewMessages();
  loadNotices();
  setInterval(loadNotices, NOTICE_EVERY_MS);
}

boot();
