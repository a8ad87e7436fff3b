"""Calls per second from one trusted source (the office PBX): short IVR calls (answer,
3 s of the greeting, hang-up) with sipp at a fixed rate; failed calls, retransmissions
(each one means the box answered late), the box's CPU per call and its RSS.

Usage: .venv/bin/python -m bench.call_rate [RATE ...] [--seconds N]   (default 150, 60 s)
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import tempfile
import time
from pathlib import Path

from tests.harness.daemon import running_daemon

from bench.common import SIPP_IS_THE_PBX, free_port, machine, proc_cpu_seconds, proc_rss_mb

SCENARIO = Path(__file__).with_name("sipp") / "uac_ivr.xml"


def run(rate: int, seconds: int, workdir: Path) -> dict[str, float]:
    config = {"sip": {"security": SIPP_IS_THE_PBX}}
    with running_daemon(workdir, config=config) as daemon:
        time.sleep(1.0)
        pid = daemon.proc.pid
        calls = rate * seconds
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        stats = workdir / "stats.csv"
        proc = subprocess.run(
            ["sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(SCENARIO), "-i", "127.0.0.1",
             "-p", str(free_port()), "-mp", str(free_port()), "-s", "100", "-r", str(rate), "-m", str(calls),
             "-l", str(rate * 8), "-nostdin", "-timeout", f"{seconds + 60}s", "-trace_stat", "-stf", str(stats),
             "-fd", "1", "-buff_size", str(8 * 1024 * 1024)],
            cwd=workdir, capture_output=True, timeout=seconds + 120, check=False,
        )  # fmt: skip
        wall = time.monotonic() - t0
        cpu = proc_cpu_seconds(pid) - cpu0
        rss = proc_rss_mb(pid)
        with stats.open() as f:
            rows = list(csv.DictReader(f, delimiter=";"))
        last = rows[-1]
        line = daemon.status()["lines"][0]
        return {
            "rate": rate,
            "calls": calls,
            "successful": float(last["SuccessfulCall(C)"]),
            "failed": float(last["FailedCall(C)"]),
            "retransmissions": float(last["Retransmissions(C)"]),
            "wall_s": wall,
            "cpu_percent_of_one_core": 100 * cpu / wall,
            "cpu_ms_per_call": 1000 * cpu / max(1.0, float(last["SuccessfulCall(C)"])),
            "rss_mb": rss,
            "responses_503": float(line["responses"].get("503", 0)),
            "sipp_rc": proc.returncode,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rates", nargs="*", type=int, default=[150])
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    print("| calls/s | calls | successful | failed | retransmissions | 503 | box CPU (% of one core) "
          "| CPU per call | RSS |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for rate in args.rates:
        with tempfile.TemporaryDirectory() as tmp:
            r = run(rate, args.seconds, Path(tmp))
        print(f"| {rate} | {r['calls']:.0f} | {r['successful']:.0f} | {r['failed']:.0f} | {r['retransmissions']:.0f} "
              f"| {r['responses_503']:.0f} | {r['cpu_percent_of_one_core']:.0f} | {r['cpu_ms_per_call']:.2f} ms "
              f"| {r['rss_mb']:.0f} MB |")  # fmt: skip


if __name__ == "__main__":
    main()
