"""E-mail settings changed in the web page's API (admins), with the real daemon and a
real SMTP server (aiosmtpd with STARTTLS and a login): in force at once, kept over
a restart, a test mail with the server's answer, the team's distribution list
used for the next message, bad input refused with the field named."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import free_port, running_daemon, start_daemon
from tests.harness.mail import leave_message, mail_state
from tests.harness.modes import straight_to_voicemail
from tests.harness.mp3 import decode_mp3
from tests.harness.peers.phone import Phone
from tests.harness.smtp_server import make_test_certificate, server_tls, smtp_server

pytestmark = pytest.mark.peers

TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull"},
    {"id": "sap", "name": "SAP", "distribution": "pull"},
    {"id": "pc", "name": "PC", "distribution": "auto"},
]


def test_smtp_settings_and_lists_set_by_api_work_at_once_and_after_a_restart(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    cert, key = make_test_certificate(tmp_path)
    port = free_port(socket.SOCK_STREAM)
    # the config file has no SMTP server: e-mail is off until an admin sets one
    config = {"teams": TEAMS, "mail": {"ca_file": str(cert), "retry_first": 1, "retry_max": 2, "timeout": 10}}
    settings = {
        "host": "127.0.0.1", "port": port, "security": "starttls", "user": "hotline", "password": "smtp-secret-1",
        "sender": "hotline@example.com", "sender_name": "Hotline", "viewer_url": "http://zentrale.lan:8080",
    }  # fmt: skip
    with smtp_server(port, starttls=server_tls(cert, key), logins={"hotline": "smtp-secret-1"}) as server:
        daemon = start_daemon(tmp_path / "box", mode=straight_to_voicemail(), config=config)
        try:
            api = daemon.http
            before = api.get("/api/settings/mail").json()
            assert before["enabled"] is False and before["source"] == "config"
            assert api.post("/api/settings/mail/test", json={"to": "chef@example.com"}).status_code == 409

            bad = api.put("/api/settings/mail", json={**settings, "sender": "hotline at example"})
            assert bad.status_code == 422 and "sender" in bad.json()["error"], bad.text
            assert api.get("/api/settings/mail").json()["enabled"] is False  # nothing changed

            r = api.put("/api/settings/mail", json=settings)
            assert r.status_code == 200, r.text
            assert r.json()["enabled"] is True and r.json()["password_set"] is True
            assert "smtp-secret-1" not in r.text and "smtp-secret-1" not in api.get("/api/settings/mail").text
            sent = api.post("/api/settings/mail/test", json={"to": "chef@example.com"})
            assert sent.status_code == 200, sent.text
            test_mail = server.wait_for(1, 10)[0]
            assert test_mail.rcpt_tos == ["chef@example.com"]
            assert test_mail.message["Subject"] == "Zentrale: Test-E-Mail"
            assert test_mail.message["From"] == "Hotline <hotline@example.com>"
            assert server.login_attempts == ["hotline"]

            bad_list = api.put("/api/settings/mail/teams/sap", json={"addresses": ["sap-team@example.com", "x@"]})
            assert bad_list.status_code == 422 and "x@" in bad_list.text
            assert api.put("/api/settings/mail/teams/nope", json={"addresses": []}).status_code == 404
            r = api.put("/api/settings/mail/teams/sap", json={"addresses": ["sap-team@example.com"]})
            assert r.json() == {"id": "sap", "email": ["sap-team@example.com"]}

            leave_message(daemon, sip_phones, tmp_path)
            message = mail_state(daemon, {"sent"})
            got = server.wait_for(2, 20)[1]
            assert got.rcpt_tos == ["sap-team@example.com"]
            (attachment,) = got.message.iter_attachments()
            mp3 = tmp_path / "m.mp3"
            mp3.write_bytes(attachment.get_content())
            assert abs(len(decode_mp3(mp3)[0]) / 8000 * 1000 - message["duration_ms"]) < 100
            audit = [(a["action"], a["detail"]) for a in api.get("/api/audit").json()]
            assert ("mail.settings", f"127.0.0.1:{port} (starttls)") in audit
            assert ("mail.team_list", "sap: sap-team@example.com") in audit
        finally:
            daemon.stop()

        daemon = start_daemon(tmp_path / "box", config=config, data_dir=daemon.data_dir)
        try:
            api = daemon.http
            after = api.get("/api/settings/mail").json()
            assert after["enabled"] and after["source"] == "web" and after["host"] == "127.0.0.1"
            assert next(t for t in after["teams"] if t["id"] == "sap")["email"] == ["sap-team@example.com"]
            # a change without the password keeps it
            r = api.put("/api/settings/mail", json={**settings, "password": None, "sender_name": "Zentrale Büro"})
            assert r.status_code == 200, r.text
            assert api.post("/api/settings/mail/test", json={"to": "chef@example.com"}).status_code == 200
            assert server.wait_for(3, 10)[2].message["From"] == "Zentrale Büro <hotline@example.com>"
            # a wrong password: the test mail fails with the server's answer
            api.put("/api/settings/mail", json={**settings, "password": "wrong-password"})
            refused = api.post("/api/settings/mail/test", json={"to": "chef@example.com"})
            assert refused.status_code == 502 and "login refused" in refused.json()["error"], refused.text
            assert "535" in refused.json()["error"]
        finally:
            daemon.stop()


def test_an_admin_sets_up_e_mail_in_the_browser_and_sends_a_message_again(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    """Administration → E-mail in Debian's chromium: server, sender and the SAP list;
    a test mail; a caller's message arrives; "send e-mail again" in the viewer sends it once more."""
    from playwright.sync_api import expect

    from tests.harness.webclient import ADMIN, first_admin

    port = free_port(socket.SOCK_STREAM)
    config = {"teams": TEAMS, "mail": {"retry_first": 1, "retry_max": 2, "timeout": 10}}
    with (
        smtp_server(port) as server,
        running_daemon(tmp_path / "box", mode=straight_to_voicemail(), config=config) as daemon,
        chromium() as browser,
    ):
        first_admin(daemon)
        context, page = logged_in(browser, daemon, *ADMIN, hash_="#/admin")
        expect(page.locator("#mail-state")).to_have_text("aus")
        expect(page.locator("#send-test-mail")).to_be_disabled()
        page.fill("#mail-host", "127.0.0.1")
        page.fill("#mail-port", str(port))
        page.select_option("#mail-security", "none")
        page.fill("#mail-sender", "hotline at example")
        page.click("#save-mail")
        expect(page.locator(".toast").last).to_contain_text("sender")  # the box's reason, field named
        expect(page.locator("#mail-state")).to_have_text("aus")
        page.fill("#mail-sender", "hotline@example.com")
        page.click("#save-mail")
        expect(page.locator("#mail-state")).to_have_text("an")
        page.fill("#mail-test-to", "chef@example.com")
        page.click("#send-test-mail")
        expect(page.locator(".toast").last).to_contain_text("chef@example.com")
        assert server.wait_for(1, 10)[0].rcpt_tos == ["chef@example.com"]
        page.fill("#mail-lists input[data-team=sap]", "sap-team@example.com, it@example.com")
        page.click("#mail-lists tr[data-team=sap] button")
        expect(page.locator("#mail-lists input[data-team=sap]")).to_have_value("sap-team@example.com, it@example.com")
        page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#mail-settings").screenshot(path=str(SHOTS / "admin-mail.png"))

        # the viewer is open while the caller leaves the message: the card appears, and its
        # e-mail state follows the outbox live (queued → sending → sent) without a reload
        page.goto(daemon.base_url + "/#/messages")
        leave_message(daemon, sip_phones, tmp_path)
        got = server.wait_for(2, 20)[1]
        assert got.rcpt_tos == ["sap-team@example.com", "it@example.com"]
        mail_state(daemon, {"sent"})
        card = page.locator("article.msg").first
        expect(card).to_contain_text(re.compile(r"gesendet \d{4}-\d\d-\d\d"))
        card.locator("[data-action=resend]").click()
        again = server.wait_for(3, 20)[2]  # a new delivery round: same message, its own Message-ID
        assert again.message["Subject"] == got.message["Subject"] and again.rcpt_tos == got.rcpt_tos
        expect(card.locator("[data-action=resend]")).to_be_visible()  # sent again: the button stays
        assert page.__dict__["js_errors"] == []
        context.close()
