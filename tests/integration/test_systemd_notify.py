"""The real daemon against a fake systemd: a datagram socket named by $NOTIFY_SOCKET.

READY=1 comes only once SIP answers (and only once the box is registered,
where a registration is configured); WATCHDOG=1 comes at half of
$WATCHDOG_USEC while the loop and the media clock are healthy, and stops when
either stalls, so the real systemd would restart the service.

The stalls are real, not mocked: the media clock is stopped inside the
running daemon (SIGUSR2, which the daemon only listens to with
ZENTRALE_FAULT_INJECTION=1) while its loop keeps serving HTTP, which is what
a tick chain that died would look like; and the whole process is frozen with
SIGSTOP, which is what a loop blocked by a synchronous call looks like from
outside: nothing of ours runs, so nothing may ping.
"""

from __future__ import annotations

import itertools
import os
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, free_port, start_daemon
from tests.harness.notify_socket import NotifySocket, notify_socket
from tests.harness.sip_probe import options

WATCHDOG_S = 1.0  # systemd's WatchdogSec in these tests: pings every 0.5 s


@pytest.fixture
def fake_systemd() -> Iterator[NotifySocket]:
    with notify_socket() as fake:
        yield fake


def test_ready_only_when_sip_answers_then_watchdog_pings_at_half_the_timeout(
    tmp_path: Path, fake_systemd: NotifySocket
) -> None:
    daemon = start_daemon(tmp_path, env=fake_systemd.env(WATCHDOG_S))
    try:
        ready = fake_systemd.wait_for("READY", "1")
        assert options("127.0.0.1", daemon.sip_port) == "SIP/2.0 200 OK"
        assert ready.fields["STATUS"].startswith("ok: mode 'hotline'")
        assert ready.fields["MAINPID"] == str(daemon.proc.pid)
        time.sleep(3.2)
        pings = fake_systemd.pings(since=ready.at)
        gaps = [b - a for a, b in itertools.pairwise(pings)]
        assert len(pings) >= 5
        assert 0.4 < statistics.mean(gaps) < 0.6
        assert max(gaps) < 0.9 * WATCHDOG_S  # never reaches the timeout, even on a busy machine
        print(f"watchdog: {len(gaps)} gaps, mean {statistics.mean(gaps) * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms")
        assert daemon.status()["overall"] == "ok"
    finally:
        code = daemon.stop()
    stopping = fake_systemd.wait_for("STOPPING", "1", timeout=2)
    assert stopping.at > ready.at
    assert code == 0


def test_ready_waits_for_the_registration(tmp_path: Path, fake_systemd: NotifySocket) -> None:
    registrar = FakeRegistrar(answer_after=3.0)
    try:
        config = {"sip": {"registration": {"registrar": f"127.0.0.1:{registrar.port}", "user": "620"}}}
        daemon = start_daemon(tmp_path, config=config, env=fake_systemd.env(WATCHDOG_S))
        try:
            time.sleep(1.5)
            assert registrar.requests, "the daemon should be trying to register"
            assert fake_systemd.with_field("READY") == []
            assert options("127.0.0.1", daemon.sip_port) == "SIP/2.0 200 OK"  # listening, but not ready
            status = daemon.status()
            assert status["components"]["sip_registration"]["state"] == "fault"
            assert status["overall"] == "fault"
            ready = fake_systemd.wait_for("READY", "1", timeout=15)
            assert registrar.answered_at is not None
            assert ready.at >= registrar.answered_at
            assert daemon.status()["components"]["sip_registration"]["state"] == "ok"
        finally:
            daemon.stop()
    finally:
        registrar.close()


def test_ready_after_the_registration_wait_when_the_pbx_is_down(tmp_path: Path, fake_systemd: NotifySocket) -> None:
    silent = free_port()  # nobody answers there
    config = {
        "sip": {"registration": {"registrar": f"127.0.0.1:{silent}", "user": "620"}},
        "service": {"registration_wait": 1.5},
    }
    daemon = start_daemon(tmp_path, config=config, env=fake_systemd.env(WATCHDOG_S))
    try:
        ready = fake_systemd.wait_for("READY", "1", timeout=10)
        assert ready.fields["STATUS"].startswith("fault:")
        assert "not registered" in ready.fields["STATUS"]
        # a PBX that is down is no reason for systemd to restart us: the watchdog is fed
        fake_systemd.wait_for("WATCHDOG", "1", timeout=2)
    finally:
        daemon.stop()


