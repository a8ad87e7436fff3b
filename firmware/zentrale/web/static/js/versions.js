// Versions of a mode: every save is one (author, time, comment). Compare any two (a line diff of
// the documents) and roll back to any (the old document becomes the newest version).
import { api, get, getText } from "./api.js";
import { confirmDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, t } from "./i18n.js";
import { failed } from "./refusals.js";
import { personName } from "./live.js";

function diffView(text) {
  if (!text.trim()) return h("div", { class: "empty" }, t("versions.same"));
  return h("pre", { class: "diff", id: "version-diff" }, text.split("\n").map((line) => {
    let cls = "ctx";
    if (line.startsWith("+++") || line.startsWith("---")) cls = "file";
    else if (line.startsWith("@@")) cls = "hunk";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    return h("span", { class: cls }, `${line}\n`);
  }));
}

// The box notes why a version was made in English; said here in the reader's language.
function commentText(comment) {
  let m;
  if (comment === "created") return t("versions.created");
  if ((m = comment.match(/^rollback to v(\d+)$/))) return t("versions.rollback_of", { version: m[1] });
  if ((m = comment.match(/^copy of (.+)$/))) return t("versions.copy_of", { name: m[1] });
  return comment;
}

export async function openVersions({ name, dirty, onRolledBack }) {
  let versions;
  try {
    versions = await get(`/api/editor/modes/${encodeURIComponent(name)}/versions`);
  } catch (err) {
    failed(err);
    return;
  }
  let a = versions[1]?.version ?? versions[0]?.version;
  let b = versions[0]?.version;
  const diffBox = h("div", { class: "diff-box" });
  const caption = h("div", { class: "diff-caption" });
  const close = h("button", { type: "button", "data-role": "cancel" }, t("common.close"));
  const table = h("table", { class: "list versions" });
  const dialog = h("dialog", { class: "wide", id: "versions" },
    h("div", { class: "d-body" },
      h("h2", {}, t("versions.title", { name })),
      h("p", { class: "muted" }, t("versions.help")),
      h("div", { class: "versions-layout" }, h("div", { class: "versions-list" }, table), h("div", {}, caption, diffBox))),
    h("div", { class: "d-actions" }, close));

  const compare = async () => {
    if (!a || !b) { diffBox.replaceChildren(h("div", { class: "empty" }, t("versions.one"))); return; }
    caption.replaceChildren(icon("history"), t("versions.comparing", { a, b }));
    try {
      diffBox.replaceChildren(diffView(await getText(`/api/editor/modes/${encodeURIComponent(name)}/diff?a=${a}&b=${b}`)));
    } catch (err) {
      diffBox.replaceChildren(h("div", { class: "notice alarm" }, err.message));
    }
  };

  const rollback = async (v) => {
    const ok = await confirmDialog({
      title: t("versions.rollback_title", { version: v.version }),
      text: `${t("versions.rollback_text", { version: v.version })}${dirty() ? ` ${t("versions.rollback_dirty")}` : ""}`,
      confirm: t("versions.rollback"), cancel: t("common.cancel"), danger: dirty(),
    });
    if (!ok) return;
    try {
      const r = await api("POST", `/api/editor/modes/${encodeURIComponent(name)}/rollback`, { version: v.version });
      dialog.close();
      dialog.remove();
      toast(t("versions.rolled_back", { version: v.version, now: r.version }));
      onRolledBack(r);
    } catch (err) {
      failed(err);
    }
  };

  const radio = (group, v) => {
    const input = h("input", { type: "radio", name: `v-${group}`, value: String(v.version), checked: (group === "a" ? a : b) === v.version,
      "aria-label": t(group === "a" ? "versions.pick_a" : "versions.pick_b", { version: v.version }) });
    input.addEventListener("change", () => { if (group === "a") a = v.version; else b = v.version; compare(); });
    return input;
  };

  table.replaceChildren(
    h("thead", {}, h("tr", {}, ["A", "B", t("versions.version"), t("versions.author"), t("versions.when"), ""].map((x) => h("th", {}, x)))),
    h("tbody", {}, versions.map((v, i) => h("tr", { "data-version": String(v.version) },
      h("td", {}, radio("a", v)), h("td", {}, radio("b", v)),
      h("td", {}, h("b", {}, `v${v.version}`), v.comment ? h("div", { class: "muted small-text" }, commentText(v.comment)) : null),
      h("td", {}, v.author === "file" ? t("modes.by_file") : personName(v.author)),
      h("td", { class: "nowrap" }, dateTime(v.created_at)),
      h("td", { class: "nowrap" }, i === 0 ? h("span", { class: "pill go" }, t("versions.current"))
        : h("button", { type: "button", class: "small", "data-action": "rollback", onclick: () => rollback(v) }, icon("undo"), t("versions.rollback")))))));

  close.addEventListener("click", () => { dialog.close(); dialog.remove(); });
  dialog.addEventListener("cancel", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  compare();
}
