"""Audio quality through the box over an impaired network (issue 14): PESQ of speech.

Usage (root: it makes two network namespaces and TUN devices, and removes them):

    .venv/bin/python -m bench.audio_quality [--runs 3] [--cells clean-pcmu,p1-vm] [--json] [--keep DIR]
    .venv/bin/python -m bench.audio_quality --table results.json     (the table of a --json output)

The box side (the real daemons, the agent's phone on 127.0.0.30, this script's
inner half) runs in one namespace, the caller's pjsua2 phone in another; the
two are joined by ``bench.impair``'s relay, which impairs every packet between
caller and box (SIP and RTP, both directions) by the cell's profile:

- clean: no impairment (still through the relay)
- p1:    40 ms ± 20 ms jitter, 2 % loss
- p2r:   40 ms, 5 % uncorrelated reordering, 1 % loss

Each run is one call: the caller waits in a queue and is pulled to the agent
(``/api/queues/{id}/pull``), then both speak at once (German espeak-ng speech at
-26 dBFS, ``bench.audio_scoring``) and each phone records what it hears; or the
caller leaves a message, fetched from ``/api/messages/{id}/audio``. Phones
whose codec is G.711 run at 8 kHz and are scored narrowband (P.862), G.722
phones at 16 kHz and are scored wideband (P.862.2). A cell is the median of its
runs. The "no box" cells call the agent's phone directly over the same
network: what the phones (their own jitter buffers) make of it alone.

The machine is shared with other work, so the instruments run ahead of it:
the relay with SCHED_FIFO, the phones with SCHED_RR (below the relay); the
daemons at nice -5, as the appliance's unit runs them, so what the load does
to the box still shows. The one-way delay is mouth to ear: from the play command at one phone to the
speech in the other's recording, both on the same monotonic clock. Each figure
carries up to ±20 ms from the phones' 20 ms frame clocks (when the player and
the recorder really start), so only medians and differences mean much:
"added" is the delay minus its baseline cell's (the clean call the same way)
and minus the emulated network's own delay, i.e. what the box and the phones'
jitter buffers add because of the impairment.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shlex
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.harness.audio import read_wav
from tests.harness.peers.phone import Phone, phone_pool

from bench.audio_scoring import CODECS, Score, codec_ceiling, make_speech, score_file
from bench.common import Daemon, machine, proc_cpu_seconds, start_daemon
from bench.impair import (
    A_ADDR,
    B_ADDR,
    PROFILES,
    ROOT,
    ImpairedLink,
    Namespaces,
    in_netns,
    python_wrapper,
    renice_all_threads,
)

AGENT_IP = "127.0.0.30"
BOX_NICE = -5  # as the appliance's unit runs it (systemd/zentrale.service)
PHONE_NICE = -10
PHONE_RT_PRIORITY = 5  # SCHED_RR, below the impairing relay's SCHED_FIFO 10
BOX_RT_PRIORITY = 4  # the box's SCHED_RR (--box-sched appliance / all-rt): below the instruments
RATE = {"PCMU": 8000, "PCMA": 8000, "G722": 16000}
# the caller's network is not one of the LAN ranges the box answers by default
BOX_CONFIG: dict[str, Any] = {
    "sip": {"bind": "0.0.0.0", "allowed_peers": ["127.0.0.0/8", "198.18.0.0/15"]},
    "http": {"bind": "127.0.0.1"},
    "teams": [{"id": "lvs", "name": "LVS", "distribution": "pull", "wrap_up": 0}],
}
QUEUE_MODE = {
    "name": "Bench: queue",
    "start": "queue",
    "nodes": {
        "queue": {"type": "queue", "team": "lvs", "hold": [{"music": "music_a", "seconds": 600}], "after_hold": "bye"},
        "bye": {"type": "hangup"},
    },
}
MESSAGE_MODE = {
    "name": "Bench: message",
    "start": "message",
    "nodes": {
        # silence_seconds longer than any pause in the speech: the caller's hang-up ends the message
        "message": {"type": "voicemail", "team": "lvs", "max_seconds": 60, "silence_seconds": 5, "next": "bye"},
        "bye": {"type": "hangup"},
    },
}


@dataclass(frozen=True)
class Cell:
    key: str
    profile: str
    what: str
    caller_codec: str
    agent_codec: str | None  # None: the caller leaves a message
    main: str  # the score issue 14's table shows for this cell (bold in ours)
    baseline: str | None = None  # the clean cell its added delay is measured against
    direct: bool = False  # the caller calls the agent's phone itself: the phones and network without the box


CELLS = [
    Cell("clean-pcmu", "clean", "PCMU↔PCMU", "PCMU", "PCMU", "to_agent"),
    Cell("clean-pcma", "clean", "PCMA↔PCMA", "PCMA", "PCMA", "to_agent"),
    Cell("clean-vm", "clean", "voicemail (PCMU)", "PCMU", None, "message"),
    Cell("clean-g722", "clean", "G.722↔G.722, wideband", "G722", "G722", "to_agent"),
    Cell("clean-g722-pcmu", "clean", "G.722 caller ↔ PCMU agent", "G722", "PCMU", "to_caller"),
    Cell("p1-pcmu", "p1", "PCMU caller ↔ agent", "PCMU", "PCMU", "to_agent", "clean-pcmu"),
    Cell("p1-vm", "p1", "voicemail (PCMU)", "PCMU", None, "message"),
    Cell("p2r-pcmu", "p2r", "PCMU caller ↔ agent", "PCMU", "PCMU", "to_agent", "clean-pcmu"),
    Cell("p2r-vm", "p2r", "voicemail (PCMU)", "PCMU", None, "message"),
    Cell("p1-g722", "p1", "G.722↔G.722, wideband", "G722", "G722", "to_agent", "clean-g722"),
    Cell("p2r-g722", "p2r", "G.722↔G.722, wideband", "G722", "G722", "to_agent", "clean-g722"),
    # calibration: the same phones calling each other through the same network, no box between them
    Cell("direct-clean", "clean", "no box: PCMU phone ↔ phone", "PCMU", "PCMU", "to_agent", direct=True),
    Cell("direct-p1", "p1", "no box: PCMU phone ↔ phone", "PCMU", "PCMU", "to_agent", "direct-clean", True),
    Cell("direct-p2r", "p2r", "no box: PCMU phone ↔ phone", "PCMU", "PCMU", "to_agent", "direct-clean", True),
    Cell("direct-g722", "clean", "no box: G.722 phone ↔ phone, wideband", "G722", "G722", "to_agent", direct=True),
]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


def _speech_seconds(path: Path) -> float:
    x, rate = read_wav(path)
    return len(x) / rate


def _direction(result: Score, delay_s: float | None) -> dict[str, Any]:
    out = {k: round(v, 3) for k, v in asdict(result).items()}
    if delay_s is not None:
        out["delay_ms"] = round(delay_s * 1000, 1)
    return out


def _network(stats: dict[str, Any]) -> dict[str, Any]:
    """The relay's counts, named by direction (the caller is on side b)."""
    return {"caller_to_box": stats.get("b_to_a", {}), "box_to_caller": stats.get("a_to_b", {})}


