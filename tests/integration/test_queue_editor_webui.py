"""The queue's announce step and keys in the mode editor, in a real browser (Debian's chromium,
driven by Playwright) against the real daemon: set by clicking, drawn as edges, tried in the
simulator (the key pressed on the on-screen keypad), saved and refused when broken."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.harness import editor
from tests.harness.browser import shot
from tests.harness.daemon import Daemon
from tests.harness.editor import card, form, has_class

pytestmark = pytest.mark.peers

browser, box, page = editor.browser, editor.box, editor.page  # the shared fixtures


def test_announce_step_and_a_queue_key_are_set_drawn_tried_and_saved_in_the_editor(box: Daemon, page: Page) -> None:
    card(page, "queue_lvs").click()
    expect(form(page).locator("[data-field=id]")).to_have_value("queue_lvs")
    # the first hold step becomes "position and expected wait"
    steps = form(page).locator(".hold-step")
    steps.nth(0).locator("[data-kind=announce]").click()
    expect(steps.nth(0)).to_have_attribute("data-kind", "announce")
    expect(steps.nth(0).locator("select[data-field=announce]")).to_have_value("both")
    expect(card(page, "queue_lvs").locator(".fc-hold li").first).to_contain_text("Position und Wartezeit")
    expect(form(page).locator("[data-field=announce_every]")).to_have_attribute("placeholder", "60")
    form(page).locator("[data-field=wait_min_observations]").fill("3")
    # a key without a target is a problem shown on the node, like a menu digit without one
    form(page).locator("[data-action=add-key]").click()
    row = form(page).locator("[data-field=keys] .choice-row[data-digit='*']")
    expect(row).to_be_visible()
    expect(page.locator("#node-problems")).to_contain_text("Taste * hat kein Ziel")
    row.locator("select[data-field=target]").select_option("voicemail_lvs")
    expect(page.locator("#node-problems")).to_be_hidden()
    # drawn: a port "*" on the card and an edge from it to the message step
    expect(card(page, "queue_lvs").locator(".port.k-digit")).to_have_text(["*"])
    edge = page.locator("path.edge.k-digit[data-from=queue_lvs][data-to=voicemail_lvs]")
    expect(edge).to_have_count(1)
    shot(page, "editor-queue-keys")

    # tried without a phone: the caller in team A hears the position ("please hold": the
    # simulation has seen no hand-overs) and leaves for the message at once with '*'
    page.click("[data-tab=try]")
    page.locator("#sim-realtime").uncheck()
    page.click("#sim-start")
    now = page.locator("#sim-now")
    expect(now).to_contain_text("greeting")
    page.click("#sim-keypad [data-digit='1']")  # typed ahead: the menu takes it after the greeting
    page.click("#sim-skip")
    expect(now).to_contain_text("queue_position_1")
    transcript = page.locator("#sim-transcript")
    expect(transcript.locator("li[data-kind=announce]")).to_contain_text(
        ["Ansage: Position 1, „bitte Geduld“ ohne Wartezeit (0 Übergaben an Mitarbeiter gemessen)"]
    )
    page.click("#sim-skip")
    expect(now).to_contain_text("queue_patience")
    page.click("#sim-keypad [data-digit='*']")
    expect(now).to_contain_text("offer_message")
    expect(now).not_to_contain_text("Position")  # out of the queue
    expect(card(page, "voicemail_lvs")).to_have_class(has_class("sim-here"))
    page.click("#sim-hangup")

    # saved: the box took it (its own checks passed) and keeps what the editor showed
    page.click("#save-mode")
    page.locator("dialog [data-choice=save]").click()  # the active mode: save live
    expect(page.locator("#save-refused")).to_be_hidden()
    saved = box.http.get("/api/modes/hotline").json()["nodes"]["queue_lvs"]
    assert saved["hold"][0] == {"announce": "both"}
    assert saved["keys"] == {"*": "voicemail_lvs"} and saved["wait_min_observations"] == 3


def test_a_hold_sequence_of_announce_steps_only_cannot_be_saved(box: Daemon, page: Page) -> None:
    card(page, "queue_sap").click()
    steps = form(page).locator(".hold-step")
    for _ in range(steps.count() - 1):
        steps.last.locator("[data-action=remove-step]").click()
    steps.nth(0).locator("[data-kind=announce]").click()
    expect(page.locator("#node-problems")).to_contain_text("mindestens einen Wartehinweis oder Musik")
    page.click("#save-mode")
    expect(page.locator("#save-refused")).to_contain_text("mindestens einen Wartehinweis oder Musik")
    assert box.http.get("/api/modes/hotline").json()["nodes"]["queue_sap"]["hold"][0] == {"announcement": "hold_notice"}
