"""The mode editor, the prompt library and the schedule in a real browser (Debian's chromium,
driven by Playwright) against the real daemon, with real SIP callers (pjsua2 processes).

The box starts empty (``demo_modes: false``: no mode at all, calls refused). An admin builds
the customer's whole example by clicking, saves and activates it, and real callers walk
branches 1 and 3; what they hear is checked against the prompts by correlation. Then a version
is rolled back in the browser (the next caller hears the difference), the mode is tried
without a phone, files are uploaded, and a week plan is set.

The tests of this module build on each other, in file order (one box, like an admin's day).
Screenshots go to tests/out/screenshots (to docs/screenshots with ZENTRALE_SCREENSHOTS=1).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.harness.audio import MUSIC, PROMPTS, heard, make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.browser import DESKTOP, chromium, shot
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import ADMIN, first_admin
from zentrale.core.schedule import Schedule, next_change
from zentrale.scheduling import public_holidays

pytestmark = pytest.mark.peers

MAX_WAIT_PC = 8  # team C's 5 minutes, shortened for the test


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium("--lang=de-DE") as b:  # date fields as in the office
        yield b


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    """An empty box: no mode in the data folder and none copied from the demo."""
    with running_daemon(tmp_path_factory.mktemp("editor-webui") / "box", config={"demo_modes": False}) as daemon:
        first_admin(daemon)
        yield daemon


@pytest.fixture
def admin(browser: Browser, box: Daemon) -> Iterator[Page]:
    """The admin's browser (German, like the office), logged in; no script error may happen."""
    context = browser.new_context(viewport=DESKTOP, locale="de-DE", timezone_id="Europe/Berlin")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(box.base_url + "/")
    page.fill("#name", ADMIN[0])
    page.fill("#password", ADMIN[1])
    page.click("#login-submit")
    expect(page.locator("#conn:not(.off)")).to_be_attached()
    yield page
    assert errors == []
    context.close()


# --- clicking helpers: what an admin does, named like it ------------------------------------------


def form(page: Page) -> Locator:
    return page.locator("#node-form")


def card(page: Page, node: str) -> Locator:
    return page.locator(f".flow-card[data-node='{node}']")


def open_node(page: Page, node: str) -> None:
    card(page, node).click()
    expect(form(page).locator("[data-field=id]")).to_have_value(node)


def name_node(page: Page, node_id: str, label: str) -> None:
    field = form(page).locator("[data-field=id]")
    field.fill(node_id)
    field.press("Enter")
    expect(card(page, node_id)).to_have_class(has_class("selected"))
    form(page).locator("[data-field=label]").fill(label)


