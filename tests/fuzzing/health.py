"""What a fuzzed box must show afterwards, read from outside: its tables in GET /status,
its open files and memory in /proc, and its log."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from tests.fuzzing.campaign import Campaign
from tests.harness.daemon import Daemon

# The ends of answered transactions are RFC timers of 64*T1 (J, H, L: RFC 3261 §17.2,
# RFC 6026), counted from the box's last answer, which trails the last message sent by
# the box's backlog; calls whose 2xx was never ACKed (the mutant's Via pointed nowhere,
# or its TCP connection was gone) end by the same 64*T1 (§13.3.1.4). The BYE the box
# then sends is a client transaction of its own: where nobody answers it (a Record-Route
# or Contact naming an address nobody listens on) it ends by Timer F, another 64*T1 on.
SCHEDULING_SLACK = 5.0


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass(frozen=True)
class Tables:
    """The counts that must come back: live and answered server transactions, the box's
    own (client) transactions, calls and TCP connections."""

    transactions: int
    live: int
    completed: int
    client: int
    calls: int
    tcp: int
    handler_errors: int

    @classmethod
    def of(cls, line: dict[str, Any]) -> Tables:
        table = line["transaction_table"]
        return cls(line["transactions"], table["live"], table["completed"], table["client"], line["calls"],
                   line["tcp"]["open"], line["handler_errors"])  # fmt: skip

    def counts(self) -> tuple[int, ...]:
        return (self.transactions, self.live, self.completed, self.client, self.calls, self.tcp)

    def back_to(self, baseline: Tables, *, client: bool = True) -> bool:
        """At or below ``baseline``; with ``client`` False the box's own requests are not counted."""
        now, then = self.counts(), baseline.counts()
        if not client:
            now, then = now[1:3] + now[4:], then[1:3] + then[4:]
        return all(a <= b for a, b in zip(now, then, strict=True))


def tables(daemon: Daemon) -> Tables:
    return Tables.of(daemon.status()["lines"][0])


def wait_for_baseline(
    daemon: Daemon, baseline: Tables, campaign: Campaign, timeout: float, *, client: bool = True
) -> tuple[float, Tables]:
    """Seconds until the tables are back at ``baseline`` (the campaign keeps answering the
    box meanwhile, as its peers would), and the tables then; raises on ``timeout``."""
    started = time.monotonic()
    now = tables(daemon)
    while not now.back_to(baseline, client=client):
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not back to {baseline} after {timeout:.0f} s: {now}")
        campaign.poll(0.25)
        now = tables(daemon)
    return time.monotonic() - started, now


def log_problems(log: str) -> list[str]:
    """Lines that are never normal: tracebacks and errors."""
    return [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
