"""INVITE floods against the daemon while a real caller calls: ban reaction,
memory, CPU, and the caller's call setup time.

Usage: .venv/bin/python -m bench.flood [RATE ...]   (default 2000 5000)

For each rate, two floods of 10 s from one source each: one outside
``allowed_peers`` (the internet scanner) and one inside (a compromised LAN
host, which the box would otherwise answer). A real caller from another
address places short calls throughout (INVITE->200 timed on a raw socket).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.daemon import running_daemon
from tests.harness.flood import flood_while_calling, wait_for_baseline

from bench.common import machine, proc_cpu_seconds

CALLER = "127.0.0.2"
SECONDS = 10.0


def one(rate: int, source: str, allowed: bool, workdir: Path) -> list[str]:
    config = {"sip": {"allowed_peers": ["127.0.0.1/32", f"{CALLER}/32", *([f"{source}/32"] if allowed else [])]}}
    with running_daemon(workdir, config=config) as daemon:
        time.sleep(1.0)
        cpu0, t0 = proc_cpu_seconds(daemon.proc.pid), time.monotonic()
        figures = flood_while_calling(daemon, source, CALLER, workdir, rate=rate, seconds=SECONDS)
        cpu = 100 * (proc_cpu_seconds(daemon.proc.pid) - cpu0) / (time.monotonic() - t0)
        wait_for_baseline(daemon, figures)
        ban = figures.ban
        idle = statistics.median(figures.setup_idle_ms)
        flood = statistics.median(figures.setup_flood_ms) if figures.setup_flood_ms else float("nan")
        return [
            f"| {rate} | {'allowed' if allowed else 'not allowed'} | {figures.sent_per_second:.0f} "
            f"| {ban.get('seconds_from_first_packet_to_ban')} s / {ban.get('admitted_before_ban')} "
            f"| {ban.get('dropped_packets')} | {cpu:.0f} "
            f"| {figures.rss_baseline_kb / 1024:.1f} / {figures.rss_peak_kb / 1024:.1f} / "
            f"{figures.rss_after_kb / 1024:.1f} "
            f"| {idle:.1f} / {flood:.1f} ({len(figures.setup_flood_ms)} calls, "
            f"{figures.failed_calls_during_flood} failed) | {str(ban.get('reason', ''))[:40]} |"
        ]


def main(argv: list[str]) -> None:
    rates = [int(a) for a in argv] or [2000, 5000]
    print(f"machine: {machine()}")
    print(
        "| flood /s | source | sent /s | ban after (s / messages let through) | dropped unread "
        "| daemon CPU % (flood + caller) | VmRSS MB baseline / peak / after | caller INVITE->200 ms idle / flood "
        "| ban reason |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="sec-flood-") as tmp:
        for rate in rates:
            for source, allowed in (("127.0.0.4", False), ("127.0.0.6", True)):
                for line in one(rate, source, allowed, Path(tmp) / f"{rate}-{source}"):
                    print(line, flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
