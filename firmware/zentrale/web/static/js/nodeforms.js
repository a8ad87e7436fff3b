// The editor's side panel: every field of the selected node, the mode's own settings and the
// manual-control switches. Inputs change the document at once (ctx.changed redraws the graph
// and asks the box to check it); structural changes redraw the panel too.
import { clear, confirmDialog, field, h } from "./dom.js";
import { icon } from "./icons.js";
import { duration, promptLength, t } from "./i18n.js";
import { DIGITS, ID_RE, NODE_TYPES, RULE_TESTS, deleteNode, digitOrder, renameNode, setField } from "./modedoc.js";
import { playButton } from "./preview.js";
import { TYPE_ICON } from "./flowgraph.js";
import { problemText } from "./problems.js";

function option(value, label, selected = false) {
  return h("option", { value, selected }, label);
}

// A prompt or music from the library, with a play button. prefer: which kind is listed first.
export function promptPicker(ctx, value, { optional = false, prefer = "prompt", fieldName = "prompt", onChange }) {
  const byKind = (kind) => ctx.prompts.filter((p) => p.kind === kind);
  const group = (kind) => h("optgroup", { label: t(kind === "music" ? "library.kind_music" : "library.kind_prompt") },
    byKind(kind).map((p) => option(p.name, p.seconds ? `${p.name} (${promptLength(p.seconds)})` : p.name, p.name === value)));
  const known = ctx.prompts.some((p) => p.name === value);
  const select = h("select", { "data-field": fieldName },
    option("", optional ? t("editor.none") : t("editor.choose_prompt"), !value),
    value && !known ? option(value, t("editor.prompt_missing_option", { name: value }), true) : null,
    prefer === "music" ? [group("music"), group("prompt")] : [group("prompt"), group("music")]);
  const play = playButton(() => select.value, { "data-role": "play" });
  select.addEventListener("change", () => { onChange(select.value); play.sync(); ctx.changed(); });
  return h("div", { class: "picker" }, select, play);
}

export function nodeName(doc, id) {
  const node = doc.nodes[id];
  if (!node) return id;
  return node.label && node.label !== id ? `${node.label} (${id})` : id;
}

// Where a way out leads: an existing node, nothing, or a new node made right here.
export function targetPicker(ctx, value, { optional = true, none, fieldName, onChange }) {
  const doc = ctx.doc;
  const select = h("select", { "data-field": fieldName },
    option("", optional ? none || t("editor.target_none") : t("editor.choose_target"), !value),
    value && !doc.nodes[value] ? option(value, t("editor.target_missing_option", { name: value }), true) : null,
    h("optgroup", { label: t("editor.existing_steps") }, Object.keys(doc.nodes).map((id) => option(id, nodeName(doc, id), id === value))),
    h("optgroup", { label: t("editor.new_step") }, NODE_TYPES.map((type) => option(`new:${type}`, t(`editor.new_${type}`)))));
  select.addEventListener("change", () => {
    let target = select.value;
    if (target.startsWith("new:")) target = ctx.create(target.slice(4));
    onChange(target);
    ctx.changed({ structure: true });
  });
  return select;
}

function numberInput(ctx, value, { fieldName, min, max, step = "1", placeholder = "", structure = false, onChange }) {
  const input = h("input", { type: "number", "data-field": fieldName, min, max, step, placeholder, value: value ?? "" });
  input.addEventListener("input", () => {
    onChange(input.value === "" ? undefined : Number(input.value));
    if (!structure) ctx.changed();
  });
  if (structure) input.addEventListener("change", () => ctx.changed({ structure: true }));
  return input;
}

function checkbox(label, checked, fieldName, onChange) {
  const input = h("input", { type: "checkbox", "data-field": fieldName, checked: Boolean(checked) });
  input.addEventListener("change", () => onChange(input.checked));
  return h("label", { class: "check" }, input, label);
}

function textInput(ctx, value, fieldName, onChange, attrs = {}) {
  const input = h("input", { type: "text", "data-field": fieldName, value: value ?? "", autocomplete: "off", ...attrs });
  input.addEventListener("input", () => { onChange(input.value); ctx.changed(); });
  return input;
}