def realtime(wrapper: Path, priority: int) -> Path:
    """``wrapper`` started with SCHED_RR at ``priority``: every thread the phone makes inherits it
    (pthreads' default), so its 20 ms media clock, its socket and its jitter buffer keep time while
    other work loads the machine. At nice -10 alone, under a load average of 3-5, the two phones
    calling each other with no box between them slipped mid-speech in 3 of 5 clean G.722 runs
    (PESQ 2.58-3.58 instead of 3.74-3.75), which left nothing to say about the box. The phones
    need little CPU (``libHandleEvents`` blocks in poll), so the rest of the machine still runs."""
    script = wrapper.with_name(f"{wrapper.name}-rr{priority}")
    script.write_text(f'#!/bin/sh\nexec chrt -r {priority} {shlex.quote(str(wrapper))} "$@"\n')
    script.chmod(0o755)
    return script


def realtime_all_threads(pid: int, priority: int) -> None:
    """SCHED_RR for every thread a process has now (threads it makes later inherit it): ``--box-rt``,
    the box as on its own appliance, where no other work competes for the CPU."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setscheduler(int(task.name), os.SCHED_RR, os.sched_param(priority))


class Bench:
    """The inner half: runs inside the box's namespace."""

    def __init__(
        self,
        box_ns: str,
        far_ns: str,
        work: Path,
        relay: str = "auto",
        jitter_min_ms: float | None = None,
        box_sched: str = "appliance",
    ) -> None:
        self.box_ns, self.far_ns, self.work = box_ns, far_ns, work
        self.box_sched = box_sched
        jb: dict[str, Any] = {"relay": relay}
        if jitter_min_ms is not None:
            jb["min_ms"] = jitter_min_ms
        self.config = {**BOX_CONFIG, "sip": {**BOX_CONFIG["sip"], "jitter_buffer": jb}}
        if box_sched == "appliance":  # as systemd/zentrale.service: the loop RR, its threads and programs normal
            self.config["service"] = {"realtime_priority": BOX_RT_PRIORITY}
        self.speech = make_speech(work / "speech")
        self.seconds = {who: _speech_seconds(self.speech[who, 8000]) for who in ("caller", "agent")}
        # the phones are the instruments: ahead of other work on the machine (the relay runs SCHED_FIFO)
        self.caller_python = str(realtime(python_wrapper(work, netns=far_ns, nice=PHONE_NICE), PHONE_RT_PRIORITY))
        self.agent_python = str(realtime(python_wrapper(work, nice=PHONE_NICE), PHONE_RT_PRIORITY))
        self.queue_box: Daemon | None = None
        self.message_box: Daemon | None = None

    def start(self) -> None:
        self.queue_box = start_daemon(self.work / "queue-box", mode=QUEUE_MODE, config=self.config)
        self.message_box = start_daemon(self.work / "message-box", mode=MESSAGE_MODE, config=self.config)
        for box in (self.queue_box, self.message_box):
            if self.box_sched == "nice":  # the unit before the loop ran real-time: Nice=-5 for every thread
                renice_all_threads(box.proc.pid, BOX_NICE)
            elif self.box_sched == "all-rt":  # every thread SCHED_RR (the old --box-rt)
                realtime_all_threads(box.proc.pid, BOX_RT_PRIORITY)
            else:
                scheduling = box.http.get("/status").json()["media_clock"]["scheduling"]
                assert scheduling.startswith("real-time RR"), f"the box's loop is not real-time: {scheduling}"
        r = self.queue_box.http.put("/api/agents/bench", json={"name": "Bench", "teams": ["lvs"], "priority": 0})
        r.raise_for_status()

    def stop(self) -> dict[str, int]:
        """Stop the daemons; what their logs say that a clean run never says."""
        found = {"tracebacks": 0, "errors": 0, "clock_stalls": 0}
        for box in (self.queue_box, self.message_box):
            if box is not None:
                box.stop()
                text = box.log()
                found["tracebacks"] += text.count("Traceback (most recent call last)")
                found["errors"] += text.count(" ERROR ")
                found["clock_stalls"] += text.count("media clock stalled")
        return found

    def ceilings(self) -> dict[str, dict[str, float]]:
        folder = self.work / "ceilings"
        folder.mkdir(exist_ok=True)
        return {
            who: {c: round(codec_ceiling(self.speech[who, rate], c, folder), 3) for c, (_, _, rate) in CODECS.items()}
            for who in ("caller", "agent")
        }

    def _caller(self, start: Callable[..., Phone], codec: str, folder: Path) -> Phone:
        return start(
            name="caller", python=self.caller_python, bind_ip=B_ADDR, codecs=codec, clock_rate=RATE[codec],
            stderr_path=folder / "caller.log",
        )  # fmt: skip

    def run(self, cell: Cell, run: int, seed: int) -> dict[str, Any]:
        folder = self.work / cell.key / f"run{run}"
        folder.mkdir(parents=True, exist_ok=True)
        box = self.queue_box if cell.agent_codec else self.message_box
        assert box is not None
        cpu, started = proc_cpu_seconds(box.proc.pid), time.monotonic()
        with ImpairedLink(self.box_ns, self.far_ns, PROFILES[cell.profile], seed=seed) as link:
            result = self._bridge(cell, folder, run) if cell.agent_codec else self._message(cell, folder)
        result["network"] = _network(link.stats)
        # the daemon's CPU over the whole run (one core = 100 %): a starved box shows here
        result["box_cpu_pct"] = round(100 * (proc_cpu_seconds(box.proc.pid) - cpu) / (time.monotonic() - started), 1)
        return result

    def _bridge(self, cell: Cell, folder: Path, run: int = 0) -> dict[str, Any]:
        assert cell.agent_codec is not None
        caller_rate, agent_rate = RATE[cell.caller_codec], RATE[cell.agent_codec]
        with phone_pool() as start:
            caller = self._caller(start, cell.caller_codec, folder)
            agent = start(
                name="agent", python=self.agent_python, bind_ip=A_ADDR if cell.direct else AGENT_IP,
                codecs=cell.agent_codec, clock_rate=agent_rate, auto_answer="200", record_dir=folder,
                stderr_path=folder / "agent.log",
            )  # fmt: skip
            caller_rx = folder / "caller-rx.wav"
            calls_before = 0
            if cell.direct:
                call = caller.call(f"sip:agent@{A_ADDR}:{agent.sip_port}", record=caller_rx)
                caller_rec = caller.wait_event("media_active", call=call, timeout=15)["t"]
            else:
                calls_before = len(self._calls_logged())
                call, caller_rec = self._pulled(caller, agent, caller_rx)
            ring = agent.wait_event("incoming", timeout=5)
            agent_rec = agent.wait_event("media_active", call=ring["call"], timeout=10)["t"]
            # the bridge is up; let both jitter buffers settle. The 20 ms more per run (in 7 steps) spread the
            # caller's G.722 encoder over the phases of its idle cycle when the speech begins: pjsua's
            # encoder idles in a short cycle on silence, and which phase the speech meets changes the whole
            # encoding (the same call scored 3.735, 3.746 or 3.751 with byte-identical caller packets up to
            # there, with or without the box). Runs of 7 then give every cell, box or none, the same phases.
            time.sleep(0.5 + 0.02 * (run % 7))
            caller_play = caller.command("play", call=call, file=str(self.speech["caller", caller_rate]))["t"]
            agent_play = agent.command("play", call=ring["call"], file=str(self.speech["agent", agent_rate]))["t"]
            time.sleep(max(self.seconds.values()) + 1.0)
            caller.hangup(call)
            caller.wait_event("recording_done", call=call, timeout=10)
            agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=10)["path"])
        box = self._call_quality(calls_before) if not cell.direct else None
        # each recording is searched from shortly before the other side began to speak (hold music before)
        to_agent = score_file(self.speech["caller", agent_rate], agent_rx, skip_s=caller_play - agent_rec - 0.2)
        to_caller = score_file(self.speech["agent", caller_rate], caller_rx, skip_s=agent_play - caller_rec - 0.2)
        result = {
            "to_agent": _direction(to_agent, agent_rec + to_agent.lag_s - caller_play),
            "to_caller": _direction(to_caller, caller_rec + to_caller.lag_s - agent_play),
        }
        if box is not None:
            result["box"] = box
        return result

    def _calls_logged(self) -> list[str]:
        """The queue box's call log, oldest first: each row's ``quality`` (JSON, or '')."""
        assert self.queue_box is not None
        db = sqlite3.connect(f"file:{self.queue_box.data_dir / 'zentrale.db'}?mode=ro", uri=True, timeout=5)
        try:
            return [row[0] or "" for row in db.execute("SELECT quality FROM call_log ORDER BY rowid")]
        finally:
            db.close()

    def _call_quality(self, before: int) -> dict[str, Any]:
        """The box's own figures of the caller's stream in this run's call (its call log row, written
        when the call ended): frames it concealed or dropped (slips), packets late, the buffer's depth.
        A slip in the agent's recording with none of them here was the phones' (their jitter buffers)."""
        # the row may be there before its figures (written when the call's legs are done)
        try:
            rows = wait_until(lambda: (r := self._calls_logged())[before:] and r[-1] and r, 10, "the call's figures")
        except TimeoutError:
            return {}  # the score stands without them
        quality = json.loads(rows[-1])
        keys = ("concealed", "dropped", "late", "buffer_ms", "jitter_ms", "far_jitter_ms")
        return {k: quality[k] for k in keys if k in quality}

    def _pulled(self, caller: Phone, agent: Phone, caller_rx: Path) -> tuple[int, float]:
        """The caller waits in the queue, the agent pulls the call: (the caller's call, its recording's start)."""
        assert self.queue_box is not None
        box, api = self.queue_box, self.queue_box.http
        api.post("/api/agents/bench/logout")
        r = api.post("/api/agents/bench/login", json={"number": f"sip:agent@{AGENT_IP}:{agent.sip_port}"})
        if r.status_code != 200:
            raise RuntimeError(f"agent login refused: {r.status_code} {r.text}")
        call = caller.call(f"sip:100@{A_ADDR}:{box.sip_port}", record=caller_rx)
        caller_rec = float(caller.wait_event("media_active", call=call, timeout=15)["t"])
        entry = wait_until(lambda: api.get("/api/queues").json(), 10, "the call in the queue")[0]
        r = api.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "bench", "wait": True}, timeout=30)
        if r.status_code != 200 or r.json().get("result") != "answered":
            raise RuntimeError(f"pull failed: {r.status_code} {r.text}")
        return call, caller_rec

    def _message(self, cell: Cell, folder: Path) -> dict[str, Any]:
        assert self.message_box is not None
        box, api = self.message_box, self.message_box.http
        before = {m["id"] for m in api.get("/api/messages").json()}
        rate = RATE[cell.caller_codec]

        def new_message() -> dict[str, Any] | None:
            fresh = [m for m in api.get("/api/messages").json() if m["id"] not in before]
            return fresh[0] if fresh else None

        with phone_pool() as start:
            caller = self._caller(start, cell.caller_codec, folder)
            call = caller.call(f"sip:100@{A_ADDR}:{box.sip_port}")
            caller.wait_event("media_active", call=call, timeout=15)
            time.sleep(1.5)  # the box beeps (0.4 s), then records
            caller.play(call, self.speech["caller", rate])
            time.sleep(self.seconds["caller"] + 1.0)
            caller.hangup(call)
            # with the phone and the network still up: a lost BYE is sent again (RFC 3261 §17.1.2.2)
            message = wait_until(new_message, 15, "the message")
        audio = wait_until(
            lambda: (r := api.get(f"/api/messages/{message['id']}/audio")).status_code == 200 and r, 10, "its audio"
        )
        wav = folder / "message.wav"
        wav.write_bytes(audio.content)
        _, wav_rate = read_wav(wav)
        reference = self.speech["caller", 16000 if wav_rate == 16000 else 8000]
        return {"message": _direction(score_file(reference, wav), None), "message_rate": wav_rate}


