// The viewer: messages per team, play in the browser, download, status new / in progress (who) /
// done, a comment; admins may delete. Changes by anyone show here at once (server events).
import { api, get } from "./api.js";
import { clear, confirmDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, duration, t } from "./i18n.js";
import { live, on, personName } from "./live.js";
import { failed } from "./refusals.js";
import { blockedNumbers, isAnonymous, setBlocked } from "./callers.js";

const FILTER_KEY = "zentrale.viewer";

function teamName(id) {
  return live.me.teams.find((team) => team.id === id)?.name || id || "–";
}

function filters() {
  const saved = JSON.parse(localStorage.getItem(FILTER_KEY) || "{}");
  return { team: saved.team || "", status: saved.status || "open" };
}

function saveFilters(f) {
  localStorage.setItem(FILTER_KEY, JSON.stringify(f));
}

function delivery(m) {
  // The e-mail outbox's state of this message (null: not e-mailed).
  const mail = m.mail;
  if (!mail || !mail.state) return null;
  if (mail.state === "sent") return t("mail.sent", { at: (mail.sent_at || "").slice(0, 16).replace("T", " ") });
  if (mail.state === "failed") return t("mail.failed", { error: mail.error || "?" });
  if (mail.state === "sending") return t("mail.sending");
  return t("mail.queued", { attempts: mail.attempts || 0 });
}

function statusPill(m) {
  if (m.status === "done") return h("span", { class: "pill go", "data-status": "done" }, icon("check"), t("msg.status_done_by", { who: personName(m.status_by) }));
  if (m.status === "in_progress") return h("span", { class: "pill warn", "data-status": "in_progress" }, h("span", { class: "dot" }), t("msg.status_in_progress_by", { who: personName(m.status_by) }));
  return h("span", { class: "pill ring", "data-status": "new" }, h("span", { class: "dot" }), t("msg.status_new"));
}

function mp3Href(m) {
  const path = live.me.mp3_path;
  return path ? path.replace("{message_id}", encodeURIComponent(m.id)) : null;
}

function visible(m, f) {
  if (f.team && m.team !== f.team) return false;
  if (f.status === "open") return m.status !== "done";
  if (f.status === "done") return m.status === "done";
  return true;
}