function section(title, ...children) {
  return h("div", { class: "form-section" }, title ? h("h3", {}, title) : null, children);
}

export function renderProblemList(box, problems) {
  clear(box, ...problems.map((p) => h("li", { class: p.severity }, icon("alert"), h("span", {}, problemText(p)))));
  box.hidden = !problems.length;
}

// --- one node ------------------------------------------------------------------------------

export function renderNodeForm(box, ctx, id) {
  const doc = ctx.doc;
  const node = doc.nodes[id];
  if (!node) {
    clear(box, h("div", { class: "empty side-empty" }, icon("flow"), h("b", {}, t("editor.select_node")), t("editor.select_node_hint")));
    return;
  }
  const problems = h("ul", { class: "problem-list", id: "node-problems" });
  renderProblemList(problems, ctx.problems.filter((p) => p.node === id));
  const idError = h("small", { class: "error" });
  const idInput = h("input", { type: "text", "data-field": "id", value: id, autocomplete: "off", spellcheck: "false" });
  const applyId = () => {
    const wanted = idInput.value.trim();
    if (wanted === id) { idError.textContent = ""; return; }
    if (!ID_RE.test(wanted)) { idError.textContent = t("editor.bad_id"); return; }
    if (doc.nodes[wanted]) { idError.textContent = t("editor.id_taken", { id: wanted }); return; }
    renameNode(doc, id, wanted);
    ctx.select(wanted);
    ctx.changed({ structure: true });
  };
  idInput.addEventListener("change", applyId);
  idInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); applyId(); } });
  const remove = async () => {
    const ok = await confirmDialog({ title: t("editor.delete_node_title", { name: node.label || id }), text: t("editor.delete_node_text"),
      confirm: t("common.delete"), cancel: t("common.cancel"), danger: true });
    if (!ok) return;
    deleteNode(doc, id);
    ctx.select(null);
    ctx.changed({ structure: true });
  };
  clear(box,
    h("div", { class: `side-head t-${node.type}` },
      h("span", { class: "fc-icon" }, icon(TYPE_ICON[node.type])),
      h("div", { class: "grow" }, h("div", { class: "side-type" }, t(`type.${node.type}`)), h("div", { class: "side-title" }, node.label || id)),
      id === doc.start ? h("span", { class: "fc-start" }, icon("flag"), t("editor.start"))
        : h("button", { type: "button", class: "small ghost", "data-action": "make-start", title: t("editor.make_start"),
          onclick: () => { doc.start = id; ctx.changed({ structure: true }); } }, icon("flag"), t("editor.make_start_short")),
      h("button", { type: "button", class: "small ghost", "data-action": "delete-node", title: t("editor.delete_node"), "aria-label": t("editor.delete_node"), onclick: remove }, icon("trash"))),
    h("p", { class: "muted side-help" }, t(`help.${node.type}`)),
    problems,
    h("div", { class: "form-row" },
      field(t("field.label"), textInput(ctx, node.label, "label", (v) => {
        setField(node, "label", v);
        box.querySelector(".side-title").textContent = node.label || id;
      }, { placeholder: t("editor.label_placeholder") })),
      field(t("field.id"), idInput, idError)),
    h("div", { class: "form-main" }, (FORMS[node.type] || (() => []))(ctx, node)));
}

