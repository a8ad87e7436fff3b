"""Messages reach the team by e-mail, end to end: the real daemon, a real pjsua2
caller leaving a message with a 600 Hz tone, and a real SMTP server (aiosmtpd).

The delivery is at-least-once. The one window for a duplicate is between the
server receiving the message data and the daemon recording "sent": a crash
there (``test_kill_9_...``) makes the restarted daemon send it again, with
the same Message-ID so mail clients can fold the two.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.harness.audio import make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.daemon import Daemon, free_port, running_daemon, start_daemon
from tests.harness.mail import CALLER, leave_message, mail_state
from tests.harness.modes import demo_mode, straight_to_voicemail
from tests.harness.mp3 import decode_mp3
from tests.harness.peers.phone import Phone
from tests.harness.smtp_server import make_test_certificate, server_tls, smtp_server
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers

SAP_LIST = ["sap-team@example.com", "it-leitung@example.com"]
TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull"},
    {"id": "sap", "name": "SAP", "distribution": "pull", "email": SAP_LIST},
    {"id": "pc", "name": "PC", "distribution": "auto"},
]


def mail_config(port: int, **settings: Any) -> dict[str, Any]:
    mail = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "sender": "hotline@example.com",
        "viewer_url": "http://zentrale.office.lan:8080",
        "retry_first": 1,
        "retry_max": 2,
        "timeout": 10,
    }
    return {"teams": TEAMS, "mail": mail | settings}


def only_message(daemon: Daemon) -> dict[str, Any]:
    messages = wait_until(lambda: daemon.http.get("/api/messages").json(), 10, "the message")
    assert len(messages) == 1
    return messages[0]  # type: ignore[no-any-return]


def duration_text(ms: int) -> str:
    seconds = (ms + 500) // 1000
    return f"{seconds // 60}:{seconds % 60:02d}"


@pytest.fixture
def smtp_port() -> int:
    return free_port(socket.SOCK_STREAM)


def test_a_callers_message_arrives_as_mp3_mail_to_the_teams_list(
    sip_phones: Callable[..., Phone], tmp_path: Path, smtp_port: int
) -> None:
    """The customer's step 6/7 over real SIP: branch 2 (SAP), hold, message, e-mail."""
    mode = demo_mode()
    mode["nodes"]["queue_sap"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_b", "seconds": 2}]
    mode["nodes"]["voicemail_sap"]["silence_seconds"] = 2
    greeting, notice, offer = (prompt_seconds(p) for p in ("greeting", "hold_notice", "offer_message"))
    with (
        smtp_server(smtp_port) as server,
        running_daemon(tmp_path / "d", mode=mode, config=mail_config(smtp_port)) as daemon,
    ):
        tone = make_tone_wav(tmp_path / "tone.wav", 600, 3.0, rate=8000, level_dbfs=-12)
        caller = sip_phones(name="caller", codecs="PCMU", user=CALLER)
        call = caller.call(daemon.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(greeting + 2.0)
        caller.dtmf(call, "2")
        time.sleep(notice + 2 + offer + 0.8)  # hold notice, music, the offer, the beep
        caller.play(call, tone)
        time.sleep(3.0)
        caller.play(call, None)
        caller.wait_event("disconnected", call=call, timeout=20)
        got = server.wait_for(1, 20)[0]
        message = mail_state(daemon, {"sent"})
        wav = tmp_path / "message.wav"
        wav.write_bytes(daemon.http.get(f"/api/messages/{message['id']}/audio").content)
        mp3_url = daemon.http.get(f"/api/messages/{message['id']}/audio.mp3")
        overview = daemon.http.get("/api/mail").json()
        time.sleep(1)
        assert len(server.received) == 1

    assert message["team"] == "sap"
    assert message["caller"] == CALLER
    assert got.rcpt_tos == SAP_LIST
    mail = got.message
    assert mail["To"] == ", ".join(SAP_LIST)
    assert mail["Subject"] == f"Neue Nachricht für SAP von {CALLER} ({duration_text(message['duration_ms'])})"
    text = mail.get_body(("plain",))
    assert text is not None
    assert f"http://zentrale.office.lan:8080/#/messages/{message['id']}" in text.get_content()
    (attachment,) = mail.iter_attachments()
    assert attachment.get_content_type() == "audio/mpeg"
    mp3 = tmp_path / "message.mp3"
    mp3.write_bytes(attachment.get_content())

    recorded, rate = read_wav(wav)
    decoded, mp3_rate = decode_mp3(mp3)
    assert mp3_rate == rate
    print(f"recording {len(recorded) / rate:.3f} s, MP3 {len(decoded) / rate:.3f} s, {mp3.stat().st_size} bytes")
    assert abs(len(decoded) / rate - len(recorded) / rate) <= 0.1
    assert abs(len(decoded) / rate - message["duration_ms"] / 1000) <= 0.1
    assert tone_level(recorded, rate, 600) > 0.6
    assert tone_level(decoded, rate, 600) > 0.6
    assert message["mail"]["attempts"] == 1
    assert message["mail"]["attached"] is True
    assert mp3_url.headers["content-type"] == "audio/mpeg"
    assert mp3_url.content == attachment.get_content()  # the MP3 is made once and kept
    assert overview["enabled"] is True
    assert overview["outbox"] == {"queued": 0, "sending": 0, "sent": 1, "failed": 0}
    assert "password" not in overview


def test_smtp_server_down_when_the_message_is_recorded_then_it_is_delivered_exactly_once(
    sip_phones: Callable[..., Phone], tmp_path: Path, smtp_port: int
) -> None:
    with running_daemon(tmp_path / "d", mode=straight_to_voicemail(), config=mail_config(smtp_port)) as daemon:
        leave_message(daemon, sip_phones, tmp_path)
        waiting = wait_until(
            lambda: (m := only_message(daemon))["mail"]["attempts"] >= 2 and m, 20, "two failed attempts"
        )
        assert waiting["mail"]["state"] in ("queued", "sending")
        assert "no connection" in waiting["mail"]["error"]
        with smtp_server(smtp_port) as server:  # the server comes back
            server.wait_for(1, 20)
            message = mail_state(daemon, {"sent"})
            time.sleep(5)  # more than two retry periods: nothing else arrives
            assert len(server.received) == 1
    assert message["mail"]["error"] is None
    assert message["mail"]["attempts"] >= 3
    assert server.received[0].rcpt_tos == SAP_LIST


def test_starttls_with_a_test_certificate_and_a_login(
    sip_phones: Callable[..., Phone], tmp_path: Path, smtp_port: int
) -> None:
    cert, key = make_test_certificate(tmp_path)
    settings = {"security": "starttls", "ca_file": str(cert), "user": "hotline", "password": "richtig"}
    with (
        smtp_server(smtp_port, starttls=server_tls(cert, key), logins={"hotline": "richtig"}) as server,
        running_daemon(tmp_path / "d", mode=straight_to_voicemail(), config=mail_config(smtp_port, **settings)) as d,
    ):
        leave_message(d, sip_phones, tmp_path)
        server.wait_for(1, 20)
        message = mail_state(d, {"sent"})
    assert server.login_attempts == ["hotline"]
    assert message["mail"]["attempts"] == 1


def test_a_refused_login_is_a_visible_permanent_failure_and_the_message_stays(
    sip_phones: Callable[..., Phone], tmp_path: Path, smtp_port: int
) -> None:
    cert, key = make_test_certificate(tmp_path)
    settings = {"security": "starttls", "ca_file": str(cert), "user": "hotline", "password": "falsch"}
    with (
        smtp_server(smtp_port, starttls=server_tls(cert, key), logins={"hotline": "richtig"}) as server,
        running_daemon(tmp_path / "d", mode=straight_to_voicemail(), config=mail_config(smtp_port, **settings)) as d,
    ):
        leave_message(d, sip_phones, tmp_path)
        message = mail_state(d, {"failed"})
        assert message["mail"]["error"] == "login refused: 535 5.7.8 Authentication credentials invalid"
        assert message["mail"]["attempts"] == 1
        time.sleep(3)  # a permanent failure is not retried
        assert only_message(d)["mail"]["attempts"] == 1
        audio = d.http.get(f"/api/messages/{message['id']}/audio")
        assert audio.status_code == 200
        assert len(audio.content) > 8000
        # "send again" tries once more (and fails the same way: the password is still wrong)
        again = d.http.post(f"/api/messages/{message['id']}/mail/send")
        assert again.status_code == 202
        url = f"/api/messages/{message['id']}/mail"
        status = wait_until(lambda: (s := d.http.get(url).json())["state"] == "failed" and s, 10, "the 2nd try")
        assert status["attempts"] == 2
    assert server.received == []
    # two deliveries; aiosmtplib tries each method the server offers (PLAIN, then LOGIN)
    assert server.login_attempts == ["hotline"] * 4


def test_kill_9_between_queued_and_sent_then_the_restarted_daemon_delivers(
    sip_phones: Callable[..., Phone], tmp_path: Path, smtp_port: int
) -> None:
    config = mail_config(smtp_port, timeout=120)
    workdir = tmp_path / "d"
    with smtp_server(smtp_port, stall=True) as stalled:
        daemon = start_daemon(workdir, mode=straight_to_voicemail(), config=config)
        try:
            leave_message(daemon, sip_phones, tmp_path)
            (unanswered,) = stalled.wait_for(1, 20, unanswered=True)  # the data is there; "250" never comes
            assert only_message(daemon)["mail"]["state"] == "sending"
            daemon.kill9()
        finally:
            daemon.stop()
    assert stalled.received == []
    with smtp_server(smtp_port) as server:
        daemon = start_daemon(workdir, config=config, data_dir=daemon.data_dir)
        try:
            (got,) = server.wait_for(1, 20)
            message = mail_state(daemon, {"sent"})
            time.sleep(3)
            assert len(server.received) == 1
            log = daemon.log()
        finally:
            daemon.stop()
    assert message["mail"]["attempts"] == 2
    assert "a duplicate is possible" in log
    # This is the duplicate window: the stalled server had the complete mail. Had it
    # answered after all, the team would have two copies, with the same Message-ID.
    assert got.message["Message-ID"] == unanswered.message["Message-ID"]
    assert got.rcpt_tos == SAP_LIST
