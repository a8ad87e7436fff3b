"""A full data disk does not silence the hotline (issue 13, fault 3).

The real daemon keeps its data folder on a small tmpfs; the test fills it to the
last byte (or to just below the recording threshold). A pjsua2 caller still
hears the greeting, the outage announcement, the menu and the queue's hold
sequence (checked by correlation with the shipped files); where the message
offer would come, the box says that no message is possible now and the caller
keeps waiting; /status says why. Once space is back, a message is recorded
again -- without a restart. The web page (chromium) shows every user why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.harness.audio import heard, make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.browser import chromium
from tests.harness.daemon import DEMO, Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.sip_client import timed_call
from tests.harness.tmpfs import fill, free, free_bytes, small_tmpfs
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin

pytestmark = pytest.mark.peers
PROMPTS = DEMO / "prompts"
MUSIC = DEMO / "music"
MIN_FREE_MB = 12


def disk_mode() -> dict[str, Any]:
    mode = fast_mode()
    nodes = mode["nodes"]
    nodes["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 3}]
    nodes["main_menu"]["choices"]["9"] = "voicemail_sap"  # a message without waiting first
    return mode


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with small_tmpfs(tmp_path_factory.mktemp("disk") / "data", "40m") as path:
        yield path


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory, data: Path) -> Iterator[Daemon]:
    config = {"voicemail": {"min_free_mb": MIN_FREE_MB}, "health": {"interval": 0.5}}
    with running_daemon(tmp_path_factory.mktemp("box"), mode=disk_mode(), data_dir=data, config=config) as d:
        yield d
    free(data)


@pytest.fixture
def space_back(data: Path) -> Iterator[None]:
    yield
    free(data)


def disk(daemon: Daemon) -> dict[str, Any]:
    return dict(daemon.status()["components"]["disk"])


def listen(phone: Phone, daemon: Daemon, rx: Path, seconds: float, digits: Sequence[tuple[float, str]] = ()) -> float:
    """Call, press ``digits`` at their times after the answer, hang up after ``seconds``;
    returns when (after the answer) the box hung up, or ``seconds`` if it did not."""
    mark = phone.mark()  # a phone numbers its calls from 0 again: only this call's events
    call = phone.call(daemon.uri, record=rx)
    phone.wait_event("media_active", call=call, since=mark, timeout=5)
    t0 = time.monotonic()
    for at, digit in sorted(digits):
        time.sleep(max(0.0, t0 + at - time.monotonic()))
        phone.dtmf(call, digit)
    try:
        ended = phone.wait_event(
            "disconnected", call=call, since=mark, timeout=max(0.1, t0 + seconds - time.monotonic())
        )
        hung_up_at = ended["t"] - t0
    except TimeoutError:
        phone.hangup(call)
        hung_up_at = seconds
    phone.wait_event("recording_done", call=call, since=mark, timeout=5)
    return hung_up_at


def no_traceback(daemon: Daemon) -> None:
    assert "Traceback" not in daemon.log(), daemon.log()[-4000:]


def test_on_a_disk_full_to_the_last_byte_callers_hear_every_prompt_and_are_told_no_message_is_possible(
    daemon: Daemon, data: Path, sip_phones: Callable[..., Phone], tmp_path: Path, space_back: None
) -> None:
    fill(data)
    assert free_bytes(data) == 0
    state = wait_until(lambda: (d := disk(daemon))["state"] == "fault" and d, 5, "/status to see the full disk")
    assert state["detail"].startswith("disk full") and state["recording"] is False and state["space"] == "full"
    before = daemon.status()["components"]["call_log"]
    # answering does not wait for the database (it made every call 480 before)
    answers = [timed_call(("127.0.0.1", daemon.sip_port), "127.0.0.1") for _ in range(5)]
    print("INVITE -> final answer on a full disk:", [(code, round(took * 1000, 1)) for code, took in answers], "ms")
    assert [code for code, _ in answers] == [200] * 5

    caller = sip_phones(name="full", codecs="PCMU")
    rx = tmp_path / "full.wav"
    greeting, notice = prompt_seconds("greeting"), prompt_seconds("hold_notice")
    digit_at = greeting + 1.5
    told_at = digit_at + notice + 3.0  # after the hold sequence: notice + 3 s of music
    wait_again_at = told_at + prompt_seconds("messages_unavailable_wait")
    listen(caller, daemon, rx, wait_again_at + notice + 1.0, [(digit_at, "1")])
    x, rate = read_wav(rx)
    scores = {
        "greeting": heard(x, rate, 0.0, PROMPTS / "greeting.wav"),
        "main_menu": heard(x, rate, greeting, PROMPTS / "main_menu.wav", length=1.2),
        "hold_notice": heard(x, rate, digit_at, PROMPTS / "hold_notice.wav"),
        "music_a": heard(x, rate, digit_at + notice, MUSIC / "music_a.wav", length=2.5),
        "no_message": heard(x, rate, told_at, PROMPTS / "messages_unavailable_wait.wav"),
        "waiting_again": heard(x, rate, wait_again_at, PROMPTS / "hold_notice.wav", length=4.0),
    }
    print("correlations on a full disk:", {k: round(v, 2) for k, v in scores.items()})
    assert all(v > 0.6 for v in scores.values()), scores
    # never offered, never thanked
    assert heard(x, rate, told_at, PROMPTS / "offer_message.wav", length=3.0) < 0.3

    # the outage announcement, switched on while the disk is full
    r = daemon.http.put("/api/switches/sap_outage", json={"on": True, "by": "anna"})
    assert r.status_code == 200 and r.json()["on"], r.text
    rx2 = tmp_path / "outage.wav"
    listen(caller, daemon, rx2, prompt_seconds("outage_sap") + 1.0)
    assert daemon.http.put("/api/switches/sap_outage", json={"on": False, "by": "anna"}).status_code == 200
    y, yrate = read_wav(rx2)
    assert heard(y, yrate, 0.0, PROMPTS / "outage_sap.wav") > 0.6

    wait_until(lambda: daemon.status()["calls"] == 0, 10, "the calls to end")

    # every row of every call is either written (the WAL had room) or dropped and counted
    def rows() -> int:
        log = daemon.status()["components"]["call_log"]
        return int(log["written"] + log["dropped"] - before["written"] - before["dropped"])

    wait_until(lambda: rows() == 4 + 2 * 5, 5, "the call log rows of every call")
    assert not list((data / "spool").iterdir())  # no part file, no sidecar left behind
    no_traceback(daemon)

    # space comes back: a message is recorded again, without a restart
    free(data)
    wait_until(lambda: disk(daemon)["state"] == "ok", 5, "/status to see the space")
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 700, 3.0, rate=8000, level_dbfs=-12)
    rx3 = tmp_path / "message.wav"
    mark = caller.mark()
    call = caller.call(daemon.uri, record=rx3)
    caller.wait_event("media_active", call=call, since=mark, timeout=5)
    time.sleep(digit_at)
    caller.dtmf(call, "1")
    time.sleep(notice + 3.0 + prompt_seconds("offer_message") + 1.0)
    caller.play(call, tone)
    time.sleep(3.0)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, since=mark, timeout=20)
    caller.wait_event("recording_done", call=call, since=mark, timeout=5)
    messages = wait_until(lambda: daemon.http.get("/api/messages", params={"team": "lvs"}).json(), 5, "the message")
    assert 2500 <= messages[0]["duration_ms"] <= 4500, messages[0]
    wav = tmp_path / "stored.wav"
    wav.write_bytes(daemon.http.get(f"/api/messages/{messages[0]['id']}/audio").content)
    m, mrate = read_wav(wav)
    assert tone_level(m, mrate, 700) > 0.6
    no_traceback(daemon)


def test_below_the_recording_threshold_a_caller_is_told_and_the_call_ends_politely(
    daemon: Daemon, data: Path, sip_phones: Callable[..., Phone], tmp_path: Path, space_back: None
) -> None:
    fill(data, leave=(MIN_FREE_MB - 4) * 1_000_000)
    state = wait_until(lambda: (d := disk(daemon))["space"] == "low" and d, 5, "/status to see the low disk")
    assert state["state"] == "degraded" and state["detail"].startswith("disk low") and not state["recording"]
    caller = sip_phones(name="low", codecs="PCMA")
    rx = tmp_path / "low.wav"
    greeting = prompt_seconds("greeting")
    told_at = greeting + 1.5
    said = prompt_seconds("messages_unavailable")
    hung_up_at = listen(caller, daemon, rx, told_at + said + 10.0, [(told_at, "9")])
    x, rate = read_wav(rx)
    assert heard(x, rate, 0.0, PROMPTS / "greeting.wav") > 0.6
    assert heard(x, rate, told_at, PROMPTS / "messages_unavailable.wav") > 0.6
    # the box ends the call right after saying so (no beep, no silence to talk into)
    assert told_at + said - 1.0 < hung_up_at < told_at + said + 3.0, hung_up_at
    assert tone_level(x[int((told_at + said) * rate) :], rate, 1000) < 0.3
    log = daemon.http.get("/api/calllog").json()
    assert log[0]["outcome"] == "no_message"
    no_traceback(daemon)


def test_the_web_page_shows_every_user_why_no_message_is_recorded_while_the_disk_is_full(
    daemon: Daemon, data: Path, space_back: None
) -> None:
    first_admin(daemon)
    add_agent_account(daemon, "anna", "anna-password", ["lvs"], "Anna Berg")
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1366, "height": 860}).new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(daemon.base_url + "/")
        page.fill("#name", "anna")  # an agent: /status is for admins, the banner for everyone
        page.fill("#password", "anna-password")
        page.click("#login-submit")
        page.wait_for_url(daemon.base_url + "/")
        banner = page.locator(".banner.notice[data-notice=disk]")
        expect(page.locator("#conn:not(.off)")).to_be_attached()
        expect(banner).to_have_count(0)
        fill(data)
        expect(banner).to_be_visible(timeout=20_000)  # the page asks every 15 s
        assert banner.get_attribute("data-space") == "full"
        expect(banner).to_contain_text("Datenträger voll: Nachrichten können nicht aufgenommen werden")
        expect(banner).to_contain_text("Anrufe werden weiter angenommen")
        free(data)
        expect(banner).to_have_count(0, timeout=20_000)
        assert errors == []
    no_traceback(daemon)


def test_a_box_restarted_on_a_full_disk_comes_up_and_answers(daemon: Daemon, data: Path, tmp_path: Path) -> None:
    daemon.stop()  # the module's box; this one starts again on the same, now full, data folder
    fill(data)
    config = {"voicemail": {"min_free_mb": MIN_FREE_MB}, "health": {"interval": 0.5}}
    with running_daemon(tmp_path / "again", data_dir=data, config=config) as again:
        status = again.status()
        assert status["mode"] == "hotline"  # activated, although the database could not note it
        assert status["components"]["disk"]["detail"].startswith("disk full")
        assert status["components"]["store"]["detail"].startswith("database read-only")
        assert timed_call(("127.0.0.1", again.sip_port), "127.0.0.1")[0] == 200
        # space comes back: the database takes writes again, without a restart
        free(data)
        wait_until(lambda: again.status()["components"]["store"]["state"] == "ok", 10, "a writable database")
        assert again.http.put("/api/switches/sap_outage", json={"on": True, "by": "anna"}).status_code == 200
        audit = again.http.get("/api/audit").json()
        assert (audit[0]["who"], audit[0]["action"]) == ("anna", "switch.on")
        log = again.log()
        assert "Traceback" not in log, log[-4000:]
