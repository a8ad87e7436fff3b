"""N callers wait in the queue with music: CPU per call, RSS, RTP pacing.

Usage: .venv/bin/python bench/queue_load.py [N ...]   (default 10 50 100 200)

sipp places N calls (each sending its own PCMU audio to the box), the box
plays hold music to each. The box's packets go to an RTP sink in this
process that timestamps every arrival per stream: the send interval
p50/p99/max is what a caller's jitter buffer sees. The daemon's CPU is read
from /proc over a steady window while all N calls wait.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    ROOT,
    SIPP_IS_THE_PBX,
    RtpSink,
    demo_mode,
    free_port,
    machine,
    proc_cpu_seconds,
    proc_rss_mb,
    start_daemon,
)

WINDOW = 20.0  # seconds of steady state measured
RAMP_RATE = 25  # new calls per second


def bench_mode() -> dict[str, object]:
    mode = demo_mode()
    mode["start"] = "queue_lvs"
    mode["nodes"]["queue_lvs"]["hold"] = [{"music": "music_a", "seconds": 3600}]
    return mode


def caller_audio(workdir: Path) -> Path:
    """sipp's rtp_stream wants raw PCMU (or a WAV): 4 s of a quiet tone as 8-bit µ-law WAV."""
    path = workdir / "caller.wav"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-e", "u-law", str(path), "synth", "4", "sine", "440", "vol", "0.1"],
        check=True,
    )
    return path


def one(n: int, workdir: Path) -> dict[str, float]:
    caller_audio(workdir)
    sink = RtpSink()
    daemon = start_daemon(
        workdir / f"n{n}",
        mode=bench_mode(),
        config={"sip": {"symmetric_rtp": False, "rtp_timeout": 0, "security": SIPP_IS_THE_PBX}},
    )
    hold_ms = int((n / RAMP_RATE + 5 + WINDOW + 5) * 1000)
    sipp = subprocess.Popen(
        [
            "sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(ROOT / "bench" / "sipp" / "uac_wait.xml"),
            "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()),
            "-key", "sink_ip", "127.0.0.1", "-key", "sink_port", str(sink.port),
            "-d", str(hold_ms),
            "-s", "100", "-m", str(n), "-l", str(n), "-r", str(RAMP_RATE), "-nostdin",
            "-timeout", f"{hold_ms // 1000 + 60}s", "-trace_stat", "-fd", "1",
        ],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + n / RAMP_RATE + 20
        while daemon.status()["calls"] < n and time.monotonic() < deadline:
            time.sleep(0.2)
        established = daemon.status()["calls"]
        time.sleep(3)  # settle
        pid = daemon.proc.pid
        daemon.status()  # resets the clock's "recent lateness"
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        sink.arrivals.clear()
        sink.recording = True
        time.sleep(WINDOW)
        sink.recording = False
        cpu1, t1 = proc_cpu_seconds(pid), time.monotonic()
        rss = proc_rss_mb(pid)
        status = daemon.status()
        _, _err = sipp.communicate(timeout=hold_ms / 1000 + 120)
        stats = sorted(workdir.glob("*_.csv")) + sorted(workdir.glob("*stat*.csv"))
        failed = _failed_calls(stats[-1]) if stats else -1
    finally:
        if sipp.poll() is None:
            sipp.kill()
        daemon.stop()
        sink.close()
    intervals = sink.intervals_ms()
    cpu_percent = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "n": n,
        "established": established,
        "failed": failed,
        "cpu_percent": cpu_percent,
        "cpu_per_call": cpu_percent / n,
        "rss_mb": rss,
        "p50": float(np.percentile(intervals, 50)) if intervals.size else float("nan"),
        "p99": float(np.percentile(intervals, 99)) if intervals.size else float("nan"),
        "max": float(intervals.max()) if intervals.size else float("nan"),
        "streams": len(sink.arrivals),
        "clock_late_ms": status["media_clock"]["recent_late_ms"],
        "tick_cost_ms": status["media_clock"]["max_tick_cost_ms"],
        "gc_ms": status["media_clock"]["gc_max_pause_ms"],
        "sipp_rc": sipp.returncode,
    }


def _failed_calls(csv: Path) -> int:
    lines = csv.read_text().splitlines()
    head = lines[0].split(";")
    last = lines[-1].split(";")
    return int(last[head.index("FailedCall(C)")])


def main(argv: list[str]) -> None:
    ns = [int(a) for a in argv] or [10, 50, 100, 200]
    print(f"machine: {machine()}")
    print(
        "| callers | established | failed | daemon CPU % | CPU % per call | RSS MB "
        "| send interval p50 / p99 / max ms | media clock: worst late / longest tick / longest GC pause ms |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in ns:
            r = one(n, Path(tmp))
            print(
                f"| {n} | {r['established']} | {r['failed']} | {r['cpu_percent']:.1f} | {r['cpu_per_call']:.2f} | "
                f"{r['rss_mb']:.0f} | {r['p50']:.1f} / {r['p99']:.1f} / {r['max']:.1f} | "
                f"{r['clock_late_ms']:.1f} / {r['tick_cost_ms']:.1f} / {r['gc_ms']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
