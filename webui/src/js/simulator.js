// "Try it without a phone": the mode as it is in the editor (saved or not) walked by the box's
// real flow engine on a simulated clock (POST /api/simulations). The page plays what the caller
// would hear, in real time if wanted (each step's length, then on to the next), or step by step.
import { api } from "./api.js";
import { h } from "./dom.js";
import { icon } from "./icons.js";
import { duration, t } from "./i18n.js";
import { promptUrl, stopPreview } from "./preview.js";
import { problemText } from "./problems.js";

const KEYS = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
const KIND_ICON = { prompt: "speaker", music: "music", digit: "keypad", wait_digit: "clock", beep: "bell", recording: "mic", agent: "phone", hangup: "hangup", announce: "queue" };

// What an announce step told the caller (the prompts it chose follow in the transcript).
function announced(entry) {
  if (entry.wait === null || entry.wait === undefined) return t("sim.announce_position", { pos: entry.name });
  if (entry.wait === "none") return t("sim.announce_no_figure", { pos: entry.name, count: entry.observations ?? 0 });
  const wait = entry.wait === "under_1" ? t("sim.wait_under_1") : entry.wait === "over_30" ? t("sim.wait_over_30") : t("sim.wait_minutes", { minutes: entry.wait });
  return t("sim.announce_wait", { pos: entry.name, wait });
}

let audioContext = null;
function beep() {
  try {
    audioContext ||= new AudioContext();
    const osc = audioContext.createOscillator();
    const gain = audioContext.createGain();
    osc.frequency.value = 1000;
    gain.gain.value = 0.12;
    osc.connect(gain).connect(audioContext.destination);
    osc.start();
    osc.stop(audioContext.currentTime + 0.4);
  } catch {
    // no audio output: the transcript still says "beep"
  }
}

export function describe(entry) {
  const secs = entry.seconds != null ? duration(entry.seconds) : "";
  switch (entry.kind) {
    case "prompt": return t("sim.prompt", { name: entry.name, time: secs });
    case "music": return t("sim.music", { name: entry.name, time: secs });
    case "digit": return t("sim.digit", { digit: entry.name });
    case "wait_digit": return t("sim.wait_digit", { time: secs });
    case "beep": return t("sim.beep");
    case "recording": return t("sim.recording", { digits: entry.end_digits || "#", time: secs });
    case "agent": return t("sim.agent");
    case "hangup": return t("sim.hangup");
    case "announce": return announced(entry);
    default: return entry.kind;
  }
}

