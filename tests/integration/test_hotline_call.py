"""The customer's example over real SIP: a pjsua2 phone in its own process
calls the running daemon; what the caller hears is recorded and compared
with the shipped prompts; the message left is checked for the caller's tone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.harness.audio import (
    MUSIC,
    PROMPTS,
    heard,
    make_tone_wav,
    prompt_seconds,
    read_wav,
    rms_dbfs,
    tone_level,
)
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    """A daemon per test: the walks take half a minute each and run on parallel workers."""
    with running_daemon(tmp_path / "box", mode=fast_mode()) as d:
        yield d


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
    queued = wait_until(lambda: daemon.http.get("/api/queues").json(), 5, "the call in the queue", poll=0.02)
    # the hold sequence starts when the box took the digit: what the caller hears is measured
    # from there (on a loaded machine the digit may arrive a few hundred ms late)
    digit_at = time.monotonic() - t0
    assert [(q["team"], q["position"]) for q in queued] == [("lvs", 1)]
    # hold notice 5.4 s + music 3 s + notice 5.4 s + music 4 s, then the offer to leave a message
    offer_starts = time.monotonic() + 2 * prompt_seconds("hold_notice") + 7
    time.sleep(max(0.0, offer_starts - time.monotonic()) + prompt_seconds("offer_message") + 0.8)
    caller.play(call, tone)  # speak (a 600 Hz tone) after the beep
    time.sleep(3.0)
    caller.play(call, None)  # then silence: the recorder ends after 2 s of it
    ended = caller.wait_event("disconnected", call=call, timeout=20)
    assert ended["code"] == 200, ended  # the box hung up (BYE) after the message: the caller never did
    caller.wait_event("recording_done", call=call, timeout=5)
    total = time.monotonic() - t0

    x, rate = read_wav(rx)
    greeting = prompt_seconds("greeting")
    notice = prompt_seconds("hold_notice")
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


def test_branch_3_after_the_maximum_wait_the_caller_leaves_a_message(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 850, 2.5, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="caller3", codecs="PCMA")
    rx = tmp_path / "rx.wav"
    call = caller.call(daemon.uri, record=rx)
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.5)
    caller.dtmf(call, "3")
    entered = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "pc"}).json(), 5, "queue pc")
    assert entered[0]["position"] == 1
    digit_at = prompt_seconds("greeting") + 1.5
    # max_wait is 12 s: the offer comes then, although the hold sequence loops
    time.sleep(12 + prompt_seconds("offer_message") + 0.8)
    caller.play(call, tone)
    time.sleep(2.5)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, timeout=20)
    caller.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    offer = heard(x, rate, digit_at + 12.2, PROMPTS / "offer_message.wav")
    assert offer > 0.6
    # the hold sequence repeated while waiting: the notice starts a second time 5.4 + 4 s later
    # (and is cut off when the maximum wait is over)
    second = digit_at + 0.2 + prompt_seconds("hold_notice") + 4
    assert heard(x, rate, second, PROMPTS / "hold_notice.wav", length=2.0) > 0.6
    message = wait_until(lambda: daemon.http.get("/api/messages", params={"team": "pc"}).json(), 5, "message")[0]
    wav = tmp_path / "m.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
    y, yrate = read_wav(wav)
    assert tone_level(y, yrate, 850) > 0.6
    log = daemon.http.get("/api/calllog").json()
    row = next(r for r in log if r["message_id"] == message["id"])
    assert row["outcome"] == "voicemail" and row["team"] == "pc" and 11.5 <= row["waited_s"] <= 13.5


def test_outage_switch_replaces_the_greeting_and_switching_off_restores_it(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    phone = sip_phones(name="outage", codecs="G722")

    def listen(seconds: float, name: str) -> tuple[np.ndarray, int]:
        rx = tmp_path / f"{name}.wav"
        call = phone.call(daemon.uri, record=rx)
        phone.wait_event("media_active", call=call, timeout=5)
        time.sleep(seconds)
        phone.hangup(call)
        phone.wait_event("recording_done", call=call, timeout=5)
        return read_wav(rx)

    r = daemon.http.put("/api/switches/sap_outage", json={"on": True, "by": "anna"})
    assert r.status_code == 200 and r.json()["on"] and r.json()["by"] == "anna"
    x, rate = listen(prompt_seconds("outage_sap") + 1.0, "on")
    assert heard(x, rate, 0.0, PROMPTS / "outage_sap.wav") > 0.6
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav") < 0.3
    r = daemon.http.put("/api/switches/sap_outage", json={"on": False, "by": "anna"})
    assert r.status_code == 200 and not r.json()["on"]
    x, rate = listen(prompt_seconds("greeting") + 1.0, "off")
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav") > 0.6
    assert heard(x, rate, 0.0, PROMPTS / "outage_sap.wav") < 0.3
    audit = daemon.http.get("/api/audit").json()
    assert [(a["who"], a["action"], a["detail"]) for a in audit[:2]] == [
        ("anna", "switch.off", "sap_outage"),
        ("anna", "switch.on", "sap_outage"),
    ]
    assert daemon.http.put("/api/switches/nope", json={"on": True}).status_code == 404


def open_fds(daemon: Daemon) -> int:
    return len(list(Path(f"/proc/{daemon.proc.pid}/fd").iterdir()))


def test_hanging_up_in_the_middle_of_every_step_leaves_no_call_task_or_socket(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    phones = [sip_phones(name=f"hangup{i}") for i in range(2)]
    # one whole call first: what the box starts on its first call and keeps (workers, the call
    # log's writer) belongs to the baseline, not to the calls that must leave nothing behind
    first = phones[0].call(daemon.uri)
    phones[0].wait_event("media_active", call=first, timeout=5)
    phones[0].hangup(first)
    wait_until(lambda: daemon.status()["calls"] == 0, 20, "the first call to end")
    wait_until(lambda: daemon.http.get("/api/calllog").json(), 5, "the first call in the call log")
    baseline_fds = open_fds(daemon)
    baseline_tasks = daemon.status()["tasks"]
    greeting = prompt_seconds("greeting")
    notice = prompt_seconds("hold_notice")
    # (digits to press after the greeting, seconds after answer to hang up, step)
    plan = [
        ("", 1.0, "greeting"),
        ("", greeting + 2.0, "main menu"),
        ("1", greeting + 1.5 + 2.0, "hold notice"),
        ("1", greeting + 1.5 + notice + 1.5, "music"),
        ("3", greeting + 1.5 + notice + 2.0, "music team C"),
        ("2", greeting + 1.5 + 2 * notice + 7 + 3.0, "message offer"),
        ("2", greeting + 1.5 + 2 * notice + 7 + prompt_seconds("offer_message") + 1.5, "recording"),
    ]
    calls = []
    for i, (digits, _, _) in enumerate(plan):
        phone = phones[i % 2]
        call = phone.call(daemon.uri)
        calls.append((phone, call, time.monotonic()))
        del digits
    time.sleep(greeting + 1.5)
    for (phone, call, _), (digits, _, _) in zip(calls, plan, strict=True):
        if digits:
            phone.dtmf(call, digits)
    for (phone, call, started), (_, at, step) in sorted(zip(calls, plan, strict=True), key=lambda c: c[1][1]):
        time.sleep(max(0.0, started + at - time.monotonic()))
        status = daemon.status()
        assert status["calls"] >= 1, step
        phone.hangup(call)
    wait_until(lambda: daemon.status()["calls"] == 0, 10, "all calls to end")
    status = daemon.status()
    assert status["waiting"] == 0
    assert status["media_clock"]["streams"] == 0
    assert status["lines"][0]["calls"] == 0
    assert not daemon.http.get("/api/queues").json()
    wait_until(lambda: daemon.status()["tasks"] <= baseline_tasks, 10, "tasks to finish")
    wait_until(lambda: open_fds(daemon) <= baseline_fds, 10, "sockets to close")
    outcomes = [r["outcome"] for r in daemon.http.get("/api/calllog").json()[: len(plan)]]
    assert outcomes.count("abandoned") == len(plan), outcomes


@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_dtmf_by_sip_info_and_hold_unhold_over(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, transport: str
) -> None:
    phone = sip_phones(name=f"info-{transport}", transport=transport, codecs="PCMU")
    rx = tmp_path / "rx.wav"
    call = phone.call(daemon.uri + (";transport=tcp" if transport == "tcp" else ""), record=rx)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.0)
    phone.dtmf(call, "2", method="info")
    wait_until(lambda: daemon.http.get("/api/queues", params={"team": "sap"}).json(), 5, "queue sap")
    calls = daemon.http.get("/api/calls").json()
    assert calls[0]["remote"].startswith(transport)
    time.sleep(1.5)
    mark = phone.mark()
    phone.hold(call)
    phone.wait_event("media", call=call, status="local_hold", since=mark, timeout=5)
    wait_until(lambda: daemon.http.get("/api/calls").json()[0]["on_hold"], 5, "hold seen by the box")
    sent_before = daemon.http.get("/api/calls").json()[0]["rtp_sent"]
    time.sleep(1.0)
    # on hold (we are recvonly) the box sends nothing
    assert daemon.http.get("/api/calls").json()[0]["rtp_sent"] == sent_before
    mark = phone.mark()
    phone.unhold(call)
    phone.wait_event("media", call=call, status="active", since=mark, timeout=5)
    wait_until(lambda: not daemon.http.get("/api/calls").json()[0]["on_hold"], 5, "unhold seen by the box")
    unheld = time.monotonic()
    time.sleep(2.0)
    phone.hangup(call)
    done = phone.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    # the hold notice started right after the INFO digit
    assert heard(x, rate, prompt_seconds("greeting") + 1.2, PROMPTS / "hold_notice.wav", length=1.0) > 0.6
    # and after unhold the caller hears the hold sequence again
    tail = x[-int(1.5 * rate) :]
    assert rms_dbfs(tail) > -40, (done, time.monotonic() - unheld)
    wait_until(lambda: not daemon.http.get("/api/calls").json(), 5, "the call to end")