def _gaps_in(pings: list[float], start: float, end: float) -> float:
    """The longest stretch without a ping between start and end."""
    marks = [start, *[p for p in pings if start <= p <= end], end]
    return max(b - a for a, b in itertools.pairwise(marks))


def test_watchdog_stops_while_the_media_clock_or_the_process_stalls(tmp_path: Path, fake_systemd: NotifySocket) -> None:
    env = {**fake_systemd.env(WATCHDOG_S), "ZENTRALE_FAULT_INJECTION": "1"}
    daemon = start_daemon(tmp_path, env=env)
    try:
        fake_systemd.wait_for("READY", "1")
        time.sleep(1.2)
        _media_clock_stall(daemon, fake_systemd)
        _process_freeze(daemon, fake_systemd)
    finally:
        daemon.stop()


def _media_clock_stall(daemon: Daemon, fake_systemd: NotifySocket) -> None:
    stalled_at = time.monotonic()
    daemon.proc.send_signal(signal.SIGUSR2)  # the daemon stops its media clock, the loop runs on
    time.sleep(3.5)
    # the clock counts as stalled one second after its last tick; one ping may still fall before that
    # (0.6 s of slack for a busy machine: the window without pings is still over three intervals)
    late = fake_systemd.pings(since=stalled_at + 1.0 + 0.6)
    assert late == [], "the watchdog was fed while the media clock stood still"
    status = daemon.status()  # the loop itself still answers
    assert status["components"]["media_clock"]["state"] == "fault"
    assert status["overall"] == "fault"
    assert any("media clock stalled" in n.fields.get("STATUS", "") for n in fake_systemd.messages())
    assert "withholding the ping" in daemon.log()
    restarted = time.monotonic()
    daemon.proc.send_signal(signal.SIGUSR2)
    time.sleep(1.5)
    resumed = fake_systemd.pings(since=restarted)
    assert resumed
    assert resumed[0] - restarted < 1.0  # within one ping interval (+ slack)
    assert daemon.status()["components"]["media_clock"]["state"] == "ok"


def _process_freeze(daemon: Daemon, fake_systemd: NotifySocket) -> None:
    before = time.monotonic()
    os.kill(daemon.proc.pid, signal.SIGSTOP)
    time.sleep(2.5)
    stopped_for = time.monotonic() - before
    os.kill(daemon.proc.pid, signal.SIGCONT)
    time.sleep(1.5)
    gap = _gaps_in(fake_systemd.pings(), before, time.monotonic())
    assert gap >= stopped_for - 0.05, f"pings went on while the process was frozen (longest gap {gap:.2f} s)"
    assert fake_systemd.pings(since=before + stopped_for), "pings did not resume after SIGCONT"
    assert daemon.status()["overall"] == "ok"


class FakeRegistrar:
    """Just enough registrar: records REGISTERs, answers 200 OK ``answer_after`` seconds after the first."""

    def __init__(self, answer_after: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.first: float | None = None
        self.answer_after = answer_after
        self.requests: list[str] = []
        self.answered_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            text = data.decode("utf-8", "replace")
            if not text.startswith("REGISTER "):
                continue
            self.requests.append(text)
            self.first = self.first or time.monotonic()
            if time.monotonic() - self.first < self.answer_after:
                continue  # the PBX is still booting: the client retransmits (RFC 3261 §17.1.2.2)
            head = text.split("\r\n\r\n", 1)[0].split("\r\n")[1:]
            copied = [h for h in head if h.split(":", 1)[0].strip().lower() in ("via", "from", "call-id", "cseq")]
            to = next(h for h in head if h.lower().startswith("to:"))
            contact = next(h for h in head if h.lower().startswith("contact:"))
            response = "\r\n".join(["SIP/2.0 200 OK", *copied, f"{to};tag=fake", contact, "Content-Length: 0", "", ""])
            self.sock.sendto(response.encode(), addr)
            if self.answered_at is None:
                self.answered_at = time.monotonic()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