def has_class(cls: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")


def choose(page: Page, field: str, value: str, scope: Locator | None = None) -> str:
    """Pick an option (a prompt, a team, a target; 'new:queue' makes a new step) and return
    what the select holds afterwards (the new step's id)."""
    select = (scope or form(page)).locator(f"select[data-field={field}]").first
    select.select_option(value)
    return select.input_value()


def fill(page: Page, field: str, value: str, scope: Locator | None = None) -> None:
    (scope or form(page)).locator(f"[data-field={field}]").first.fill(value)


def hold_steps(page: Page) -> Locator:
    return form(page).locator(".hold-step")


def hold_sequence(page: Page) -> list[str]:
    steps = []
    for i in range(hold_steps(page).count()):
        step = hold_steps(page).nth(i)
        name = step.locator("select[data-field=prompt]").input_value()
        if step.get_attribute("data-kind") == "music":
            steps.append(f"{name} {step.locator('[data-field=seconds]').input_value()}s")
        else:
            steps.append(name)
    return steps


def add_hold_step(page: Page, kind: str, prompt: str, seconds: int | None = None) -> None:
    form(page).locator(f"[data-action=add-{kind}]").click()
    step = hold_steps(page).last
    step.locator("select[data-field=prompt]").select_option(prompt)
    if seconds is not None:
        step.locator("[data-field=seconds]").fill(str(seconds))


def tidy_for_a_screenshot(page: Page) -> None:
    """No toasts, the page and the flow from their tops."""
    page.wait_for_timeout(300)
    page.evaluate("() => { document.querySelectorAll('.toast').forEach((t) => t.remove()); window.scrollTo(0, 0);"
                  " const f = document.querySelector('#flow'); if (f) f.scrollTop = 0; }")  # fmt: skip


def no_errors(page: Page) -> None:
    expect(page.locator("#validation")).to_have_attribute("data-errors", "0", timeout=5000)
    expect(page.locator("#validation")).not_to_have_class(has_class("checking"))


# --- the tests --------------------------------------------------------------------------------------


def test_an_empty_box_has_no_mode_refuses_calls_and_offers_to_build_one(
    box: Daemon, admin: Page, sip_phones: Callable[..., Phone]
) -> None:
    assert box.http.get("/api/modes").json() == {"active": None, "modes": []}
    status = box.status()
    assert status["mode"] is None
    assert status["components"]["mode"] == {"state": "degraded", "detail": "no active mode: calls are refused"}
    caller = sip_phones(name="too-early")
    call = caller.call(box.uri)
    ended = caller.wait_event("disconnected", call=call, timeout=10)
    assert ended["code"] == 503, ended
    admin.goto(box.base_url + "/#/status")
    expect(admin.locator("#status")).to_contain_text("keine aktive Betriebsart – Anrufe werden abgewiesen")
    admin.goto(box.base_url + "/#/modes")
    expect(admin.locator("#no-modes")).to_contain_text("Noch keine Betriebsart")


def test_the_customers_example_is_built_by_clicking_saved_activated_and_walked_by_real_callers(
    box: Daemon, admin: Page, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    page = admin
    page.goto(box.base_url + "/#/modes")
    page.click("#new-mode")
    page.fill("dialog [data-role=value]", "hotline")
    page.click("dialog [data-role=confirm]")
    # a hash change: no load event to wait for (wait_for_url timed out on a loaded machine); the URL is polled
    expect(page).to_have_url(re.compile(r"#/editor/hotline$"), timeout=60_000)
    expect(card(page, "greeting")).to_be_visible()  # a new mode: greeting, then hang up
    page.click("[data-tab=mode]")
    fill(page, "name", "Hotline", page.locator("#mode-form"))
    fill(page, "description", "IT-Hotline: LVS, SAP, PC", page.locator("#mode-form"))

    # 1-3: the greeting, then the main menu with its announcement
    open_node(page, "greeting")
    form(page).locator("[data-field=label]").fill("Begrüßung")
    assert choose(page, "prompt", "greeting") == "greeting"
    menu = choose(page, "next", "new:menu")
    open_node(page, menu)
    name_node(page, "main_menu", "Hauptmenü")
    choose(page, "prompt", "main_menu")
    choose(page, "invalid_prompt", "invalid_choice")
    choose(page, "timeout_prompt", "no_input")
    choose(page, "on_failure", "goodbye")
    # 4: digits 1, 2, 3 -- a digit without a target is a problem shown on the node; saving is refused
    form(page).locator("[data-action=add-choice]").click()
    expect(card(page, "main_menu").locator(".fc-badge.error")).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("Taste 1 hat kein Ziel")
    page.click("#save-mode")
    expect(page.locator("#save-refused")).to_contain_text("Taste 1 hat kein Ziel")
    queues = []
    for digit in "123":
        if digit != "1":
            form(page).locator("[data-action=add-choice]").click()
        row = form(page).locator(f".choice-row[data-digit='{digit}']")
        queues.append(choose(page, "target", "new:queue", row))
    expect(card(page, "main_menu").locator(".fc-badge.error")).to_have_count(0)
    expect(card(page, "main_menu").locator(".port.k-digit")).to_have_text(["1", "2", "3"])

    # 5: team A -- hold notice, short music, the notice again, long music; then the message offer.
    # The first two steps are added the wrong way round and put in order by drag and drop.
    open_node(page, queues[0])
    name_node(page, "queue_lvs", "Team A – LVS")
    choose(page, "team", "lvs")
    add_hold_step(page, "music", "music_a", 3)
    add_hold_step(page, "announcement", "hold_notice")
    assert hold_sequence(page) == ["music_a 3s", "hold_notice"]
    hold_steps(page).nth(1).locator(".grip").drag_to(hold_steps(page).nth(0))
    assert hold_sequence(page) == ["hold_notice", "music_a 3s"]
    add_hold_step(page, "announcement", "hold_notice")
    add_hold_step(page, "music", "music_a", 4)
    assert hold_sequence(page) == ["hold_notice", "music_a 3s", "hold_notice", "music_a 4s"]
    voicemail = choose(page, "after_hold", "new:voicemail")
    open_node(page, voicemail)
    name_node(page, "voicemail_lvs", "Nachricht LVS")
    choose(page, "prompt", "offer_message")
    choose(page, "team", "lvs")
    fill(page, "silence_seconds", "2")
    saved = choose(page, "next", "new:hangup")
    open_node(page, saved)
    name_node(page, "message_saved", "Danke")
    choose(page, "prompt", "message_saved")

    # 6: team B the same, with different music
    open_node(page, queues[1])
    name_node(page, "queue_sap", "Team B – SAP")
    choose(page, "team", "sap")
    add_hold_step(page, "announcement", "hold_notice")
    add_hold_step(page, "music", "music_b", 3)
    add_hold_step(page, "announcement", "hold_notice")
    add_hold_step(page, "music", "music_b", 4)
    voicemail = choose(page, "after_hold", "new:voicemail")
    open_node(page, voicemail)
    name_node(page, "voicemail_sap", "Nachricht SAP")
    choose(page, "prompt", "offer_message")
    choose(page, "team", "sap")
    fill(page, "silence_seconds", "2")
    choose(page, "next", "message_saved")

    # 7: team C: notice and music in a loop; after the maximum wait the message offer
    open_node(page, queues[2])
    name_node(page, "queue_pc", "Team C – PC")
    choose(page, "team", "pc")
    add_hold_step(page, "announcement", "hold_notice")
    add_hold_step(page, "music", "music_c", 4)
    form(page).locator("[data-field=repeat_hold]").check()
    expect(form(page).locator("[data-field=after_hold]")).to_have_count(0)
    form(page).locator("[data-field=max_wait]").fill(str(MAX_WAIT_PC))
    form(page).locator("[data-field=max_wait]").blur()
    voicemail = choose(page, "on_max_wait", "new:voicemail")
    open_node(page, voicemail)
    name_node(page, "voicemail_pc", "Nachricht PC")
    choose(page, "prompt", "offer_message")
    choose(page, "team", "pc")
    fill(page, "silence_seconds", "2")
    choose(page, "next", "message_saved")

    # 8: the outage switch on the "Allgemein" tab of the manual control, on the box's button
    page.click("[data-tab=switches]")
    page.click("#switches-form [data-action=add-switch]")
    switch = page.locator("#switches-form .switch-edit").first
    fill(page, "label", "SAP-Störung", switch)
    fill(page, "label_en", "SAP outage", switch)
    fill(page, "id", "sap_outage", switch)
    switch.locator("[data-field=front_panel]").check()
    assert switch.locator("select[data-field=node]").input_value() == "greeting"
    choose(page, "prompt", "outage_sap", switch.locator(".replace-row"))
    expect(card(page, "greeting").locator(".fc-switch")).to_contain_text("SAP-Störung")

    no_errors(page)
    page.click("#save-mode")
    expect(page.locator("#editor-version")).to_have_text("Version 2")
    expect(page.locator("#dirty")).to_be_hidden()
    page.click("#activate-mode")
    page.click("dialog [data-role=confirm]")
    expect(page.locator("#editor-active")).to_be_visible()
    card(page, "queue_lvs").click()
    page.set_viewport_size({"width": 1440, "height": 1050})  # a desktop screen that shows the whole flow
    tidy_for_a_screenshot(page)
    shot(page, "editor")
    page.set_viewport_size(DESKTOP)

    # what the box keeps is the customer's example
    assert box.http.get("/api/modes").json() == {"active": "hotline", "modes": ["hotline"]}
    mode = box.http.get("/api/modes/hotline").json()
    nodes = mode["nodes"]
    assert mode["start"] == "greeting" and nodes["greeting"]["next"] == "main_menu"
    assert nodes["main_menu"]["choices"] == {"1": "queue_lvs", "2": "queue_sap", "3": "queue_pc"}
    assert [s.get("music") or s.get("announcement") for s in nodes["queue_sap"]["hold"]] == [
        "hold_notice", "music_b", "hold_notice", "music_b",
    ]  # fmt: skip
    assert nodes["queue_pc"]["max_wait"] == MAX_WAIT_PC and nodes["queue_pc"]["repeat_hold"]
    assert mode["switches"][0]["replaces"] == [{"node": "greeting", "prompt": "outage_sap"}]
    assert box.http.get("/api/switches").json()[0]["label"] == "SAP-Störung"
    versions = box.http.get("/api/editor/modes/hotline/versions").json()
    assert [(v["version"], v["author"]) for v in versions] == [(2, "chef"), (1, "chef")]
    # the server refuses a broken document too, whoever sends it
    broken = {**mode, "nodes": {**nodes, "main_menu": {**nodes["main_menu"], "choices": {"1": "nowhere"}}}}
    r = box.http.put("/api/modes/hotline", json=broken)
    assert r.status_code == 422 and "nowhere" in r.json()["problem"]

    walk_branch_1(box, sip_phones, tmp_path)
    walk_branch_3(box, sip_phones, tmp_path)


def listen_and_choose(box: Daemon, caller: Phone, digit: str, rx: Path) -> tuple[int, float]:
    """Call, press ``digit`` during the main menu; returns the call and when (seconds into the
    recording) the box put the caller in a queue: what the caller hears next is timed from there
    (on a loaded machine the digit may arrive a few hundred ms late)."""
    call = caller.call(box.uri, record=rx)
    caller.wait_event("media_active", call=call, timeout=5)
    t0 = time.monotonic()
    time.sleep(prompt_seconds("greeting") + 2.0)
    caller.dtmf(call, digit)
    wait_until(lambda: box.http.get("/api/queues").json(), 5, f"the caller in a queue after {digit}", poll=0.02)
    return call, time.monotonic() - t0


def leave_a_message(caller: Phone, call: int, tone: Path, seconds: float) -> None:
    caller.play(call, tone)
    time.sleep(seconds)
    caller.play(call, None)  # then silence: the recording ends after 2 s of it
    caller.wait_event("disconnected", call=call, timeout=20)
    caller.wait_event("recording_done", call=call, timeout=5)


def walk_branch_1(box: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path) -> None:
    tone = tmp_path / "600.wav"
    make_tone_wav(tone, 600, 3.0, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="branch1", codecs="PCMU")
    rx = tmp_path / "branch1.wav"
    call, digit_at = listen_and_choose(box, caller, "1", rx)
    queued = wait_until(lambda: box.http.get("/api/queues").json(), 5, "the call in team A's queue")
    assert [(q["team"], q["position"]) for q in queued] == [("lvs", 1)]
    notice = prompt_seconds("hold_notice")
    offer_at = digit_at + 2 * notice + 3 + 4
    time.sleep(max(0.0, offer_at - digit_at) + prompt_seconds("offer_message") + 0.8)
    leave_a_message(caller, call, tone, 3.0)
    x, rate = read_wav(rx)
    music_at = digit_at + notice
    scores = {
        "greeting": heard(x, rate, 0.0, PROMPTS / "greeting.wav"),
        "main_menu": heard(x, rate, prompt_seconds("greeting"), PROMPTS / "main_menu.wav", length=1.8),
        "hold_notice": heard(x, rate, digit_at, PROMPTS / "hold_notice.wav"),
        "music_a": heard(x, rate, music_at, MUSIC / "music_a.wav", length=2.5),
        "hold_notice_2": heard(x, rate, music_at + 3, PROMPTS / "hold_notice.wav"),
        "music_a_2": heard(x, rate, music_at + 3 + notice, MUSIC / "music_a.wav", length=3.0),
        "offer_message": heard(x, rate, offer_at, PROMPTS / "offer_message.wav"),
    }
    print("\nbranch 1, correlations:", {k: round(v, 2) for k, v in scores.items()})
    assert all(v > 0.6 for v in scores.values()), scores
    message = wait_until(lambda: box.http.get("/api/messages", params={"team": "lvs"}).json(), 5, "the message")[0]
    wav = tmp_path / "message1.wav"
    wav.write_bytes(box.http.get(f"/api/messages/{message['id']}/audio").content)
    assert tone_level(*read_wav(wav), 600) > 0.6


def walk_branch_3(box: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path) -> None:
    tone = tmp_path / "850.wav"
    make_tone_wav(tone, 850, 2.5, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="branch3", codecs="PCMA")
    rx = tmp_path / "branch3.wav"
    call, digit_at = listen_and_choose(box, caller, "3", rx)
    entered = wait_until(lambda: box.http.get("/api/queues", params={"team": "pc"}).json(), 5, "team C's queue")
    assert entered[0]["position"] == 1
    time.sleep(MAX_WAIT_PC + prompt_seconds("offer_message") + 0.8)
    leave_a_message(caller, call, tone, 2.5)
    x, rate = read_wav(rx)
    notice = prompt_seconds("hold_notice")
    scores = {
        "hold_notice": heard(x, rate, digit_at, PROMPTS / "hold_notice.wav"),
        "music_c": heard(x, rate, digit_at + notice, MUSIC / "music_c.wav", length=3.0),
        "offer_message": heard(x, rate, digit_at + MAX_WAIT_PC + 0.2, PROMPTS / "offer_message.wav"),
    }
    print("\nbranch 3, correlations:", {k: round(v, 2) for k, v in scores.items()})
    assert all(v > 0.6 for v in scores.values()), scores
    message = wait_until(lambda: box.http.get("/api/messages", params={"team": "pc"}).json(), 5, "the message")[0]
    wav = tmp_path / "message3.wav"
    wav.write_bytes(box.http.get(f"/api/messages/{message['id']}/audio").content)
    assert tone_level(*read_wav(wav), 850) > 0.6
    row = next(r for r in box.http.get("/api/calllog").json() if r["message_id"] == message["id"])
    assert row["outcome"] == "voicemail" and row["team"] == "pc"
    assert MAX_WAIT_PC - 0.5 <= row["waited_s"] <= MAX_WAIT_PC + 1.5


def first_seconds(box: Daemon, phone: Phone, rx: Path, seconds: float) -> tuple[Any, int]:
    call = phone.call(box.uri, record=rx)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(seconds)
    phone.hangup(call)
    phone.wait_event("recording_done", call=call, timeout=5)
    return read_wav(rx)


def test_rolling_back_a_version_in_the_browser_changes_what_the_next_caller_hears(
    box: Daemon, admin: Page, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    page = admin
    page.goto(box.base_url + "/#/editor/hotline")
    open_node(page, "greeting")
    choose(page, "prompt", "closed")  # "the hotline is not staffed at the moment ..."
    expect(page.locator("#dirty")).to_be_visible()
    # the active mode: saving says callers hear it at once, and offers to try it first
    page.click("#save-mode")
    expect(page.locator("dialog")).to_contain_text("ab sofort")
    page.click("dialog [data-choice=try]")
    expect(page.locator("[data-tab=try][aria-selected=true]")).to_be_visible()
    expect(page.locator("#dirty")).to_be_visible()  # nothing saved
    page.click("#save-mode")
    page.click("dialog [data-choice=save]")
    expect(page.locator("#editor-version")).to_have_text("Version 3")
    phone = sip_phones(name="rollback")
    x, rate = first_seconds(box, phone, tmp_path / "v3.wav", prompt_seconds("closed") + 0.5)
    assert heard(x, rate, 0.0, PROMPTS / "closed.wav") > 0.6

    page.click("#open-versions")
    versions = page.locator("#versions")
    expect(versions.locator("tr[data-version]")).to_have_count(3)
    diff = versions.locator("#version-diff")  # v2 against v3 at first
    expect(diff.locator(".del")).to_contain_text(["prompt: greeting"])
    expect(diff.locator(".add")).to_contain_text(["prompt: closed"])
    shot(page, "editor-versions")
    versions.locator("tr[data-version='1'] input[name=v-a]").check()
    expect(versions.locator(".diff-caption")).to_contain_text("Version 1 → Version 3")
    expect(diff.locator(".add")).to_contain_text(["type: menu"])  # v1 against v3: the whole flow was added
    versions.locator("tr[data-version='2'] [data-action=rollback]").click()
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(page.locator("#editor-version")).to_have_text("Version 4")
    expect(card(page, "greeting").locator(".fc-line .mono")).to_have_text("greeting")
    x, rate = first_seconds(box, phone, tmp_path / "v4.wav", prompt_seconds("greeting") + 0.5)
    greeting, closed = heard(x, rate, 0.0, PROMPTS / "greeting.wav"), heard(x, rate, 0.0, PROMPTS / "closed.wav")
    print(f"\nafter the rollback: greeting {greeting:.2f}, closed {closed:.2f}")
    assert greeting > 0.6 and closed < 0.3
    saves = [(a["who"], a["detail"]) for a in box.http.get("/api/audit").json() if a["action"] == "mode.save"]
    assert saves[0] == ("chef", "hotline v4")
    assert box.http.get("/api/editor/modes/hotline/versions").json()[0]["comment"] == "rollback to v2"


def test_trying_the_unsaved_mode_without_a_phone_plays_its_prompts_in_the_browser(box: Daemon, admin: Page) -> None:
    page = admin
    page.goto(box.base_url + "/#/editor/hotline")
    # a step added from the toolbar: without a prompt it is an error, once it has one it is still
    # not linked (a warning); deleted again
    expect(card(page, "greeting")).to_be_visible()
    page.click("[data-add=announcement]")
    expect(card(page, "announcement")).to_be_visible()
    expect(page.locator(".flow-unreachable")).to_contain_text("Nicht vom Start erreichbar")
    expect(card(page, "announcement").locator(".fc-badge.error")).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("Ansage fehlt")
    choose(page, "prompt", "goodbye")
    expect(card(page, "announcement").locator(".fc-badge.warning")).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("vom Start aus nicht erreichbar")
    form(page).locator("[data-action=delete-node]").click()
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(card(page, "announcement")).to_have_count(0)
    open_node(page, "greeting")
    choose(page, "prompt", "connecting")  # not saved: the simulation plays what the editor holds
    page.click("[data-tab=try]")
    page.click("#sim-start")
    now = page.locator("#sim-now")
    expect(now).to_contain_text("connecting")
    audio = page.locator("#sim-audio")
    expect(audio).to_have_attribute("src", "/api/prompts/connecting/audio")
    page.wait_for_function(  # the browser really plays it
        "() => { const a = document.querySelector('#sim-audio'); return a.currentTime > 0.2 && !a.error; }",
        timeout=5000,
    )
    expect(card(page, "greeting")).to_have_class(has_class("sim-here"))
    # in real time the prompt ends and the menu follows by itself
    expect(now).to_contain_text("main_menu", timeout=int((prompt_seconds("connecting") + 3) * 1000))
    expect(audio).to_have_attribute("src", "/api/prompts/main_menu/audio")
    page.locator("#sim-realtime").uncheck()
    page.click("#sim-keypad [data-digit='3']")
    expect(now).to_contain_text("hold_notice")
    expect(now).to_contain_text("Team PC, Position 1")
    expect(card(page, "queue_pc")).to_have_class(has_class("sim-here"))
    page.click("#sim-skip")
    expect(now).to_contain_text("music_c")
    expect(audio).to_have_attribute("src", "/api/prompts/music_c/audio")
    assert audio.evaluate("a => a.loop")
    tidy_for_a_screenshot(page)
    shot(page, "editor-try")
    page.click("#sim-agent")
    expect(now).to_contain_text("Ein Mitarbeiter hat übernommen")
    transcript = page.locator("#sim-transcript li")
    expect(transcript.first).to_contain_text("connecting")
    expect(page.locator("#sim-transcript li[data-kind=digit]")).to_contain_text(["Taste 3 gedrückt"])
    page.click("#sim-hangup")
    expect(now).to_contain_text("Anruf beendet")
    # nothing reached the real box: no caller waits, the mode on the box is unchanged
    assert box.http.get("/api/queues").json() == []
    assert box.http.get("/api/modes/hotline").json()["nodes"]["greeting"]["prompt"] == "greeting"
    # leaving the editor with unsaved changes asks first
    page.click(".nav a[data-page=control]")
    page.locator("dialog.confirm [data-role=cancel]").click()
    expect(page).to_have_url(f"{box.base_url}/#/editor/hotline")
    page.click(".nav a[data-page=control]")
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(page).to_have_url(f"{box.base_url}/#/control")
    expect(page.locator("article[data-switch=sap_outage]")).to_be_visible()


def test_modes_are_imported_from_a_file_duplicated_renamed_and_deleted_in_the_browser(
    box: Daemon, admin: Page, tmp_path: Path
) -> None:
    page = admin
    exported = box.http.get("/api/editor/modes/hotline/export", params={"format": "json"})
    assert exported.headers["content-disposition"] == 'attachment; filename="hotline.json"'
    night = tmp_path / "Nacht.json"
    document = exported.json()
    document["name"] = "Nachtbetrieb"
    night.write_text(json.dumps(document), encoding="utf-8")
    page.goto(box.base_url + "/#/modes")
    expect(page.locator("tr[data-mode=hotline] [data-action=export]")).to_have_attribute(
        "href", "/api/editor/modes/hotline/export?format=yaml"
    )
    page.set_input_files("#import-file", str(night))
    expect(page.locator("dialog [data-role=value]")).to_have_value("Nacht")
    page.fill("dialog [data-role=value]", "night")
    page.click("dialog [data-role=confirm]")
    row = page.locator("tr[data-mode=night]")
    expect(row).to_contain_text("Nachtbetrieb")
    expect(row).to_contain_text("v1")
    assert box.http.get("/api/editor/modes/night/versions").json()[0]["author"] == "chef"
    # a broken file is refused with the box's reason, and nothing is stored
    broken = tmp_path / "broken.yaml"
    broken.write_text("start: x\nnodes: {x: {type: jump}}\n", encoding="utf-8")
    page.set_input_files("#import-file", str(broken))
    page.click("dialog [data-role=confirm]")
    expect(page.locator(".toast.alarm")).to_contain_text("Nicht importiert")
    expect(page.locator("tr[data-mode=broken]")).to_have_count(0)
    row.locator("[data-action=duplicate]").click()
    page.fill("dialog [data-role=value]", "weekend")
    page.click("dialog [data-role=confirm]")
    expect(page.locator("tr[data-mode=weekend]")).to_be_visible()
    page.locator("tr[data-mode=weekend] [data-action=rename]").click()
    page.fill("dialog [data-role=value]", "night")
    page.click("dialog [data-role=confirm]")
    expect(page.locator("dialog .error")).to_contain_text("„night“ gibt es schon")
    page.fill("dialog [data-role=value]", "holiday")
    page.click("dialog [data-role=confirm]")
    expect(page.locator("tr[data-mode=holiday]")).to_be_visible()
    expect(page.locator("tr[data-mode=weekend]")).to_have_count(0)
    for name in ("holiday", "night"):
        page.locator(f"tr[data-mode={name}] [data-action=delete]").click()
        page.locator("dialog.confirm [data-role=confirm]").click()
        expect(page.locator(f"tr[data-mode={name}]")).to_have_count(0)
    expect(page.locator("tr[data-mode=hotline] [data-action=delete]")).to_be_disabled()  # the active one
    assert box.http.get("/api/modes").json()["modes"] == ["hotline"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def test_uploads_in_the_browser_convert_mp3_and_ogg_and_refuse_a_picture_and_a_two_hour_file(
    box: Daemon, admin: Page, tmp_path: Path
) -> None:
    page = admin
    mp3, ogg = tmp_path / "Ansage Sommer.mp3", tmp_path / "jingle.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=700:duration=3:sample_rate=44100", "-af", "volume=0.05", str(mp3))
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=500:duration=4:sample_rate=22050", "-af", "volume=0.1", str(ogg))
    png = tmp_path / "logo.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(png))
    picture = tmp_path / "logo.wav"
    picture.write_bytes(png.read_bytes())
    meeting = tmp_path / "meeting.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200", str(meeting))
    page.goto(box.base_url + "/#/prompts")
    result = page.locator("#upload-result")

    page.set_input_files("#upload-file", str(mp3))
    expect(page.locator("#upload-name")).to_have_value("ansage_sommer")  # a name from the file
    page.click("#upload-submit")
    expect(result).to_contain_text("„ansage_sommer“ ist in der Bibliothek", timeout=20000)
    row = page.locator("tr[data-prompt=ansage_sommer]")
    expect(row).to_have_attribute("data-source", "uploaded")
    expect(page.locator("#library-player")).to_have_attribute("src", "/api/prompts/ansage_sommer/audio")

    page.set_input_files("#upload-file", str(ogg))
    page.fill("#upload-name", "music_jingle")
    page.click("#upload-kind [data-kind=music]")
    page.click("#upload-submit")
    expect(result).to_contain_text("„music_jingle“ ist in der Bibliothek", timeout=20000)
    expect(page.locator("tr[data-prompt=music_jingle]")).to_have_attribute("data-kind", "music")
    stored, rate = read_wav(box.data_dir / "prompts" / "music" / "music_jingle.wav")
    assert rate == 16000 and tone_level(stored, rate, 500) > 0.8

    page.set_input_files("#upload-file", str(picture))
    page.click("#upload-submit")
    # the refusal in German, with what to do next (the box's code, web/refusals.py)
    expect(result).to_contain_text("Abgelehnt: „logo.wav“ ist keine Audiodatei.", timeout=20000)
    expect(result).to_contain_text("Nehmen Sie eine WAV-, MP3-, OGG- oder FLAC-Datei.")
    page.set_input_files("#upload-file", str(meeting))
    page.click("#upload-submit")
    expect(result).to_contain_text("ist zu lang (2:00:00, höchstens 15:00)", timeout=30000)
    expect(page.locator("tr[data-prompt=logo]")).to_have_count(0)
    expect(page.locator("tr[data-prompt=meeting]")).to_have_count(0)

    # a draft from text (espeak-ng), heard in the browser's player
    page.fill("#tts-name", "outage_phone")
    page.fill("#tts-text", "Unsere Telefonanlage ist gestört. Wir arbeiten daran.")
    page.click("#tts-submit")
    expect(page.locator("#tts-result")).to_contain_text("„outage_phone“ ist in der Bibliothek", timeout=20000)
    page.wait_for_function(
        "() => { const a = document.querySelector('#library-player'); return a.currentTime > 0.2 && !a.error; }",
        timeout=5000,
    )
    # the library says which mode uses what; an uploaded, unused prompt is deleted
    expect(page.locator("tr[data-prompt=greeting]")).to_contain_text("hotline")
    page.locator("tr[data-prompt=ansage_sommer] [data-action=delete]").click()
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(page.locator("tr[data-prompt=ansage_sommer]")).to_have_count(0)
    # a prompt a mode uses is replaced by an upload of its name (after asking), and cannot be deleted
    page.set_input_files("#upload-file", str(ogg))
    page.fill("#upload-name", "no_input")
    page.click("#upload-kind [data-kind=prompt]")
    page.click("#upload-submit")
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(result).to_contain_text("„no_input“ ist in der Bibliothek", timeout=20000)
    expect(page.locator("tr[data-prompt=no_input]")).to_have_attribute("data-source", "uploaded")
    page.locator("tr[data-prompt=no_input] [data-action=delete]").click()
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(page.locator(".toast.alarm")).to_contain_text("„no_input“ wird noch benutzt von: hotline")
    expect(page.locator("tr[data-prompt=no_input]")).to_have_count(1)
    page.locator("tr[data-prompt=outage_phone] [data-action=listen]").click()
    tidy_for_a_screenshot(page)
    shot(page, "library", full_page=True)


def test_the_schedule_page_sets_a_week_plan_and_shows_the_next_change(box: Daemon, admin: Page) -> None:
    page = admin
    closed = {"schema_version": 1, "name": "Geschlossen", "start": "closed",
              "nodes": {"closed": {"type": "announcement", "prompt": "closed", "next": "goodbye"},
                        "goodbye": {"type": "hangup", "prompt": "goodbye"}}}  # fmt: skip
    r = box.http.post("/api/editor/modes/closed", json=closed)  # the mode outside opening hours
    assert r.status_code == 200, r.text
    page.goto(box.base_url + "/#/schedule")
    expect(page.locator("#schedule-why")).to_contain_text("Die Zeitsteuerung ist aus")
    page.locator("#schedule-enabled").check()
    page.select_option("#open-mode", "hotline")
    page.select_option("#closed-mode", "closed")
    page.select_option("#federal-state", "NW")
    monday = page.locator(".day[data-day=mon]")
    monday.locator("[data-part=end]").fill("12:00")
    monday.locator("[data-action=add-span]").click()  # the afternoon: 13:00-17:00
    expect(monday.locator(".span")).to_have_count(2)
    monday.locator(".span[data-index='1'] [data-part=end]").fill("18:30")
    page.click("#copy-monday")
    expect(page.locator(".day[data-day=fri] .span")).to_have_count(2)
    saturday = page.locator(".day[data-day=sat]")
    saturday.locator("[data-action=add-span]").click()
    saturday.locator("[data-part=start]").fill("09:00")
    saturday.locator("[data-part=end]").fill("12:00")
    page.fill("#closed-day-input", "2026-12-24")
    page.click("#add-closed-day")
    page.click("#save-schedule")
    expect(page.locator(".toast")).to_contain_text("Zeitplan gespeichert")

    saved = box.http.get("/api/schedule").json()
    week = saved["schedule"]["week"]
    assert week["mon"] == week["fri"] == [["08:00", "12:00"], ["13:00", "18:30"]]
    assert week["sat"] == [["09:00", "12:00"]] and week["sun"] == []
    assert saved["schedule"]["holidays_state"] == "NW" and saved["schedule"]["closed_days"] == ["2026-12-24"]
    # the page shows the next change the box computes (the switching itself: tests/unit/test_scheduling.py)
    schedule = Schedule.model_validate(saved["schedule"])
    expected = next_change(schedule, datetime.fromisoformat(saved["now"]), public_holidays("DE", "NW", "de"))
    assert expected is not None
    shown = page.locator("#next-change")
    expect(shown).to_have_attribute("data-mode", expected[1])
    assert datetime.fromisoformat(shown.get_attribute("data-at") or "") == expected[0]
    expect(shown).to_contain_text(expected[0].strftime("%H:%M"))
    expect(shown).to_contain_text(expected[0].strftime("%d.%m."))
    expect(page.locator("#upcoming-holidays li").first).to_contain_text(
        saved["upcoming_holidays"][0]["name"] or "eigener Schließtag"
    )
    expect(page.locator("#active-mode")).to_contain_text(saved["scheduled_mode"])
    tidy_for_a_screenshot(page)
    shot(page, "schedule", full_page=True)

    # activating the other mode by hand overrides the plan, until "back to the schedule"
    other = "closed" if saved["scheduled_mode"] == "hotline" else "hotline"
    page.goto(box.base_url + "/#/modes")
    expect(page.locator("#modes-notice")).to_contain_text("Die Zeitsteuerung wählt die Betriebsart")
    page.locator(f"tr[data-mode={other}] [data-action=activate]").click()
    expect(page.locator("dialog.confirm")).to_contain_text("Zurück zum Zeitplan")
    page.locator("dialog.confirm [data-role=confirm]").click()
    expect(page.locator("#override-notice")).to_contain_text(f"„{other}“")
    tidy_for_a_screenshot(page)
    shot(page, "modes")
    page.goto(box.base_url + "/#/schedule")
    expect(page.locator("#active-mode")).to_contain_text(other)
    page.click("#resume-schedule")
    expect(page.locator("#active-mode")).to_contain_text(saved["scheduled_mode"])
    expect(page.locator("#override-notice")).to_have_count(0)
    assert box.http.get("/api/schedule").json()["override"] is None
