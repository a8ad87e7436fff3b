"""The customer's example over real SIP: a pjsua2 phone in its own process
calls the running daemon; what the caller hears is recorded and compared
with the shipped prompts; the message left is checked for the caller's tone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.audio_check import best_correlation, make_tone_wav, read_wav, tone_level
from tests.daemon import DEMO, Daemon, demo_mode, running_daemon
from tests.peers.phone import Phone

pytestmark = pytest.mark.peers
PROMPTS = DEMO / "prompts"
MUSIC = DEMO / "music"


def fast_mode() -> dict[str, Any]:
    """The demo mode with short waits, so a test walks it in seconds."""
    mode = demo_mode()
    nodes = mode["nodes"]
    nodes["queue_lvs"]["hold"] = [
        {"announcement": "hold_notice"},
        {"music": "music_a", "seconds": 3},
        {"announcement": "hold_notice"},
        {"music": "music_a", "seconds": 4},
    ]
    nodes["queue_pc"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_c", "seconds": 4}]
    nodes["queue_pc"]["max_wait"] = 12  # the customer's 5 minutes, shortened by configuration
    for vm in ("voicemail_lvs", "voicemail_sap", "voicemail_pc"):
        nodes[vm]["silence_seconds"] = 2
    return mode


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("hotline"), mode=fast_mode()) as d:
        yield d


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def heard(recording: np.ndarray, rate: int, around: float, prompt: Path, length: float | None = None) -> float:
    """How well the prompt (or its first ``length`` seconds) is found near ``around`` seconds."""
    ref, ref_rate = read_wav(prompt)
    if length is not None:
        ref = ref[: int(length * ref_rate)]
    seconds = len(ref) / ref_rate
    window = recording[int(max(0.0, around - 1.5) * rate) : int((around + seconds + 1.5) * rate)]
    score, _ = best_correlation(window, ref, rate, reference_rate=ref_rate)
    return score


def prompt_seconds(name: str) -> float:
    x, rate = read_wav(PROMPTS / f"{name}.wav")
    return len(x) / rate


def test_branch_1_greeting_menu_hold_sequence_and_message_with_the_callers_tone(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 600, 3.0, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="caller", codecs="PCMU")
    rx = tmp_path / "caller-rx.wav"
    call = caller.call(daemon.uri, record=rx)
    caller.wait_event("media_active", call=call, timeout=5)
    t0 = time.monotonic()
    # press 1 during the main menu
    time.sleep(prompt_seconds("greeting") + 2.0)
    caller.dtmf(call, "1")
    wait_until(lambda: daemon.http.get("/api/queues").json(), 5, "the call in the queue")
    queued = daemon.http.get("/api/queues").json()
    assert [(q["team"], q["position"]) for q in queued] == [("lvs", 1)]
    # hold notice 5.4 s + music 3 s + notice 5.4 s + music 4 s, then the offer to leave a message
    offer_starts = time.monotonic() + 2 * prompt_seconds("hold_notice") + 7
    time.sleep(max(0.0, offer_starts - time.monotonic()) + prompt_seconds("offer_message") + 0.8)
    caller.play(call, tone)  # speak (a 600 Hz tone) after the beep
    time.sleep(3.0)
    caller.play(call, None)  # then silence: the recorder ends after 2 s of it
    ended = caller.wait_event("disconnected", call=call, timeout=20)
    assert ended["code"] in (200, None) or ended["reason"]
    caller.wait_event("recording_done", call=call, timeout=5)
    total = time.monotonic() - t0

    x, rate = read_wav(rx)
    greeting = prompt_seconds("greeting")
    notice = prompt_seconds("hold_notice")
    digit_at = greeting + 2.0
    music_at = digit_at + notice
    second_notice = music_at + 3.0
    offer_at = second_notice + notice + 4.0
    offer_end = offer_at + prompt_seconds("offer_message")
    scores = {
        "greeting": heard(x, rate, 0.0, PROMPTS / "greeting.wav"),
        "main_menu": heard(x, rate, greeting, PROMPTS / "main_menu.wav", length=1.8),
        "hold_notice": heard(x, rate, digit_at, PROMPTS / "hold_notice.wav"),
        "music_a": heard(x, rate, music_at, MUSIC / "music_a.wav", length=2.5),
        "hold_notice_2": heard(x, rate, second_notice, PROMPTS / "hold_notice.wav"),
        "music_a_2": heard(x, rate, second_notice + notice, MUSIC / "music_a.wav", length=3.0),
        "offer_message": heard(x, rate, offer_at, PROMPTS / "offer_message.wav"),
    }
    print("correlations:", {k: round(v, 2) for k, v in scores.items()})
    assert all(v > 0.6 for v in scores.values()), scores
    beep = x[int((offer_end + 0.1) * rate) : int((offer_end + 0.9) * rate)]
    assert tone_level(beep, rate, 1000) > 0.3
    assert total < 60

    messages = wait_until(lambda: daemon.http.get("/api/messages", params={"team": "lvs"}).json(), 5, "the message")
    message = messages[0]
    assert message["caller"]
    assert message["team"] == "lvs"
    assert 2500 <= message["duration_ms"] <= 4500, message
    wav = tmp_path / "message.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
    y, yrate = read_wav(wav)
    assert tone_level(y, yrate, 600) > 0.6
    assert not daemon.http.get("/api/calls").json()
    assert not daemon.http.get("/api/queues").json()
