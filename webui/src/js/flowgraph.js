// The flow drawn as a graph: one card per node, rows from the start node downwards (each node
// below every node that leads to it), and a line from each way out (a menu digit, "after the
// hold sequence", ...) to the node it leads to. Cards are HTML; lines are SVG measured from them.
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { duration, promptLength, t } from "./i18n.js";
import { layers, ports } from "./modedoc.js";
import { problemText } from "./problems.js";

export const TYPE_ICON = { announcement: "speaker", menu: "keypad", queue: "queue", voicemail: "voicemail", callback: "phone", hangup: "hangup", condition: "split" };
const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  return el;
}

function seconds(value) {
  return value === undefined || value === null ? "" : promptLength(value);
}

// A condition's rule as a short label: "gesperrt", "anonym", "Nummer", "geschlossen" ...
export function ruleLabel(rule) {
  return rule.test === "schedule" ? t(`rule.schedule_${rule.schedule || "open"}`) : t(`rule.${rule.test || "blocked"}`);
}

export function portLabel(port) {
  if (port.kind === "digit") return port.digit;
  if (port.kind === "rule") return ruleLabel(port);
  return t(`port.${port.kind}`);
}

function promptLine(name, lengths, kind = "speaker") {
  if (!name) return h("div", { class: "fc-line muted" }, icon(kind), t("editor.no_prompt"));
  const len = lengths.get(name);
  return h("div", { class: `fc-line ${lengths.has(name) ? "" : "missing"}` }, icon(kind),
    h("span", { class: "mono" }, name), len ? h("span", { class: "faint" }, seconds(len)) : null);
}

function body(doc, id, node, ctx) {
  const lengths = ctx.lengths;
  const teamName = (team) => ctx.teams.find((x) => x.id === team)?.name || team;
  switch (node.type) {
    case "announcement":
      return [promptLine(node.prompt, lengths), node.barge_in ? h("div", { class: "fc-meta" }, t("editor.barge_in_short")) : null];
    case "menu":
      return [promptLine(node.prompt, lengths),
        h("div", { class: "fc-meta" }, t("editor.menu_meta", { timeout: node.timeout ?? 6, retries: node.retries ?? 3 }))];
    case "queue":
      return [
        h("div", { class: "fc-line" }, h("span", { class: "pill team" }, t("editor.team_pill", { team: teamName(node.team) || "?" }))),
        h("ol", { class: "fc-hold" }, (node.hold || []).map((step) => h("li", {},
          icon(step.music !== undefined ? "music" : step.announce !== undefined ? "queue" : "speaker"),
          step.announce !== undefined ? h("span", {}, t(`hold.announce_${step.announce}`))
            : h("span", { class: "mono" }, step.music ?? step.announcement ?? "?"),
          step.music !== undefined ? h("span", { class: "faint" }, seconds(step.seconds)) : null))),
        (node.repeat_hold || node.max_wait) ? h("div", { class: "fc-meta" },
          node.repeat_hold ? t("editor.repeats") : null, node.repeat_hold && node.max_wait ? " · " : null,
          node.max_wait ? t("editor.max_wait_short", { time: duration(node.max_wait) }) : null) : null,
      ];
    case "condition":
      return [h("ol", { class: "fc-hold fc-rules" }, (node.rules || []).map((rule) => h("li", { "data-test": rule.test },
        icon(rule.test === "blocked" ? "ban" : rule.test === "schedule" ? "calendar" : "user"), h("span", {}, ruleLabel(rule)),
        rule.test === "number" ? h("span", { class: "mono faint" }, (rule.numbers || []).join(", ")) : null)))];
    case "voicemail":
      return [node.prompt ? promptLine(node.prompt, lengths) : null,
        h("div", { class: "fc-meta" }, [node.team ? t("editor.team_pill", { team: teamName(node.team) }) : t("editor.team_from_queue"),
          t("editor.max_short", { time: duration(node.max_seconds ?? 120) }), node.beep === false ? null : t("editor.beep_short")].filter(Boolean).join(" · ")),
        node.email?.length ? h("div", { class: "fc-meta" }, icon("inbox"), node.email.join(", ")) : null];
    default:
      return [node.prompt ? promptLine(node.prompt, lengths) : null, h("div", { class: "fc-meta" }, t("editor.hangs_up"))];
  }
}

