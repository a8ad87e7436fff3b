// Rufnummern: the block list (Sperrliste) and the VIP list, for every agent. A condition node of
// a mode branches on them (docs/modes.md): blocked callers hear a rejection and are hung up, VIPs
// wait ahead of others. Numbers are compared normalised (030 1234567 = +49301234567); patterns are
// prefixes ("0900*") and single digits ("?"), never regular expressions. Every change is audited.
import { api, get } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, t } from "./i18n.js";
import { personName } from "./live.js";
import { failed } from "./refusals.js";

const LISTS = ["block", "vip"];

// The viewer's one-click "Nummer sperren" / "Sperre aufheben" (messages.js).
export async function blockedNumbers(numbers) {
  const unique = [...new Set(numbers.filter(Boolean))];
  const found = new Map();
  for (let i = 0; i < unique.length; i += 500) {
    const rows = await api("POST", "/api/caller-lists/lookup", { numbers: unique.slice(i, i + 500) });
    for (const row of rows) found.set(row.number, row.block);
  }
  return found;
}

export async function setBlocked(number, blocked, note = "") {
  if (blocked) await api("POST", "/api/caller-lists/block", { number, note });
  else await api("DELETE", `/api/caller-lists/block?number=${encodeURIComponent(number)}`);
  toast(t(blocked ? "callers.blocked_toast" : "callers.unblocked_toast", { number }));
}

export function isAnonymous(number) {
  return ["", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"].includes((number || "").trim().toLowerCase());
}

function listCard(name, entries, reload) {
  const number = h("input", { type: "tel", id: `${name}-number`, maxlength: "64", autocomplete: "off", placeholder: "030 1234567, 0900*" });
  const note = h("input", { type: "text", id: `${name}-note`, maxlength: "200", autocomplete: "off", placeholder: t("callers.note_placeholder") });
  const add = async (e) => {
    e.preventDefault();
    try {
      await api("POST", `/api/caller-lists/${name}`, { number: number.value, note: note.value });
      number.value = "";
      note.value = "";
      await reload();
    } catch (err) {
      failed(err);
    }
  };
  const many = h("textarea", { id: `${name}-import`, rows: "4", placeholder: "030 1234567\n0171 7654321\n0900*" });
  const importMany = async () => {
    const lines = many.value.split(/\r?\n/).map((x) => x.trim()).filter(Boolean);
    if (!lines.length) return;
    try {
      const r = await api("POST", `/api/caller-lists/${name}/import`, { entries: lines.map((x) => ({ number: x })) });
      many.value = "";
      toast(t("callers.imported", { count: r.added }));
      await reload();
    } catch (err) {
      failed(err);
    }
  };
  const remove = async (entry) => {
    try {
      await api("DELETE", `/api/caller-lists/${name}?number=${encodeURIComponent(entry.key)}`);
      await reload();
    } catch (err) {
      failed(err);
    }
  };
  const rows = entries.map((e) => h("tr", { "data-key": e.key },
    h("td", { class: "num" }, e.number, e.number !== e.key ? h("small", { class: "muted mono" }, ` ${e.key}`) : null),
    h("td", {}, e.note || "–"),
    h("td", { class: "muted" }, e.added_by ? personName(e.added_by) : "–", e.added_at ? h("small", {}, ` ${dateTime(e.added_at)}`) : null),
    h("td", { class: "actions" }, h("button", { type: "button", class: "small ghost", "data-action": "remove", onclick: () => remove(e) },
      icon(name === "block" ? "undo" : "x"), t(name === "block" ? "callers.unblock" : "callers.remove")))));
  return h("section", { class: "card", id: `list-${name}`, "data-list": name },
    h("div", { class: "card-head" }, h("h2", {}, icon(name === "block" ? "ban" : "user"), t(`callers.${name}_title`)),
      h("span", { class: "pill", "data-count": String(entries.length) }, String(entries.length))),
    h("div", { class: "card-body" },
      h("p", { class: "muted" }, t(`callers.${name}_help`)),
      h("form", { class: "form-row callers-add", onsubmit: add },
        h("label", { class: "field" }, h("span", {}, t("callers.number")), number),
        h("label", { class: "field" }, h("span", {}, t("callers.note")), note),
        h("button", { type: "submit", class: "primary", "data-action": "add" }, icon("plus"), t(name === "block" ? "callers.block" : "callers.add_vip"))),
      entries.length ? h("table", { class: "list callers" },
        h("thead", {}, h("tr", {}, h("th", {}, t("callers.number")), h("th", {}, t("callers.note")), h("th", {}, t("callers.added_by")), h("th", {}))),
        h("tbody", {}, rows)) : h("p", { class: "muted empty-line" }, t("callers.none")),
      h("details", { class: "expert" }, h("summary", {}, t("callers.import")),
        h("p", { class: "muted" }, t("callers.import_hint")), many,
        h("button", { type: "button", class: "small", "data-action": "import", onclick: importMany }, icon("upload"), t("callers.import_button")))));
}

export function mount(main) {
  const body = h("div", { class: "callers-page", id: "caller-lists" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("callers.title")), h("p", {}, t("callers.subtitle"))),
    h("a", { class: "button small ghost", href: "#/messages", id: "back-to-messages" }, icon("back"), t("msg.title"))), body);
  const reload = async () => {
    const lists = await get("/api/caller-lists");
    clear(body, ...LISTS.map((name) => listCard(name, lists[name], reload)));
  };
  reload().catch(failed);
  return () => {};
}
