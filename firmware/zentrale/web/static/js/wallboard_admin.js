// Verwaltung -> Wallboard: read-only tokens for a wall screen (/wallboard?token=...). A token's
// text is shown once, as the link, right after it is created; revoking one darkens its screen.
import { api, get } from "./api.js";
import { clear, confirmDialog, field, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, t } from "./i18n.js";
import { failed } from "./refusals.js";

export function mountWallboardTokens(stack) {
  const box = h("section", { class: "card", id: "wallboard-tokens" });
  stack.append(box);
  let created = null; // the link of the token just created (its only showing)

  const render = (tokens) => {
    const name = h("input", { id: "wallboard-name", placeholder: t("wallboard.name_hint"), maxlength: 80 });
    const create = async () => {
      try {
        const made = await api("POST", "/api/wallboard/tokens", { name: name.value.trim() || "Wallboard" });
        created = `${location.origin}/wallboard?token=${encodeURIComponent(made.token)}`;
        load();
      } catch (err) {
        failed(err);
      }
    };
    const revoke = async (tok) => {
      if (!(await confirmDialog({ title: t("wallboard.revoke_title", { name: tok.name }), text: t("wallboard.revoke_text"),
        confirm: t("wallboard.revoke"), cancel: t("common.cancel"), danger: true }))) return;
      try {
        await api("DELETE", `/api/wallboard/tokens/${encodeURIComponent(tok.id)}`);
        toast(t("wallboard.revoked"));
        load();
      } catch (err) {
        failed(err);
      }
    };
    clear(box,
      h("div", { class: "card-head" }, h("h2", {}, t("wallboard.admin_title")), h("span", { class: "muted" }, t("wallboard.admin_hint"))),
      h("div", { class: "card-body" },
        created ? h("p", { class: "notice", id: "wallboard-link" }, t("wallboard.link_once"), " ",
          h("a", { href: created, target: "_blank", rel: "noopener", class: "mono" }, created)) : null,
        h("table", { class: "list", id: "wallboard-list" }, h("tbody", {}, tokens.length ? tokens.map((tok) => h("tr", { "data-id": tok.id },
          h("td", {}, tok.name), h("td", { class: "muted" }, t("wallboard.created", { when: dateTime(tok.created_at), by: tok.created_by })),
          h("td", {}, tok.revoked_at ? h("span", { class: "muted" }, t("wallboard.revoked_at", { when: dateTime(tok.revoked_at) }))
            : h("button", { type: "button", class: "small", "data-role": "revoke", onclick: () => revoke(tok) }, icon("x"), t("wallboard.revoke")))))
          : h("tr", {}, h("td", { class: "muted" }, t("wallboard.no_tokens"))))),
        h("div", { class: "row-buttons" }, field(t("wallboard.name"), name),
          h("button", { type: "button", class: "primary", id: "wallboard-create", onclick: create }, icon("plus"), t("wallboard.create")))));
  };
  const load = async () => {
    try {
      render(await get("/api/wallboard/tokens"));
    } catch (err) {
      failed(err);
    }
  };
  load();
}
