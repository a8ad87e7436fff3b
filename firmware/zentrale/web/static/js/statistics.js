// Statistics (agents and admins): figures of the call log per hour/day/week, team and agent,
// a bar chart drawn as plain SVG (no chart library, nothing from the internet), a CSV export.
import { get } from "./api.js";
import { $, clear, field, h } from "./dom.js";
import { icon } from "./icons.js";
import { decimal, lang, t } from "./i18n.js";
import { live } from "./live.js";
import { failed } from "./refusals.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const c of children) if (c) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

const isoDay = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
const seconds = (s) => (s === null || s === undefined ? "–" : `${decimal(s)} s`);
const percent = (v) => (v === null || v === undefined ? "–" : `${decimal(v * 100)} %`);
const minutes = (s) => (s === null || s === undefined ? "–" : `${decimal(s / 60)} min`);

// The box's local time as the answer gives it ("2026-12-07T14:00:00+01:00"), not the browser's.
function bucketLabel(iso, by) {
  if (by === "hour") return iso.slice(11, 16);
  return lang() === "de" ? `${iso.slice(8, 10)}.${iso.slice(5, 7)}.` : `${iso.slice(8, 10)}/${iso.slice(5, 7)}`;
}

// Stacked bars per bucket: answered (green), abandoned (red), messages and callbacks (grey).
function chart(report) {
  const series = report.series;
  const W = 900, H = 260, left = 40, bottom = 28, top = 10;
  const max = Math.max(1, ...series.map((b) => b.answered + b.abandoned + b.messages + b.callbacks));
  const step = (W - left - 10) / Math.max(1, series.length);
  const bar = Math.max(1, step * 0.7);
  const y = (v) => top + (H - top - bottom) * (1 - v / max);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "stats-chart", role: "img", id: "stats-chart",
    "aria-label": t("stats.chart_label") });
  for (const frac of [0, 0.5, 1]) {
    const v = Math.round(max * frac);
    root.append(svg("line", { x1: left, x2: W - 5, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end", class: "axis" }, String(v)));
  }
  const every = Math.ceil(series.length / 12);
  series.forEach((b, i) => {
    const x = left + i * step + (step - bar) / 2;
    let base = 0;
    const g = svg("g", { "data-start": b.start, "data-answered": b.answered, "data-abandoned": b.abandoned });
    g.append(svg("title", {}, `${bucketLabel(b.start, report.by)}: ${t("stats.answered")} ${b.answered}, ${t("stats.abandoned")} ${b.abandoned}, ${t("stats.messages")} ${b.messages}, ${t("stats.callbacks")} ${b.callbacks}`));
    for (const [key, cls] of [["answered", "ok"], ["abandoned", "lost"], ["messages", "other"], ["callbacks", "other"]]) {
      const v = b[key];
      if (!v) continue;
      g.append(svg("rect", { x, width: bar, y: y(base + v), height: y(base) - y(base + v), class: `bar ${cls}` }));
      base += v;
    }
    if (i % every === 0) g.append(svg("text", { x: x + bar / 2, y: H - 8, "text-anchor": "middle", class: "axis" }, bucketLabel(b.start, report.by)));
    root.append(g);
  });
  return root;
}

function tiles(total, level) {
  const tile = (id, label, value, hint) => h("div", { class: "stat-tile", "data-figure": id },
    h("span", { class: "label" }, label), h("b", {}, value), hint ? h("small", { class: "muted" }, hint) : null);
  return h("div", { class: "stat-tiles", id: "stats-total" },
    tile("offered", t("stats.offered"), total.offered),
    tile("answered", t("stats.answered"), total.answered),
    tile("abandoned", t("stats.abandoned"), total.abandoned, total.abandoned ? t("stats.abandoned_after", { avg: seconds(total.abandoned_avg_wait_s), max: seconds(total.abandoned_max_wait_s) }) : null),
    tile("service_level", t("stats.service_level", { s: level }), percent(total.service_level)),
    tile("avg_wait", t("stats.avg_wait"), seconds(total.avg_wait_s)),
    tile("p90_wait", t("stats.p90_wait"), seconds(total.p90_wait_s)),
    tile("messages", t("stats.messages"), total.messages),
    tile("callbacks", t("stats.callbacks"), total.callbacks),
    tile("talk", t("stats.talk"), minutes(total.talk_s), total.avg_talk_s !== null ? t("stats.avg_talk", { avg: seconds(total.avg_talk_s) }) : null),
    tile("wrap_up", t("stats.wrap_up"), minutes(total.wrap_up_s)));
}

function table(id, nameHead, rows, name) {
  const heads = [nameHead, t("stats.offered"), t("stats.answered"), t("stats.abandoned"), t("stats.messages"), t("stats.callbacks"),
    t("stats.avg_wait"), t("stats.p90_wait"), t("stats.sl_short"), t("stats.talk")];
  return h("div", { class: "table-scroll" }, h("table", { class: "list stats-table", id },
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", { "data-name": name(r) },
      h("td", {}, name(r)), h("td", {}, r.offered), h("td", {}, r.answered), h("td", {}, r.abandoned), h("td", {}, r.messages),
      h("td", {}, r.callbacks), h("td", {}, seconds(r.avg_wait_s)), h("td", {}, seconds(r.p90_wait_s)),
      h("td", {}, percent(r.service_level)), h("td", {}, minutes(r.talk_s))))
      : h("tr", {}, h("td", { colspan: heads.length, class: "muted" }, t("stats.none"))))));
}

