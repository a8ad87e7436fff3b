// The box's refusals in the reader's language. Every error answer of the API carries a stable
// code and its parameters (firmware web/refusals.py); the page says what happened and what to
// do next (i18n keys refusal.<code> and refusal.<code>.next) -- never the box's English text.
import { h, toastArea } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { problemText } from "./problems.js";

// How ids become names a person knows (set by the page once it knows the teams and users).
const names = { team: (id) => id, user: (name) => name };

export function setNames(fns) {
  Object.assign(names, fns);
}

function has(key) {
  return t(key) !== key;
}

function fieldLabel(path) {
  const last = String(path || "").split(".").filter((p) => !/^\d+$/.test(p)).pop() || "";
  return has(`field.${last}`) ? t(`field.${last}`) : last;
}

// What the texts of ``code`` are filled with: ids as names, states and problems translated.
function shownParams(code, params, status) {
  const p = { ...params, status };
  if (typeof p.teams === "string") p.teams = p.teams.split(", ").map((id) => names.team(id)).join(", ");
  if (p.team) p.team = names.team(p.team);
  if (p.user) p.user = names.user(p.user);
  if (p.state) p.state = t(`state.${p.state}`);
  if (code === "invalid_input") {
    p.field = fieldLabel(p.field);
    const key = has(`input.${p.type}`) ? `input.${p.type}` : "input.other";
    p.problem = t(key, { limit: p.limit ?? "" });
  }
  if (code === "invalid_document") p.problem = problemText({ message: p.problem || "", path: p.path || "" });
  return p;
}

export function refusalText(code, params = {}, status = 0) {
  const known = code && has(`refusal.${code}`) ? code : "unknown";
  const p = shownParams(known, params || {}, status);
  return { code: known, text: t(`refusal.${known}`, p), next: t(`refusal.${known}.next`, p) };
}

// A refusal as a notice element: what happened, what to do next.
export function refusalNotice(err, id = null) {
  return h("div", { class: "notice alarm refusal", role: "alert", id, "data-code": err.code || "unknown" },
    icon("alert"), h("div", {}, h("b", {}, err.message), err.next ? h("div", { class: "next" }, err.next) : null));
}

// A refusal that has no place of its own on the page: a message that stays until closed.
export function failed(err) {
  const box = toastArea();
  const note = h("div", { class: "toast alarm refusal", "data-code": err.code || "unknown" },
    h("div", {}, h("b", {}, err.message || t("refusal.unknown", { status: "" })), err.next ? h("div", { class: "next" }, err.next) : null),
    h("button", { type: "button", class: "ghost close", "aria-label": t("common.close"), title: t("common.close"),
      onclick: () => note.remove() }, icon("x")));
  note.setAttribute("role", "alert");
  box.append(note);
  const kept = box.querySelectorAll(".refusal");
  if (kept.length > 3) kept[0].remove();
}