# --------------------------------------------------------------------------- figures
def _median(runs: list[dict[str, Any]], direction: str, field: str) -> float | None:
    values = [r[direction][field] for r in runs if direction in r and r[direction].get(field) is not None]
    return round(statistics.median(values), 3) if values else None


def _span(runs: list[dict[str, Any]], direction: str, field: str) -> tuple[float, float] | None:
    values = [r[direction][field] for r in runs if direction in r and r[direction].get(field) is not None]
    return (min(values), max(values)) if values else None


def summarise(cell: Cell, runs: list[dict[str, Any]], done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Medians of the runs; ``done``: the summaries of the cells before (for the baseline's delay)."""
    ok = [r for r in runs if "error" not in r]
    out: dict[str, Any] = {"runs_ok": len(ok), "runs_failed": len(runs) - len(ok)}
    for direction in ("to_agent", "to_caller", "message"):
        mos = _median(ok, direction, "mos")
        if mos is None:
            continue
        out[direction] = {
            "mos": mos,
            "mos_span": _span(ok, direction, "mos"),
            "delay_ms": _median(ok, direction, "delay_ms"),
            "correlation": _median(ok, direction, "correlation"),
            "level_dbfs": _median(ok, direction, "level_dbfs"),
        }
    # minus the baseline's delay and the network's own (as the relay applied it: mean over forwarded packets)
    way = {"to_agent": "caller_to_box", "to_caller": "box_to_caller"}
    baseline = done.get(cell.baseline or "", {})
    for direction, net in way.items():
        delay, base = out.get(direction, {}).get("delay_ms"), baseline.get(direction, {}).get("delay_ms")
        network = [r["network"][net].get("mean_delay_ms", 0.0) for r in ok if r.get("network", {}).get(net)]
        if delay is not None and base is not None and network:
            out[direction]["added_delay_ms"] = round(delay - base - statistics.median(network), 1)
    box = [r["box"] for r in ok if "box" in r]
    if box:
        # the box's own doing on the caller's stream, summed over the runs: frames made up or left out
        out["box"] = {k: sum(b.get(k, 0) for b in box) for k in ("concealed", "dropped", "late")}
        out["box"]["runs"] = len(box)
    loss = [r["network"]["caller_to_box"] for r in ok if r.get("network", {}).get("caller_to_box")]
    if loss:
        packets = sum(n["packets"] for n in loss) or 1
        out["caller_to_box"] = {
            "lost_pct": round(100 * sum(n["dropped"] for n in loss) / packets, 2),
            "sent_early_pct": round(100 * sum(n["sent_early"] for n in loss) / packets, 2),
            "relay_late_ms_p99": max(n["late_ms_p99"] for n in loss),
        }
    return out


def _mos(summary: dict[str, Any], direction: str, main: bool) -> str:
    d = summary.get(direction)
    if not d:
        return "–"
    lo, hi = d["mos_span"]
    mos = f"**{d['mos']:.2f}**" if main else f"{d['mos']:.2f}"
    return f"{mos} ({lo:.2f}–{hi:.2f})" if hi > lo else mos


def _ms(summary: dict[str, Any], direction: str, field: str) -> str:
    value = summary.get(direction, {}).get(field)
    return "–" if value is None else f"{value:.0f}"


def measured_firmware() -> dict[str, str]:
    """Which firmware the daemons run: the ``zentrale`` this interpreter imports, and its checkout's commit.
    (Run another worktree's ``.venv/bin/python -m bench.audio_quality`` from here to measure that branch.)"""
    done = subprocess.run(
        [sys.executable, "-c", "import zentrale, pathlib; print(pathlib.Path(zentrale.__file__).parent)"],
        capture_output=True, text=True, check=True, cwd="/",
    )  # fmt: skip
    path = done.stdout.strip()
    git = subprocess.run(
        ["git", "-C", path, "describe", "--always", "--dirty", "--abbrev=10"], capture_output=True, text=True
    )
    branch = subprocess.run(["git", "-C", path, "branch", "--show-current"], capture_output=True, text=True)
    return {"path": path, "commit": git.stdout.strip() or "?", "branch": branch.stdout.strip() or "?"}


def table(report: dict[str, Any]) -> str:
    firmware = report.get("firmware", {})
    lines = [
        f"Audio quality (`bench.audio_quality`) — {report['date']}, {report['runs']} runs per cell, median (min–max)",
        f"Firmware: {firmware.get('path', '?')} (branch {firmware.get('branch', '?')}, {firmware.get('commit', '?')})"
        + (f"; sip.jitter_buffer.relay: {report['relay']}" if "relay" in report else "")
        + (f", min_ms: {report['jitter_min_ms']}" if report.get("jitter_min_ms") is not None else "")
        + f"; the box's scheduling: {report.get('box_sched', 'all-rt' if report.get('box_rt') else 'nice')}",
        f"Machine: {report['machine']}; load average at start / end: {report['load'][0]} / {report['load'][1]}",
        "Codec ceilings on this speech (ffmpeg encode+decode, caller / agent text): "
        + ", ".join(
            f"{c} {report['ceilings']['caller'][c]:.2f} / {report['ceilings']['agent'][c]:.2f}" for c in CODECS
        ),
        "",
        "| profile | what | MOS → agent | MOS → caller | MOS message | one-way ms → agent / → caller "
        "| added ms → agent / → caller | caller→box lost / early % |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report["cells"]:
        s, main = row["summary"], row["main"]
        net = s.get("caller_to_box", {})
        failed = f" ({s['runs_failed']} failed)" if s["runs_failed"] else ""
        scores = " | ".join(_mos(s, d, main == d) for d in ("to_agent", "to_caller", "message"))
        delays = " | ".join(
            f"{_ms(s, 'to_agent', f)} / {_ms(s, 'to_caller', f)}" for f in ("delay_ms", "added_delay_ms")
        )
        network = f"{net.get('lost_pct', '–')} / {net.get('sent_early_pct', '–')}"
        lines.append(f"| {row['profile']} | {row['what']}{failed} | {scores} | {delays} | {network} |")
    slips = [
        f"{row['what']} ({row['profile']}): {b['concealed']} concealed, {b['dropped']} dropped, {b['late']} late"
        for row in report["cells"]
        if (b := row["summary"].get("box"))
    ]
    if slips:
        lines += ["", "The box on the caller's stream, over all runs of a cell: " + "; ".join(slips)]
    if "box_log" in report:
        lines += [
            "",
            "The daemons' logs: " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in report["box_log"].items()),
        ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- the two halves
def inside(args: argparse.Namespace) -> int:
    box_ns, far_ns = args.inside
    cells = [c for c in CELLS if not args.cells or c.key in args.cells]
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="zentrale-abench-"))
    work.mkdir(parents=True, exist_ok=True)
    box_sched = "all-rt" if args.box_rt else args.box_sched
    bench = Bench(box_ns, far_ns, work, args.relay, args.jitter_min_ms, box_sched)
    report: dict[str, Any] = {
        "date": datetime.datetime.now().strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "firmware": measured_firmware(),
        "runs": args.runs,
        "relay": args.relay,
        "jitter_min_ms": args.jitter_min_ms,
        "box_sched": box_sched,
        "load": [round(os.getloadavg()[0], 2), None],
        "profiles": {name: asdict(p) for name, p in PROFILES.items()},
        "ceilings": bench.ceilings(),
        "cells": [],
    }
    done: dict[str, dict[str, Any]] = {}
    try:
        bench.start()
        for cell in cells:
            runs: list[dict[str, Any]] = []
            for run in range(args.runs):
                seed = args.seed + run
                try:
                    result = bench.run(cell, run, seed)
                except Exception as err:  # one failed call must not cost the other cells their figures
                    result = {"error": f"{type(err).__name__}: {err}"}
                result["seed"] = seed
                runs.append(result)
                log(f"{cell.key} run {run + 1}/{args.runs}: " + json.dumps(result, ensure_ascii=False))
            summary = done[cell.key] = summarise(cell, runs, done)
            report["cells"].append({**asdict(cell), "summary": summary, "runs": runs})
    finally:
        report["load"][1] = round(os.getloadavg()[0], 2)
        report["box_log"] = bench.stop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=1, ensure_ascii=False) if args.json else table(report), flush=True)
    return 0 if all(c["summary"]["runs_ok"] for c in report["cells"]) else 1


