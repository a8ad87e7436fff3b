"""The web page's forms as a non-technical admin and an agent meet them (issue 17), in chromium:
allowed login numbers as plain choices with a preview, an agent and its account (and desk-phone
PIN) in one form, editing an account with Abbrechen and a fixed user name, a refusal shown in
the reader's language with what to do next, and logging out of the page asking what to do
with the phone service."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, DESKTOP, logged_in, shot
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.webclient import ADMIN, add_agent_account, first_admin

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {
        "teams": [{"id": t, "name": t.upper()} for t in ("lvs", "sap", "pc")],
        "desk_phone": {"number": "991"},
    }
    with running_daemon(tmp_path_factory.mktemp("webui-admin"), config=config) as daemon:
        first_admin(daemon)
        add_agent_account(daemon, "anna", "anna-password", ["lvs", "sap"], "Anna Schmidt")
        yield daemon


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


def test_allowed_login_numbers_are_plain_choices_with_a_preview(box: Daemon, browser: Browser) -> None:
    context, page = logged_in(browser, box, *ADMIN, viewport=DESKTOP, hash_="#/admin")
    page.locator("#teams tr[data-team=lvs] button", has_text="Bearbeiten").click()
    numbers = page.locator("#team-numbers")
    expect(numbers).to_contain_text("Mit diesen Nummern dürfen sich Mitarbeiter")  # inline help
    expect(page.locator("#numbers-internal")).to_be_checked()
    page.fill("#numbers-example", "0171 1234567")
    expect(page.locator("#numbers-verdict")).to_have_text("nicht erlaubt")
    page.check("#numbers-mobile")
    expect(page.locator("#numbers-verdict")).to_have_text("erlaubt")
    page.fill("#numbers-example", "sip:anna@vpn.firma.de")
    expect(page.locator("#numbers-verdict")).to_have_text("nicht erlaubt")
    page.fill("#numbers-domain", "vpn.firma.de")
    expect(page.locator("#numbers-verdict")).to_have_text("erlaubt")
    page.fill("#numbers-example", "0900 123456")
    expect(page.locator("#numbers-verdict")).to_have_text("nicht erlaubt")
    page.locator("#team-numbers").scroll_into_view_if_needed()
    shot(page, "admin-teams-numbers")
    page.click("#save-team")
    expect(page.locator("#teams tr[data-team=lvs]")).to_contain_text("Handynummern (DE)")
    team = next(t for t in box.http.get("/api/teams").json()["teams"] if t["id"] == "lvs")
    assert team["allowed_numbers"] == ["default", "^(0|\\+49|0049)1[5-7][0-9]{7,10}$", "sip:*@vpn.firma.de"]
    assert page.__dict__["js_errors"] == []
    context.close()


def test_an_agent_its_account_and_its_pin_are_made_in_one_form_and_an_account_edit_can_be_cancelled(
    box: Daemon, browser: Browser
) -> None:
    context, page = logged_in(browser, box, *ADMIN, viewport=DESKTOP, hash_="#/admin")
    page.fill("#new-agent-id", "ben")
    page.fill("#new-agent-name", "Ben Krause")
    page.fill("#new-agent-number", "202")
    page.locator("#agents .team-picks input[value=lvs]").check()
    page.fill("#new-agent-pin", "2468")
    page.check("#new-agent-account")
    page.fill("#new-agent-password", "ben-password")
    page.click("#save-agent")
    expect(page.locator("#users tr[data-user=ben]")).to_contain_text("Ben Krause")
    expect(page.locator("#agents tr[data-agent=ben]")).to_contain_text("gesetzt")
    assert box.http.get("/api/desk-phone").json()["agents_with_pin"] == ["ben"]
    user = next(u for u in box.http.get("/api/users").json() if u["name"] == "ben")
    assert (user["role"], user["agent_id"]) == ("agent", "ben")
    # editing an account: the user name is fixed, and Abbrechen leads back to a new one
    page.locator("#users tr[data-user=ben] button", has_text="Bearbeiten").click()
    expect(page.locator("#user-form-title")).to_have_text("Konto „ben“ bearbeiten")
    expect(page.locator("#new-user-name")).to_be_disabled()
    page.click("#cancel-user")
    expect(page.locator("#new-user-name")).to_be_enabled()
    expect(page.locator("#new-user-name")).to_have_value("")
    context.close()


def test_a_refused_login_number_is_explained_in_the_readers_language_with_whom_to_ask(
    box: Daemon, browser: Browser
) -> None:
    context, page = logged_in(browser, box, "anna", "anna-password")
    page.fill("#phone-number", "0900 123456")
    page.click("#agent-login")
    refusal = page.locator("#work-refusal")
    expect(refusal).to_have_attribute("data-code", "number_not_allowed")
    expect(refusal).to_contain_text("Mit der Nummer 0900123456 dürfen Sie sich für LVS, SAP nicht anmelden")
    expect(refusal).to_contain_text("Verwaltung → Teams")
    expect(page.locator(".workplace .ask")).to_contain_text("Chefin")
    assert "is not a number" not in page.locator("main").inner_text()
    shot(page, "client-refusal")
    page.click("[data-lang=en]")
    page.fill("#phone-number", "0900 123456")
    page.click("#agent-login")
    expect(page.locator("#work-refusal")).to_contain_text("You may not log in to LVS, SAP with the number 0900123456")
    page.click("[data-lang=de]")
    context.close()


def test_logging_out_of_the_page_while_available_asks_about_the_phone_service(box: Daemon, browser: Browser) -> None:
    context, page = logged_in(browser, box, "anna", "anna-password")
    page.fill("#phone-number", "201")
    page.click("#agent-login")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    expect(page.locator("#agent-logout")).to_have_text("Vom Telefondienst abmelden")
    expect(page.locator("#logout")).to_contain_text("Ausloggen")
    page.click("#logout")
    dialog = page.locator("dialog")
    expect(dialog).to_contain_text("Auch vom Telefondienst abmelden?")
    expect(dialog).to_contain_text("Anrufe kommen auf 201")
    shot(page, "logout-question")
    dialog.locator("[data-choice=service]").click()
    page.wait_for_url("**/login")
    assert box.http.get("/api/agents/anna").json()["state"] == "logged_out"
    context.close()
    # "only log out of the page" keeps the phone service as it was
    context, page = logged_in(browser, box, "anna", "anna-password")
    page.fill("#phone-number", "201")
    page.click("#agent-login")
    expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
    page.click("#logout")
    page.locator("dialog [data-choice=page]").click()
    page.wait_for_url("**/login")
    assert box.http.get("/api/agents/anna").json()["state"] == "available"
    context.close()


def test_a_prompt_name_a_person_writes_becomes_a_valid_prompt_name(box: Daemon, browser: Browser) -> None:
    context, page = logged_in(browser, box, *ADMIN, viewport=DESKTOP, hash_="#/prompts")
    made = page.evaluate(
        """async () => {
          const { promptId } = await import('/static/js/library.js');
          return ['Wartehinweis Winter', '  Störung: SAP (groß) ', 'Grüße.wav'].map(promptId);
        }"""
    )
    assert made == ["wartehinweis_winter", "stoerung_sap_gross", "gruesse.wav"]
    context.close()
