// Live state of the box for this person, kept current by the server's event stream
// (/api/events, Server-Sent Events). Pages subscribe with on(kind, fn).
import { get } from "./api.js";

const listeners = new Map();
export const live = {
  me: null,
  connected: false,
  switches: [],
  queue: new Map(), // entry_id -> waiting call (with _base: performance.now() when it started waiting)
  seenCalls: new Map(), // call_id -> waiting call, also after it left the queue (to name my current call)
  agent: null,
};

// A person's full name ("Anna Schmidt") for a user name ("anna") the box reports.
export function personName(user) {
  if (!user) return "?";
  return live.me?.people?.[user] || user;
}

export function on(kind, fn) {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind).add(fn);
  return () => listeners.get(kind).delete(fn);
}

export function emit(kind, data) {
  for (const fn of listeners.get(kind) || []) {
    try {
      fn(data);
    } catch (err) {
      console.error(kind, err);
    }
  }
}

export function waitedSeconds(entry) {
  return (performance.now() - entry._base) / 1000;
}

function upsert(entry) {
  const old = live.queue.get(entry.entry_id);
  const base = performance.now() - (entry.waited || 0) * 1000;
  const merged = { ...old, ...entry, _base: old && Math.abs(old._base - base) < 1500 ? old._base : base };
  live.queue.set(entry.entry_id, merged);
  live.seenCalls.set(entry.call_id, merged);
  return merged;
}

export function myTeams() {
  // The teams whose calls this person watches: the agent's picked teams, else all.
  const agent = live.agent;
  if (!agent) return null;
  if (agent.state !== "logged_out" && agent.logged_in_teams?.length) return new Set(agent.logged_in_teams);
  const picked = JSON.parse(localStorage.getItem(`zentrale.teams.${agent.id}`) || "null");
  return new Set(picked && picked.length ? picked : agent.teams);
}

export function waitingCalls() {
  const teams = myTeams();
  return [...live.queue.values()]
    .filter((e) => !teams || teams.has(e.team))
    .sort((a, b) => a._base - b._base);
}

export async function refreshQueue() {
  const entries = await get("/api/queues");
  const ids = new Set(entries.map((e) => e.entry_id));
  for (const id of [...live.queue.keys()]) if (!ids.has(id)) live.queue.delete(id);
  entries.forEach(upsert);
  emit("queue");
}

export async function refreshSwitches() {
  live.switches = await get("/api/switches");
  emit("switches");
}

export async function refreshAgent() {
  if (!live.me?.agent_id) return;
  try {
    live.agent = await get(`/api/agents/${encodeURIComponent(live.me.agent_id)}`);
  } catch {
    live.agent = null;
  }
  emit("agent");
}

async function refreshAll() {
  await Promise.all([refreshQueue(), refreshSwitches(), refreshAgent()]);
}

const handlers = {
  call_waiting(d) {
    const entry = upsert({ entry_id: d.entry_id, call_id: d.call_id, team: d.team, caller: d.caller,
      caller_name: d.caller_name, position: d.position, waited: 0, state: "waiting", hold_step: 0, hold_label: "" });
    emit("queue");
    emit("call_waiting", entry);
  },
  queue_changed(d) {
    const ids = new Set(d.entries.map((e) => e.entry_id));
    for (const [id, e] of live.queue) if (e.team === d.team && !ids.has(id)) live.queue.delete(id);
    d.entries.forEach(upsert);
    emit("queue");
  },
  call_left_queue(d) {
    live.queue.delete(d.entry_id);
    emit("queue");
    emit("call_left", d);
  },
  agent_state_changed(d) {
    if (live.agent && d.agent_id === live.agent.id) {
      Object.assign(live.agent, { state: d.state, number: d.number, logged_in_teams: d.teams });
      emit("agent");
      refreshAgent();
    }
  },
  pull_failed(d) { emit("pull_failed", d); },
  agent_ringing(d) { emit("agent_ringing", d); },
  call_connected(d) { emit("call_connected", d); },
  switch_changed() { refreshSwitches(); },
  mode_activated(d) { refreshSwitches(); emit("mode_activated", d); },
  message_stored(d) { emit("message_stored", d); },
  message_updated(d) { emit("message_updated", d); },
  message_deleted(d) { emit("message_deleted", d); },
  message_mail_changed(d) { emit("message_mail_changed", d); },
};

let source = null;
export function connect() {
  source = new EventSource("/api/events");
  source.onopen = () => {
    live.connected = true;
    emit("connection");
    refreshAll();
  };
  source.onerror = () => {
    live.connected = false;
    emit("connection");
    if (source.readyState === EventSource.CLOSED) {
      // refused (session over?): /api/auth/me sends us to the login page on 401
      setTimeout(async () => {
        try {
          await get("/api/auth/me");
        } finally {
          connect();
        }
      }, 3000);
    }
  };
  for (const [kind, fn] of Object.entries(handlers)) {
    source.addEventListener(kind, (e) => fn(JSON.parse(e.data)));
  }
}

export function disconnect() {
  if (source) source.close();
}
