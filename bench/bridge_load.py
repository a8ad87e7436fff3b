"""N callers bridged to N agents through the box: CPU per bridged call.

Usage: .venv/bin/python -m bench.bridge_load [N ...]   (default 20 50)

sipp plays the agents' phones (answering at once, echoing RTP) and another
sipp the callers (sending audio). N agents are logged in with SIP URIs of
the agents' sipp; team "pc" distributes automatically, so each caller is
rung through to a free agent and bridged: every bridged call carries
caller -> box -> agent -> (echo) -> box -> caller, 4 RTP streams.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    ROOT,
    SIPP_IS_THE_PBX,
    demo_mode,
    free_port,
    machine,
    proc_cpu_seconds,
    proc_rss_mb,
    start_daemon,
)
from bench.queue_load import caller_audio

WINDOW = 20.0
RAMP = 10  # calls per second


def mode() -> dict[str, object]:
    m = demo_mode()
    m["start"] = "queue_pc"
    m["nodes"]["queue_pc"]["hold"] = [{"music": "music_c", "seconds": 600}]
    m["nodes"]["queue_pc"]["max_wait"] = 3000
    return m


def one(n: int, workdir: Path) -> dict[str, float]:
    caller_audio(workdir)
    agents_port, agents_media = free_port(), free_port()
    uas = subprocess.Popen(
        ["sipp", "-sf", str(ROOT / "bench/sipp/uas_agent.xml"), "-i", "127.0.0.1", "-p", str(agents_port),
         "-mp", str(agents_media), "-rtp_echo", "-nostdin", "-m", str(n)],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    teams = [
        {"id": "lvs", "name": "LVS"},
        {"id": "sap", "name": "SAP"},
        {"id": "pc", "name": "PC", "distribution": "auto", "ring_timeout": 10, "wrap_up": 0},
    ]
    daemon = start_daemon(
        workdir / f"n{n}", mode=mode(), config={"teams": teams, "sip": {"rtp_timeout": 0, "security": SIPP_IS_THE_PBX}}
    )
    for i in range(n):
        daemon.http.put(f"/api/agents/a{i:03d}", json={"name": f"Agent {i}", "teams": ["pc"]})
        daemon.http.post(f"/api/agents/a{i:03d}/login", json={"number": f"sip:a{i:03d}@127.0.0.1:{agents_port}"})
    hold_ms = int((n / RAMP + 5 + WINDOW + 5) * 1000)
    uac = subprocess.Popen(
        ["sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(ROOT / "bench/sipp/uac_wait.xml"), "-i", "127.0.0.1",
         "-p", str(free_port()), "-mp", str(free_port()), "-key", "sink_ip", "127.0.0.1",
         "-key", "sink_port", "9", "-d", str(hold_ms), "-s", "100", "-m", str(n), "-l", str(n), "-r", str(RAMP),
         "-nostdin", "-timeout", f"{hold_ms // 1000 + 60}s"],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + n / RAMP + 20
        on_call = 0
        while time.monotonic() < deadline:
            on_call = daemon.status()["agents"]["on_call"]
            if on_call >= n:
                break
            time.sleep(0.2)
        time.sleep(2)
        pid = daemon.proc.pid
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        time.sleep(WINDOW)
        cpu1, t1 = proc_cpu_seconds(pid), time.monotonic()
        rss = proc_rss_mb(pid)
        status = daemon.status()
        uac.communicate(timeout=hold_ms / 1000 + 120)
    finally:
        for p in (uac, uas):
            if p.poll() is None:
                p.kill()
        daemon.stop()
    cpu = 100 * (cpu1 - cpu0) / (t1 - t0)
    return {
        "n": n,
        "bridged": on_call,
        "cpu": cpu,
        "per_call": cpu / n,
        "rss": rss,
        "late": status["media_clock"]["recent_late_ms"],
    }


def main(argv: list[str]) -> None:
    ns = [int(a) for a in argv] or [20, 50]
    print(f"machine: {machine()}")
    print(
        "| bridged calls | established | daemon CPU % | CPU % per bridged call | RSS MB | media clock worst late ms |"
    )
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for n in ns:
            r = one(n, Path(tmp))
            print(
                f"| {n} | {r['bridged']} | {r['cpu']:.1f} | {r['per_call']:.2f} | {r['rss']:.0f} | {r['late']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main(sys.argv[1:])
