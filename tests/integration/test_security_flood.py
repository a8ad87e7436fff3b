"""An INVITE flood of 2,000 requests/s from one source for 10 s while a real caller
calls: the caller is served, the flooding source is banned within a fraction of a
second, and the daemon's memory stays bounded and returns to its baseline."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.audio import PROMPTS, heard
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.flood import flood_while_calling, wait_for_baseline
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
CALLER = "127.0.0.2"


@pytest.mark.heavy  # sipp at 2,000 INVITEs/s: the heavy lane (tests/conftest.py)
@pytest.mark.parametrize(("source", "allowed"), [("127.0.0.4", False), ("127.0.0.6", True)])
def test_an_invite_flood_from_one_source_is_banned_while_a_real_caller_is_served(
    tmp_path: Path, sip_phones: Callable[..., Phone], source: str, allowed: bool
) -> None:
    config = {"sip": {"allowed_peers": ["127.0.0.1/32", f"{CALLER}/32", *([f"{source}/32"] if allowed else [])]}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        caller = sip_phones(name="caller", bind_ip=CALLER, codecs="PCMA")
        rx = tmp_path / "rx.wav"
        call: list[int] = []

        # the real caller's phone call starts 2 s into the flood and lasts 5 s
        def phone_call() -> None:
            time.sleep(2.0)
            call.append(caller.call(daemon.uri, record=rx))
            caller.wait_event("media_active", call=call[0], timeout=5)
            time.sleep(5.0)
            caller.hangup(call[0])

        thread = threading.Thread(target=phone_call)
        thread.start()
        figures = flood_while_calling(daemon, source, CALLER, tmp_path)
        thread.join(20)
        caller.wait_event("recording_done", call=call[0], timeout=5)
        wait_for_baseline(daemon, figures)
        for line in figures.lines():
            print(line)
        x, rate = read(rx)
        assert heard(x, rate, 0.0, PROMPTS / "greeting.wav", length=3.0) > 0.6
        # refused INVITEs are failures: a source not allowed is banned after 10 of them, before
        # its burst allowance is used up; an allowed one is banned when it exceeds the rate
        assert ("flood" if allowed else "10 failed attempts") in str(figures.ban.get("reason")), figures.ban
        assert float(figures.ban["seconds_from_first_packet_to_ban"]) < 1.0  # type: ignore[arg-type]
        assert int(figures.ban["dropped_packets"]) > 15_000  # type: ignore[call-overload]
        assert figures.failed_calls_during_flood == 0 and len(figures.setup_flood_ms) >= 10
        assert figures.rss_peak_kb - figures.rss_baseline_kb < 20 * 1024
        assert figures.rss_after_kb - figures.rss_baseline_kb < 8 * 1024
        assert daemon.alive()


def read(path: Path):  # type: ignore[no-untyped-def]
    from tests.harness.audio import read_wav

    return read_wav(path)


def kept_bans(daemon: Daemon) -> str:
    """The bans as the daemon keeps them in its database (read-only, beside the running daemon)."""
    db = sqlite3.connect(f"file:{daemon.data_dir / 'zentrale.db'}?mode=ro", uri=True, timeout=5)
    try:
        row = db.execute("SELECT value FROM settings WHERE key = 'sip.bans'").fetchone()
    finally:
        db.close()
    return str(row[0]) if row else ""


def test_a_ban_outlives_a_restart_and_an_admins_lift_is_kept_too(tmp_path: Path) -> None:
    """A scanner banned before a restart (or a crash) is still banned after it, for the
    rest of its time; a ban an admin lifted stays lifted."""
    from tests.harness.daemon import start_daemon
    from tests.harness.sip_client import request

    scanner = "127.0.0.77"
    config = {"sip": {"security": {"max_failures": 3, "ban_seconds": 600}}}
    daemon = start_daemon(tmp_path / "box", config=config)
    try:
        target = ("127.0.0.1", daemon.sip_port)
        for _ in range(3):
            answer = request("REGISTER", "100", target, scanner)
            assert answer is not None and answer.status == 405
        assert request("OPTIONS", "100", target, scanner, timeout=1.0) is None  # banned: dropped unread
        wait_until(lambda: scanner in kept_bans(daemon), 10, "the ban kept in the database")  # ~2 s after a change
        daemon.kill9()  # not even a clean stop
    finally:
        daemon.stop()
    daemon = start_daemon(tmp_path / "box", config=config, data_dir=daemon.data_dir)
    try:
        target = ("127.0.0.1", daemon.sip_port)
        assert request("OPTIONS", "100", target, scanner, timeout=1.0) is None
        answer = request("OPTIONS", "100", target, "127.0.0.78")
        assert answer is not None and answer.status == 200  # everyone else is served
        (ban,) = daemon.http.get("/api/security/bans").json()["bans"]
        assert ban["address"] == scanner and "REGISTER" in ban["reason"] and 550 < ban["seconds_left"] <= 600
        assert daemon.http.delete(f"/api/security/bans/{scanner}").status_code == 200
        answer = request("OPTIONS", "100", target, scanner)
        assert answer is not None and answer.status == 200
    finally:
        daemon.stop()  # a clean stop writes the bans as well
    daemon = start_daemon(tmp_path / "box", config=config, data_dir=daemon.data_dir)
    try:
        answer = request("OPTIONS", "100", ("127.0.0.1", daemon.sip_port), scanner)
        assert answer is not None and answer.status == 200
        assert daemon.http.get("/api/security/bans").json()["bans"] == []
    finally:
        daemon.stop()
