"""The customer's example over an analog line: the real daemon drives a
simulated V.253 voice modem (a pty in this test process) whose far end is
played by the test: caller ID, greeting and hold sequence heard (audio
correlation), digit 1, a message with the caller's tone; then the modem is
unplugged in the middle of a call and the driver recovers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.harness.audio import MUSIC, PROMPTS, heard, prompt_seconds, tone_level
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.waits import wait_until
from zentrale.lines.modem.simulator import ModemSimulator
from zentrale.media.dsp import tone


@pytest.fixture(scope="module")
def modem(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModemSimulator]:
    path = tmp_path_factory.mktemp("modem") / "ttyModem0"
    with ModemSimulator(path, model="usr5637", ring_interval=0.5) as sim:
        yield sim


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, modem: ModemSimulator) -> Iterator[Daemon]:
    config = {"modem": {"device": str(modem.path), "number": "0309999", "reopen_seconds": 0.3}}
    with running_daemon(tmp_path_factory.mktemp("hotline-modem"), mode=fast_mode(), config=config) as d:
        wait_until(lambda: modem_status(d)["state"] == "idle", 10, "the modem initialised")
        yield d


def modem_status(daemon: Daemon) -> dict[str, Any]:
    return next(line for line in daemon.status()["lines"] if line.get("type") == "modem")


def samples(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0


def test_analog_caller_hears_greeting_presses_1_waits_and_leaves_a_message(
    daemon: Daemon, modem: ModemSimulator
) -> None:
    modem.ring("0301234567", "Erika Mustermann")
    assert modem.wait_for("connected", 10), modem.info()
    t0 = time.monotonic()
    calls = wait_until(lambda: daemon.http.get("/api/calls").json(), 5, "the call")
    assert calls[0]["line"] == "modem"
    assert (calls[0]["caller"], calls[0]["caller_name"]) == ("0301234567", "Erika Mustermann")
    time.sleep(prompt_seconds("greeting") + 2.0)
    modem.press("1")
    queued = wait_until(lambda: daemon.http.get("/api/queues").json(), 5, "the call in the queue")
    assert [(q["team"], q["caller"]) for q in queued] == [("lvs", "0301234567")]
    offer_starts = time.monotonic() + 2 * prompt_seconds("hold_notice") + 7
    time.sleep(max(0.0, offer_starts - time.monotonic()) + prompt_seconds("offer_message") + 0.8)
    modem.say(tone(600, 3.0, 8000, level_dbfs=-12))  # the caller speaks after the beep, then is silent
    assert modem.wait_for("hung_up_by_box", 25), modem.info()

    x = samples(modem.heard())
    rate = 8000
    greeting = prompt_seconds("greeting")
    notice = prompt_seconds("hold_notice")
    digit_at = greeting + 2.0
    music_at = digit_at + notice
    second_notice = music_at + 3.0
    offer_at = second_notice + notice + 4.0
    scores = {
        "greeting": heard(x, rate, 0.0, PROMPTS / "greeting.wav"),
        "main_menu": heard(x, rate, greeting, PROMPTS / "main_menu.wav", length=1.8),
        "hold_notice": heard(x, rate, digit_at, PROMPTS / "hold_notice.wav"),
        "music_a": heard(x, rate, music_at, MUSIC / "music_a.wav", length=2.5),
        "hold_notice_2": heard(x, rate, second_notice, PROMPTS / "hold_notice.wav"),
        "offer_message": heard(x, rate, offer_at, PROMPTS / "offer_message.wav"),
    }
    print("correlations over the modem:", {k: round(v, 2) for k, v in scores.items()})
    assert all(v > 0.6 for v in scores.values()), scores
    assert time.monotonic() - t0 < 60

    messages = wait_until(lambda: daemon.http.get("/api/messages", params={"team": "lvs"}).json(), 5, "the message")
    message = messages[0]
    assert (message["caller"], message["caller_name"]) == ("0301234567", "Erika Mustermann")
    assert 2500 <= message["duration_ms"] <= 4500, message
    wav = Path(daemon.data_dir) / "check.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
    from tests.harness.audio import read_wav

    y, yrate = read_wav(wav)
    assert tone_level(y, yrate, 600) > 0.6
    log = daemon.http.get("/api/calllog").json()
    assert log[0]["caller"] == "0301234567"
    assert log[0]["line"] == "modem"
    wait_until(lambda: modem_status(daemon)["state"] == "idle", 5, "the line idle again")


def test_modem_unplugged_mid_call_ends_the_call_and_the_line_recovers(daemon: Daemon, modem: ModemSimulator) -> None:
    modem.ring("0307654321")
    assert modem.wait_for("connected", 10)
    wait_until(lambda: daemon.http.get("/api/calls").json(), 5, "the call")
    time.sleep(1.0)
    modem.unplug()
    wait_until(lambda: not daemon.http.get("/api/calls").json(), 5, "the call to end")
    status = wait_until(lambda: modem_status(daemon)["state"] == "recovering" and modem_status(daemon), 5, "recovery")
    assert status["last_error"]
    log = daemon.http.get("/api/calllog").json()
    assert log[0]["caller"] == "0307654321"
    assert log[0]["ended_at"]
    modem.replug()
    wait_until(lambda: modem_status(daemon)["state"] == "idle", 10, "the modem re-initialised")
    assert modem_status(daemon)["opened"] >= 2
    # and it answers the next call
    modem.ring("0301112222")
    assert modem.wait_for("connected", 10)
    modem.hang_up("busy")
    wait_until(lambda: not daemon.http.get("/api/calls").json(), 5, "the far end's hang-up to end the call")
    assert daemon.alive()


def test_an_agent_pulls_an_analog_call_and_the_box_hands_it_on_by_hook_flash(
    daemon: Daemon, modem: ModemSimulator
) -> None:
    r = daemon.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]})
    assert r.status_code == 200, r.text
    assert daemon.http.post("/api/agents/anna/login", json={"number": "22"}).status_code == 200
    before = len(modem.transfers)
    modem.ring("0301111111", "Max Muster")
    assert modem.wait_for("connected", 10), modem.info()
    time.sleep(prompt_seconds("greeting") + 1.5)
    modem.press("1")
    entry = wait_until(lambda: daemon.http.get("/api/queues").json(), 5, "the call in the queue")[0]
    r = daemon.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "anna", "wait": True}, timeout=20)
    assert r.json()["result"] == "answered"
    wait_until(lambda: len(modem.transfers) > before, 10, "the hook-flash transfer")
    transfer = modem.transfers[-1]
    assert transfer.extension == "22"
    assert transfer.flash_ms == 100
    wait_until(lambda: not daemon.http.get("/api/calls").json(), 10, "the box to leave the call")
    row = next(r for r in daemon.http.get("/api/calllog").json() if r["caller"] == "0301111111")
    assert row["outcome"] == "answered"
    assert row["answered_by"] == "anna"
    assert wait_until(lambda: modem_status(daemon)["state"] == "idle", 10, "the line free again")
