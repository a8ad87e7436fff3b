"""An INVITE flood from sipp against the running daemon, with the daemon's memory
watched from /proc and a real caller timed meanwhile (used by a test and by
bench/flood.py)."""

from __future__ import annotations

import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.daemon import Daemon, free_port
from tests.harness.sip_client import timed_call
from tests.harness.waits import wait_until

SCENARIO = Path(__file__).resolve().parents[2] / "bench" / "sipp" / "uac_flood.xml"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_flood(daemon: Daemon, source: str, rate: int, seconds: float, workdir: Path) -> subprocess.Popen[bytes]:
    total = int(rate * seconds)
    return subprocess.Popen(
        [
            "sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(SCENARIO), "-i", source, "-p", str(free_port()),
            "-mp", str(free_port()), "-s", "100", "-r", str(rate), "-rp", "1000", "-m", str(total),
            "-l", str(total), "-nostdin", "-timeout", f"{int(seconds) + 30}s", "-trace_stat", "-fd", "1",
        ],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@dataclass
class FloodFigures:
    source: str
    rate: int
    seconds: float
    rss_baseline_kb: int
    rss_peak_kb: int = 0
    rss_after_kb: int = 0
    sent_per_second: float = 0.0
    setup_idle_ms: list[float] = field(default_factory=list)
    setup_flood_ms: list[float] = field(default_factory=list)
    failed_calls_during_flood: int = 0
    ban: dict[str, object] = field(default_factory=dict)

    def lines(self) -> list[str]:
        idle = statistics.median(self.setup_idle_ms) if self.setup_idle_ms else float("nan")
        flood = statistics.median(self.setup_flood_ms) if self.setup_flood_ms else float("nan")
        return [
            f"flood from {self.source}: {self.rate}/s for {self.seconds:g} s, sipp sent {self.sent_per_second:.0f}/s",
            f"ban after {self.ban.get('seconds_from_first_packet_to_ban')} s and "
            f"{self.ban.get('admitted_before_ban')} messages: {self.ban.get('reason')}; "
            f"{self.ban.get('dropped_packets')} dropped unread",
            f"daemon VmRSS: baseline {self.rss_baseline_kb / 1024:.1f} MB, peak during the flood "
            f"{self.rss_peak_kb / 1024:.1f} MB, afterwards {self.rss_after_kb / 1024:.1f} MB",
            f"real caller: INVITE->200 median idle {idle:.2f} ms, during the flood {flood:.2f} ms "
            f"({len(self.setup_flood_ms)} calls, {self.failed_calls_during_flood} failed)",
        ]


def idle_setup(daemon: Daemon, caller_ip: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        status, seconds = timed_call(("127.0.0.1", daemon.sip_port), caller_ip)
        if status == 200:
            out.append(seconds * 1000)
        time.sleep(0.05)
    return out


def flood_while_calling(
    daemon: Daemon, source: str, caller_ip: str, workdir: Path, *, rate: int = 2000, seconds: float = 10.0
) -> FloodFigures:
    """Flood from ``source`` while ``caller_ip`` places short calls; memory sampled throughout."""
    pid = daemon.proc.pid
    idle_setup(daemon, caller_ip, 5)  # warm up
    figures = FloodFigures(source, rate, seconds, rss_kb(pid), setup_idle_ms=idle_setup(daemon, caller_ip, 20))
    figures.rss_baseline_kb = rss_kb(pid)
    sipp = start_flood(daemon, source, rate, seconds, workdir)
    started = time.monotonic()
    try:
        while sipp.poll() is None and time.monotonic() - started < seconds + 30:
            figures.rss_peak_kb = max(figures.rss_peak_kb, rss_kb(pid))
            status, ms = timed_call(("127.0.0.1", daemon.sip_port), caller_ip)
            if status == 200:
                figures.setup_flood_ms.append(ms * 1000)
            else:
                figures.failed_calls_during_flood += 1
            time.sleep(0.2)
    finally:
        if sipp.poll() is None:
            sipp.kill()
        sipp.communicate(timeout=10)
    elapsed = time.monotonic() - started
    bans = {b["address"]: b for b in daemon.http.get("/api/security/bans").json()["bans"]}
    figures.ban = bans.get(source, {})
    admitted = int(figures.ban.get("admitted_before_ban", 0))  # type: ignore[call-overload]
    dropped = int(figures.ban.get("dropped_packets", 0))  # type: ignore[call-overload]
    figures.sent_per_second = (admitted + dropped) / max(elapsed, seconds)
    return figures


def wait_for_baseline(daemon: Daemon, figures: FloodFigures, timeout: float = 100) -> None:
    """Transactions and calls from the flood end, then memory is read again. A flood from an
    allowed source makes calls whose 200 is never acknowledged: they end after Timer H (64*T1,
    32 s, RFC 3261 §17.2.1) and their BYE, never answered either, ends after Timer F (32 s more)."""

    last: dict[str, Any] = {}

    def settled() -> bool:
        line = daemon.status()["lines"][0]
        last.update(transactions=line["transactions"], calls=line["calls"], table=line["transaction_table"])
        return bool(line["transactions"] == 0 and line["calls"] == 0)

    started = time.monotonic()
    try:
        wait_until(settled, timeout, "the flood's transactions and calls to end", poll=0.5)
    except AssertionError as err:
        raise AssertionError(f"{err}; last seen: {last}") from None
    print(f"the flood's transactions and calls ended {time.monotonic() - started:.1f} s after it")
    time.sleep(1.0)  # a second with nothing to do: what the daemon frees at leisure is freed
    figures.rss_after_kb = rss_kb(daemon.proc.pid)
