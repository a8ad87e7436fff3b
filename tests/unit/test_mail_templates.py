"""The text of a message e-mail in German and English."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.harness.audio import make_tone_wav
from zentrale.mail.compose import MailSettings, compose
from zentrale.mail.templates import Attachment, MessageFacts, body, duration_text, subject

BERLIN_WINTER = timezone(timedelta(hours=1))
FACTS = MessageFacts(
    message_id="20260105-080700-abc123",
    caller="+49 30 1234567",
    caller_name="Jörg Müller",
    called="100",
    team="SAP",
    recorded=datetime(2026, 1, 5, 9, 7, tzinfo=BERLIN_WINTER),
    duration_ms=42_300,
    link="http://zentrale.office.lan:8080/#/messages/20260105-080700-abc123",
)


def test_the_german_subject_reads_like_the_customers_example() -> None:
    assert subject(replace(FACTS, caller_name=None), "de") == "Neue Nachricht für SAP von +49 30 1234567 (0:42)"


def test_the_english_subject() -> None:
    assert subject(replace(FACTS, caller_name=None), "en") == "New message for SAP from +49 30 1234567 (0:42)"


def test_a_known_callers_name_leads_the_subject() -> None:
    assert subject(FACTS, "de") == "Neue Nachricht für SAP von Jörg Müller, +49 30 1234567 (0:42)"
    assert subject(FACTS, "en") == "New message for SAP from Jörg Müller, +49 30 1234567 (0:42)"


def test_without_a_team_or_a_number_the_subject_still_reads_well() -> None:
    facts = MessageFacts(**{**FACTS.__dict__, "team": None, "caller": "anonymous", "caller_name": None})
    assert subject(facts, "de") == "Neue Nachricht von unbekannt (0:42)"
    assert subject(facts, "en") == "New message from unknown (0:42)"


@pytest.mark.parametrize(
    ("ms", "text"),
    [(0, "0:00"), (499, "0:00"), (500, "0:01"), (42_300, "0:42"), (725_000, "12:05"), (3_723_000, "1:02:03")],
)
def test_durations(ms: int, text: str) -> None:
    assert duration_text(ms) == text


def test_german_body_has_caller_time_duration_team_and_the_viewer_link() -> None:
    text = body(FACTS, Attachment("Nachricht.mp3", size=170_000, attached=True), "de")
    assert text.splitlines()[:9] == [
        "Neue Nachricht auf der Hotline.",
        "",
        "Von:     +49 30 1234567 (Jörg Müller)",
        "Für:     SAP",
        "Zeit:    Montag, 05.01.2026, 09:07 Uhr",
        "Dauer:   0:42",
        "Gewählt: 100",
        "Anhören: http://zentrale.office.lan:8080/#/messages/20260105-080700-abc123",
        "",
    ]
    assert "Die Nachricht ist als MP3 angehängt (Nachricht.mp3, 170 KB)." in text


def test_english_body() -> None:
    text = body(FACTS, Attachment("Message.mp3", size=2_400_000, limit=1_000_000), "en")
    assert "Time:    Monday, 2026-01-05, 09:07" in text
    assert "Listen:  http://zentrale.office.lan:8080/#/messages/20260105-080700-abc123" in text
    assert "The MP3 file (2.4 MB) is larger than 1.0 MB and therefore not attached." in text


def test_without_a_viewer_url_the_body_names_the_message() -> None:
    facts = MessageFacts(**{**FACTS.__dict__, "link": None})
    assert "Anhören: im Viewer der Zentrale, Nachricht 20260105-080700-abc123" in body(facts, Attachment("x"), "de")


def test_without_an_mp3_the_body_says_why() -> None:
    text = body(FACTS, Attachment("x.mp3", problem="cannot read x.wav: file does not start with RIFF id"), "de")
    assert "Die MP3-Datei konnte nicht erstellt werden (cannot read x.wav" in text


def _compose(tmp_path: Path, limit: int, language: str = "de") -> EmailMessage:
    wav = make_tone_wav(tmp_path / "m.wav", 600, 3.0)
    mail = compose(
        FACTS,
        wav=wav,
        mp3=tmp_path / "m.mp3",
        settings=MailSettings("hotline@example.com", "Zentrale Hotline", language, 32, limit),  # type: ignore[arg-type]
        recipients=["sap@example.com", "chef@example.com"],
        message_id_header="<20260105-080700-abc123.1@example.com>",
        date=datetime(2026, 1, 5, 8, 8, tzinfo=UTC),
    )
    parsed = message_from_bytes(mail.data, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def test_the_mail_has_the_headers_and_the_mp3_attached(tmp_path: Path) -> None:
    mail = _compose(tmp_path, 5_000_000)
    assert mail["Subject"] == "Neue Nachricht für SAP von Jörg Müller, +49 30 1234567 (0:42)"
    assert mail["From"] == "Zentrale Hotline <hotline@example.com>"
    assert mail["To"] == "sap@example.com, chef@example.com"
    assert mail["Message-ID"] == "<20260105-080700-abc123.1@example.com>"
    assert mail["Auto-Submitted"] == "auto-generated"
    parts = list(mail.iter_attachments())
    assert [(p.get_content_type(), p.get_filename()) for p in parts] == [
        ("audio/mpeg", "Nachricht-20260105-0907-+49301234567.mp3")
    ]
    assert parts[0].get_content() == (tmp_path / "m.mp3").read_bytes()  # the MP3 is kept beside the WAV
    text = mail.get_body(("plain",))
    assert text is not None
    assert "Von:     +49 30 1234567 (Jörg Müller)" in text.get_content()


def test_above_the_size_limit_the_mail_has_the_link_only(tmp_path: Path) -> None:
    mail = _compose(tmp_path, 1000, "en")
    assert list(mail.iter_attachments()) == []
    text = mail.get_body(("plain",))
    assert text is not None
    assert "is larger than 1 KB and therefore not attached" in text.get_content()