// Per agent: how often their phone rang for a call, how often it was not answered (their phone
// or they: no answer, busy, declined, unreachable, left while it rang), how long it rang until
// they answered, then the calls they took.
function agentTable(rows) {
  const heads = [t("stats.agent"), t("stats.rung"), t("stats.answered"), t("stats.rung_missed"), t("stats.ring_avg"),
    t("stats.avg_wait"), t("stats.talk"), t("stats.wrap_up")];
  return h("div", { class: "table-scroll" }, h("table", { class: "list stats-table", id: "stats-agents-table" },
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows.map((r) => h("tr", { "data-name": r.agent },
      h("td", {}, r.agent), h("td", { "data-figure": "rung" }, r.rung ?? 0), h("td", { "data-figure": "answered" }, r.answered),
      h("td", { "data-figure": "rung_missed" }, r.rung_missed ?? 0), h("td", {}, seconds(r.ring_avg_s)),
      h("td", {}, seconds(r.avg_wait_s)), h("td", {}, minutes(r.talk_s)), h("td", { "data-figure": "wrap_up" }, minutes(r.wrap_up_s))))
      : h("tr", {}, h("td", { colspan: heads.length, class: "muted" }, t("stats.none"))))));
}

export function mount(main) {
  const today = new Date();
  const weekAgo = new Date(today.getTime() - 6 * 86400000);
  const from = h("input", { type: "date", id: "stats-from", value: isoDay(weekAgo) });
  const to = h("input", { type: "date", id: "stats-to", value: isoDay(today) });
  const by = h("select", { id: "stats-by" }, ["hour", "day", "week"].map((b) => h("option", { value: b, selected: b === "day" }, t(`stats.by_${b}`))));
  const team = h("select", { id: "stats-team" }, h("option", { value: "" }, t("stats.all_teams")),
    (live.me.teams || []).map((x) => h("option", { value: x.id }, x.name)));
  const agent = h("input", { id: "stats-agent", placeholder: t("stats.all_agents"), list: "stats-agents", autocomplete: "off" });
  const agents = h("datalist", { id: "stats-agents" });
  const level = h("input", { type: "number", id: "stats-sl", min: 1, max: 3600, value: 20 });
  const csv = h("a", { class: "button", id: "stats-csv", download: "" }, icon("download"), t("stats.csv"));
  const body = h("div", { id: "stats-body" });
  const query = () => {
    const q = new URLSearchParams({ from: from.value, to: to.value, by: by.value, sl: level.value || "20" });
    if (team.value) q.set("team", team.value);
    if (agent.value.trim()) q.set("agent", agent.value.trim());
    return q;
  };
  const load = async () => {
    const q = query();
    csv.href = `/api/statistics.csv?${q}&lang=${lang()}`;
    let report;
    try {
      report = await get(`/api/statistics?${q}`);
    } catch (err) {
      failed(err);
      clear(body, h("p", { class: "error", id: "stats-error" }, err.message));
      return;
    }
    clear(agents, report.agents.map((a) => h("option", { value: a.agent })));
    clear(body,
      tiles(report.total, report.service_level_s),
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, t("stats.chart")),
        h("span", { class: "legend" }, h("i", { class: "ok" }), t("stats.answered"), h("i", { class: "lost" }), t("stats.abandoned"),
          h("i", { class: "other" }), t("stats.messages_callbacks"))),
      h("div", { class: "card-body" }, chart(report))),
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, t("stats.per_team"))),
        h("div", { class: "card-body" }, table("stats-teams", t("stats.team"), report.teams, (r) => r.team ? (live.me.teams.find((x) => x.id === r.team)?.name || r.team) : t("stats.no_team")))),
      h("section", { class: "card" }, h("div", { class: "card-head" }, h("h2", {}, t("stats.per_agent"))),
        h("div", { class: "card-body" }, agentTable(report.agents))),
      h("p", { class: "muted", id: "stats-wrapup" }, t("stats.footnote", { tz: report.timezone })));
  };
  const show = h("button", { type: "button", class: "primary", id: "stats-show", onclick: load }, t("stats.show"));
  main.append(
    h("div", { class: "page-head" }, h("div", {}, h("h1", {}, t("stats.title")), h("p", {}, t("stats.subtitle")))),
    h("div", { class: "card stats-filters" }, h("div", { class: "card-body filter-row" },
      field(t("stats.from"), from), field(t("stats.to"), to), field(t("stats.by"), by), field(t("stats.team"), team),
      field(t("stats.agent"), agent), agents, field(t("stats.sl_seconds"), level),
      h("div", { class: "row-buttons" }, show, csv))),
    body);
  for (const el of [from, to, by, team, level]) el.addEventListener("change", load);
  load();
  return () => clear($("#stats-body") || body);
}