export function mount(main) {
  const f = filters();
  const all = new Map();
  const cards = new Map();
  let blocked = new Map(); // caller number -> on the block list (POST /api/caller-lists/lookup)
  const list = h("div", { class: "msg-list", id: "messages" });
  const toolbar = h("div", { class: "toolbar" });
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("msg.title")), h("p", {}, t("msg.subtitle"))),
      h("a", { class: "button small ghost", href: "#/numbers", id: "open-numbers" }, icon("ban"), t("callers.open"))),
    toolbar, list);

  const renderToolbar = () => {
    const teams = [{ id: "", name: t("msg.all_teams") }, ...live.me.teams];
    clear(toolbar,
      h("div", { class: "segmented", role: "group", "aria-label": t("msg.team") }, teams.map((team) => h("button", {
        type: "button", "aria-pressed": String(f.team === team.id), "data-team": team.id,
        onclick: () => { f.team = team.id; saveFilters(f); renderToolbar(); renderList(); },
      }, team.name))),
      h("div", { class: "segmented", role: "group", "aria-label": t("msg.status") }, ["open", "done", "all"].map((s) => h("button", {
        type: "button", "aria-pressed": String(f.status === s), "data-filter": s,
        onclick: () => { f.status = s; saveFilters(f); renderToolbar(); renderList(); },
      }, t(`msg.filter_${s}`)))));
  };

  const change = async (m, body) => {
    try {
      const row = await api("PATCH", `/api/messages/${encodeURIComponent(m.id)}`, body);
      all.set(row.id, row);
      renderList();
    } catch (err) {
      failed(err);
    }
  };

  const remove = async (m) => {
    const ok = await confirmDialog({ title: t("msg.delete_title"), text: t("msg.delete_text", { caller: m.caller }),
      confirm: t("msg.delete"), cancel: t("common.cancel"), danger: true });
    if (!ok) return;
    try {
      await api("DELETE", `/api/messages/${encodeURIComponent(m.id)}`);
    } catch (err) {
      failed(err);
    }
  };

  // Admins: a message whose e-mail failed (or went) is queued for delivery once more.
  const asked = new Map(); // message id -> number of the newest request (an older answer arriving late is dropped)
  const refresh = async (id) => {
    const n = (asked.get(id) || 0) + 1;
    asked.set(id, n);
    try {
      const fresh = await get(`/api/messages/${encodeURIComponent(id)}`);
      if (all.has(id) && asked.get(id) === n) { all.set(id, fresh); renderList(); }
    } catch {
      // deleted meanwhile: the event removes the card
    }
  };
  const resend = async (m) => {
    try {
      const status = await api("POST", `/api/messages/${encodeURIComponent(m.id)}/mail/send`, {});
      const current = all.get(m.id);
      if (current) { current.mail = status; update(current); }
      toast(t("msg.resent"));
    } catch (err) {
      failed(err);
    }
  };

  const lookBlocked = async () => {
    try {
      blocked = await blockedNumbers([...all.values()].map((m) => m.caller));
      for (const m of all.values()) if (cards.has(m.id)) update(m);
    } catch {
      // the lists could not be read: no block buttons until the next load
    }
  };
  const block = async (m, on) => {
    try {
      await setBlocked(m.caller, on, t("callers.note_from_message", { at: dateTime(m.created_at) }));
      await lookBlocked();
    } catch (err) {
      failed(err);
    }
  };

  // A card is built once and updated in place, so a playing <audio> keeps playing.
  const build = (m) => {
    const parts = {
      pill: h("span", {}),
      comment: h("textarea", { rows: 1, placeholder: t("msg.comment_placeholder"), "aria-label": t("msg.comment"), maxlength: 2000 }),
      buttons: h("div", { class: "buttons" }),
      delivery: h("span", {}),
    };
    const save = h("button", { type: "button", class: "small", "data-action": "comment", onclick: () => change(all.get(m.id), { comment: parts.comment.value }) }, t("msg.comment_save"));
    const audio = h("audio", { controls: true, preload: "none", src: `/api/messages/${encodeURIComponent(m.id)}/audio` });
    const downloads = [h("a", { class: "button small", href: `/api/messages/${encodeURIComponent(m.id)}/audio`, download: `${m.id}.wav`, "data-download": "wav" }, icon("download"), "WAV")];
    const mp3 = mp3Href(m);
    if (mp3) downloads.push(h("a", { class: "button small", href: mp3, download: `${m.id}.mp3`, "data-download": "mp3" }, icon("download"), "MP3"));
    const card = h("article", { class: "card msg", "data-message": m.id },
      h("div", {},
        h("div", { class: "top" }, h("span", { class: "num" }, m.caller), m.caller_name ? h("span", { class: "muted" }, m.caller_name) : null),
        h("div", { class: "meta" },
          h("span", {}, dateTime(m.created_at)),
          h("span", {}, t("msg.duration", { d: duration(m.duration_ms / 1000) })),
          parts.delivery)),
      h("div", { class: "side" }, h("span", { class: "pill team" }, teamName(m.team)), parts.pill),
      h("div", { class: "player" }, audio, downloads),
      h("div", { class: "comment" }, parts.comment, save),
      parts.buttons);
    cards.set(m.id, { card, parts });
    update(m);
    return card;
  };

  const update = (m) => {
    const { card, parts } = cards.get(m.id);
    card.classList.toggle("done", m.status === "done");
    card.dataset.status = m.status;
    clear(parts.pill, statusPill(m));
    const d = delivery(m);
    clear(parts.delivery, d ? t("msg.delivery", { state: d }) : m.email ? t("msg.email_list") : null);
    if (document.activeElement !== parts.comment) parts.comment.value = m.comment || "";
    const mine = m.status_by === live.me.name;
    clear(parts.buttons,
      m.status === "new" ? h("button", { type: "button", class: "primary small", "data-action": "take", onclick: () => change(m, { status: "in_progress" }) }, t("msg.take")) : null,
      m.status === "in_progress" && !mine ? h("span", { class: "muted" }, t("msg.taken_by", { who: personName(m.status_by) })) : null,
      m.status !== "done" ? h("button", { type: "button", class: "small", "data-action": "done", onclick: () => change(m, { status: "done" }) }, icon("check"), t("msg.done")) : null,
      m.status !== "new" ? h("button", { type: "button", class: "small ghost", "data-action": "reopen", onclick: () => change(m, { status: "new" }) }, icon("undo"), t("msg.reopen")) : null,
      // on the left with the others: the call window covers the right end of the row on a desktop
      blocked.has(m.caller) && !isAnonymous(m.caller) ? (blocked.get(m.caller)
        ? h("button", { type: "button", class: "small ghost", "data-action": "unblock", onclick: () => block(m, false) }, icon("undo"), t("callers.unblock"))
        : h("button", { type: "button", class: "small ghost", "data-action": "block", onclick: () => block(m, true) }, icon("ban"), t("callers.block"))) : null,
      h("span", { class: "spacer" }),
      live.me.role === "admin" && m.mail && ["failed", "sent"].includes(m.mail.state)
        ? h("button", { type: "button", class: "small ghost", "data-action": "resend", onclick: () => resend(m) }, t("msg.resend")) : null,
      live.me.role === "admin" ? h("button", { type: "button", class: "small ghost", "data-action": "delete", onclick: () => remove(m) }, icon("trash"), t("msg.delete")) : null);
  };

  const renderList = () => {
    const shown = [...all.values()].filter((m) => visible(m, f)).sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    if (!shown.length) {
      clear(list, h("div", { class: "card empty" }, icon("inbox"), h("b", {}, t("msg.none")), t(f.status === "open" ? "msg.none_open" : "msg.none_hint")));
      return;
    }
    if (list.querySelector(".empty")) clear(list);
    const ids = new Set(shown.map((m) => m.id));
    for (const el of [...list.children]) if (!ids.has(el.dataset.message)) el.remove();
    shown.forEach((m, i) => {
      const card = cards.has(m.id) ? cards.get(m.id).card : build(m);
      if (cards.has(m.id)) update(m);
      if (list.children[i] !== card) list.insertBefore(card, list.children[i] || null);
    });
  };

  const load = async () => {
    const rows = await get("/api/messages?limit=500");
    all.clear();
    rows.forEach((m) => all.set(m.id, m));
    renderList();
    await lookBlocked();
  };

  renderToolbar();
  load();
  const offs = [
    on("message_stored", async (d) => {
      all.set(d.message_id, await get(`/api/messages/${encodeURIComponent(d.message_id)}`));
      renderList();
      await lookBlocked();
    }),
    on("message_updated", (d) => {
      const m = all.get(d.message_id);
      if (!m) return;
      Object.assign(m, { status: d.status, status_by: d.status_by, status_at: d.status_at, comment: d.comment });
      renderList();
    }),
    on("message_mail_changed", (d) => { if (all.has(d.message_id)) refresh(d.message_id); }),
    on("message_deleted", (d) => {
      all.delete(d.message_id);
      const c = cards.get(d.message_id);
      if (c) c.card.remove();
      cards.delete(d.message_id);
      renderList();
    }),
    on("connection", () => { if (live.connected) load(); }),
  ];
  return () => offs.forEach((off) => off());
}
