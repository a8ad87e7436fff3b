// Betriebsarten (admins): every mode with its version and problems; create, import, edit,
// duplicate, rename, export, delete, activate (the schedule's override explained).
import { api, get, send } from "./api.js";
import { clear, confirmDialog, h, promptDialog, toast } from "./dom.js";
import { icon } from "./icons.js";
import { dateTime, t } from "./i18n.js";
import { on, personName } from "./live.js";
import { ID_RE, starterDocument } from "./modedoc.js";
import { modeTabs, pageHead } from "./modetabs.js";
import { failed } from "./refusals.js";


export function checkModeName(existing) {
  return (name) => {
    if (!ID_RE.test(name)) return t("modes.bad_name");
    if (existing.includes(name)) return t("modes.exists", { name });
    return null;
  };
}

// Activate by hand, saying first what the schedule will do about it.
export async function activateMode(name, schedule) {
  const scheduled = schedule?.schedule?.enabled;
  const ok = await confirmDialog({
    title: t("modes.activate_title", { name }),
    text: `${t("modes.activate_text", { name })} ${scheduled ? t("modes.activate_override") : ""}`,
    confirm: t("modes.activate"), cancel: t("common.cancel"),
  });
  if (!ok) return false;
  try {
    await api("POST", `/api/modes/${encodeURIComponent(name)}/activate`, {});
    toast(t("status.mode_activated", { mode: name }));
    return true;
  } catch (err) {
    failed(err);
    return false;
  }
}

export async function backToSchedule() {
  try {
    const s = await api("POST", "/api/schedule/resume", {});
    toast(t("schedule.resumed", { mode: s.active_mode || "–" }));
    return s;
  } catch (err) {
    failed(err);
    return null;
  }
}

// A notice about the schedule: who chooses the active mode now.
export function scheduleNotice(s, reload) {
  if (!s?.schedule?.enabled) return null;
  if (s.override) {
    return h("div", { class: "notice warn", id: "override-notice" }, icon("info"),
      h("div", { class: "grow" }, t("modes.override", { mode: s.override, scheduled: s.scheduled_mode || "–" })),
      h("button", { type: "button", class: "small", id: "resume-schedule", onclick: async () => { if (await backToSchedule()) reload(); } },
        icon("calendar"), t("schedule.resume")));
  }
  return h("div", { class: "notice info" }, icon("calendar"),
    h("div", { class: "grow" }, t("modes.scheduled", { open: s.schedule.open_mode, closed: s.schedule.closed_mode })));
}

