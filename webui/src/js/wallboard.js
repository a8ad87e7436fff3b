// The wall screen (/wallboard?token=...): per team the waiting callers, the longest wait, the
// agents available and busy, today's answered / abandoned calls and the service level. No login:
// the read-only token in the URL; no caller number ever reaches this page. Polls every 2 s.
const POLL_MS = 2000;
const params = new URLSearchParams(location.search);
const token = params.get("token") || "";
const sl = params.get("sl") || "20";
let texts = {};

const t = (key, vars = {}) => {
  let text = texts[key] ?? key;
  for (const [k, v] of Object.entries(vars)) text = text.replaceAll(`{${k}}`, String(v));
  return text;
};

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function wait(s) {
  const total = Math.round(s);
  return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, "0")}`;
}

function figure(id, label, value, cls = "") {
  return el("div", { class: `wb-figure ${cls}`, "data-figure": id }, el("b", {}, value), el("span", {}, label));
}

function render(board) {
  const teams = board.teams.map((team) => el("section", { class: `wb-team ${team.waiting ? "busy" : ""}`, "data-team": team.id },
    el("h2", {}, team.name),
    el("div", { class: "wb-big" },
      figure("waiting", t("wallboard.waiting"), team.waiting, team.waiting ? "hot" : ""),
      figure("longest", t("wallboard.longest"), wait(team.longest_wait_s), team.longest_wait_s > Number(sl) ? "hot" : "")),
    el("div", { class: "wb-row" },
      figure("available", t("wallboard.available"), team.available),
      figure("busy", t("wallboard.busy"), team.busy),
      figure("paused", t("wallboard.paused"), team.paused)),
    el("div", { class: "wb-row" },
      figure("answered", t("wallboard.answered"), team.answered),
      figure("abandoned", t("wallboard.abandoned"), team.abandoned),
      figure("service_level", t("wallboard.sl", { s: board.service_level_s }),
        team.service_level === null ? "–" : `${Math.round(team.service_level * 100)} %`))));
  document.getElementById("wb-teams").replaceChildren(...teams);
  // the box's clock, not the wall screen's browser's (which may run on UTC)
  document.getElementById("wb-clock").textContent = new Date(board.at).toLocaleTimeString(
    document.documentElement.lang === "en" ? "en-GB" : "de-DE", { timeZone: board.timezone });
  const state = document.getElementById("wb-state");
  state.textContent = "";
  state.className = "wb-state";
}

async function poll() {
  try {
    const r = await fetch(`/api/wallboard?token=${encodeURIComponent(token)}&sl=${encodeURIComponent(sl)}`, { cache: "no-store" });
    if (r.status === 401 || r.status === 403) {
      location.reload(); // the server's page says why (unknown or revoked link)
      return;
    }
    if (!r.ok) throw new Error(String(r.status));
    render(await r.json());
  } catch {
    const state = document.getElementById("wb-state");
    state.textContent = t("wallboard.offline");
    state.className = "wb-state off";
  }
  setTimeout(poll, POLL_MS);
}

async function boot() {
  const lang = params.get("lang") === "en" ? "en" : "de";
  document.documentElement.lang = lang;
  texts = await fetch(`/static/i18n/${lang}.json`).then((r) => r.json());
  document.getElementById("wb-title").textContent = t("wallboard.title");
  document.title = `Zentrale – ${t("wallboard.title")}`;
  poll();
}

boot();
