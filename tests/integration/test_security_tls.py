"""SIP over TLS with SRTP: a pjsua2 caller over TLS offering RTP/SAVP (SDES)
hears the box's prompt and leaves a message with its tone (audio both ways,
encrypted); toward an agent on a sips: URI the box verifies the certificate."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.audio_check import make_tone_wav, read_wav, tone_level
from tests.daemon import Daemon, free_port, running_daemon
from tests.integration.test_hotline_call import PROMPTS, fast_mode, heard, prompt_seconds, wait_until
from tests.peers.phone import Phone
from tests.tls_certs import Leaf, make_ca, make_leaf

pytestmark = pytest.mark.peers
TEAMS = [
    {"id": team, "name": team.upper(), "distribution": "pull", "ring_timeout": 6, "wrap_up": 0}
    for team in ("lvs", "sap", "pc")
]


@dataclass
class Pki:
    ca: Path
    box: Leaf
    agent: Leaf
    rogue: Leaf  # signed by a CA the box does not know


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca = make_ca(folder)
    rogue_ca = make_ca(folder, "rogue-ca")
    return Pki(ca, make_leaf(folder, ca, "box"), make_leaf(folder, ca, "agent"), make_leaf(folder, rogue_ca, "rogue"))


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[Daemon]:
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    tls = {"port": free_port(), "certificate": str(pki.box.cert), "key": str(pki.box.key), "ca_file": str(pki.ca)}
    config = {"sip": {"tls": tls}, "teams": TEAMS}
    with running_daemon(tmp_path_factory.mktemp("tls"), mode=mode, config=config) as d:
        yield d


def tls_uri(daemon: Daemon) -> str:
    return f"sips:100@127.0.0.1:{daemon.status()['lines'][0]['tls_port']}"


def test_a_tls_caller_with_srtp_hears_the_prompt_and_its_voice_reaches_the_message(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, pki: Pki
) -> None:
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 700, 3.0, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="tls-caller", transport="tls", tls_ca=str(pki.ca), tls_verify=True, srtp="mandatory",
                        codecs="PCMA")  # fmt: skip
    rx = tmp_path / "rx.wav"
    call = caller.call(tls_uri(daemon), record=rx)
    caller.wait_event("media_active", call=call, timeout=5)
    info = wait_until(lambda: daemon.http.get("/api/calls").json(), 5, "the call")[0]
    assert info["transport"] == "tls" and info["srtp"] is True, info
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "1")  # the digit travels in SRTP too (RFC 4733 events)
    wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue lvs")
    time.sleep(2.0)
    caller.hangup(call)
    caller.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav") > 0.6  # box -> caller, decrypted by the caller

    # caller -> box: straight to the message, the caller's tone is in it
    vm_mode = fast_mode()
    vm_mode["start"] = "voicemail_lvs"
    vm_mode["nodes"]["voicemail_lvs"]["prompt"] = "goodbye"
    vm_mode["nodes"]["voicemail_lvs"]["silence_seconds"] = 2
    daemon.http.put("/api/modes/hotline", json=vm_mode)
    call = caller.call(tls_uri(daemon))
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("goodbye") + 0.8)
    caller.play(call, tone)
    time.sleep(3.0)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, timeout=15)
    message = wait_until(lambda: daemon.http.get("/api/messages").json(), 5, "the message")[0]
    wav = tmp_path / "m.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
    y, yrate = read_wav(wav)
    assert tone_level(y, yrate, 700) > 0.6


def test_toward_a_sips_agent_the_box_verifies_the_certificate(
    daemon: Daemon, sip_phones: Callable[..., Phone], pki: Pki
) -> None:
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    daemon.http.put("/api/modes/hotline", json=mode)
    daemon.http.put("/api/agents/tina", json={"name": "Tina", "teams": ["lvs"]})
    results = {}
    for name, leaf in (("trusted", pki.agent), ("rogue", pki.rogue)):
        agent = sip_phones(name=f"agent-{name}", transport="tls", tls_cert=str(leaf.cert), tls_key=str(leaf.key),
                           auto_answer="200", srtp="none")  # fmt: skip
        r = daemon.http.post("/api/agents/tina/login", json={"number": f"sips:tina@127.0.0.1:{agent.sip_port}"})
        assert r.status_code == 200, r.text
        caller = sip_phones(name=f"caller-{name}")
        call = caller.call(daemon.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, "1")
        entry = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
        r = daemon.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "tina", "wait": True},
                             timeout=30)  # fmt: skip
        results[name] = (r.json().get("result"), bool(agent.find_events("incoming")))
        if name == "trusted":  # the dialog runs on over TLS: our ACK confirms it, our BYE ends it
            agent.wait_event("state", state="confirmed", timeout=5)
        caller.hangup(call)
        if name == "trusted":
            agent.wait_event("disconnected", timeout=5)
        daemon.http.post("/api/agents/tina/logout")
        agent.stop()
    assert results["trusted"] == ("answered", True), results
    assert results["rogue"][1] is False, results  # no INVITE ever reached the impostor
    assert results["rogue"][0] != "answered"
    assert "certificate verify failed" in daemon.log()
