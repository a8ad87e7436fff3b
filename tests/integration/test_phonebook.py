"""Caller names from the office's phonebooks, end to end (issue 16, 5): the real daemon reads a
FRITZ!Box speaking TR-064 as AVM documents it (tests/harness/tr064.py, through fritzconnection)
and a real CardDAV server (Radicale); real pjsua2 callers whose numbers are in them call in; the
name shows in chromium in the agent's call window and in the viewer, in the e-mail's subject
(aiosmtpd) and in the call log. The CSV upload in Verwaltung -> Telefonbuch, in chromium."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.harness.audio import make_tone_wav, prompt_seconds
from tests.harness.browser import chromium, logged_in, shot
from tests.harness.carddav import running_radicale, vcard
from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.modes import web_mode
from tests.harness.peers.phone import Phone
from tests.harness.smtp_server import smtp_server
from tests.harness.tr064 import running_fritzbox
from tests.harness.waits import wait_until
from tests.harness.webclient import ADMIN, add_agent_account, first_admin

pytestmark = pytest.mark.peers

SAP_LIST = ["sap-team@example.com"]
TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull", "wrap_up": 0},
    {"id": "sap", "name": "SAP", "distribution": "pull", "wrap_up": 0, "email": SAP_LIST},
    {"id": "pc", "name": "PC", "distribution": "auto", "wrap_up": 0},
]
FRITZ_NAME = "Müller Haustechnik GmbH"
DAV_NAME = "Erika Mustermann"


def phonebook_ready(box: Daemon) -> dict[str, Any] | None:
    status = box.http.get("/api/phonebook").json()
    sources = {s["source"]: s for s in status["sources"]}
    ready = sources["fritzbox"]["entries"] and sources["carddav"]["entries"]
    return status if ready else None


def call_leaving_a_message(
    box: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, page: Page, number: str, display: str, shown: str
) -> None:
    """A caller chooses SAP (2), waits out the short hold -- the agent's call window shows the
    caller meanwhile -- and leaves a message (a tone)."""
    name = f"caller-{number.strip('+')}"
    caller = sip_phones(name=name, bind_ip="127.0.0.20", codecs="PCMU", user=number, display_name=display)
    call = caller.call(box.uri, record=tmp_path / f"{name}.wav")
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(prompt_seconds("greeting") + 1.0)
    caller.dtmf(call, "2")
    window = page.locator(".callwin")
    expect(window).to_be_visible(timeout=5000)
    expect(window.locator(".num")).to_have_text(number)
    expect(window.locator(".name")).to_have_text(shown)
    expect(page.locator("#waiting li[data-entry] .name")).to_have_text(shown)
    shot(page, f"phonebook-call-window-{name}")
    tone = make_tone_wav(tmp_path / "tone.wav", 700, 2.5, rate=8000, level_dbfs=-12)
    time.sleep(prompt_seconds("hold_notice") + 1 + prompt_seconds("offer_message") + 1.0)
    caller.play(call, tone)
    time.sleep(2.5)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, timeout=20)


def test_callers_in_the_fritzbox_and_the_carddav_phonebook_are_named_in_the_page_the_viewer_and_the_mail(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    smtp_port = free_port(socket.SOCK_STREAM)
    office = [(FRITZ_NAME, ["+49 30 1234567"]), ("Anna Schmidt", ["089 1234567"])]
    with (
        running_fritzbox(Telefonbuch=office) as fritzbox,
        running_radicale(tmp_path / "radicale") as dav,
        smtp_server(smtp_port) as mail,
        chromium() as browser,
    ):
        dav.put(vcard(DAV_NAME, "+49 40 555 0101"))
        config = {
            "teams": TEAMS,
            "mail": {"host": "127.0.0.1", "port": smtp_port, "security": "none", "sender": "hotline@example.com",
                     "retry_first": 1, "retry_max": 2, "timeout": 10},
            "phonebook": {
                "fritzbox": {"address": "127.0.0.1", "port": fritzbox.port, "user": fritzbox.user,
                             "password": fritzbox.password, "timeout": 10},
                "carddav": {"url": dav.url, "user": dav.user, "password": dav.password, "timeout": 10},
            },
        }  # fmt: skip
        with running_daemon(tmp_path / "box", mode=web_mode(), config=config) as box:
            first_admin(box)
            add_agent_account(box, "anna", "anna-password", ["sap"], "Anna Berg")
            status = wait_until(lambda: phonebook_ready(box), 30, "both phonebooks read")
            assert status["numbers"] == 3
            context, page = logged_in(browser, box, "anna", "anna-password")
            expect(page.locator("#agent-state")).to_be_visible()
            page.fill("#phone-number", "201")
            page.click("#agent-login")
            expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")

            # the number as the line delivers it (national), the FRITZ!Box wrote it internationally;
            # the phone's own display name loses to the office's phonebook
            call_leaving_a_message(box, sip_phones, tmp_path, page, "0301234567", "Handy", FRITZ_NAME)
            # a number only in the CardDAV address book, and a phone sending no name
            call_leaving_a_message(box, sip_phones, tmp_path, page, "+49405550101", "", DAV_NAME)
            calls = wait_until(lambda: [r for r in box.http.get("/api/calllog").json() if r.get("ended_at")], 10,
                               "the call log")  # fmt: skip
            names = {row["caller"]: row["caller_name"] for row in calls}
            assert names == {"0301234567": FRITZ_NAME, "+49405550101": DAV_NAME}

            received = mail.wait_for(2, 30)
            subjects = sorted(str(r.message["Subject"]) for r in received)
            assert subjects[0].startswith(f"Neue Nachricht für SAP von {DAV_NAME}, +49405550101 ("), subjects
            assert subjects[1].startswith(f"Neue Nachricht für SAP von {FRITZ_NAME}, 0301234567 ("), subjects

            page.goto(box.base_url + "/#/messages")
            cards = page.locator("[data-message]")
            expect(cards).to_have_count(2, timeout=10000)
            expect(page.locator("[data-message] .top", has_text="0301234567")).to_contain_text(FRITZ_NAME)
            expect(page.locator("[data-message] .top", has_text="+49405550101")).to_contain_text(DAV_NAME)
            shot(page, "phonebook-viewer")
            assert page.__dict__["js_errors"] == []
            context.close()


def test_an_admin_uploads_a_csv_phonebook_in_the_browser_and_a_broken_one_changes_nothing(tmp_path: Path) -> None:
    teams = [{k: v for k, v in team.items() if k != "email"} for team in TEAMS]
    with running_daemon(tmp_path / "box", mode=web_mode(), config={"teams": teams}) as box, chromium() as browser:
        first_admin(box)
        context, page = logged_in(browser, box, *ADMIN, hash_="#/admin")
        card = page.locator("#phonebook")
        expect(card.locator("tr[data-source=fritzbox]")).to_contain_text("nicht eingerichtet")
        # what Excel writes on a German PC: Windows-1252, semicolons, a header
        excel = "Name;Telefon\r\nJörg Weiß;030 1234567\r\nBäckerei Groß;+49 89 5550123\r\n".encode("cp1252")
        page.set_input_files("#phonebook-file", files=[{"name": "kunden.csv", "mimeType": "text/csv", "buffer": excel}])
        page.click("#phonebook-upload")
        expect(card.locator("tr[data-source=csv] td").nth(2)).to_have_text("2")
        expect(card.locator("tr[data-source=csv]")).to_contain_text("kunden.csv")
        page.fill("#phonebook-number", "+49 30 1234567")
        page.click("#phonebook-lookup")
        expect(page.locator("#phonebook-found")).to_have_text("+49301234567: Jörg Weiß")
        shot(page, "phonebook-admin")
        # a broken file: refused with its line numbers, the list stays as it was
        broken = b"Name;Telefon\nAnna;0301111\nBernd\nCarl;bitte anrufen\n"
        page.set_input_files(
            "#phonebook-file", files=[{"name": "kaputt.csv", "mimeType": "text/csv", "buffer": broken}]
        )
        page.click("#phonebook-upload")
        refusal = page.locator(".toast.refusal[data-code=phonebook_csv_broken]")
        expect(refusal).to_contain_text("2 Zeile(n) der CSV-Datei sind fehlerhaft")
        expect(refusal).to_contain_text("Zeile 3, 4. Es wurde nichts geändert.")
        assert box.http.get("/api/phonebook/lookup", params={"number": "0301234567"}).json()["name"] == "Jörg Weiß"
        assert box.http.get("/api/phonebook/lookup", params={"number": "0301111"}).json()["name"] is None
        # 10 MB: refused while it arrives (413), nothing changes
        big = b"Kunde;030 1234567\n" * (10_000_000 // 18 + 1)
        answer = box.http.put("/api/phonebook/csv", content=big, headers={"Content-Type": "text/csv"})
        assert answer.status_code == 413 and answer.json()["code"] == "phonebook_csv_too_large", answer.text
        assert box.http.get("/api/phonebook").json()["numbers"] == 2
        # the FRITZ!Box set up in the card instead of the config file: read at once
        with running_fritzbox(Telefonbuch=[("Anna Schmidt", ["089 1234567"])]) as fritzbox:
            page.fill("#pb-fritz-address", "127.0.0.1")
            page.fill("#pb-fritz-port", str(fritzbox.port))
            page.fill("#pb-fritz-user", fritzbox.user)
            page.fill("#pb-fritz-password", "falsch")
            page.click("#phonebook-save-sources")
            expect(card.locator("#phonebook-error-fritzbox")).to_contain_text("refused user 'zentrale'")
            # GET /status says it too (for monitoring), without calling the box degraded
            assert "fritzbox: the FRITZ!Box at 127.0.0.1" in box.status()["components"]["phonebook"]["detail"]
            page.fill("#pb-fritz-password", fritzbox.password)
            page.click("#phonebook-save-sources")
            expect(card.locator("tr[data-source=fritzbox] td").nth(2)).to_have_text("1")
            expect(card.locator("tr[data-source=fritzbox]")).to_have_attribute("data-ok", "true")
            expect(page.locator("#pb-fritz-password")).to_have_attribute(
                "placeholder", "gespeichert – leer lassen, um es zu behalten"
            )
            shot(page, "phonebook-admin-sources")
        assert box.http.get("/api/phonebook/lookup", params={"number": "+49891234567"}).json()["name"] == "Anna Schmidt"
        assert box.http.get("/api/phonebook/settings").json()["from"] == "web"
        assert page.__dict__["js_errors"] == []
        context.close()
