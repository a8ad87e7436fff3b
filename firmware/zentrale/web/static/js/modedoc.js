// The mode document as the editor changes it: plain data, the same shape the engine reads
// (docs/modes.md). Pure functions; no DOM.

export const NODE_TYPES = ["announcement", "menu", "queue", "condition", "voicemail", "callback", "hangup"];
// The tests of a condition node's rules (core/callers.py), in the order the form offers them.
export const RULE_TESTS = ["blocked", "vip", "anonymous", "number", "schedule"];
export const ID_RE = /^[A-Za-z0-9_][A-Za-z0-9_-]{0,63}$/;
export const DIGITS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "0", "*", "#"];

// What a new mode starts with (the same as the server's small empty mode).
export function starterDocument(title) {
  return {
    schema_version: 1,
    name: title,
    start: "greeting",
    nodes: {
      greeting: { type: "announcement", prompt: "greeting", next: "goodbye" },
      goodbye: { type: "hangup", prompt: "goodbye" },
    },
    switches: [],
  };
}

export function clone(value) {
  return JSON.parse(JSON.stringify(value));
}

export function newNode(type, teams) {
  switch (type) {
    case "announcement": return { type };
    case "menu": return { type, choices: {}, timeout: 6, retries: 3 };
    case "queue": return { type, team: teams[0]?.id, hold: [] };
    case "voicemail": return { type, beep: true, max_seconds: 120, silence_seconds: 5, end_digits: "#" };
    case "condition": return { type, rules: [{ test: "blocked", next: "" }], otherwise: "" };
    case "callback": return { type };
    default: return { type: "hangup" };
  }
}

export function uniqueId(doc, base) {
  if (!doc.nodes[base]) return base;
  for (let n = 2; ; n += 1) if (!doc.nodes[`${base}_${n}`]) return `${base}_${n}`;
}

export function addNode(doc, type, teams) {
  const id = uniqueId(doc, type);
  doc.nodes[id] = newNode(type, teams);
  return id;
}

export function digitOrder(a, b) {
  return DIGITS.indexOf(a) - DIGITS.indexOf(b);
}

// The ways out of a node, in the order they are drawn: {key: field path, target, kind}.
export function ports(node) {
  switch (node.type) {
    case "announcement":
      return [{ key: "next", kind: "next", target: node.next || null }];
    case "menu":
      return [
        ...Object.keys(node.choices || {}).sort(digitOrder).map((d) => ({ key: `choices.${d}`, kind: "digit", digit: d, target: node.choices[d] || null })),
        { key: "on_failure", kind: "failure", target: node.on_failure || null },
      ];
    case "queue": {
      const out = [];
      if (!node.repeat_hold) out.push({ key: "after_hold", kind: "after_hold", target: node.after_hold || null });
      if (node.max_wait) out.push({ key: "on_max_wait", kind: "max_wait", target: node.on_max_wait || null });
      // keys the caller may press while waiting: each leaves the queue at once (docs/modes.md)
      out.push(...Object.keys(node.keys || {}).sort(digitOrder).map((d) => ({ key: `keys.${d}`, kind: "digit", digit: d, target: node.keys[d] || null })));
      return out;
    }
    case "voicemail":
      return [{ key: "next", kind: "next", target: node.next || null }];
    case "condition":
      // the first rule that holds wins (docs/modes.md); "otherwise" takes every other caller
      return [
        ...(node.rules || []).map((rule, i) => ({ key: `rules.${i}.next`, kind: "rule", test: rule.test, schedule: rule.schedule, target: rule.next || null })),
        { key: "otherwise", kind: "otherwise", target: node.otherwise || null },
      ];
    case "callback": // the caller gave no number the box may call (docs/modes.md)
      return [{ key: "on_failure", kind: "failure", target: node.on_failure || null }];
    default:
      return [];
  }
}

export function targets(node) {
  return ports(node).map((p) => p.target).filter(Boolean);
}

