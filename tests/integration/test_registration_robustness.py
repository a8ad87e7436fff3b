"""The registration follows the registrar (issue 13): the granted expiry, 423 Interval Too
Brief, and a PBX restarted without our contact. Kamailio is the PBX."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.audio import best_correlation, read_wav
from tests.harness.daemon import DEMO, Daemon, running_daemon
from tests.harness.kamailio import Kamailio, running_kamailio
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def registration(box: Daemon) -> dict[str, Any]:
    return dict(box.status()["lines"][0]["registration"])


def registers(pbx: Kamailio) -> int:
    return pbx.log().count("register sip:620@")


def test_the_box_refreshes_at_the_expiry_the_registrar_grants(tmp_path: Path) -> None:
    """Before, it refreshed at 0.8 x the configured 300 s although the PBX granted 10 s:
    unreachable for most of the time."""
    with running_kamailio(tmp_path / "kam", max_expires=10) as pbx:
        sip = {"registration": {"registrar": pbx.host, "user": "620", "password": "secret", "expires": 300}}
        with running_daemon(tmp_path / "box", config={"sip": sip}) as box:
            wait_until(lambda: registration(box)["registered"], 10, "the registration")
            assert registration(box)["granted_expires"] == 10
            first = registers(pbx)
            wait_until(lambda: registers(pbx) >= first + 2, 15, "two refreshes within the granted 10 s each")


def test_423_interval_too_brief_is_answered_with_the_registrars_min_expires(tmp_path: Path) -> None:
    """Before, a 423 was a plain failure, retried with the same expiry for ever."""
    with running_kamailio(tmp_path / "kam", min_expires=600) as pbx:
        sip = {"registration": {"registrar": pbx.host, "user": "620", "password": "secret", "expires": 120}}
        with running_daemon(tmp_path / "box", config={"sip": sip}) as box:
            wait_until(lambda: registration(box)["registered"], 10, "the registration")
            assert registration(box)["granted_expires"] == 600
            assert "expires 600" in pbx.log()


def test_a_pbx_restarted_without_our_contact_reaches_the_box_again_within_seconds(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """A PBX that loses its contacts (a restart) left the box unreachable for up to
    0.8 x expiry. Now the binding is queried between refreshes and registered again."""
    sip = {"allowed_peers": ["192.0.2.0/24"]}
    with running_kamailio(tmp_path / "kam1") as pbx:
        port = pbx.port
        reg = {"registrar": pbx.host, "user": "620", "password": "secret", "expires": 3600, "keepalive": 1}
        box_cm = running_daemon(tmp_path / "box", config={"sip": {**sip, "registration": reg}})
        box = box_cm.__enter__()
        try:
            wait_until(lambda: registration(box)["registered"], 10, "the registration")
        except BaseException:
            box_cm.__exit__(None, None, None)
            raise
    try:
        with running_kamailio(tmp_path / "kam2", port=port) as again:  # same address, no contacts
            wait_until(lambda: registers(again) >= 1, 15, "the box registering with the restarted PBX")
            assert registration(box)["reregistrations"] >= 1
            caller = sip_phones(name="ext201", bind_ip="127.0.0.3", register=f"sip:{again.host}", user="201",
                                password="secret", domain="127.0.0.1")  # fmt: skip
            caller.wait_event("registered", ok=True, timeout=10)
            rx = tmp_path / "rx.wav"
            call = caller.call(f"sip:620@{again.host}", record=rx)
            caller.wait_event("media_active", call=call, timeout=10)
            time.sleep(3.0)
            caller.hangup(call)
            caller.wait_event("recording_done", call=call, timeout=5)
            x, rate = read_wav(rx)
            score, _ = best_correlation(x, DEMO / "prompts" / "greeting.wav", rate)
            assert score > 0.6
    finally:
        box_cm.__exit__(None, None, None)
