// The mode editor (Betriebsarteneditor): the flow as a graph, the selected node's fields in the
// side panel, the box's checks while editing (POST /api/editor/validate, shown on each node),
// save (a new version), versions (compare, roll back), activate, and trying the mode out.
import { api, get, send } from "./api.js";
import { choiceDialog, h, toast } from "./dom.js";
import { icon } from "./icons.js";
import { t } from "./i18n.js";
import { live } from "./live.js";
import { NODE_TYPES, addNode, clone, problemPlace } from "./modedoc.js";
import { activateMode } from "./modes.js";
import { TYPE_ICON, flowSize, renderFlow } from "./flowgraph.js";
import { nodeName, renderModeForm, renderNodeForm, renderProblemList, renderSwitchesForm } from "./nodeforms.js";
import { problemText } from "./problems.js";
import { mountSimulator } from "./simulator.js";
import { openVersions } from "./versions.js";
import { setLeaveGuard } from "./guard.js";
import { stopPreview } from "./preview.js";
import { failed } from "./refusals.js";

// Unsaved work survives a redraw of the page (e.g. switching the language) until saved or discarded.
const drafts = new Map();

const TABS = [
  { id: "node", icon: "flow", label: "editor.tab_node" },
  { id: "mode", icon: "sliders", label: "editor.tab_mode" },
  { id: "switches", icon: "toggle", label: "editor.tab_switches" },
  { id: "try", icon: "phone", label: "editor.tab_try" },
];