def outside(argv: list[str]) -> int:
    if os.geteuid() != 0:
        log("bench.audio_quality needs root: it makes network namespaces and TUN devices")
        return 2
    missing = [t for t in ("ip", "espeak-ng", "sox", "ffmpeg", "chrt") if shutil.which(t) is None]
    if missing:
        log(f"missing tools: {', '.join(missing)} (scripts/setup --test installs them)")
        return 2

    def terminate(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    with Namespaces() as ns:
        inner = subprocess.Popen(
            in_netns(ns.box, [sys.executable, "-m", "bench.audio_quality", "--inside", ns.box, ns.far, *argv]),
            cwd=ROOT,
        )
        try:
            return inner.wait()
        finally:
            if inner.poll() is None:  # interrupted: let it stop its phones and daemons, then the namespaces go
                inner.send_signal(signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    inner.wait(15)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=3, help="calls per cell (the cell shows their median)")
    p.add_argument("--cells", type=lambda s: s.split(","), help=f"only these: {','.join(c.key for c in CELLS)}")
    p.add_argument("--seed", type=int, default=1, help="the first run's impairment seed (then +1 per run)")
    p.add_argument("--json", action="store_true", help="print every run's figures as JSON instead of the table")
    p.add_argument("--keep", help="keep speech, recordings and logs in this folder")
    p.add_argument(
        "--relay", choices=("auto", "always", "never"), default="auto",
        help="the box's sip.jitter_buffer.relay: bridged same-codec packets relayed or re-clocked",
    )  # fmt: skip
    p.add_argument(
        "--jitter-min-ms", type=float, help="the box's sip.jitter_buffer.min_ms (default: the firmware's default)"
    )
    p.add_argument(
        "--box-sched", choices=("appliance", "nice", "all-rt"), default="appliance",
        help="the daemons' scheduling: 'appliance' as systemd/zentrale.service (the event loop SCHED_RR, its "
        "threads and programs normal), 'nice' (every thread nice -5: the unit before), 'all-rt' (every thread "
        "SCHED_RR)",
    )  # fmt: skip
    p.add_argument("--box-rt", action="store_true", help="the same as --box-sched all-rt (earlier runs)")
    p.add_argument("--table", metavar="JSON", help="only print the table of an earlier run's --json output")
    p.add_argument("--inside", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.table:
        print(table(json.loads(Path(args.table).read_text(encoding="utf-8"))))
        return 0
    unknown = set(args.cells or ()) - {c.key for c in CELLS}
    if unknown:
        p.error(f"unknown cells: {', '.join(sorted(unknown))}")
    if args.inside:
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
        return inside(args)
    return outside(argv)


if __name__ == "__main__":
    sys.exit(main())
