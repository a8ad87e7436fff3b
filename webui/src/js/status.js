// Status (admins): lines and registration, calls, waiting callers, agents, disk, version, mode.
import { api, get } from "./api.js";
import { clear, h, toast } from "./dom.js";
import { bytes, decimal, t } from "./i18n.js";
import { on } from "./live.js";
import { failed } from "./refusals.js";

export function mount(main) {
  const grid = h("div", { class: "grid", id: "status" });
  const callsBox = h("section", { class: "card" });
  main.append(h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("status.title")), h("p", {}, t("status.subtitle")))),
    h("div", { class: "stack" }, grid, callsBox));
  let modes = null;

  const card = (title, ...body) => h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, title)), h("div", { class: "card-body" }, body));
  const kv = (pairs) => h("dl", { class: "kv" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));

  const lineCard = (line) => {
    const reg = line.registration;
    const regText = !reg ? t("status.no_registration")
      : reg.registered ? t("status.registered", { where: reg.registrar || "" }) : t("status.not_registered", { why: reg.last_error || reg.state || "" });
    const name = line.line || line.name || "?";
    const title = name === "sip" ? t("status.line_sip") : t("status.line_analog", { name });
    return card(title,
      h("span", { class: `pill ${!reg || reg.registered ? "go" : "alarm"}` }, h("span", { class: "dot" }), regText),
      h("div", { class: "meter-space" }),
      kv([
        line.listening ? [t("status.listening"), line.listening] : null,
        line.transports ? [t("status.transports"), line.transports.join(", ").toUpperCase()] : null,
        line.device ? [t("status.device"), line.device] : null,
        line.state ? [t("status.state"), String(line.state)] : null,
        [t("status.calls"), String(line.calls ?? "–")],
      ]));
  };

  // the modes' titles ("Hotline", not "hotline"), asked once and when another mode is activated
  let titles = {};
  const loadTitles = async () => {
    try {
      titles = Object.fromEntries((await get("/api/editor/modes")).map((m) => [m.name, m.title || m.name]));
    } catch {
      titles = {};
    }
    refresh();
  };
  const title = (name) => titles[name] || name;

  const activate = async (select) => {
    try {
      await api("POST", `/api/modes/${encodeURIComponent(select.value)}/activate`, {});
      toast(t("status.mode_activated", { mode: title(select.value) }));
      refresh();
    } catch (err) {
      failed(err);
    }
  };

  const refresh = async () => {
    let s;
    let calls;
    try {
      [s, calls, modes] = await Promise.all([get("/status"), get("/api/calls"), get("/api/modes")]);
    } catch {
      return;
    }
    const select = h("select", { id: "mode-select", "aria-label": t("status.mode") }, modes.modes.map((m) => h("option", { value: m, selected: m === modes.active }, title(m))));
    const clock = s.media_clock;
    const disk = s.disk;
    const agents = s.agents || {};
    clear(grid,
      card(t("status.system"),
        h("div", { class: "bigval" }, `v${s.version}`),
        h("div", { class: "caption" }, t("status.version")),
        kv([[t("status.clock"), clock.healthy ? t("status.ok")
          : t("status.late", { ms: decimal(clock.recent_late_ms, 0) })]])),
      card(t("status.mode"),
        h("div", { class: "bigval", id: "active-mode", title: s.mode || null }, s.mode ? title(s.mode) : "–"),
        h("div", { class: "caption" }, s.mode ? t("status.mode_active") : t("status.no_mode")),
        h("div", { class: "row-buttons" }, select, h("button", { type: "button", class: "small", onclick: () => activate(select) }, t("status.activate")))),
      card(t("status.now"),
        h("div", { class: "bigval", id: "active-calls" }, String(s.calls)),
        h("div", { class: "caption" }, t("status.active_calls")),
        kv([[t("status.waiting"), String(s.waiting)],
          [t("status.agents_available"), String(agents.available ?? 0)], [t("status.agents_busy"), String((agents.on_call ?? 0) + (agents.ringing ?? 0))],
          [t("status.agents_paused"), String(agents.paused ?? 0)]])),
      card(t("status.disk"),
        h("div", { class: "bigval" }, bytes(disk.free)),
        h("div", { class: `meter ${disk.used_percent > 90 ? "high" : ""}` }, h("div", { style: null, dataset: { w: disk.used_percent } })),
        h("div", { class: "muted" }, t("status.disk_used", { p: decimal(disk.used_percent, 1), total: bytes(disk.total) }))),
      s.lines.map(lineCard));
    for (const bar of grid.querySelectorAll(".meter > div")) bar.style.width = `${bar.dataset.w}%`;
    clear(callsBox, h("div", { class: "card-head" }, h("h2", {}, t("status.active_calls")), h("span", { class: "pill" }, String(calls.length))),
      calls.length ? h("table", { class: "list" },
        h("thead", {}, h("tr", {}, [t("status.caller"), t("status.line_col"), t("status.node")].map((x) => h("th", {}, x)))),
        h("tbody", {}, calls.map((c) => h("tr", {}, h("td", {}, c.caller || "–"), h("td", {}, c.line || "–"), h("td", {}, c.node || "–")))))
        : h("div", { class: "empty" }, t("status.no_calls")));
  };
  loadTitles();
  const timer = setInterval(refresh, 5000);
  const off = on("mode_activated", loadTitles);
  return () => { clearInterval(timer); off(); };
}