// Digit -> step rows: a menu's choices, a queue's keys (owner[fieldName] is the map in the document).
function digitRows(ctx, owner, fieldName, removeAction) {
  const map = owner[fieldName];
  return Object.keys(map).sort(digitOrder).map((digit) => {
    const digitSelect = h("select", { class: "digit", "data-field": "digit", "aria-label": t("field.digit") },
      DIGITS.filter((d) => d === digit || !(d in map)).map((d) => option(d, d, d === digit)));
    digitSelect.addEventListener("change", () => {
      owner[fieldName] = Object.fromEntries(Object.entries(map).map(([d, target]) => [d === digit ? digitSelect.value : d, target]));
      ctx.changed({ structure: true });
    });
    return h("div", { class: "choice-row", "data-digit": digit },
      h("span", { class: "key" }, icon("keypad")), digitSelect,
      targetPicker(ctx, map[digit], { optional: false, fieldName: "target", onChange: (v) => { map[digit] = v || ""; } }),
      h("button", { type: "button", class: "small ghost", "data-action": removeAction, title: t("editor.remove_choice"), "aria-label": t("editor.remove_choice"),
        onclick: () => {
          delete map[digit];
          if (fieldName === "keys" && !Object.keys(map).length) delete owner.keys; // no keys: the field goes
          ctx.changed({ structure: true });
        } }, icon("x")));
  });
}

// A queue's keys: digits the waiting caller may press to leave for another step at once.
function queueKeys(ctx, node) {
  const keys = node.keys || {};
  const free = DIGITS.find((d) => !(d in keys));
  return section(t("editor.queue_keys"),
    h("p", { class: "muted small-text" }, t("editor.queue_keys_hint")),
    h("div", { class: "choices", "data-field": "keys" },
      node.keys && Object.keys(node.keys).length ? digitRows(ctx, node, "keys", "remove-key") : h("p", { class: "muted" }, t("editor.no_queue_keys"))),
    free ? h("button", { type: "button", class: "small", "data-action": "add-key",
      onclick: () => { node.keys = { ...keys, [free === "1" && !("*" in keys) ? "*" : free]: "" }; ctx.changed({ structure: true }); } },
    icon("plus"), t("editor.add_queue_key")) : null);
}

