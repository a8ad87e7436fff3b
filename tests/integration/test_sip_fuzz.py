"""Continuous fuzzing (issue 13, item 9): 20,000 mutated SIP messages over UDP and TCP, in
and out of a real dialog, RFC 4475's torture messages, and RTP/RTCP garbage at the live
call, against the real daemon; afterwards the box answers OPTIONS, a real phone hears its
greeting, its tables and open files are back where they were (server transactions, calls
and TCP connections within 64*T1 of the last message; the BYEs the box sends for calls
whose 2xx was never ACKed within another 64*T1), and its log has no traceback and no
error.

The fuzzing sources (127.0.1.0/24) are configured as ``sip.security.trusted``: a trusted
source is never rate-limited or banned, so every one of the 20,000 mutants reaches the
parser and the handlers (from an untrusted address the tenth malformed message gets it
banned and the rest would be dropped unread, testing only the ban). About 5 % of the
out-of-dialog mutants come from ever new untrusted addresses (127.0.2.x) so that the way
to a ban is fuzzed too. The phone calls from 127.0.0.2, which the fuzzer never uses.

The campaign is deterministic by seed (``ZENTRALE_FUZZ_SEED``, printed with the figures):
the same seed makes the same mutants in the same order; only mutants inside the dialog carry
identifiers that follow the box's answers (its tags, when a dialog is renewed). A failure
found in CI can so be replayed.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fuzzing.campaign import Campaign, FuzzPlan, daemon_config
from tests.fuzzing.health import SCHEDULING_SLACK, log_problems, open_fds, rss_mb, tables, wait_for_baseline
from tests.harness.audio import PROMPTS, heard, read_wav
from tests.harness.daemon import start_daemon
from tests.harness.peers.phone import Phone
from tests.harness.sip_probe import options
from zentrale.lines.sip.transactions import T1

pytestmark = pytest.mark.peers

MESSAGES = 20_000
SEED = int(os.environ.get("ZENTRALE_FUZZ_SEED", "4475"))
CALLER = "127.0.0.2"


@pytest.mark.heavy  # 20,000 mutants as fast as the box answers: the heavy lane (tests/conftest.py)
def test_twenty_thousand_mutated_sip_and_rtp_messages_leave_the_box_serving_calls_with_nothing_leaked(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    daemon = start_daemon(tmp_path / "box", config=daemon_config())
    campaign: Campaign | None = None
    try:
        assert options("127.0.0.1", daemon.sip_port) == "SIP/2.0 200 OK"
        baseline, fds_before, rss_before = tables(daemon), open_fds(daemon.proc.pid), rss_mb(daemon.proc.pid)

        campaign = Campaign(("127.0.0.1", daemon.sip_port), FuzzPlan(seed=SEED, messages=MESSAGES))
        figures = campaign.run()
        for line in figures.lines():
            print(line)
        # server transactions (live and answered), calls and TCP connections: within 64*T1;
        # the box's own BYEs for calls it gave up on may need another 64*T1 (tests/fuzzing/health.py)
        settle, after = wait_for_baseline(daemon, baseline, campaign, 64 * T1 + SCHEDULING_SLACK, client=False)
        settle_client, after = wait_for_baseline(daemon, baseline, campaign, 64 * T1 + SCHEDULING_SLACK)
        print(f"seed {SEED}; server transactions, calls, TCP back to baseline {settle:.1f} s after the last "
              f"message, the box's own requests {settle_client:.1f} s later: {after}; "
              f"open files {fds_before} -> {open_fds(daemon.proc.pid)}; "
              f"RSS {rss_before:.1f} -> {rss_mb(daemon.proc.pid):.1f} MB")  # fmt: skip

        # how fast the box got through them is bench/sip_fuzz.py's figure, not this test's
        assert figures.total >= MESSAGES, figures.lines()
        assert min(figures.sent[k] for k in ("out_of_dialog", "in_dialog", "tcp", "rtp", "torture", "response")) > 300
        assert figures.dialogs >= 20 and figures.dialog_failures == 0  # in-dialog mutants had a real dialog
        assert figures.sync_lost == 0  # the box answered every clean probe during the run
        assert figures.untagged_2xx == 0, figures.examples  # every 2xx to an INVITE could start a dialog
        assert after.handler_errors == 0
        assert daemon.alive()

        # the box serves: OPTIONS, and a real phone hears the greeting
        assert options("127.0.0.1", daemon.sip_port) == "SIP/2.0 200 OK"
        caller = sip_phones(name="caller", bind_ip=CALLER, codecs="PCMA")
        rx = tmp_path / "caller-rx.wav"
        call = caller.call(daemon.uri, record=rx)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(4.0)  # the first seconds of the greeting
        caller.hangup(call)
        caller.wait_event("recording_done", call=call, timeout=5)
        x, rate = read_wav(rx)
        assert heard(x, rate, 0.0, PROMPTS / "greeting.wav", length=3.0) > 0.6

        # nothing left behind: tables (the phone's call ended too) and open files
        wait_for_baseline(daemon, baseline, campaign, 64 * T1 + SCHEDULING_SLACK)
        assert open_fds(daemon.proc.pid) <= fds_before + 2, (fds_before, os.listdir(f"/proc/{daemon.proc.pid}/fd"))
    finally:
        if campaign is not None:
            campaign.close()
        daemon.stop()
    assert log_problems(daemon.log()) == []  # also none from stopping
