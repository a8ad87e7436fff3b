"""The box as an extension of the office PBX (Kamailio with digest auth)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.audio_check import best_correlation, read_wav
from tests.daemon import DEMO, running_daemon
from tests.kamailio import running_kamailio
from tests.peers.phone import Phone

pytestmark = pytest.mark.peers


def wait_for(fn: Callable[[], object], timeout: float) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    return fn()


def test_box_registers_with_digest_auth_and_answers_a_call_through_the_pbx(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    with running_kamailio(tmp_path / "kam") as pbx:
        registration = {"registrar": pbx.host, "user": "620", "password": "secret", "expires": 120}
        # the box only accepts calls from the PBX: loopback is not in its allowed networks
        sip = {"registration": registration, "allowed_peers": ["192.0.2.0/24"]}
        with running_daemon(tmp_path / "box", config={"sip": sip}) as box:
            reg = wait_for(lambda: box.status()["lines"][0]["registration"]["registered"], 10)
            assert reg, box.status()
            # the phone lives on another loopback address than the PBX, so the box can tell them apart
            caller = sip_phones(
                name="ext201", bind_ip="127.0.0.3", register=f"sip:{pbx.host}", user="201", password="secret",
                domain="127.0.0.1",
            )  # fmt: skip
            caller.wait_event("registered", ok=True, timeout=10)
            rx = tmp_path / "rx.wav"
            call = caller.call(f"sip:620@{pbx.host}", record=rx)
            caller.wait_event("media_active", call=call, timeout=10)
            time.sleep(3.5)
            caller.hangup(call)
            caller.wait_event("recording_done", call=call, timeout=5)
            x, rate = read_wav(rx)
            score, _ = best_correlation(x, DEMO / "prompts" / "greeting.wav", rate)
            assert score > 0.6
            # a direct call that bypasses the PBX is refused: the box is no open relay
            direct = caller.call(f"sip:620@127.0.0.1:{box.sip_port}")
            gone = caller.wait_event("disconnected", call=direct, timeout=10)
            assert gone["code"] == 403
            assert "route INVITE from sip:201@" in pbx.log()


def test_wrong_password_shows_on_status_and_the_box_keeps_trying(tmp_path: Path) -> None:
    with running_kamailio(tmp_path / "kam") as pbx:
        registration = {"registrar": pbx.host, "user": "620", "password": "wrong"}
        with running_daemon(tmp_path / "box", config={"sip": {"registration": registration}}) as box:
            state = wait_for(lambda: box.status()["lines"][0]["registration"]["last_status"], 10)
            reg = box.status()["lines"][0]["registration"]
            assert state == 401
            assert not reg["registered"]
            assert "401" in reg["last_error"]


def test_registration_through_an_outbound_proxy(tmp_path: Path) -> None:
    with running_kamailio(tmp_path / "kam") as proxy:
        # the registrar's name is never looked up: everything goes through the proxy
        registration = {
            "registrar": "pbx.office.invalid",
            "user": "620",
            "password": "secret",
            "outbound_proxy": proxy.host,
        }
        with running_daemon(tmp_path / "box", config={"sip": {"registration": registration}}) as box:
            reg = wait_for(lambda: box.status()["lines"][0]["registration"]["registered"], 10)
            assert reg, box.status()["lines"][0]["registration"]