const FORMS = {
  announcement(ctx, node) {
    return [
      field(t("field.prompt"), promptPicker(ctx, node.prompt, { onChange: (v) => setField(node, "prompt", v) })),
      field(t("field.next"), targetPicker(ctx, node.next, { fieldName: "next", none: t("editor.target_hangup"), onChange: (v) => setField(node, "next", v) })),
      checkbox(t("field.barge_in"), node.barge_in, "barge_in", (v) => { setField(node, "barge_in", v || undefined); ctx.changed(); }),
    ];
  },

  menu(ctx, node) {
    node.choices ||= {};
    const rows = digitRows(ctx, node, "choices", "remove-choice");
    const free = DIGITS.find((d) => !(d in node.choices));
    return [
      field(t("field.prompt"), promptPicker(ctx, node.prompt, { onChange: (v) => setField(node, "prompt", v) })),
      section(t("editor.choices"),
        h("div", { class: "choices", "data-field": "choices" }, rows.length ? rows : h("p", { class: "muted" }, t("editor.no_choices"))),
        free ? h("button", { type: "button", class: "small", "data-action": "add-choice",
          onclick: () => { node.choices[free] = ""; ctx.changed({ structure: true }); } }, icon("plus"), t("editor.add_choice")) : null),
      h("div", { class: "form-row" },
        field(t("field.timeout"), numberInput(ctx, node.timeout, { fieldName: "timeout", min: "1", max: "120", placeholder: "6", onChange: (v) => setField(node, "timeout", v) }), t("editor.timeout_hint")),
        field(t("field.retries"), numberInput(ctx, node.retries, { fieldName: "retries", min: "1", max: "10", placeholder: "3", onChange: (v) => setField(node, "retries", v) }))),
      field(t("field.invalid_prompt"), promptPicker(ctx, node.invalid_prompt, { optional: true, fieldName: "invalid_prompt", onChange: (v) => setField(node, "invalid_prompt", v) })),
      field(t("field.timeout_prompt"), promptPicker(ctx, node.timeout_prompt, { optional: true, fieldName: "timeout_prompt", onChange: (v) => setField(node, "timeout_prompt", v) })),
      field(t("field.on_failure"), targetPicker(ctx, node.on_failure, { fieldName: "on_failure", none: t("editor.target_hangup"), onChange: (v) => setField(node, "on_failure", v) })),
    ];
  },

  queue(ctx, node) {
    node.hold ||= [];
    const team = h("select", { "data-field": "team" },
      node.team && !ctx.teams.some((x) => x.id === node.team) ? option(node.team, t("editor.team_missing_option", { team: node.team }), true) : null,
      ctx.teams.map((x) => option(x.id, `${x.name} (${x.id})`, x.id === node.team)));
    team.addEventListener("change", () => { node.team = team.value; ctx.changed(); });
    const maxWait = numberInput(ctx, node.max_wait, { fieldName: "max_wait", min: "1", placeholder: t("editor.no_limit"), structure: true,
      onChange: (v) => { setField(node, "max_wait", v); if (!v) delete node.on_max_wait; maxHint.textContent = v ? t("editor.is_minutes", { time: duration(v) }) : ""; } });
    const maxHint = h("span", {}, node.max_wait ? t("editor.is_minutes", { time: duration(node.max_wait) }) : "");
    return [
      field(t("field.team"), team, t("editor.team_hint")),
      section(t("editor.hold"), h("p", { class: "muted small-text" }, t("editor.hold_hint")), holdEditor(ctx, node)),
      checkbox(t("field.repeat_hold"), node.repeat_hold, "repeat_hold", (v) => {
        setField(node, "repeat_hold", v || undefined);
        if (v) delete node.after_hold;
        ctx.changed({ structure: true });
      }),
      node.repeat_hold ? null : field(t("field.after_hold"), targetPicker(ctx, node.after_hold, { fieldName: "after_hold", none: t("editor.target_hangup"), onChange: (v) => setField(node, "after_hold", v) })),
      h("div", { class: "form-row" },
        field(t("field.max_wait"), maxWait, maxHint),
        node.max_wait ? field(t("field.on_max_wait"), targetPicker(ctx, node.on_max_wait, { fieldName: "on_max_wait", none: t("editor.target_hangup"), onChange: (v) => setField(node, "on_max_wait", v) })) : h("div")),
      node.hold.some((s) => s.announce !== undefined) ? h("div", { class: "form-row" },
        field(t("field.announce_every"), numberInput(ctx, node.announce_every, { fieldName: "announce_every", min: "0", max: "3600", placeholder: "60",
          onChange: (v) => setField(node, "announce_every", v) }), t("editor.announce_every_hint")),
        field(t("field.wait_min_observations"), numberInput(ctx, node.wait_min_observations, { fieldName: "wait_min_observations", min: "1", max: "100", placeholder: "5",
          onChange: (v) => setField(node, "wait_min_observations", v) }), t("editor.wait_min_observations_hint"))) : null,
      queueKeys(ctx, node),
    ];
  },

  voicemail(ctx, node) {
    const team = h("select", { "data-field": "team" }, option("", t("editor.team_from_queue"), !node.team),
      ctx.teams.map((x) => option(x.id, `${x.name} (${x.id})`, x.id === node.team)));
    team.addEventListener("change", () => { setField(node, "team", team.value); ctx.changed(); });
    const email = h("textarea", { "data-field": "email", rows: "2", placeholder: "pc-team@example.com" }, (node.email || []).join(", "));
    email.addEventListener("input", () => {
      const list = email.value.split(/[\s,;]+/).map((x) => x.trim()).filter(Boolean);
      setField(node, "email", list.length ? list : undefined);
      ctx.changed();
    });
    return [
      field(t("field.prompt"), promptPicker(ctx, node.prompt, { optional: true, onChange: (v) => setField(node, "prompt", v) })),
      checkbox(t("field.beep"), node.beep !== false, "beep", (v) => { node.beep = v; ctx.changed(); }),
      h("div", { class: "form-row three" },
        field(t("field.max_seconds"), numberInput(ctx, node.max_seconds, { fieldName: "max_seconds", min: "1", max: "3600", placeholder: "120", onChange: (v) => setField(node, "max_seconds", v) })),
        field(t("field.silence_seconds"), numberInput(ctx, node.silence_seconds, { fieldName: "silence_seconds", min: "1", max: "60", placeholder: "5", onChange: (v) => setField(node, "silence_seconds", v) })),
        field(t("field.end_digits"), textInput(ctx, node.end_digits ?? "#", "end_digits", (v) => setField(node, "end_digits", v), { maxlength: "12" }))),
      field(t("field.team"), team, t("editor.vm_team_hint")),
      field(t("field.email"), email, t("editor.email_hint")),
      field(t("field.next"), targetPicker(ctx, node.next, { fieldName: "next", none: t("editor.target_hangup"), onChange: (v) => setField(node, "next", v) })),
    ];
  },

  // Caller rules: ordered, the first that holds wins; "otherwise" for every other caller.
  condition(ctx, node) {
    node.rules ||= [];
    const rows = node.rules.map((rule, i) => {
      const test = h("select", { "data-field": "test", "aria-label": t("field.rule_test") },
        RULE_TESTS.map((x) => option(x, t(`rule.${x}_long`), x === rule.test)));
      test.addEventListener("change", () => {
        rule.test = test.value;
        if (rule.test === "number") rule.numbers ||= [];
        else delete rule.numbers;
        if (rule.test === "schedule") rule.schedule ||= "closed";
        else delete rule.schedule;
        ctx.changed({ structure: true });
      });
      let extra = null;
      if (rule.test === "number") {
        extra = textInput(ctx, (rule.numbers || []).join(", "), "numbers", (v) => {
          rule.numbers = v.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
        }, { placeholder: "+4930*, 040*, mobile", spellcheck: "false", maxlength: "2000" });
      } else if (rule.test === "schedule") {
        extra = h("select", { "data-field": "schedule" },
          ["open", "closed", "holiday"].map((x) => option(x, t(`rule.schedule_${x}`), x === rule.schedule)));
        extra.addEventListener("change", () => { rule.schedule = extra.value; ctx.changed({ structure: true }); });
      }
      const move = (to) => {
        if (to < 0 || to >= node.rules.length) return;
        const [r] = node.rules.splice(i, 1);
        node.rules.splice(to, 0, r);
        ctx.changed({ structure: true });
      };
      return h("div", { class: "rule-row", "data-index": String(i), "data-test": rule.test },
        h("span", { class: "step-no" }, String(i + 1)),
        h("div", { class: "rule-what" }, test, extra),
        targetPicker(ctx, rule.next, { optional: false, fieldName: "next", onChange: (v) => { rule.next = v || ""; } }),
        h("button", { type: "button", class: "small ghost", "data-action": "rule-up", title: t("editor.rule_up"), "aria-label": t("editor.rule_up"),
          disabled: i === 0, onclick: () => move(i - 1) }, icon("up")),
        h("button", { type: "button", class: "small ghost", "data-action": "remove-rule", title: t("editor.remove_rule"), "aria-label": t("editor.remove_rule"),
          onclick: () => { node.rules.splice(i, 1); ctx.changed({ structure: true }); } }, icon("x")));
    });
    return [
      section(t("editor.rules"), h("p", { class: "muted small-text" }, t("editor.rules_hint")),
        h("div", { class: "rules", "data-field": "rules" }, rows.length ? rows : h("p", { class: "muted" }, t("editor.no_rules"))),
        h("button", { type: "button", class: "small", "data-action": "add-rule",
          onclick: () => { node.rules.push({ test: "anonymous", next: "" }); ctx.changed({ structure: true }); } }, icon("plus"), t("editor.add_rule"))),
      field(t("field.otherwise"), targetPicker(ctx, node.otherwise, { optional: false, fieldName: "otherwise", onChange: (v) => { node.otherwise = v || ""; } }),
        t("editor.otherwise_hint")),
    ];
  },

  // the caller confirms or types a number and keeps their place in the queue (docs/modes.md)
  callback(ctx, node) {
    const team = h("select", { "data-field": "team" }, option("", t("editor.team_from_queue"), !node.team),
      ctx.teams.map((x) => option(x.id, `${x.name} (${x.id})`, x.id === node.team)));
    team.addEventListener("change", () => { setField(node, "team", team.value); ctx.changed(); });
    return [
      h("p", { class: "muted" }, t("editor.callback_hint")),
      field(t("field.team"), team),
      field(t("field.callback_failure"), targetPicker(ctx, node.on_failure, { fieldName: "on_failure", none: t("editor.target_hangup"), onChange: (v) => setField(node, "on_failure", v) })),
    ];
  },

  hangup(ctx, node) {
    return [field(t("field.prompt"), promptPicker(ctx, node.prompt, { optional: true, onChange: (v) => setField(node, "prompt", v) }))];
  },
};