export function mount(main) {
  const notice = h("div", { id: "modes-notice" });
  const list = h("section", { class: "card", id: "modes" });
  const fileInput = h("input", { type: "file", accept: ".yaml,.yml,.json,application/json,application/yaml,text/yaml", hidden: true, id: "import-file" });
  main.append(
    modeTabs("modes"),
    pageHead(t("modes.title"), t("modes.subtitle"),
      h("button", { type: "button", id: "import-mode", onclick: () => fileInput.click() }, icon("upload"), t("modes.import")),
      h("button", { type: "button", class: "primary", id: "new-mode", onclick: () => create() }, icon("plus"), t("modes.new"))),
    notice, list, fileInput);
  let modes = [];
  let schedule = null;

  const names = () => modes.map((m) => m.name);

  const create = async () => {
    const name = await promptDialog({ title: t("modes.new_title"), text: t("modes.new_text"), label: t("modes.name"),
      placeholder: "hotline", confirm: t("modes.create"), cancel: t("common.cancel"), check: checkModeName(names()) });
    if (!name) return;
    try {
      await api("POST", `/api/editor/modes/${encodeURIComponent(name)}`, starterDocument(name));
      location.hash = `#/editor/${encodeURIComponent(name)}`;
    } catch (err) {
      failed(err);
    }
  };

  fileInput.addEventListener("change", async () => {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    const suggested = file.name.replace(/\.(ya?ml|json)$/i, "").replace(/[^A-Za-z0-9_-]/g, "_").slice(0, 64);
    const name = await promptDialog({ title: t("modes.import_title"), text: t("modes.import_text", { file: file.name }),
      label: t("modes.name"), value: suggested, confirm: t("modes.import"), cancel: t("common.cancel"),
      check: (n) => (ID_RE.test(n) ? null : t("modes.bad_name")) });
    if (!name) return;
    if (names().includes(name) && !(await confirmDialog({ title: t("modes.import_replace", { name }),
      text: t("modes.import_replace_text"), confirm: t("modes.import"), cancel: t("common.cancel") }))) return;
    try {
      const r = await send("PUT", `/api/modes/${encodeURIComponent(name)}`, await file.text(),
        /\.json$/i.test(file.name) ? "application/json" : "application/yaml");
      toast(t("modes.imported", { name, version: r.version }));
      load();
    } catch (err) {
      const where = err.body?.path ? ` (${err.body.path})` : "";
      toast(t("modes.import_refused", { error: (err.body?.problem || err.message) + where }), "alarm");
    }
  });

  const duplicate = async (m) => {
    const to = await promptDialog({ title: t("modes.duplicate_title", { name: m.name }), label: t("modes.name"),
      value: `${m.name}_copy`, confirm: t("modes.duplicate"), cancel: t("common.cancel"), check: checkModeName(names()) });
    if (!to) return;
    try {
      await api("POST", `/api/editor/modes/${encodeURIComponent(m.name)}/duplicate`, { to });
      load();
    } catch (err) {
      failed(err);
    }
  };

  const rename = async (m) => {
    const to = await promptDialog({ title: t("modes.rename_title", { name: m.name }), label: t("modes.name"),
      value: m.name, confirm: t("modes.rename"), cancel: t("common.cancel"), check: checkModeName(names()) });
    if (!to) return;
    try {
      await api("POST", `/api/editor/modes/${encodeURIComponent(m.name)}/rename`, { to });
      load();
    } catch (err) {
      failed(err);
    }
  };

  const remove = async (m) => {
    if (!(await confirmDialog({ title: t("modes.delete_title", { name: m.name }), text: t("modes.delete_text"),
      confirm: t("common.delete"), cancel: t("common.cancel"), danger: true }))) return;
    try {
      await api("DELETE", `/api/editor/modes/${encodeURIComponent(m.name)}`);
      load();
    } catch (err) {
      failed(err);
    }
  };

  const scheduleRole = (name) => {
    const s = schedule?.schedule;
    if (!s?.enabled) return null;
    const roles = [];
    if (s.open_mode === name) roles.push(t("modes.role_open"));
    if (s.closed_mode === name) roles.push(t("modes.role_closed"));
    if ((s.holiday_mode || s.closed_mode) === name) roles.push(t("modes.role_holiday"));
    return roles.length ? h("span", { class: "pill" }, icon("calendar"), roles.join(" · ")) : null;
  };

  const render = () => {
    clear(notice, scheduleNotice(schedule, load));
    if (!modes.length) {
      clear(list, h("div", { class: "empty", id: "no-modes" }, icon("flow"), h("b", {}, t("modes.none")), t("modes.none_hint"),
        h("div", { class: "empty-action" }, h("button", { type: "button", class: "primary", onclick: create }, icon("plus"), t("modes.new")))));
      return;
    }
    clear(list,
      h("table", { class: "list modes-table" },
        h("thead", {}, h("tr", {}, [t("modes.col_mode"), t("modes.col_state"), t("modes.col_version"), t("modes.col_problems"), ""].map((x) => h("th", {}, x)))),
        h("tbody", {}, modes.map((m) => h("tr", { "data-mode": m.name, class: m.active ? "active" : null },
          h("td", {},
            h("a", { class: "mode-title", href: `#/editor/${encodeURIComponent(m.name)}` }, m.title),
            h("div", { class: "mono faint" }, m.name),
            m.description ? h("div", { class: "muted small-text" }, m.description) : null),
          h("td", {}, h("div", { class: "pills" },
            m.active ? h("span", { class: "pill go", "data-active": "true" }, h("span", { class: "dot" }), t("modes.active")) : h("span", { class: "pill" }, t("modes.inactive")),
            scheduleRole(m.name))),
          h("td", { class: "nowrap" }, h("b", {}, `v${m.version}`),
            h("div", { class: "muted small-text" }, m.updated_at ? `${dateTime(m.updated_at)} · ${m.updated_by === "file" ? t("modes.by_file") : personName(m.updated_by)}` : "")),
          h("td", {}, m.problems.length
            ? h("span", { class: "pill alarm", title: m.problems.join("\n") }, icon("alert"), t("modes.problems", { n: m.problems.length }))
            : h("span", { class: "pill go" }, icon("check"), t("modes.ok"))),
          h("td", { class: "nowrap actions" },
            h("a", { class: "button small", href: `#/editor/${encodeURIComponent(m.name)}`, "data-action": "edit" }, icon("pencil"), t("modes.edit")),
            m.active ? null : h("button", { type: "button", class: "small", "data-action": "activate",
              onclick: async () => { if (await activateMode(m.name, schedule)) load(); } }, icon("power"), t("modes.activate")),
            h("button", { type: "button", class: "small ghost", title: t("modes.duplicate"), "aria-label": t("modes.duplicate"), "data-action": "duplicate", onclick: () => duplicate(m) }, icon("copy")),
            h("button", { type: "button", class: "small ghost", title: t("modes.rename"), "aria-label": t("modes.rename"), "data-action": "rename", disabled: m.active, onclick: () => rename(m) }, icon("rename")),
            h("a", { class: "button small ghost", title: t("modes.export"), "aria-label": t("modes.export"), "data-action": "export",
              href: `/api/editor/modes/${encodeURIComponent(m.name)}/export?format=yaml`, download: `${m.name}.yaml` }, icon("download")),
            h("button", { type: "button", class: "small ghost", title: t("common.delete"), "aria-label": t("common.delete"), "data-action": "delete", disabled: m.active, onclick: () => remove(m) }, icon("trash"))))))),
      h("div", { class: "card-foot muted" }, t("modes.foot")));
  };

  const load = async () => {
    try {
      [modes, schedule] = await Promise.all([get("/api/editor/modes"), get("/api/schedule")]);
    } catch (err) {
      failed(err);
      return;
    }
    render();
  };
  load();
  const off = on("mode_activated", load);
  return off;
}
