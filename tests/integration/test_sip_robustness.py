"""The SIP core cannot be knocked over (issue 13): each fault once reproduced against the
box, now a behaviour that holds against the real daemon."""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.audio import PROMPTS, heard, read_wav
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.sip_client import request as sip_request
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def sip_line(daemon: Daemon) -> dict[str, Any]:
    return dict(daemon.status()["lines"][0])


def no_tracebacks(daemon: Daemon) -> None:
    log = daemon.log()
    assert "Traceback" not in log, log[-3000:]


def invite(host: str, port: int, source: str, src_port: int, *, from_uri: str, sdp: str = "") -> bytes:
    body = sdp.encode()
    return (
        f"INVITE sip:100@{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {source}:{src_port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <{from_uri}>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:100@{host}>\r\n"
        f"Call-ID: {secrets.token_hex(10)}\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Contact: <sip:x@{source}:{src_port}>\r\n"
        + ("Content-Type: application/sdp\r\n" if body else "")
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def offer(port: str = "40000", conn: str = "IN IP4 127.0.0.5") -> str:
    return (
        "v=0\r\no=- 1 1 IN IP4 127.0.0.5\r\ns=-\r\n"
        f"c={conn}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )


def caller_hears_the_greeting(daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, name: str) -> None:
    phone = sip_phones(name=name, codecs="PCMU", bind_ip="127.0.0.1")
    rx = tmp_path / f"{name}.wav"
    call = phone.call(daemon.uri, record=rx)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(3.0)
    phone.hangup(call)
    phone.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    score = heard(x, rate, 0.0, PROMPTS / "greeting.wav", length=2.0)
    assert score > 0.6, f"{name}: greeting correlation {score:.2f}"


@pytest.mark.heavy  # ~2,000 requests/s: the heavy lane (tests/conftest.py)
def test_a_flood_of_invites_with_broken_from_hosts_leaves_the_box_serving_others(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """Fault 1: 4,200 INVITEs whose From host the box could never answer to, from one source
    that is even trusted (never rate-limited or banned, the worst case). Before, each left a
    transaction in Proceeding for ever and the table filled: 503 for everybody."""
    config = {"sip": {"security": {"trusted": ["127.0.0.5/32"]}}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        baseline = sip_line(daemon)["transactions"]
        target = ("127.0.0.1", daemon.sip_port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.5", 0))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            port = s.getsockname()[1]
            sent = 0
            for n in range(4200):
                bad = "sip:x@127.0.0.5:3{16~" if n % 2 else "sip:x@127.0.\x005"
                s.sendto(invite("127.0.0.1", daemon.sip_port, "127.0.0.5", port, from_uri=bad), target)
                sent += 1
                if n % 100 == 99:
                    time.sleep(0.05)  # ~2,000/s: no faster than the box reads (the kernel buffer would drop)
        answered = sip_request("OPTIONS", "100", target, "127.0.0.6")
        assert answered is not None and answered.status == 200
        caller_hears_the_greeting(daemon, sip_phones, tmp_path, "after-flood")
        wait_until(lambda: sip_line(daemon)["transactions"] <= baseline, 32, "the transaction table at baseline")
        line = sip_line(daemon)
        bad_requests = line["responses"].get("400", 0)
        print(f"sent {sent}, read by the box {line['messages_received']}, answered 400: {bad_requests}, "
              f"handler errors {line['handler_errors']}")  # fmt: skip
        # every INVITE the box read was answered 400 (what the kernel dropped while the machine was
        # busy never reached it); the few others are the caller's and the probe's own messages
        assert 0 <= line["messages_received"] - bad_requests <= 20, line
        assert bad_requests >= 1000  # a flood all the same, also on a loaded machine
        assert line["handler_errors"] == 0
        no_tracebacks(daemon)


@pytest.mark.parametrize(
    ("sdp", "why"),
    [
        (offer(port="70000"), "port 70000"),
        (offer(port="-1"), "negative port"),
        (offer(port="99999999999"), "huge port"),
        (offer(conn="IN IP4 127.0.\x005"), "NUL in the address"),
        (offer(conn="IN IP4 media.example.com"), "a host name"),
    ],
)
def test_an_offer_the_box_cannot_serve_gets_488_and_never_reaches_the_media_clock(
    tmp_path: Path, sdp: str, why: str
) -> None:
    """Fault 4: such offers were accepted; every 20 ms tick raised and stalled all audio."""
    with running_daemon(tmp_path / "box", mode=fast_mode()) as daemon:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.5", 0))
            s.settimeout(3)
            port = s.getsockname()[1]
            s.sendto(invite("127.0.0.1", daemon.sip_port, "127.0.0.5", port, from_uri="sip:x@127.0.0.5", sdp=sdp),
                     ("127.0.0.1", daemon.sip_port))  # fmt: skip
            statuses = []
            while not statuses or statuses[-1] < 200:
                data, _ = s.recvfrom(65536)
                statuses.append(int(data.split(b" ", 2)[1]))
        assert statuses[-1] == 488, (why, statuses)
        assert sip_line(daemon)["calls"] == 0
        assert daemon.status()["components"]["media_clock"]["state"] == "ok"
        no_tracebacks(daemon)


@pytest.mark.heavy  # two sources at their rate limit for seconds: the heavy lane (tests/conftest.py)
def test_two_busy_sources_under_their_rate_limit_never_get_503(tmp_path: Path) -> None:
    """Fault 8: answered transactions held live slots for 32 s, so two sources at 90
    OPTIONS/s (under the rate limit) made 21 % of everybody's requests get 503. The live
    table is made small here (256) so that a few seconds show what minutes did before."""
    config = {"sip": {"limits": {"transactions": 256}}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        target = ("127.0.0.1", daemon.sip_port)
        socks = []
        for source in ("127.0.0.7", "127.0.0.8"):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.bind((source, 0))
            s.setblocking(False)
            socks.append(s)
        statuses: dict[int, int] = {}
        sent = 0
        t0 = time.monotonic()
        try:
            while time.monotonic() - t0 < 6.0:
                for s in socks:
                    src, port = s.getsockname()
                    msg = (
                        f"OPTIONS sip:100@127.0.0.1:{daemon.sip_port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/UDP {src}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
                        f"From: <sip:p@{src}>;tag=t\r\nTo: <sip:100@127.0.0.1>\r\n"
                        f"Call-ID: {secrets.token_hex(8)}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
                        "Content-Length: 0\r\n\r\n"
                    ).encode()
                    s.sendto(msg, target)
                    sent += 1
                deadline = t0 + sent / 2 / 90.0  # 90 per second per source
                while time.monotonic() < deadline:
                    for s in socks:
                        try:
                            while True:
                                data = s.recv(65536)
                                code = int(data.split(b" ", 2)[1])
                                statuses[code] = statuses.get(code, 0) + 1
                        except BlockingIOError:
                            pass
                    time.sleep(0.002)
            time.sleep(0.5)
            for s in socks:
                try:
                    while True:
                        code = int(s.recv(65536).split(b" ", 2)[1])
                        statuses[code] = statuses.get(code, 0) + 1
                except BlockingIOError:
                    pass
        finally:
            for s in socks:
                s.close()
        print(f"sent {sent} OPTIONS from two sources in 6 s: answers {statuses}")
        assert sent > 256 * 3
        assert statuses.get(503, 0) == 0
        assert statuses.get(200, 0) >= sent * 0.99
        table = sip_line(daemon)["transaction_table"]
        assert table["completed"] > 256  # all answered ones kept for retransmissions, beyond the live table


def test_idle_tcp_connections_from_many_sources_cannot_lock_out_a_legitimate_tcp_peer(tmp_path: Path) -> None:
    """Fault 6: 16 addresses x 32 idle connections took every TCP slot for 600 s, and the
    legitimate peer that was refused got charged for it. Now the table is shared (8 per
    untrusted source), silent connections of untrusted sources close after a short idle
    time and count against their source, and when the table is full the connection silent
    for longest makes room."""
    config = {"sip": {"limits": {"tcp_connections": 64, "tcp_idle_seconds_untrusted": 4}}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        held: list[socket.socket] = []
        refused = 0
        try:
            for host in range(16):
                for _ in range(32):
                    c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    c.bind((f"127.0.1.{host + 1}", 0))
                    try:
                        c.connect(("127.0.0.1", daemon.sip_port))
                    except OSError:
                        refused += 1
                        c.close()
                        continue
                    held.append(c)
            time.sleep(0.3)
            tcp = sip_line(daemon)["tables"]["tcp_connections"]
            assert tcp["in_use"] <= 64
            # the legitimate peer, over TCP, while every slot is taken
            legit = socket.create_connection(("127.0.0.1", daemon.sip_port), source_address=("127.0.0.200", 0))
            try:
                port = legit.getsockname()[1]
                legit.sendall(
                    (
                        f"OPTIONS sip:100@127.0.0.1:{daemon.sip_port} SIP/2.0\r\n"
                        f"Via: SIP/2.0/TCP 127.0.0.200:{port};branch=z9hG4bK{secrets.token_hex(8)}\r\n"
                        "From: <sip:legit@127.0.0.200>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
                        "Call-ID: legit-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
                    ).encode()
                )
                legit.settimeout(5)
                answer = legit.recv(65536)
            finally:
                legit.close()
            assert answer.startswith(b"SIP/2.0 200"), answer[:80]
            line = sip_line(daemon)
            assert line["tcp"]["evicted"] >= 1
            banned = {b["address"] for b in line["security"]["bans"]}
            assert "127.0.0.200" not in banned
            # the silent ones are closed after their idle time and charged to their sources
            wait_until(lambda: sip_line(daemon)["tcp"]["open"] == 0, 15, "idle connections closed")
            print(f"held {len(held)} of {16 * 32} (refused {refused}); {sip_line(daemon)['tcp']}")
        finally:
            for c in held:
                c.close()
        no_tracebacks(daemon)


def test_callers_who_hold_and_vanish_are_hung_up_within_two_probe_intervals(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """Fault 2: a caller who put the call on hold and vanished (no BYE, no RTP) was never
    hung up: 16 such calls sat in voicemail with empty .wav.part files. Now a held call is
    probed by in-dialog OPTIONS; no answer ends it."""
    interval = 5.0
    mode = fast_mode()
    mode["start"] = "voicemail_lvs"
    mode["nodes"]["voicemail_lvs"]["prompt"] = "goodbye"
    mode["nodes"]["voicemail_lvs"]["silence_seconds"] = 60
    config = {"sip": {"session_timers": {"hold_probe_interval": interval, "probe_timeout": 3}}}
    with running_daemon(tmp_path / "box", mode=mode, config=config) as daemon:
        pid = daemon.proc.pid
        fds_before = len(os.listdir(f"/proc/{pid}/fd"))
        phones = [sip_phones(name=f"vanish{i}", codecs="PCMU", bind_ip=f"127.0.2.{i + 1}") for i in range(5)]
        calls = []
        for phone in phones:
            for _ in range(4):
                call = phone.call(daemon.uri)
                phone.wait_event("media_active", call=call, timeout=10)
                calls.append((phone, call))
        wait_until(lambda: len(daemon.http.get("/api/calls").json()) == 20, 15, "20 calls")
        for phone, call in calls:
            phone.hold(call)
        wait_until(
            lambda: (
                sum(1 for c in sip_line(daemon).get("held", [])) == 20
                or all(c.get("on_hold") for c in daemon.http.get("/api/calls").json() if "on_hold" in c)
            ),
            10,
            "every call on hold",
        )
        time.sleep(1.0)
        for phone in phones:
            phone.kill()  # vanish: no BYE, no RTP, no answer to anything
        gone_at = time.monotonic()
        wait_until(lambda: sip_line(daemon)["calls"] == 0, 2 * interval + 5, "every vanished call ended")
        took = time.monotonic() - gone_at
        print(f"20 held callers vanished; all ended after {took:.1f} s (probe interval {interval:.0f} s)")
        assert took <= 2 * interval
        wait_until(lambda: not list((daemon.data_dir / "spool").glob("*.part")), 10, "no part files left")
        wait_until(lambda: len(os.listdir(f"/proc/{pid}/fd")) <= fds_before + 2, 10, "file descriptors back")
        assert daemon.http.get("/api/calls").json() == []
        no_tracebacks(daemon)
