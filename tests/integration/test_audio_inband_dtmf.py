"""In-band DTMF over real SIP: a pjsua2 caller whose SDP offers no telephone-event
(a gateway that sends keys only as tones in the audio) walks the demo's main
menu by playing DTMF tones into the call; the box hears them with its Q.24
detector. Before that the caller "talks" (the demo's music and a prompt, into
the call): no key may come of it."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.harness.audio import read_wav, write_wav
from tests.harness.daemon import DEMO, Daemon, running_daemon
from tests.harness.modes import demo_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers

# ITU-T Q.23: the row and column frequencies of each key
KEYS = {"2": (697, 1336), "9": (852, 1477)}


def dtmf_wav(path: Path, key: str, rate: int = 8000) -> Path:
    """One key press as a gateway sends it: 100 ms of the two tones at -10 dBFS each, then silence."""
    low, high = KEYS[key]
    t = np.arange(int(0.1 * rate)) / rate
    amplitude = 10 ** (-10 / 20)
    tone = amplitude * (np.sin(2 * np.pi * low * t) + np.sin(2 * np.pi * high * t))
    write_wav(path, np.concatenate((np.zeros(rate // 10), tone, np.zeros(rate // 2))), rate)
    return path


def seconds(wav: Path) -> float:
    x, rate = read_wav(wav)
    return len(x) / rate


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("inband"), mode=demo_mode()) as d:
        yield d


def digits_of(daemon: Daemon, call_id: str) -> list[str]:
    return re.findall(rf"call {re.escape(call_id)}: digit (\S)", daemon.log())


@pytest.mark.parametrize("codec", ["PCMU", "G722"])
def test_a_caller_without_telephone_event_walks_the_menu_with_tones_and_talking_presses_no_key(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, codec: str
) -> None:
    caller = sip_phones(name=f"gateway-{codec}", codecs=codec, no_telephone_event=True)
    call = caller.call(daemon.uri)
    offer = caller.wait_event("local_sdp", call=call, timeout=5)["sdp"]
    assert "telephone-event" not in offer.lower() and "m=audio" in offer
    caller.wait_event("media_active", call=call, timeout=5)
    call_id = wait_until(lambda: daemon.http.get("/api/calls").json(), 5, "the call")[0]["call_id"]
    # talking through the greeting: music, then a prompt with speech, into the call
    for talk in (DEMO / "music" / "music_a.wav", DEMO / "prompts" / "hold_notice.wav"):
        caller.play(call, talk)
        time.sleep(min(seconds(talk), 4.0))
    caller.play(call, None)
    assert digits_of(daemon, call_id) == []
    # the menu: a key it does not know, then 2 (SAP)
    node = lambda: daemon.http.get("/api/calls").json()[0]["node"]  # noqa: E731
    wait_until(lambda: node() == "main_menu", 15, "the main menu")
    caller.play(call, dtmf_wav(tmp_path / "9.wav", "9"))
    wait_until(lambda: digits_of(daemon, call_id) == ["9"], 5, "the 9")
    # the menu says the choice is invalid (a key meanwhile would only cut that short), then offers itself again
    time.sleep(seconds(DEMO / "prompts" / "invalid_choice.wav") + 1.0)
    caller.play(call, dtmf_wav(tmp_path / "2.wav", "2"))
    queued = wait_until(lambda: daemon.http.get("/api/queues").json(), 8, "the call in SAP's queue")
    assert [q["team"] for q in queued] == ["sap"]
    assert digits_of(daemon, call_id) == ["9", "2"]
    assert "in-band DTMF 9" in daemon.log() and "in-band DTMF 2" in daemon.log()
    caller.hangup(call)
    wait_until(lambda: not daemon.http.get("/api/calls").json(), 5, "the call to end")
    assert "Traceback" not in daemon.log()
