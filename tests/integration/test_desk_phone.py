"""Desk-phone habits with real pjsua2 phones (issue 17): logging in, pausing and logging out
by dialling the service number with the agent's PIN (spoken confirmation, the web page
follows), and the message-waiting lamp: the agent's phone subscribes (RFC 3842) and gets
``Messages-Waiting: yes`` when a caller leaves a message for the agent's team, ``no`` once
it is done."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.harness.audio import PROMPTS, best_correlation, make_tone_wav, prompt_seconds, read_wav
from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, logged_in
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.kamailio import Kamailio, running_kamailio
from tests.harness.modes import web_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin

pytestmark = pytest.mark.peers

SERVICE = "991"
PIN = "4711"


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    with running_kamailio(tmp_path_factory.mktemp("desk-pbx")) as kamailio:
        yield kamailio


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {
        "teams": [
            {"id": "lvs", "name": "LVS", "distribution": "pull", "wrap_up": 0},
            {"id": "sap", "name": "SAP", "distribution": "pull", "wrap_up": 0},
            {"id": "pc", "name": "PC", "distribution": "auto", "wrap_up": 0},
        ],
        "desk_phone": {"number": SERVICE},
    }
    with running_daemon(tmp_path_factory.mktemp("desk"), mode=web_mode(), config=config) as daemon:
        first_admin(daemon)
        add_agent_account(daemon, "anna", "anna-password", ["lvs", "sap"], "Anna Schmidt")
        r = daemon.http.put(
            "/api/agents/anna", json={"name": "Anna Schmidt", "teams": ["lvs", "sap"], "default_number": "201"}
        )
        assert r.status_code == 200, r.text
        r = daemon.http.put("/api/agents/anna/pin", json={"pin": PIN})
        assert r.status_code == 200 and r.json()["agents_with_pin"] == ["anna"], r.text
        yield daemon


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def desk_phone(sip_phones: Callable[..., Phone], pbx: Kamailio, box: Daemon, **options: object) -> Phone:
    """Anna's desk phone, extension 201 at the PBX; its message lamp subscribes at the box."""
    phone = sip_phones(
        name="desk201", bind_ip="127.0.0.21", user="201", register=f"sip:{pbx.host}", password="secret",
        domain=f"127.0.0.1:{box.sip_port}", **options,
    )  # fmt: skip
    phone.wait_event("registered", ok=True, timeout=10)
    return phone


def dial_feature(phone: Phone, box: Daemon, digits: str, record: Path) -> float:
    """Call the service number, enter the PIN and ``digits``; the box answers, confirms and hangs
    up. Returns the recording's length in seconds."""
    call = phone.call(f"sip:{SERVICE}@127.0.0.1:{box.sip_port}", record=record)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(1.0)
    phone.dtmf(call, f"{PIN}#")
    time.sleep(1.5)
    phone.dtmf(call, digits)
    phone.wait_event("disconnected", call=call, timeout=20)  # confirmation, goodbye, the box hangs up
    phone.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(record)
    return len(x) / rate


def confirmation(record: Path, prompt: str) -> float:
    x, rate = read_wav(record)
    score, _ = best_correlation(x, PROMPTS / f"{prompt}.wav", rate)
    return score


def test_an_agent_logs_in_pauses_and_logs_out_from_the_desk_phone_and_the_page_follows(
    box: Daemon, pbx: Kamailio, browser: Browser, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    context, page = logged_in(browser, box, "anna", "anna-password")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "logged_out")
    phone = desk_phone(sip_phones, pbx, box)
    dial_feature(phone, box, "1", tmp_path / "login.wav")
    # the web page shows her available at the desk phone's number, at once
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available", timeout=5000)
    expect(page.locator("#agent-state")).to_contain_text("201")
    said = confirmation(tmp_path / "login.wav", "desk_logged_in")
    print(f"\nlogin by phone: the confirmation heard with correlation {said:.2f}")
    assert said > 0.6
    assert confirmation(tmp_path / "login.wav", "desk_refused") < 0.3
    dial_feature(phone, box, "3", tmp_path / "pause.wav")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "paused", timeout=5000)
    assert confirmation(tmp_path / "pause.wav", "desk_paused") > 0.6
    dial_feature(phone, box, "4", tmp_path / "resume.wav")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available", timeout=5000)
    dial_feature(phone, box, "2", tmp_path / "logout.wav")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "logged_out", timeout=5000)
    assert confirmation(tmp_path / "logout.wav", "desk_logged_out") > 0.6
    actions = [a["action"] for a in box.http.get("/api/audit").json()[:4]]
    assert actions == ["agent.desk_phone_logout", "agent.desk_phone_resume", "agent.desk_phone_pause",
                       "agent.desk_phone_login"]  # fmt: skip
    assert page.__dict__["js_errors"] == []
    context.close()


def test_a_wrong_pin_three_times_ends_the_call_and_changes_nothing(
    box: Daemon, pbx: Kamailio, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    phone = sip_phones(name="stranger", bind_ip="127.0.0.22", user="299")
    call = phone.call(f"sip:{SERVICE}@127.0.0.1:{box.sip_port}", record=tmp_path / "wrong.wav")
    phone.wait_event("media_active", call=call, timeout=5)
    for _ in range(3):
        time.sleep(1.0)
        phone.dtmf(call, "0000#")
        time.sleep(prompt_seconds("rec_wrong_pin") + 0.5)
    phone.wait_event("disconnected", call=call, timeout=20)
    assert box.http.get("/api/agents/anna").json()["state"] == "logged_out"
    assert box.http.get("/api/audit").json()[0]["action"] == "agent.desk_phone_refused"


def test_the_subscribed_desk_phone_gets_messages_waiting_yes_for_a_new_message_and_no_when_done(
    box: Daemon, pbx: Kamailio, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    phone = desk_phone(sip_phones, pbx, box, mwi=True, mwi_expires=300)
    first = phone.wait_event("mwi", timeout=10)
    assert first["waiting"] == "no" and first["subscription_state"].startswith("active")
    assert "Message-Account: sip:201@" in first["body"] and "Voice-Message: 0/0" in first["body"]
    mark = phone.mark()
    # a real caller leaves a message for SAP, one of Anna's teams
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 700, 2.0, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="caller", bind_ip="127.0.0.20", codecs="PCMU", user="0301234567")
    call = caller.call(box.uri, record=tmp_path / "caller.wav")
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "2")
    time.sleep(prompt_seconds("hold_notice") + 1 + prompt_seconds("offer_message") + 1.0)
    t_spoke = time.monotonic()
    caller.play(call, tone)
    time.sleep(2.2)
    caller.hangup(call)
    lamp = phone.wait_event("mwi", timeout=15, since=mark, waiting="yes")
    print(f"\nMWI: 'Messages-Waiting: yes' {lamp['t'] - t_spoke:.1f} s after the caller started speaking")
    assert "Voice-Message: 1/0" in lamp["body"]
    message = wait_until(lambda: box.http.get("/api/messages").json(), 5, "the message")[0]
    mark = phone.mark()
    r = box.http.patch(f"/api/messages/{message['id']}", json={"status": "done"})
    assert r.status_code == 200, r.text
    off = phone.wait_event("mwi", timeout=10, since=mark, waiting="no")
    assert "Voice-Message: 0/0" in off["body"]
    status = box.status()["lines"][0]["tables"]["subscriptions"]
    assert status["in_use"] == 1 and status["accounts"] == ["201"]