function card(doc, id, ctx) {
  const node = doc.nodes[id];
  const mine = ctx.problems.filter((p) => p.node === id);
  const errors = mine.filter((p) => p.severity === "error");
  const cls = ["flow-card", `t-${node.type}`];
  if (ctx.selected === id) cls.push("selected");
  if (errors.length) cls.push("has-error");
  else if (mine.length) cls.push("has-warning");
  if (ctx.simNode === id) cls.push("sim-here");
  const switches = [];
  for (const sw of doc.switches || []) {
    for (const r of sw.replaces || []) {
      if (r.node === id) {
        switches.push(h("div", { class: "fc-switch", title: `${t("editor.switch_replaces_title")}: ${r.prompt || "?"}` }, icon("alert"),
          h("span", { class: "sw-label" }, sw.label || sw.id), h("span", { class: "mono" }, r.prompt || "?")));
      }
    }
  }
  const out = ports(node);
  return h("div", {
    class: cls.join(" "), "data-node": id, "data-type": node.type, tabindex: "0", role: "button",
    "aria-label": `${t(`type.${node.type}`)} ${node.label || id}`,
    onclick: () => ctx.onSelect(id),
    onkeydown: (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); ctx.onSelect(id); } },
  },
  h("div", { class: "fc-head" },
    h("span", { class: "fc-icon" }, icon(TYPE_ICON[node.type] || "flow")),
    h("span", { class: "fc-type" }, t(`type.${node.type}`)),
    id === doc.start ? h("span", { class: "fc-start" }, icon("flag"), t("editor.start")) : null,
    mine.length ? h("span", { class: `fc-badge ${errors.length ? "error" : "warning"}`, "data-problems": String(mine.length),
      title: mine.map(problemText).join("\n") }, icon("alert"), String(mine.length)) : null),
  h("div", { class: "fc-title" }, h("span", { class: "fc-name" }, node.label || id), node.label ? h("span", { class: "fc-id mono" }, id) : null),
  h("div", { class: "fc-body" }, body(doc, id, node, ctx)),
  switches,
  ctx.simNode === id ? h("div", { class: "fc-sim" }, icon("phone"), t("sim.caller_here")) : null,
  out.length ? h("div", { class: "fc-ports" }, out.map((p) => h("span", {
    class: `port k-${p.kind} ${p.target ? "" : "open"}`, "data-port": p.key, "data-target": p.target || "",
    title: p.target ? `${portLabel(p)} → ${doc.nodes[p.target]?.label || p.target}` : t("editor.port_open"),
  }, portLabel(p)))) : null);
}

// ctx.zoom: the drawing's scale (CSS zoom on the inner box; lines are drawn in its own, unzoomed units)
export function renderFlow(host, doc, ctx) {
  const { rows, unreachable } = layers(doc);
  const edges = svg("svg", { class: "flow-edges", "aria-hidden": "true" });
  const defs = svg("defs");
  for (const [idName, cls] of [["arrow", "a"], ["arrow-hot", "a hot"]]) {
    const marker = svg("marker", { id: idName, viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
    marker.append(svg("path", { d: "M 0 1 L 9 5 L 0 9 z", class: cls }));
    defs.append(marker);
  }
  edges.append(defs);
  const rowEls = rows.map((row) => h("div", { class: "flow-row" }, row.map((id) => card(doc, id, ctx))));
  const inner = h("div", { class: "flow-inner" }, edges,
    h("div", { class: "flow-rows" }, rowEls,
      unreachable.length ? h("div", { class: "flow-unreachable" },
        h("div", { class: "flow-row-label" }, icon("alert"), t("editor.unreachable")),
        h("div", { class: "flow-row" }, unreachable.map((id) => card(doc, id, ctx)))) : null,
      !Object.keys(doc.nodes).length ? h("div", { class: "empty" }, icon("flow"), h("b", {}, t("editor.no_nodes")), t("editor.no_nodes_hint")) : null));
  inner.style.zoom = String(ctx.zoom || 1);
  host.replaceChildren(inner);
  const draw = () => drawEdges(inner, edges, ctx.selected);
  requestAnimationFrame(draw);
  return draw;
}

// The natural size of the drawing (unzoomed), to fit it into the view.
export function flowSize(host) {
  const inner = host.querySelector(".flow-inner");
  return inner ? { width: inner.scrollWidth, height: inner.scrollHeight } : null;
}

function drawEdges(inner, edges, selected) {
  if (!inner.isConnected) return;
  const zoom = Number(inner.style.zoom || 1);
  const box = inner.getBoundingClientRect();
  const base = { left: box.left, top: box.top };
  edges.setAttribute("width", String(inner.scrollWidth));
  edges.setAttribute("height", String(inner.scrollHeight));
  const local = (r) => ({ left: (r.left - base.left) / zoom, right: (r.right - base.left) / zoom, top: (r.top - base.top) / zoom,
    bottom: (r.bottom - base.top) / zoom, width: r.width / zoom });
  for (const old of edges.querySelectorAll("path.edge")) old.remove();
  for (const port of inner.querySelectorAll(".port[data-target]")) {
    const targetId = port.dataset.target;
    if (!targetId) continue;
    const from = port.closest(".flow-card");
    const to = inner.querySelector(`.flow-card[data-node="${CSS.escape(targetId)}"]`);
    if (!to) continue;
    const p = local(port.getBoundingClientRect());
    const f = local(from.getBoundingClientRect());
    const r = local(to.getBoundingClientRect());
    const x1 = p.left + p.width / 2;
    const y1 = f.bottom;
    const x2 = r.left + r.width / 2;
    const y2 = r.top - 1;
    let d;
    if (to === from || y2 < y1 + 8) {
      // back to an earlier row (a loop): round the right side of the cards
      const side = Math.max(f.right, r.right) + 28;
      d = `M${x1},${y1} C${x1},${y1 + 40} ${side},${y1 + 40} ${side},${(y1 + y2) / 2} S${x2},${y2 - 40} ${x2},${y2}`;
    } else {
      const dy = Math.max(28, (y2 - y1) / 2);
      d = `M${x1},${y1} C${x1},${y1 + dy} ${x2},${y2 - dy} ${x2},${y2}`;
    }
    const hot = selected && (from.dataset.node === selected || targetId === selected);
    edges.append(svg("path", { d, class: `edge k-${port.className.match(/k-(\S+)/)?.[1] || "next"}${hot ? " hot" : ""}`,
      "marker-end": `url(#${hot ? "arrow-hot" : "arrow"})`, "data-from": from.dataset.node, "data-to": targetId }));
  }
}