export function mountSimulator(box, ctx) {
  let sim = null;
  let currentKey = null;
  let startedAt = 0;
  let timer = null;
  let ticker = null;
  let chain = Promise.resolve();

  const audio = h("audio", { id: "sim-audio", preload: "auto" });
  const error = h("div", { class: "notice alarm", id: "sim-error", role: "alert", hidden: true });
  const realtime = h("input", { type: "checkbox", id: "sim-realtime", checked: true });
  // who calls: a number (checked against the block and VIP lists, area prefixes) or withheld
  const callerNumber = h("input", { type: "tel", id: "sim-caller", value: "+49301234567", maxlength: "64", autocomplete: "off", "aria-label": t("sim.caller") });
  const anonymous = h("input", { type: "checkbox", id: "sim-anonymous" });
  anonymous.addEventListener("change", () => { callerNumber.disabled = anonymous.checked; });
  const startBtn = h("button", { type: "button", class: "go", id: "sim-start" }, icon("phone"), t("sim.start"));
  const hangupBtn = h("button", { type: "button", class: "alarm", id: "sim-hangup", hidden: true }, icon("hangup"), t("sim.hang_up"));
  const now = h("div", { class: "sim-now", id: "sim-now" });
  const keypad = h("div", { class: "keypad", id: "sim-keypad" }, KEYS.map((k) => h("button", { type: "button", "data-digit": k, disabled: true,
    onclick: () => queue(() => api("POST", `/api/simulations/${sim.id}/digit`, { digit: k })) }, k)));
  const skipBtn = h("button", { type: "button", id: "sim-skip", disabled: true, title: t("sim.skip_title"),
    onclick: () => queue(() => api("POST", `/api/simulations/${sim.id}/skip`)) }, icon("skip"), t("sim.skip"));
  const agentBtn = h("button", { type: "button", id: "sim-agent", disabled: true,
    onclick: () => queue(() => api("POST", `/api/simulations/${sim.id}/agent`)) }, icon("transfer"), t("sim.agent_takes"));
  const transcript = h("ol", { class: "sim-transcript", id: "sim-transcript" });

  box.replaceChildren(
    h("div", { class: "side-head" }, h("span", { class: "fc-icon" }, icon("phone")),
      h("div", { class: "grow" }, h("div", { class: "side-type" }, t("editor.tab_try")), h("div", { class: "side-title" }, t("sim.title")))),
    h("p", { class: "muted side-help" }, t("sim.help")),
    error,
    h("div", { class: "row-buttons sim-controls sim-caller" },
      h("label", { class: "field" }, h("span", {}, t("sim.caller")), callerNumber),
      h("label", { class: "check small-check" }, anonymous, t("sim.anonymous"))),
    h("div", { class: "row-buttons sim-controls" }, startBtn, hangupBtn,
      h("label", { class: "check small-check" }, realtime, t("sim.realtime"))),
    now, keypad,
    h("div", { class: "row-buttons sim-controls" }, skipBtn, agentBtn),
    h("h3", { class: "sim-head" }, t("sim.transcript")), transcript, audio);

  const showError = (text) => { error.textContent = text; error.hidden = !text; };

  function clearTimer() {
    if (timer) clearTimeout(timer);
    timer = null;
  }

  function stopAudio() {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
  }

  function schedule(activity) {
    clearTimer();
    if (!realtime.checked || activity.seconds == null || !sim || sim.ended) return;
    const left = activity.seconds * 1000 - (performance.now() - startedAt);
    const key = currentKey;
    timer = setTimeout(() => { if (key === currentKey && realtime.checked) queue(() => api("POST", `/api/simulations/${sim.id}/skip`)); }, Math.max(0, left) + 120);
  }

  function follow() {
    const a = sim.activity || {};
    const key = sim.ended ? "ended" : `${a.kind}|${a.name}|${a.start}`;
    if (key === currentKey) return;
    currentKey = key;
    startedAt = performance.now();
    stopAudio();
    clearTimer();
    if (sim.ended) return;
    if (a.kind === "prompt" || a.kind === "music") {
      stopPreview();
      audio.src = promptUrl(a.name);
      audio.loop = a.kind === "music";
      audio.play().catch(() => {});
    } else if (a.kind === "beep") {
      beep();
    }
    schedule(a);
  }

  function renderNow() {
    if (!sim) {
      now.replaceChildren(h("div", { class: "muted" }, t("sim.idle")));
      return;
    }
    const a = sim.activity || {};
    const waiting = sim.waiting?.[0];
    let progress = null;
    if (!sim.ended && a.seconds) {
      const done = realtime.checked ? Math.min(1, (performance.now() - startedAt) / (a.seconds * 1000)) : 0;
      progress = h("div", { class: "meter" }, h("div", { style: null, dataset: { w: String(Math.round(done * 100)) } }));
    }
    now.replaceChildren(
      h("div", { class: "sim-now-main", "data-kind": sim.ended ? "ended" : a.kind || "" },
        h("span", { class: "sim-now-icon" }, icon(sim.ended ? "hangup" : KIND_ICON[a.kind] || "phone")),
        h("div", { class: "grow" },
          h("b", {}, sim.ended ? t("sim.ended", { outcome: t(`outcome.${sim.outcome}`) === `outcome.${sim.outcome}` ? sim.outcome || "–" : t(`outcome.${sim.outcome}`) }) : describe(a)),
          h("small", { class: "muted" }, [
            sim.node ? t("sim.at_node", { node: ctx.nodeName(sim.node) }) : null,
            waiting ? t("sim.waiting", { team: ctx.teamName(waiting.team), pos: waiting.position }) : null,
            t("sim.clock", { time: duration(sim.time) }),
          ].filter(Boolean).join(" · ")))),
      progress);
    for (const bar of now.querySelectorAll(".meter > div")) bar.style.width = `${bar.dataset.w}%`;
  }

  function renderTranscript() {
    transcript.replaceChildren(...(sim?.transcript || []).map((e) => h("li", { "data-kind": e.kind, "data-name": e.name },
      h("time", {}, duration(e.t)), icon(KIND_ICON[e.kind] || "phone"), h("span", {}, describe(e)))));
    transcript.scrollTop = transcript.scrollHeight;
  }

  function render() {
    const running = Boolean(sim && !sim.ended);
    startBtn.hidden = running;
    hangupBtn.hidden = !running;
    for (const b of keypad.querySelectorAll("button")) b.disabled = !running;
    skipBtn.disabled = !running;
    agentBtn.disabled = !running || !sim.waiting?.length;
    renderNow();
    renderTranscript();
    ctx.onNode(running ? sim.node : null);
  }

  function took(snapshot) {
    sim = snapshot;
    follow();
    render();
  }

  function queue(step) {
    chain = chain.then(async () => {
      if (!sim) return;
      try {
        took(await step());
        showError("");
      } catch (err) {
        showError(err.message);
      }
    });
    return chain;
  }

  async function stop() {
    clearTimer();
    stopAudio();
    const old = sim;
    if (old && !old.ended) {
      try {
        await api("DELETE", `/api/simulations/${old.id}`);
      } catch {
        // gone already (the box restarted): nothing to hang up
      }
    }
  }

  startBtn.addEventListener("click", async () => {
    showError("");
    await stop();
    currentKey = null;
    try {
      const caller = anonymous.checked ? "anonymous" : callerNumber.value.trim() || "anonymous";
      took(await api("POST", `/api/simulations?caller=${encodeURIComponent(caller)}`, { document: ctx.getDoc() }));
    } catch (err) {
      const body = err.body || {};
      showError(body.problem ? t("sim.refused", { problem: problemText({ message: body.problem, path: body.path }), path: body.path || "" }) : err.message);
    }
  });
  hangupBtn.addEventListener("click", async () => {
    await stop();
    if (sim) {
      sim = { ...sim, ended: true, outcome: "abandoned" };
      currentKey = "ended";
    }
    render();
  });
  realtime.addEventListener("change", () => { if (sim) schedule(sim.activity || {}); renderNow(); });
  ticker = setInterval(() => { if (sim && !sim.ended && realtime.checked) renderNow(); }, 250);
  render();

  return {
    stop: async () => { clearInterval(ticker); await stop(); sim = null; ctx.onNode(null); },
  };
}
