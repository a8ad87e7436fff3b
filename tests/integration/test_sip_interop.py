"""Interop like a PBX's own phones (issue 13): sipp playing Asterisk's exact messages and
session timers in both roles, against the real daemon."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.rtp_pcap import dtmf_packets, write_rtp_pcap
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
SCENARIOS = Path(__file__).with_name("sipp")


def run_sipp(daemon: Daemon, scenario: str, workdir: Path, timeout: float = 40) -> tuple[int, str]:
    proc = subprocess.run(
        ["sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(SCENARIOS / scenario), "-i", "127.0.0.1",
         "-p", str(free_port()), "-mp", str(free_port()), "-s", "100", "-m", "1", "-l", "1", "-nostdin",
         "-timeout", f"{int(timeout)}s", "-trace_err", "-trace_msg", "-message_file", "messages.log",
         "-error_file", "errors.log"],
        cwd=workdir, capture_output=True, timeout=timeout + 10, check=False,
    )  # fmt: skip
    messages = (workdir / "messages.log").read_text(errors="replace") if (workdir / "messages.log").exists() else ""
    errors = (workdir / "errors.log").read_text(errors="replace") if (workdir / "errors.log").exists() else ""
    return proc.returncode, messages + errors


def test_a_digit_sent_as_payload_type_121_behind_a_direct_media_pbx_reaches_the_menu(tmp_path: Path) -> None:
    """Asterisk with direct_media=yes told the box 101 and the caller's phone 121: the box
    dropped the digits and the caller was stuck in the menu (2 of 4 calls)."""
    write_rtp_pcap(tmp_path / "dtmf_pt121.pcap", dtmf_packets("1", 121))
    with running_daemon(tmp_path / "box", mode=fast_mode()) as daemon:
        rc: list[int] = []

        def queued() -> bool:
            return any(q["team"] == "lvs" for q in daemon.http.get("/api/queues").json())

        proc = subprocess.Popen(
            ["sipp", f"127.0.0.1:{daemon.sip_port}", "-sf", str(SCENARIOS / "uac_direct_media.xml"),
             "-i", "127.0.0.1", "-p", str(free_port()), "-mp", str(free_port()), "-s", "100", "-m", "1",
             "-l", "1", "-nostdin", "-timeout", "30s", "-trace_err"],
            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            # queued (True), or sipp ended without getting there ("sipp ended")
            seen = wait_until(
                lambda: queued() or (proc.poll() is not None and "sipp ended"), 15, "the sipp caller in LVS's queue"
            )
            rc.append(proc.wait(30))
        finally:
            if proc.poll() is None:
                proc.kill()
        assert seen is True, "the digit (PT 121) never reached the menu"
        assert rc == [0], rc
        assert "Traceback" not in daemon.log()


def test_session_timer_refreshed_by_the_caller_is_answered_and_a_caller_who_stops_refreshing_is_hung_up(
    tmp_path: Path,
) -> None:
    config = {"sip": {"session_timers": {"min_se": 2}}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        t0 = time.monotonic()
        rc, trace = run_sipp(daemon, "uac_session_timer.xml", tmp_path)
        took = time.monotonic() - t0
        assert rc == 0, trace[-3000:]
        print(f"session timer 6 s, refreshed twice, then silent: the box hung up; scenario took {took:.1f} s")
        assert re.search(r"BYE sip:", trace), "the box sent no BYE"
        wait_status = daemon.status()["lines"][0]
        assert wait_status["calls"] == 0
        assert "session expired" in daemon.log()


def test_session_timer_with_the_box_as_refresher_sends_update_every_half_interval(tmp_path: Path) -> None:
    config = {"sip": {"session_timers": {"min_se": 2}}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        rc, trace = run_sipp(daemon, "uac_session_timer_box_refreshes.xml", tmp_path)
        assert rc == 0, trace[-3000:]
        assert trace.count("UPDATE sip:") >= 2
        assert "Traceback" not in daemon.log()


def test_a_session_interval_below_min_se_is_refused_with_422(tmp_path: Path) -> None:
    from tests.harness.sip_client import request as sip_request

    with running_daemon(tmp_path / "box", mode=fast_mode()) as daemon:
        answer = sip_request("INVITE", "100", ("127.0.0.1", daemon.sip_port), "127.0.0.5", sdp=True,
                             headers={"Supported": "timer", "Session-Expires": "30"})  # fmt: skip
        assert answer is not None and answer.status == 422
        assert answer.header("Min-SE") == "90"
