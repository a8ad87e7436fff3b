"""The condition node (caller rules) in the mode editor, in a real browser (Debian's chromium,
driven by Playwright) against the real daemon: the shipped mode's rules shown and drawn, a rule
added by clicking, tried in the simulator with a caller number (the box's real block list) and
with the number withheld, then saved."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.harness import editor
from tests.harness.browser import shot
from tests.harness.daemon import Daemon
from tests.harness.editor import card, form

pytestmark = pytest.mark.peers

browser, box, page = editor.browser, editor.box, editor.page  # the shared fixtures


def simulate(page: Page, caller: str | None) -> Locator:
    """Start the simulator as ``caller`` (None: number withheld); what the caller hears now."""
    page.click("[data-tab=try]")
    page.locator("#sim-realtime").uncheck()
    if caller is None:
        page.locator("#sim-anonymous").check()
    else:
        page.locator("#sim-anonymous").uncheck()
        page.fill("#sim-caller", caller)
    page.click("#sim-start")
    return page.locator("#sim-now")


def test_the_caller_rules_are_shown_drawn_changed_tried_and_saved(box: Daemon, page: Page) -> None:
    rules = card(page, "caller_rules")
    expect(rules.locator(".fc-start")).to_be_visible()  # the shipped mode starts with them
    expect(rules.locator(".port")).to_have_text(["gesperrt", "anonym", "sonst"])
    expect(page.locator("path.edge.k-rule[data-from=caller_rules][data-to=blocked]")).to_have_count(1)
    expect(page.locator("path.edge.k-otherwise[data-from=caller_rules][data-to=greeting]")).to_have_count(1)
    rules.click()
    rows = form(page).locator(".rule-row")
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("select[data-field=test]")).to_have_value("blocked")
    expect(rows.nth(0).locator("select[data-field=next]")).to_have_value("blocked")

    # a new rule: callers from Berlin (030) hear the goodbye; without numbers it is a problem
    form(page).locator("[data-action=add-rule]").click()
    new = rows.nth(2)
    new.locator("select[data-field=test]").select_option("number")
    expect(page.locator("#node-problems")).to_be_visible()
    new = form(page).locator(".rule-row").nth(2)
    new.locator("input[data-field=numbers]").fill("030*, +4940*")
    new.locator("select[data-field=next]").select_option("goodbye")
    expect(page.locator("#node-problems")).to_be_hidden()
    expect(rules.locator(".port")).to_have_text(["gesperrt", "anonym", "Nummer", "sonst"])
    expect(page.locator("path.edge.k-rule[data-from=caller_rules][data-to=goodbye]")).to_have_count(1)
    shot(page, "editor-caller-rules")

    # tried: a Berlin number takes the new rule, a withheld one the anonymous branch (the greeting),
    # and a number an agent put on the block list hears the rejection
    now = simulate(page, "030 9876543")
    expect(now).to_contain_text("goodbye")
    page.click("#sim-hangup")
    now = simulate(page, None)
    expect(now).to_contain_text("greeting")
    page.click("#sim-hangup")
    assert box.http.post("/api/caller-lists/block", json={"number": "0221 555"}).is_success
    now = simulate(page, "+49221555")
    expect(now).to_contain_text("caller_blocked")
    page.click("#sim-hangup")

    page.click("#save-mode")
    page.locator("dialog [data-choice=save]").click()  # the active mode: save live
    expect(page.locator("#dirty")).to_be_hidden()  # the save has come back (before it, the API has the old mode)
    expect(page.locator("#save-refused")).to_be_hidden()
    saved = box.http.get("/api/modes/hotline").json()["nodes"]["caller_rules"]
    assert saved["rules"][2] == {"test": "number", "numbers": ["030*", "+4940*"], "next": "goodbye"}
    assert saved["otherwise"] == "greeting"
