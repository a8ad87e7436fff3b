"""RFC 4475 torture messages over UDP and TCP: each gets the answer the RFC
asks for (or is dropped), and afterwards the daemon still serves a call.

Responses to UDP requests go where their Via says (RFC 3261 §18.2.2), not to
our socket, so for UDP the test reads the daemon's count of responses sent
per status code (/status) before and after each message. Over TCP the
answers come back on the connection and are read directly.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, running_daemon

DATA = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "rfc4475"
if not DATA.is_dir():
    DATA = Path("/work/shared/testdata/rfc4475")

# file -> status the RFC asks of a UA like ours (None: drop silently).
EXPECTED: dict[str, int | None] = {
    # valid messages (§3.1.1): parse and answer sensibly
    "valid/dblreq.dat": 405,  # REGISTER: not a registrar (UDP ignores the INVITE glued behind it)
    "valid/esc01.dat": 404,  # INVITE to a number this box does not serve
    "valid/esc02.dat": 501,  # RE%47IST%45R is an unknown method, not REGISTER
    "valid/escnull.dat": 405,
    "valid/intmeth.dat": 501,
    "valid/longreq.dat": 404,
    "valid/lwsdisp.dat": 200,
    "valid/mpart01.dat": 405,  # MESSAGE is not supported
    "valid/noreason.dat": None,  # a response without a transaction
    "valid/semiuri.dat": 200,
    "valid/transports.dat": 200,
    "valid/unreason.dat": None,
    "valid/wsinv.dat": 481,  # odd whitespace parses; To has a tag of no dialog here
    # invalid messages (§3.1.2, §3.2, §3.3)
    "invalid/badaspec.dat": 400,
    "invalid/badbranch.dat": 200,  # a branch of only the cookie: treat like any OPTIONS
    "invalid/baddate.dat": 404,  # a bad Date is ignored by a UA that does not use it
    "invalid/baddn.dat": 400,
    "invalid/badinv01.dat": 400,
    "invalid/badvers.dat": 505,
    "invalid/bcast.dat": None,
    "invalid/bext01.dat": 420,
    "invalid/bigcode.dat": None,
    "invalid/clerr.dat": 400,
    "invalid/cparam01.dat": 405,
    "invalid/cparam02.dat": 405,
    "invalid/escruri.dat": 400,
    "invalid/insuf.dat": 400,
    "invalid/inv2543.dat": 404,  # RFC 2543 request: answered for backward compatibility
    "invalid/invut.dat": 415,
    "invalid/ltgtruri.dat": 400,
    "invalid/lwsruri.dat": 400,
    "invalid/lwsstart.dat": 400,
    "invalid/mcl01.dat": 400,
    "invalid/mismatch01.dat": 400,
    "invalid/mismatch02.dat": 400,
    "invalid/multi01.dat": 400,
    "invalid/ncl.dat": 400,
    "invalid/novelsc.dat": 416,
    "invalid/quotbal.dat": 400,
    "invalid/regaut01.dat": 405,
    "invalid/regbadct.dat": 400,
    "invalid/regescrt.dat": 405,
    "invalid/scalar02.dat": 400,
    "invalid/scalarlg.dat": None,
    "invalid/sdp01.dat": 406,
    "invalid/trws.dat": 400,
    "invalid/unkscm.dat": 416,
    "invalid/unksm2.dat": 405,
    "invalid/zeromf.dat": 200,
}
# Over TCP a stream carries framing; these differ from UDP:
TCP_EXPECTED: dict[str, list[int]] = {
    "valid/dblreq.dat": [405, 404],  # both requests arrive on the stream
    "invalid/clerr.dat": [],  # the stream waits for 9999 body bytes that never come
    "invalid/baddn.dat": [],  # the file lacks the empty line ending the headers: incomplete on a stream
}
# Some files share branch, sent-by and method: they are the same transaction
# (RFC 3261 §17.2.3), and the later one is rightly taken for a retransmission.
# Each of these goes to a fresh daemon of its own.
SAME_TRANSACTION_AS = {"invalid/cparam02.dat": "invalid/cparam01.dat", "valid/escnull.dat": "invalid/regescrt.dat"}


# The torture messages come from the test itself, a trusted peer here: from anyone
# else their ~30 malformed messages would (rightly) get the source banned.
TORTURE_CONFIG = {"sip": {"numbers": ["100"], "security": {"trusted": ["127.0.0.1/32"]}}}


def test_every_torture_file_has_an_expectation() -> None:
    files = {f"{p.parent.name}/{p.name}" for p in DATA.glob("*/*.dat")}
    assert files == set(EXPECTED)


def _daemon(tmp_path_factory: pytest.TempPathFactory, name: str):  # type: ignore[no-untyped-def]
    # One daemon per transport: the same message over UDP and then TCP would be the
    # same transaction (same branch), rightly answered as a retransmission.
    with running_daemon(tmp_path_factory.mktemp(name), config=TORTURE_CONFIG) as d:
        yield d


@pytest.fixture(scope="module")
def udp_daemon(tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    yield from _daemon(tmp_path_factory, "rfc4475-udp")


@pytest.fixture(scope="module")
def tcp_daemon(tmp_path_factory: pytest.TempPathFactory) -> Daemon:
    yield from _daemon(tmp_path_factory, "rfc4475-tcp")


def _diff(before: dict[str, int], after: dict[str, int]) -> list[int]:
    out: list[int] = []
    for code, count in after.items():
        out += [int(code)] * (count - before.get(code, 0))
    return sorted(out)


def _wait_diff(daemon: Daemon, before: dict[str, int], expect_any: bool) -> list[int]:
    deadline = time.monotonic() + (1.0 if expect_any else 0.3)
    while True:
        got = _diff(before, daemon.responses_sent())
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.02)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_udp(udp_daemon: Daemon, name: str, tmp_path: Path) -> None:
    if name in SAME_TRANSACTION_AS:
        with running_daemon(tmp_path, config=TORTURE_CONFIG) as fresh:
            _check_udp(fresh, name)
    else:
        _check_udp(udp_daemon, name)


def _check_udp(daemon: Daemon, name: str) -> None:
    data = (DATA / name).read_bytes()
    before = daemon.responses_sent()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(data, ("127.0.0.1", daemon.sip_port))
    expected = EXPECTED[name]
    got = _wait_diff(daemon, before, expected is not None)
    assert got == ([] if expected is None else [expected]), daemon.log()[-2000:]
    assert daemon.alive()


def _read_statuses(sock: socket.socket, wanted: int) -> list[int]:
    sock.settimeout(0.5)
    buf = b""
    deadline = time.monotonic() + (1.5 if wanted else 0.5)
    while time.monotonic() < deadline and buf.count(b"SIP/2.0 ") < wanted + 1:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            if buf.count(b"SIP/2.0 ") >= wanted:
                break
            continue
        if not chunk:
            break
        buf += chunk
    return [int(line.split()[1]) for line in buf.split(b"\r\n") if line.startswith(b"SIP/2.0 ")]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tcp(tcp_daemon: Daemon, name: str, tmp_path: Path) -> None:
    if name in SAME_TRANSACTION_AS:
        with running_daemon(tmp_path, config=TORTURE_CONFIG) as fresh:
            _check_tcp(fresh, name)
    else:
        _check_tcp(tcp_daemon, name)


def _check_tcp(daemon: Daemon, name: str) -> None:
    data = (DATA / name).read_bytes()
    expected = TCP_EXPECTED.get(name, [] if EXPECTED[name] is None else [EXPECTED[name]])
    with socket.create_connection(("127.0.0.1", daemon.sip_port), timeout=2) as s:
        s.sendall(data)
        got = _read_statuses(s, len(expected))
    assert got == expected
    assert daemon.alive()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_still_answers_options_after_the_torture(udp_daemon: Daemon, tcp_daemon: Daemon, transport: str) -> None:
    daemon = udp_daemon if transport == "udp" else tcp_daemon
    msg = (
        f"OPTIONS sip:100@127.0.0.1:{daemon.sip_port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bK-after-torture;rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
        "Call-ID: after-torture\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(2)
        s.sendto(msg, ("127.0.0.1", daemon.sip_port))
        data, _ = s.recvfrom(65536)
    assert data.startswith(b"SIP/2.0 200 OK")
    assert b"Allow: INVITE" in data