// The hold sequence: steps in order, each an announcement, music for some seconds, or the
// caller's position / expected wait spoken; reordered by drag and drop (or Alt+arrow keys).
const STEP_KINDS = ["announcement", "music", "announce"];
const STEP_ICON = { announcement: "speaker", music: "music", announce: "queue" };
const stepKind = (step) => (step.music !== undefined ? "music" : step.announce !== undefined ? "announce" : "announcement");

function announceSelect(ctx, step) {
  const select = h("select", { "data-field": "announce" },
    ["both", "position", "wait"].map((w) => option(w, t(`hold.announce_${w}`), step.announce === w)));
  select.addEventListener("change", () => { step.announce = select.value; ctx.changed(); });
  return h("div", { class: "picker" }, select);
}

function holdEditor(ctx, node) {
  const steps = node.hold;
  const move = (from, to) => {
    if (to < 0 || to >= steps.length || from === to) return;
    const [step] = steps.splice(from, 1);
    steps.splice(to, 0, step);
    ctx.changed({ structure: true });
  };
  const list = h("ol", { class: "hold-steps", "data-field": "hold" });
  steps.forEach((step, i) => {
    const current = stepKind(step);
    const isMusic = current === "music";
    const kind = h("div", { class: "segmented kind", role: "group", "aria-label": t("editor.step_kind") },
      STEP_KINDS.map((k) => h("button", { type: "button", "data-kind": k, "aria-pressed": String(k === current),
        title: t(`hold.${k}`), "aria-label": t(`hold.${k}`),
        onclick: () => {
          if (k === current) return;
          const name = step.music ?? step.announcement ?? "";
          steps[i] = k === "music" ? { music: name, seconds: 30 } : k === "announce" ? { announce: "both" } : { announcement: name };
          ctx.changed({ structure: true });
        } }, icon(STEP_ICON[k]))));
    const grip = h("button", { type: "button", class: "grip ghost", title: t("editor.drag"), "aria-label": t("editor.drag") }, icon("grip"));
    grip.addEventListener("keydown", (e) => {
      if (e.altKey && e.key === "ArrowUp") { e.preventDefault(); move(i, i - 1); }
      if (e.altKey && e.key === "ArrowDown") { e.preventDefault(); move(i, i + 1); }
    });
    const li = h("li", { class: "hold-step", draggable: "true", "data-index": String(i), "data-kind": current },
      h("span", { class: "step-no" }, String(i + 1)), grip, kind,
      current === "announce" ? announceSelect(ctx, step) : promptPicker(ctx, step.music ?? step.announcement, { prefer: isMusic ? "music" : "prompt",
        onChange: (v) => { if (isMusic) step.music = v; else step.announcement = v; } }),
      isMusic ? h("label", { class: "secs" }, numberInput(ctx, step.seconds, { fieldName: "seconds", min: "1", max: "3600",
        onChange: (v) => setField(step, "seconds", v) }), h("span", {}, "s")) : null,
      h("button", { type: "button", class: "small ghost", "data-action": "remove-step", title: t("editor.remove_step"), "aria-label": t("editor.remove_step"),
        onclick: () => { steps.splice(i, 1); ctx.changed({ structure: true }); } }, icon("x")));
    li.addEventListener("dragstart", (e) => {
      e.dataTransfer.effectAllowed = "move";
      e.dataTransfer.setData("text/plain", String(i));
      li.classList.add("dragging");
    });
    li.addEventListener("dragend", () => li.classList.remove("dragging"));
    li.addEventListener("dragover", (e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; li.classList.add("drop-here"); });
    li.addEventListener("dragleave", () => li.classList.remove("drop-here"));
    li.addEventListener("drop", (e) => {
      e.preventDefault();
      li.classList.remove("drop-here");
      const from = Number(e.dataTransfer.getData("text/plain"));
      if (!Number.isNaN(from)) move(from, i);
    });
    list.append(li);
  });
  const firstMusic = ctx.prompts.find((p) => p.kind === "music")?.name;
  const notice = ctx.prompts.some((p) => p.name === "hold_notice") ? "hold_notice" : undefined;
  return [
    steps.length ? list : h("p", { class: "muted" }, t("editor.no_steps")),
    h("div", { class: "row-buttons" },
      h("button", { type: "button", class: "small", "data-action": "add-announcement",
        onclick: () => { steps.push(notice ? { announcement: notice } : { announcement: "" }); ctx.changed({ structure: true }); } },
      icon("speaker"), t("editor.add_notice")),
      h("button", { type: "button", class: "small", "data-action": "add-music",
        onclick: () => { steps.push({ music: firstMusic || "", seconds: 30 }); ctx.changed({ structure: true }); } },
      icon("music"), t("editor.add_music")),
      h("button", { type: "button", class: "small", "data-action": "add-announce",
        onclick: () => { steps.push({ announce: "both" }); ctx.changed({ structure: true }); } },
      icon("queue"), t("editor.add_announce"))),
  ];
}