export function mount(main) {
  const name = decodeURIComponent((location.hash.match(/^#\/editor\/([^/?]+)/) || [])[1] || "");
  const state = { doc: null, saved: "", selected: null, tab: "node", problems: [], prompts: [], info: { name, version: 0, active: false },
    schedule: null, simNode: null, checking: null, checkSeq: 0, checkedJson: "",
    zoom: 1, zoomManual: Number(localStorage.getItem("zentrale.editor.zoom")) || null };
  const teams = live.me.teams || [];

  const titleEl = h("h1", { id: "editor-title" });
  const pills = h("div", { class: "pills" });
  const dirtyEl = h("span", { class: "dirty", id: "dirty", hidden: true }, h("span", { class: "dot" }), t("editor.unsaved"));
  const refusal = h("div", { class: "notice alarm", id: "save-refused", role: "alert", hidden: true });
  const saveBtn = h("button", { type: "button", class: "primary", id: "save-mode" }, icon("save"), t("common.save"));
  const activateBtn = h("button", { type: "button", id: "activate-mode" }, icon("power"), t("modes.activate"));
  const versionsBtn = h("button", { type: "button", id: "open-versions" }, icon("history"), t("editor.versions"));
  const exportBtn = h("a", { class: "button", id: "export-mode", href: `/api/editor/modes/${encodeURIComponent(name)}/export?format=yaml`, download: `${name}.yaml` }, icon("download"), t("modes.export"));
  const flow = h("div", { class: "flow-scroll", id: "flow" });
  const zoomLabel = h("span", { class: "zoom-value", id: "zoom-value" });
  const zoomBar = h("div", { class: "zoom", role: "group", "aria-label": t("editor.zoom") },
    h("button", { type: "button", class: "small ghost", title: t("editor.zoom_out"), "aria-label": t("editor.zoom_out"), onclick: () => setZoom(state.zoom - 0.1) }, "−"),
    zoomLabel,
    h("button", { type: "button", class: "small ghost", title: t("editor.zoom_in"), "aria-label": t("editor.zoom_in"), onclick: () => setZoom(state.zoom + 0.1) }, "+"),
    h("button", { type: "button", class: "small ghost", id: "zoom-fit", title: t("editor.zoom_fit_title"), onclick: () => fit() }, t("editor.zoom_fit")));
  const validation = h("button", { type: "button", class: "validation", id: "validation", onclick: () => { problemsBox.hidden = !problemsBox.hidden; } });
  const problemsBox = h("div", { class: "problems-drawer", id: "problems", hidden: true });
  const panels = Object.fromEntries(TABS.map((tab) => [tab.id, h("div", { class: "side-panel", id: `${tab.id}-form`, hidden: true })]));
  const tabBar = h("div", { class: "tabs side-tabs", role: "tablist" });

  main.append(
    h("div", { class: "page-head editor-head" },
      h("div", { class: "grow" },
        h("a", { class: "crumb", href: "#/modes" }, icon("back"), t("nav.modes")),
        h("div", { class: "title-row" }, titleEl, h("span", { class: "mono faint" }, name), pills, dirtyEl)),
      h("div", { class: "row-buttons" }, versionsBtn, exportBtn, activateBtn, saveBtn)),
    refusal,
    h("div", { class: "editor-layout" },
      h("section", { class: "card editor-canvas" },
        h("div", { class: "canvas-bar" },
          h("span", { class: "muted small-text" }, t("editor.add")),
          NODE_TYPES.map((type) => h("button", { type: "button", class: `small ghost add-node t-${type}`, "data-add": type,
            onclick: () => {
              if (!state.doc) return; // still loading
              const id = addNode(state.doc, type, teams);
              select(id);
              showTab("node");
              changed({ structure: true });
            } },
          h("span", { class: "fc-icon" }, icon(TYPE_ICON[type])), t(`type.${type}`))),
          h("span", { class: "grow" }), validation),
        problemsBox, flow, zoomBar),
      h("section", { class: "card editor-side" }, tabBar, Object.values(panels))));

  const dirty = () => state.doc !== null && JSON.stringify(state.doc) !== state.saved;
  setLeaveGuard({ dirty, discard: () => drafts.delete(name) });

  const ctx = {
    get doc() { return state.doc; },
    get prompts() { return state.prompts; },
    get problems() { return state.problems; },
    teams,
    changed: (opts) => changed(opts),
    select: (id) => select(id),
    create: (type) => addNode(state.doc, type, teams),
  };

  // --- drawing -----------------------------------------------------------------------------------
  let redrawEdges = () => {};
  const lengths = () => new Map(state.prompts.map((p) => [p.name, p.seconds]));

  function render(zoom) {
    redrawEdges = renderFlow(flow, state.doc, { selected: state.selected, problems: state.problems, simNode: state.simNode,
      zoom, lengths: lengths(), teams, onSelect: (id) => { select(id); showTab("node"); } });
  }

  // The drawing at the zoom chosen (-, +), or as large as fits the canvas's width (at most 100 %).
  function drawFlow() {
    let zoom = state.zoomManual;
    if (!zoom) {
      render(1);
      const size = flowSize(flow);
      zoom = size && flow.clientWidth ? Math.max(0.5, Math.min(1, Math.floor(((flow.clientWidth - 4) / size.width) * 100) / 100)) : 1;
      if (zoom === 1) { state.zoom = 1; zoomLabel.textContent = "100 %"; return; }
    }
    state.zoom = zoom;
    render(zoom);
    zoomLabel.textContent = `${Math.round(zoom * 100)} %`;
  }

  function setZoom(value) {
    state.zoomManual = Math.round(Math.min(1.2, Math.max(0.5, value)) * 100) / 100;
    localStorage.setItem("zentrale.editor.zoom", String(state.zoomManual));
    drawFlow();
  }

  function fit() {
    state.zoomManual = null;
    localStorage.removeItem("zentrale.editor.zoom");
    drawFlow();
  }

  function drawHead() {
    titleEl.textContent = state.doc?.name || name;
    pills.replaceChildren(
      state.info.active ? h("span", { class: "pill go", id: "editor-active" }, h("span", { class: "dot" }), t("modes.active")) : h("span", { class: "pill" }, t("modes.inactive")),
      h("span", { class: "pill", id: "editor-version" }, t("editor.version_pill", { version: state.info.version })));
    dirtyEl.hidden = !dirty();
    activateBtn.hidden = state.info.active;
  }

  function drawTabs() {
    tabBar.replaceChildren(...TABS.map((tab) => h("button", { type: "button", role: "tab", "data-tab": tab.id, "aria-selected": String(state.tab === tab.id),
      onclick: () => showTab(tab.id) }, icon(tab.icon), t(tab.label),
    tab.id === "switches" && state.doc?.switches?.length ? h("span", { class: "count" }, String(state.doc.switches.length)) : null)));
    for (const [id, el] of Object.entries(panels)) el.hidden = id !== state.tab;
  }

  function drawPanel() {
    if (state.tab === "node") renderNodeForm(panels.node, ctx, state.selected);
    if (state.tab === "mode") renderModeForm(panels.mode, ctx, state.info);
    if (state.tab === "switches") renderSwitchesForm(panels.switches, ctx);
  }

  function drawProblems() {
    const errors = state.problems.filter((p) => p.severity === "error");
    const warnings = state.problems.length - errors.length;
    validation.className = `validation ${state.checking ? "checking" : errors.length ? "error" : warnings ? "warning" : "ok"}`;
    validation.dataset.errors = String(errors.length);
    validation.replaceChildren(icon(errors.length || warnings ? "alert" : "check"),
      state.checking ? t("editor.checking") : errors.length ? t("editor.n_errors", { n: errors.length }) + (warnings ? ` · ${t("editor.n_warnings", { n: warnings })}` : "")
        : warnings ? t("editor.n_warnings", { n: warnings }) : t("editor.no_problems"));
    problemsBox.replaceChildren(
      h("div", { class: "problems-head" }, h("b", {}, t("editor.problems")), h("span", { class: "muted small-text" }, t("editor.problems_hint"))),
      state.problems.length ? h("ul", { class: "problem-list all" }, state.problems.map((p) => {
        const place = problemPlace(p);
        const where = place.kind === "node" ? nodeName(state.doc, place.id) : place.kind === "switch" ? t("editor.switch_n", { n: place.index + 1 }) : t("editor.tab_mode");
        return h("li", { class: p.severity, "data-node": place.id || null, onclick: () => goTo(place) },
          icon("alert"), h("b", {}, where), h("span", {}, problemText(p)));
      })) : h("p", { class: "muted" }, t("editor.no_problems_long")));
    // the open panel's own list
    const own = panels.node.querySelector("#node-problems");
    if (own && state.tab === "node") renderProblemList(own, state.problems.filter((p) => p.node === state.selected));
    const modeOwn = panels.mode.querySelector("#mode-problems");
    if (modeOwn) renderProblemList(modeOwn, state.problems.filter((p) => !p.node && !(p.path || "").startsWith("switches")));
    if (state.tab === "switches") {
      for (const card of panels.switches.querySelectorAll(".switch-edit")) {
        const i = card.dataset.index;
        renderProblemList(card.querySelector(".problem-list"), state.problems.filter((p) => (p.path || "").startsWith(`switches.${i}.`) || p.path === "switches"));
      }
    }
  }

  function goTo(place) {
    if (place.kind === "node" && state.doc.nodes[place.id]) {
      select(place.id);
      showTab("node");
      flow.querySelector(`.flow-card[data-node="${CSS.escape(place.id)}"]`)?.scrollIntoView({ block: "nearest", inline: "nearest" });
      return;
    }
    showTab(place.kind === "switch" ? "switches" : "mode");
  }

  function select(id) {
    state.selected = id;
    drawFlow();
    if (state.tab === "node") drawPanel();
  }

  function showTab(id) {
    if (state.tab === id) return;
    state.tab = id;
    drawTabs();
    drawPanel();
  }

  function changed({ structure = false } = {}) {
    drafts.set(name, state);
    drawFlow();
    drawHead();
    if (structure) { drawTabs(); drawPanel(); }
    refusal.hidden = true;
    scheduleCheck();
  }

  // --- the box's checks while editing --------------------------------------------------------------
  let checkTimer = null;
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 350);
  }

  function check() {
    clearTimeout(checkTimer);
    const json = JSON.stringify(state.doc);
    if (json === state.checkedJson && !state.checking) return Promise.resolve();
    const seq = ++state.checkSeq;
    state.checking = api("POST", "/api/editor/validate", state.doc).then((r) => {
      if (seq !== state.checkSeq) return;
      state.problems = r.problems;
      state.checkedJson = json;
      if (!r.problems.length) problemsBox.hidden = true;
    }).catch((err) => {
      if (seq === state.checkSeq) failed(err);
    }).finally(() => {
      if (seq !== state.checkSeq) return;
      state.checking = null;
      drawFlow();
      drawProblems();
    });
    drawProblems();
    return state.checking;
  }

  // --- save, activate, versions ------------------------------------------------------------------
  function refuse(reasons) {
    refusal.replaceChildren(icon("alert"), h("div", {}, h("b", {}, t("editor.not_saved")), h("ul", {}, reasons.map((r) => h("li", {}, r)))));
    refusal.hidden = false;
  }

  saveBtn.addEventListener("click", async () => {
    await check();
    while (state.checking) await state.checking;
    const errors = state.problems.filter((p) => p.severity === "error");
    if (errors.length) {
      refuse(errors.map((p) => { const place = problemPlace(p); return `${place.kind === "node" ? `${nodeName(state.doc, place.id)}: ` : ""}${problemText(p)}`; }));
      problemsBox.hidden = false;
      return;
    }
    if (state.info.active) {
      // the active mode: callers hear a save at once -- say so, and offer to try it first
      const how = await choiceDialog({ title: t("editor.save_active_title"), text: t("editor.save_active_text"),
        choices: [{ value: "try", label: t("editor.try_first") }, { value: "save", label: t("editor.save_live"), kind: "primary" }],
        cancel: t("common.cancel") });
      if (how === "try") { showTab("try"); return; }
      if (how !== "save") return;
    }
    try {
      const r = await send("PUT", `/api/modes/${encodeURIComponent(name)}`, JSON.stringify(state.doc), "application/json");
      state.saved = JSON.stringify(state.doc);
      state.info.version = r.version;
      drafts.delete(name);
      refusal.hidden = true;
      toast(state.info.active ? t("editor.saved_active", { version: r.version }) : t("editor.saved", { version: r.version }));
      drawHead();
    } catch (err) {
      const body = err.body || {};
      refuse([body.problem ? `${body.path ? `${body.path}: ` : ""}${problemText({ message: body.problem, path: body.path })}` : err.message]);
    }
  });

  activateBtn.addEventListener("click", async () => {
    if (dirty()) { refuse([t("editor.save_first")]); return; }
    if (await activateMode(name, state.schedule)) { state.info.active = true; drawHead(); }
  });

  versionsBtn.addEventListener("click", () => openVersions({ name, dirty, onRolledBack: async (r) => {
    drafts.delete(name);
    await load(true);
    state.info.version = r.version;
    drawHead();
  } }));

  // --- loading -------------------------------------------------------------------------------------------
  async function load(fresh = false) {
    let doc;
    let modes;
    try {
      [doc, modes, state.prompts, state.schedule] = await Promise.all([
        get(`/api/modes/${encodeURIComponent(name)}`), get("/api/editor/modes"), get("/api/prompts"), get("/api/schedule")]);
    } catch (err) {
      flow.replaceChildren(h("div", { class: "empty" }, icon("alert"), h("b", {}, t("editor.cannot_load", { name })), err.message));
      return;
    }
    const info = modes.find((m) => m.name === name) || {};
    state.info = { name, version: info.version || 0, active: Boolean(info.active) };
    const draft = fresh ? null : drafts.get(name);
    doc.switches ||= [];
    state.saved = JSON.stringify(doc);
    state.doc = draft ? draft.doc : clone(doc);
    if (draft) state.saved = draft.saved;
    state.checkedJson = "";
    if (!state.selected || !state.doc.nodes[state.selected]) state.selected = state.doc.start in state.doc.nodes ? state.doc.start : null;
    drawHead();
    drawTabs();
    drawPanel();
    drawFlow();
    check();
  }

  const sim = mountSimulator(panels.try, {
    getDoc: () => state.doc,
    onNode: (id) => { if (state.simNode !== id) { state.simNode = id; if (state.doc) drawFlow(); } },
    nodeName: (id) => (state.doc ? nodeName(state.doc, id) : id),
    teamName: (id) => teams.find((x) => x.id === id)?.name || id,
  });
  let canvasWidth = 0;
  const resize = new ResizeObserver(() => {
    if (state.doc && !state.zoomManual && flow.clientWidth !== canvasWidth) { canvasWidth = flow.clientWidth; drawFlow(); } else redrawEdges();
  });
  resize.observe(flow);
  document.fonts.ready.then(() => redrawEdges());
  load();

  return () => {
    resize.disconnect();
    clearTimeout(checkTimer);
    stopPreview();
    sim.stop();
    if (!dirty()) drafts.delete(name);
  };
}