// Set a field; an empty value removes it (so the engine's default applies, or the check says what is missing).
export function setField(obj, key, value) {
  if (value === "" || value === null || value === undefined || (typeof value === "number" && Number.isNaN(value))) delete obj[key];
  else obj[key] = value;
}

function retarget(doc, from, to) {
  const swap = (v) => (v === from ? to : v);
  if (doc.start === from) doc.start = to;
  for (const node of Object.values(doc.nodes)) {
    for (const key of ["next", "on_failure", "after_hold", "on_max_wait"]) {
      if (key in node) setField(node, key, swap(node[key]));
    }
    if ("otherwise" in node) node.otherwise = swap(node.otherwise) || "";
    for (const rule of node.rules || []) rule.next = swap(rule.next) || "";
    for (const map of [node.choices, node.keys]) if (map) for (const d of Object.keys(map)) map[d] = swap(map[d]) || "";
  }
  for (const sw of doc.switches || []) {
    for (const r of sw.replaces || []) {
      if (r.node === from) r.node = to || "";
      if ("next" in r) setField(r, "next", swap(r.next));
    }
  }
}

// Rename a node and every reference to it; keeps the nodes' order.
export function renameNode(doc, from, to) {
  const nodes = {};
  for (const [id, node] of Object.entries(doc.nodes)) nodes[id === from ? to : id] = node;
  doc.nodes = nodes;
  retarget(doc, from, to);
}

// Delete a node: edges to it are cut (a menu digit or queue key stays, without a target, so the check shows it).
export function deleteNode(doc, id) {
  delete doc.nodes[id];
  retarget(doc, id, null);
  for (const sw of doc.switches || []) sw.replaces = (sw.replaces || []).filter((r) => r.node);
}

// Nodes reachable from the start, in depth-first order following the ports.
export function walk(doc) {
  const order = [];
  const seen = new Set();
  const visit = (id) => {
    if (!doc.nodes[id] || seen.has(id)) return;
    seen.add(id);
    order.push(id);
    for (const target of targets(doc.nodes[id])) visit(target);
  };
  visit(doc.start);
  return order;
}

// Rows for drawing: each reachable node one row below every node that leads to it (back edges
// ignored), then a last row with what the start does not reach.
export function layers(doc) {
  const order = walk(doc);
  const index = new Map(order.map((id, i) => [id, i]));
  const depth = new Map([[doc.start, 0]]);
  const seen = new Map(); // 1: on the current path, 2: done
  const back = new Set();
  const visit = (id) => {
    seen.set(id, 1);
    for (const t of targets(doc.nodes[id])) {
      if (!doc.nodes[t]) continue;
      if (seen.get(t) === 1) back.add(`${id}>${t}`);
      else if (!seen.has(t)) visit(t);
    }
    seen.set(id, 2);
  };
  if (doc.nodes[doc.start]) visit(doc.start);
  for (let round = 0; round < order.length; round += 1) {
    let moved = false;
    for (const id of order) {
      for (const t of targets(doc.nodes[id])) {
        if (!index.has(t) || back.has(`${id}>${t}`)) continue;
        const want = depth.get(id) + 1;
        if ((depth.get(t) ?? -1) < want) { depth.set(t, want); moved = true; }
      }
    }
    if (!moved) break;
  }
  const rows = [];
  for (const id of order) {
    const d = depth.get(id) ?? 0;
    (rows[d] ||= []).push(id);
  }
  const unreachable = Object.keys(doc.nodes).filter((id) => !index.has(id));
  return { rows: rows.filter(Boolean), unreachable };
}

// Which part of the editor a problem belongs to, from its dotted path.
export function problemPlace(problem) {
  const parts = (problem.path || "").split(".");
  if (problem.node || parts[0] === "nodes") return { kind: "node", id: problem.node || parts[1], field: parts.slice(2).join(".") };
  if (parts[0] === "switches" && parts.length > 1) return { kind: "switch", index: Number(parts[1]), field: parts.slice(2).join(".") };
  return { kind: "mode", field: parts.join(".") };
}