// --- the mode itself ---------------------------------------------------------------------------

export function renderModeForm(box, ctx, info) {
  const doc = ctx.doc;
  const start = h("select", { "data-field": "start" },
    doc.nodes[doc.start] ? null : option(doc.start || "", t("editor.target_missing_option", { name: doc.start || "?" }), true),
    Object.keys(doc.nodes).map((id) => option(id, nodeName(doc, id), id === doc.start)));
  start.addEventListener("change", () => { doc.start = start.value; ctx.changed({ structure: true }); });
  const description = h("textarea", { "data-field": "description", rows: "3" }, doc.description || "");
  description.addEventListener("input", () => { setField(doc, "description", description.value); ctx.changed(); });
  const language = h("select", { "data-field": "language" }, ["de", "en"].map((l) => option(l, t(`lang.${l}`), (doc.language || "de") === l)));
  language.addEventListener("change", () => { doc.language = language.value; ctx.changed(); });
  const problems = h("ul", { class: "problem-list", id: "mode-problems" });
  renderProblemList(problems, ctx.problems.filter((p) => !p.node && !(p.path || "").startsWith("switches")));
  clear(box,
    h("div", { class: "side-head" }, h("span", { class: "fc-icon" }, icon("sliders")),
      h("div", { class: "grow" }, h("div", { class: "side-type" }, t("editor.tab_mode")), h("div", { class: "side-title" }, doc.name || info.name))),
    problems,
    field(t("field.name"), textInput(ctx, doc.name, "name", (v) => { doc.name = v; }), t("editor.name_hint")),
    field(t("field.description"), description),
    h("div", { class: "form-row" }, field(t("field.language"), language), field(t("field.start"), start)),
    h("dl", { class: "kv side-kv" },
      h("dt", {}, t("editor.file")), h("dd", { class: "mono" }, `${info.name}.yaml`),
      h("dt", {}, t("editor.version")), h("dd", {}, info.version ? `v${info.version}` : "–"),
      h("dt", {}, t("editor.nodes_count")), h("dd", {}, String(Object.keys(doc.nodes).length))));
}

