"""A long SIP/RTP fuzzing run against the real daemon: throughput, tracebacks, leaked
transactions, memory before and after.

Usage: .venv/bin/python -m bench.sip_fuzz [MESSAGES [SEED]]   (default 1000000 4475)

The same campaign as tests/integration/test_sip_fuzz.py (tests/fuzzing: mutated SIP over
UDP and TCP in and out of a real dialog, RFC 4475's messages, stray responses, RTP and
RTCP garbage at the live call; the fuzzing sources trusted, about 5 % of the out-of-dialog
mutants from ever new untrusted addresses), only longer. The campaign waits for a clean
OPTIONS every 100 messages, so the rate is what the box digests, not what a socket can
send. Afterwards: the tables back to their baseline (and how long that took), a real
INVITE from another address answered, the log searched for tracebacks and errors.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from tests.fuzzing.campaign import Campaign, Figures, FuzzPlan, daemon_config
from tests.fuzzing.health import SCHEDULING_SLACK, log_problems, open_fds, rss_mb, tables, wait_for_baseline
from tests.harness.sip_client import timed_call
from tests.harness.sip_probe import options

from bench.common import machine, proc_cpu_seconds, start_daemon
from zentrale.lines.sip.transactions import T1

CALLER = "127.0.0.2"


def main(argv: list[str]) -> None:
    messages = int(argv[0]) if argv else 1_000_000
    seed = int(argv[1]) if len(argv) > 1 else 4475
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="sip-fuzz-") as tmp:
        daemon = start_daemon(Path(tmp) / "box", config=daemon_config())
        try:
            run(daemon, messages, seed)
        finally:
            daemon.stop()
            problems = log_problems(daemon.log())
            kept = Path(tempfile.gettempdir()) / "sip-fuzz-last.log"
            kept.write_text(daemon.log())  # for a look at what happened, after the folder is gone
            print(f"log after a clean stop: {len(problems)} traceback/error lines (log kept in {kept})")
            for line in problems[:20]:
                print("   ", line[:200])


def run(daemon, messages: int, seed: int) -> None:  # type: ignore[no-untyped-def]
    pid = daemon.proc.pid
    assert options("127.0.0.1", daemon.sip_port) == "SIP/2.0 200 OK"
    time.sleep(1.0)
    baseline, fds0, rss0, cpu0 = tables(daemon), open_fds(pid), rss_mb(pid), proc_cpu_seconds(pid)
    peak = [rss0]

    def progress(figures: Figures) -> None:
        peak[0] = max(peak[0], rss_mb(pid))
        print(f"  {figures.total:>9} messages, {figures.seconds:6.0f} s, {figures.total / figures.seconds:5.0f}/s, "
              f"RSS {rss_mb(pid):.1f} MB, sync worst {figures.sync_worst_ms:.0f} ms, lost {figures.sync_lost}",
              flush=True)  # fmt: skip

    campaign = Campaign(("127.0.0.1", daemon.sip_port), FuzzPlan(seed=seed, messages=messages, report_every=50_000))
    campaign.on_progress = progress
    try:
        figures = campaign.run()
        cpu = proc_cpu_seconds(pid) - cpu0
        rss_end = rss_mb(pid)
        try:
            settle, _ = wait_for_baseline(daemon, baseline, campaign, 64 * T1 + SCHEDULING_SLACK, client=False)
        except AssertionError as err:  # report what stayed, and how long it took after all
            print(f"NOT within 64*T1: {err}")
            for call in daemon.http.get("/api/calls").json():
                print("   left:", {k: call.get(k) for k in ("call_id", "state", "remote", "rtp_received", "node")})
            settle, _ = wait_for_baseline(daemon, baseline, campaign, 180.0, client=False)
            settle += 64 * T1 + SCHEDULING_SLACK
        settle_client, after = wait_for_baseline(daemon, baseline, campaign, 2 * 64 * T1 + SCHEDULING_SLACK)
    finally:
        campaign.close()
    time.sleep(1.0)
    status, setup = timed_call(("127.0.0.1", daemon.sip_port), CALLER)
    line = daemon.status()["lines"][0]
    for text in figures.lines():
        print(text)
    for example in figures.examples:
        print("   2xx without a To tag:", example[:600])
    leaked = [max(0, a - b) for a, b in zip(after.counts(), baseline.counts(), strict=True)]
    print(
        f"seed {seed}; daemon CPU {cpu:.0f} s for {figures.seconds:.0f} s "
        f"({100 * cpu / figures.seconds:.0f} % of one core), {1e6 * cpu / figures.total:.0f} µs per message"
    )
    print(
        f"server transactions, calls, TCP back to baseline {settle:.1f} s after the last message, "
        f"the box's own requests {settle_client:.1f} s; left over (transactions, live, completed, client, calls, "
        f"tcp): {leaked}; handler errors {after.handler_errors}"
    )
    print(
        f"RSS {rss0:.1f} MB before, {max(peak[0], rss_end):.1f} peak, {rss_end:.1f} at the end, "
        f"{rss_mb(daemon.proc.pid):.1f} after the tables emptied; open files {fds0} -> {open_fds(daemon.proc.pid)}"
    )
    print(f"afterwards: OPTIONS {options('127.0.0.1', daemon.sip_port)!r}, a call from {CALLER}: {status} in "
          f"{1000 * setup:.1f} ms; messages received {line['messages_received']}, dropped unparseable "
          f"{line['dropped_messages']}, bans {line['security']['bans_total']}, evicted completed "
          f"{line['transaction_table']['evicted']}")  # fmt: skip


if __name__ == "__main__":
    main(sys.argv[1:])
