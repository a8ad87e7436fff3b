"""Digest authentication of INVITEs from a trunk without a fixed address
(``sip.inbound_auth``): the right credentials get the call in from outside
``allowed_peers``; wrong ones are failures, and svcrack trying passwords is
banned after ``max_failures`` without finding any."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.audio import PROMPTS, heard, read_wav
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers import SIPVICIOUS_BOUND
from tests.harness.peers.phone import Phone
from tests.harness.sip_client import request
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
BOUND = SIPVICIOUS_BOUND  # run by path under the system Python
CONFIG = {
    "sip": {
        "numbers": ["100"],
        "allowed_peers": ["127.0.0.1/32"],
        "inbound_auth": {"user": "trunk", "password": "trunk-secret"},
        "security": {"max_failures": 10},
    }
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("auth"), mode=fast_mode(), config=CONFIG) as d:
        yield d


def test_a_trunk_with_the_right_credentials_calls_in_from_outside_the_allowed_networks(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    trunk = sip_phones(name="trunk", bind_ip="127.0.0.9", user="trunk", password="trunk-secret")
    rx = tmp_path / "rx.wav"
    call = trunk.call(f"sip:100@127.0.0.1:{daemon.sip_port}", record=rx)
    trunk.wait_event("media_active", call=call, timeout=5)
    time.sleep(3.0)
    trunk.hangup(call)  # the BYE from outside allowed_peers belongs to its own call: accepted
    trunk.wait_event("recording_done", call=call, timeout=5)
    wait_until(lambda: daemon.http.get("/api/calls").json() == [], 5, "the call to end")
    x, rate = read_wav(rx)
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav", length=2.5) > 0.6
    assert "127.0.0.9" not in {b["address"] for b in daemon.http.get("/api/security/bans").json()["bans"]}


def test_a_wrong_password_gets_no_call_and_counts_as_a_failure(
    daemon: Daemon, sip_phones: Callable[..., Phone]
) -> None:
    impostor = sip_phones(name="impostor", bind_ip="127.0.0.10", user="trunk", password="guessed-wrong")
    call = impostor.call(f"sip:100@127.0.0.1:{daemon.sip_port}")
    ended = impostor.wait_event("disconnected", call=call, timeout=10)
    assert ended["code"] in (401, 403, 407), ended
    assert "bad authentication of INVITE from 127.0.0.10" in daemon.log()


def test_known_and_unknown_numbers_get_the_same_challenge(daemon: Daemon) -> None:
    shapes = set()
    for user in ("100", "999"):
        answer = request("INVITE", user, ("127.0.0.1", daemon.sip_port), "127.0.0.11", sdp=True)
        assert answer is not None and answer.status == 401
        shapes.add(answer.shape())
    assert len(shapes) == 1


def test_svcrack_guessing_the_trunk_password_is_banned_and_finds_nothing(daemon: Daemon) -> None:
    scanner = "127.0.0.3"
    out = subprocess.run(
        ["/usr/bin/python3", str(BOUND), "svcrack", scanner, "-m", "INVITE", "-u", "trunk", "-r", "1000-1999",
         "-p", str(daemon.sip_port), "--maximumtime", "5", "127.0.0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, check=False,
    ).stdout  # fmt: skip
    print(out[-600:])
    bans = {b["address"]: b for b in daemon.http.get("/api/security/bans").json()["bans"]}
    assert scanner in bans, bans
    assert str(bans[scanner]["reason"]).endswith("the last: bad authentication")
    assert "password for" not in out and "found nothing" in out
    print(bans[scanner])