// --- manual-control switches ---------------------------------------------------------------------

export function renderSwitchesForm(box, ctx) {
  const doc = ctx.doc;
  doc.switches ||= [];
  const announcements = Object.keys(doc.nodes).filter((id) => doc.nodes[id].type === "announcement");
  const cards = doc.switches.map((sw, i) => {
    sw.replaces ||= [];
    const problems = h("ul", { class: "problem-list" });
    renderProblemList(problems, ctx.problems.filter((p) => (p.path || "").startsWith(`switches.${i}.`) || p.path === "switches"));
    const idInput = textInput(ctx, sw.id, "id", (v) => { sw.id = v.trim(); }, { spellcheck: "false" });
    const rows = sw.replaces.map((r, j) => {
      const node = h("select", { "data-field": "node" },
        option("", t("editor.choose_announcement"), !r.node),
        r.node && !announcements.includes(r.node) ? option(r.node, t("editor.target_missing_option", { name: r.node }), true) : null,
        announcements.map((id) => option(id, nodeName(doc, id), id === r.node)));
      node.addEventListener("change", () => { r.node = node.value; ctx.changed(); });
      return h("div", { class: "replace-row", "data-index": String(j) },
        field(t("editor.replaces_node"), node),
        field(t("editor.replaces_prompt"), promptPicker(ctx, r.prompt, { onChange: (v) => { r.prompt = v; } })),
        field(t("editor.replaces_next"), targetPicker(ctx, r.next, { fieldName: "next", none: t("editor.replaces_next_none"), onChange: (v) => setField(r, "next", v) })),
        h("button", { type: "button", class: "small ghost remove", "data-action": "remove-replacement", "aria-label": t("editor.remove_replacement"), title: t("editor.remove_replacement"),
          onclick: () => { sw.replaces.splice(j, 1); ctx.changed({ structure: true }); } }, icon("x")));
    });
    return h("div", { class: "switch-edit", "data-index": String(i) },
      h("div", { class: "switch-edit-head" }, icon("alert"), h("b", { class: "grow" }, sw.label || sw.id || t("editor.new_switch")),
        h("button", { type: "button", class: "small ghost", "data-action": "delete-switch", title: t("editor.delete_switch"), "aria-label": t("editor.delete_switch"),
          onclick: () => { doc.switches.splice(i, 1); ctx.changed({ structure: true }); } }, icon("trash"))),
      problems,
      h("div", { class: "form-row" },
        field(t("editor.switch_label"), textInput(ctx, sw.label, "label", (v) => { sw.label = v; })),
        field(t("editor.switch_label_en"), textInput(ctx, sw.label_en, "label_en", (v) => setField(sw, "label_en", v)))),
      h("div", { class: "form-row" },
        field(t("editor.switch_id"), idInput),
        field(t("editor.switch_tab"), textInput(ctx, sw.tab ?? "Allgemein", "tab", (v) => setField(sw, "tab", v)))),
      checkbox(t("editor.switch_front_panel"), sw.front_panel, "front_panel", (v) => { setField(sw, "front_panel", v || undefined); ctx.changed(); }),
      h("h4", {}, t("editor.replaces")),
      rows.length ? rows : h("p", { class: "muted" }, t("editor.no_replacements")),
      h("button", { type: "button", class: "small", "data-action": "add-replacement",
        onclick: () => { sw.replaces.push({ node: doc.nodes[doc.start]?.type === "announcement" ? doc.start : "", prompt: "" }); ctx.changed({ structure: true }); } },
      icon("plus"), t("editor.add_replacement")));
  });
  clear(box,
    h("div", { class: "side-head" }, h("span", { class: "fc-icon" }, icon("toggle")),
      h("div", { class: "grow" }, h("div", { class: "side-type" }, t("editor.tab_switches")), h("div", { class: "side-title" }, t("editor.switches_title")))),
    h("p", { class: "muted side-help" }, t("editor.switches_help")),
    cards.length ? cards : h("p", { class: "muted" }, t("editor.no_switches")),
    h("button", { type: "button", class: "small primary-soft", "data-action": "add-switch",
      onclick: () => {
        const used = new Set(doc.switches.map((s) => s.id));
        let id = "outage";
        for (let n = 2; used.has(id); n += 1) id = `outage_${n}`;
        doc.switches.push({ id, label: "", tab: "Allgemein", replaces: [{ node: doc.nodes[doc.start]?.type === "announcement" ? doc.start : "", prompt: "" }] });
        ctx.changed({ structure: true });
      } }, icon("plus"), t("editor.add_switch")));
}

