"""Recording a prompt by phone, with a real SIP caller (pjsua2): the service number, the
PIN, a prompt number, speaking after the beep, hearing it played back, keeping it; then
a mode that uses the prompt plays the recording to the next caller. Three wrong PINs end
the call."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.audio import make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers

SERVICE = {"number": "990", "pin": "4711", "silence_seconds": 1.5, "max_seconds": 20}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {"phone_recording": SERVICE, "sip": {"security": {"max_failures": 1}}}
    with running_daemon(tmp_path_factory.mktemp("phone-prompts"), mode=fast_mode(), config=config) as d:
        yield d


def service_uri(daemon: Daemon) -> str:
    return f"sip:990@127.0.0.1:{daemon.sip_port}"


def test_a_prompt_recorded_by_phone_is_played_back_kept_and_heard_by_the_next_caller(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    tone = tmp_path / "440.wav"
    make_tone_wav(tone, 440, 2.0, rate=8000, level_dbfs=-10)
    phone = sip_phones(name="admin-phone", codecs="PCMU")
    rx = tmp_path / "service.wav"
    call = phone.call(service_uri(daemon), record=rx)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(1.0)
    phone.dtmf(call, "4711#")  # stops the PIN prompt
    time.sleep(1.5)
    phone.dtmf(call, "7#")  # the prompt number
    time.sleep(prompt_seconds("rec_after_beep") + 0.3 + 0.6)  # the instruction, then the beep
    t_speak = time.monotonic()
    phone.play(call, tone)
    time.sleep(2.0)
    phone.play(call, None)  # silence ends the recording after 1.5 s
    # the box says "Sie hören Ihre Aufnahme", plays it, then asks to keep it
    time.sleep(1.5 + prompt_seconds("rec_playback") + 2.0 + 1.0)
    phone.dtmf(call, "1")
    assert wait_until(
        lambda: any(p["name"] == "telefon_7" for p in daemon.http.get("/api/prompts").json()), 15, "the prompt"
    )
    time.sleep(prompt_seconds("rec_saved") + 0.5)
    phone.hangup(call)
    phone.wait_event("recording_done", call=call, timeout=5)

    x, rate = read_wav(rx)
    # the playback: the caller's 440 Hz tone comes back after "Sie hören Ihre Aufnahme"
    start = int((t_speak - phone.wait_event("media_active", call=call)["t"] + 2.0 + 1.5) * rate)
    playback = x[start : start + int((prompt_seconds("rec_playback") + 3.0) * rate)]
    assert tone_level(playback, rate, 440) > 0.3, tone_level(playback, rate, 440)

    prompt = next(p for p in daemon.http.get("/api/prompts").json() if p["name"] == "telefon_7")
    assert prompt["source"] == "uploaded" and 1.5 <= prompt["seconds"] <= 3.5, prompt
    audit = [(a["action"], a["detail"]) for a in daemon.http.get("/api/audit").json()]
    assert any(action == "prompt.phone_recorded" and detail.startswith("telefon_7") for action, detail in audit)
    row = daemon.http.get("/api/calllog").json()[0]
    assert row["called"] == "990" and row["outcome"] == "prompt_recorded", row

    # a mode greeting with the recorded prompt: the next caller hears the 440 Hz tone
    mode = fast_mode()
    mode["nodes"]["greeting"]["prompt"] = "telefon_7"
    assert daemon.http.put("/api/modes/hotline", json=mode).status_code == 200
    caller = sip_phones(name="caller", codecs="PCMU")
    heard = tmp_path / "caller.wav"
    c = caller.call(daemon.uri, record=heard)
    caller.wait_event("media_active", call=c, timeout=5)
    time.sleep(2.5)
    caller.hangup(c)
    y, yrate = read_wav(Path(caller.wait_event("recording_done", call=c, timeout=5)["path"]))
    assert tone_level(y[: int(2.5 * yrate)], yrate, 440) > 0.5
    assert daemon.http.put("/api/modes/hotline", json=fast_mode()).status_code == 200


def test_three_wrong_pins_end_the_call_and_count_against_the_source(
    daemon: Daemon, sip_phones: Callable[..., Phone]
) -> None:
    phone = sip_phones(name="guesser", bind_ip="127.0.0.61")
    call = phone.call(service_uri(daemon))
    phone.wait_event("media_active", call=call, timeout=5)
    for guess in ("1234#", "0000#", "9999#"):
        time.sleep(1.0)
        phone.dtmf(call, guess)
        time.sleep(prompt_seconds("rec_wrong_pin") + 0.8)
    gone = phone.wait_event("disconnected", call=call, timeout=15)
    assert gone["code"] == 200  # the box hung up (BYE)
    assert not any(p["name"].startswith("telefon_") and p["name"] != "telefon_7"
                   for p in daemon.http.get("/api/prompts").json())  # fmt: skip
    row = daemon.http.get("/api/calllog").json()[0]
    assert row["outcome"] == "refused", row
    # the failed attempt counts for the SIP guard: with max_failures 1 the source is banned
    bans = daemon.http.get("/api/security/bans").json()["bans"]
    assert [(b["address"], "wrong PIN" in b["reason"]) for b in bans] == [("127.0.0.61", True)], bans
    audit = [(a["action"], a["detail"]) for a in daemon.http.get("/api/audit").json()]
    assert any(action == "prompt.phone_refused" for action, _ in audit)
