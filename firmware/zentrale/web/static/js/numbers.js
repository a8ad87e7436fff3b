// "Erlaubte Anmeldenummern" of a team as plain choices: the PBX's internal numbers, mobile
// numbers of this country, every address of one SIP domain, and (for experts) own patterns
// (docs/security.md). A preview asks the box whether an example number would be allowed.
import { api } from "./api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";

// German mobile numbers: 015x, 016x, 017x with 0, +49 or 0049 in front
export const MOBILE_DE = "^(0|\\+49|0049)1[5-7][0-9]{7,10}$";
const DOMAIN_RE = /^sips?:\*@(.+)$/;

// The patterns as the admin reads them in the team list.
export function numbersText(patterns) {
  if (!patterns) return t("teams.numbers_internal");
  return patterns.map((p) => (p === "default" ? t("teams.numbers_internal") : p === MOBILE_DE ? t("teams.numbers_mobile")
    : DOMAIN_RE.test(p) ? t("teams.numbers_domain_of", { domain: p.match(DOMAIN_RE)[1] }) : p)).join(", ");
}

export function numberChoices() {
  const internal = h("input", { type: "checkbox", id: "numbers-internal", checked: true });
  const mobile = h("input", { type: "checkbox", id: "numbers-mobile" });
  const domainOn = h("input", { type: "checkbox", id: "numbers-domain-on" });
  const domain = h("input", { id: "numbers-domain", autocomplete: "off", placeholder: "vpn.firma.de" });
  const own = h("input", { id: "numbers-own", autocomplete: "off", placeholder: "^0301234567$, **62x" });
  const example = h("input", { id: "numbers-example", type: "tel", autocomplete: "off", placeholder: "0171 1234567" });
  const verdict = h("span", { id: "numbers-verdict", class: "pill", "aria-live": "polite" }, "–");
  const details = h("details", { class: "expert" }, h("summary", {}, t("teams.numbers_own")),
    h("label", { class: "field" }, own, h("small", { class: "hint" }, t("teams.numbers_own_hint"))));

  const value = () => {
    const out = [];
    if (internal.checked) out.push("default");
    if (mobile.checked) out.push(MOBILE_DE);
    if (domainOn.checked && domain.value.trim()) out.push(`sip:*@${domain.value.trim()}`);
    out.push(...own.value.split(",").map((x) => x.trim()).filter(Boolean));
    return out.length === 1 && out[0] === "default" ? null : out; // null: the box's default (internal)
  };
  const set = (patterns) => {
    const list = patterns ?? ["default"];
    internal.checked = list.includes("default");
    mobile.checked = list.includes(MOBILE_DE);
    const sip = list.find((p) => DOMAIN_RE.test(p));
    domainOn.checked = Boolean(sip);
    domain.value = sip ? sip.match(DOMAIN_RE)[1] : "";
    const rest = list.filter((p) => p !== "default" && p !== MOBILE_DE && p !== sip);
    own.value = rest.join(", ");
    details.open = rest.length > 0;
    preview();
  };

  let asked = 0;
  const preview = async () => {
    const number = example.value.trim();
    const n = ++asked;
    if (!number) { verdict.className = "pill"; verdict.textContent = "–"; return; }
    try {
      const r = await api("POST", "/api/numbers/check", { patterns: value(), number });
      if (n !== asked) return;
      verdict.className = `pill ${r.allowed ? "go" : "alarm"}`;
      verdict.dataset.allowed = String(r.allowed);
      verdict.textContent = !r.valid ? t("teams.numbers_not_a_number") : t(r.allowed ? "teams.numbers_allowed" : "teams.numbers_refused");
    } catch (err) {
      if (n !== asked) return;
      verdict.className = "pill alarm";
      verdict.dataset.allowed = "false";
      verdict.textContent = err.message;
    }
  };
  for (const el of [internal, mobile, domainOn]) el.addEventListener("change", preview);
  for (const el of [own, example]) el.addEventListener("input", preview);
  domain.addEventListener("input", () => { domainOn.checked = Boolean(domain.value.trim()); preview(); });

  const el = h("fieldset", { class: "numbers", id: "team-numbers" },
    h("legend", {}, t("teams.numbers")),
    h("p", { class: "muted hint" }, icon("info"), t("teams.numbers_help")),
    h("label", { class: "check" }, internal, t("teams.numbers_internal_long")),
    h("label", { class: "check" }, mobile, t("teams.numbers_mobile_long")),
    h("div", { class: "domain-row" }, h("label", { class: "check" }, domainOn, t("teams.numbers_domain")), domain),
    details,
    h("div", { class: "numbers-preview" }, h("label", { class: "field" }, h("span", {}, t("teams.numbers_try")), example), verdict));
  return { el, value, set };
}
