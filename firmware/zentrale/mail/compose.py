"""One message e-mail: MP3 (made once, kept beside the WAV), text and MIME.

``compose`` is blocking (encoding, file I/O): run it in a worker thread. It
never fails because of the audio: without an MP3 the mail goes out with the
link and the reason, and the reason is kept in the delivery status.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from pathlib import Path

from zentrale.mail.mp3 import Mp3Error, Mp3Tags, encode_wav
from zentrale.mail.templates import (
    Attachment,
    Language,
    MessageFacts,
    attachment_name,
    body,
    caller_text,
    id3_language,
    mp3_title,
    subject,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MailSettings:
    sender: str
    sender_name: str
    language: Language
    bitrate_kbps: int
    max_attachment_bytes: int


@dataclass(frozen=True)
class ComposedMail:
    data: bytes  # the RFC 5322 message, CRLF line ends
    attached: bool
    mp3_error: str | None  # what went wrong with the MP3, for the delivery status


def mp3_tags(facts: MessageFacts, language: Language) -> Mp3Tags:
    caller = caller_text(facts, language)
    if facts.caller_name and facts.caller_name != caller:
        caller = f"{caller} ({facts.caller_name})"
    return Mp3Tags(
        title=mp3_title(facts, language),
        artist=caller,
        album=facts.team or "Zentrale",
        recorded=facts.recorded,
        comment=facts.message_id,
        language=id3_language(language),
    )


def make_mp3(wav: Path, mp3: Path, bitrate_kbps: int, tags: Mp3Tags) -> tuple[bytes, str | None]:
    """The MP3 of a message: the kept file, or encoded now and kept (tmp, fsync, rename).

    Returns the bytes and a warning when the file could not be kept (disk full);
    raises Mp3Error when there is no MP3 at all.
    """
    if mp3.is_file():
        try:
            return mp3.read_bytes(), None
        except OSError as err:
            log.warning("mail: cannot read %s (%s), encoding again", mp3.name, err.strerror)
    data = encode_wav(wav, bitrate_kbps, tags).data
    tmp = mp3.with_name(mp3.name + ".tmp")
    try:
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(mp3)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        log.error("mail: MP3 of %s not kept on disk: %s", mp3.stem, err.strerror or err)
        return data, f"MP3 not saved on the appliance: {err.strerror or err} (sent from memory)"
    return data, None


def compose(
    facts: MessageFacts,
    *,
    wav: Path,
    mp3: Path,
    settings: MailSettings,
    recipients: list[str],
    message_id_header: str,
    date: datetime,
) -> ComposedMail:
    language = settings.language
    name = attachment_name(facts, language)
    audio: bytes | None = None
    mp3_error: str | None = None
    try:
        audio, mp3_error = make_mp3(wav, mp3, settings.bitrate_kbps, mp3_tags(facts, language))
    except Mp3Error as err:
        mp3_error = str(err)
        log.error("mail: no MP3 for message %s: %s", facts.message_id, err)
    if audio is None:
        attachment = Attachment(name, problem=mp3_error)
    elif len(audio) <= settings.max_attachment_bytes:
        attachment = Attachment(name, size=len(audio), attached=True)
    else:
        attachment = Attachment(name, size=len(audio), limit=settings.max_attachment_bytes)

    mail = EmailMessage(policy=SMTP)
    mail["From"] = formataddr((settings.sender_name, settings.sender))
    mail["To"] = ", ".join(recipients)
    mail["Subject"] = subject(facts, language)
    mail["Date"] = format_datetime(date)
    # The same Message-ID for every attempt of one round: a duplicate from the
    # at-least-once window is recognisable (and folded by many mail clients).
    mail["Message-ID"] = message_id_header
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834 §5: no auto-replies, please
    mail["X-Zentrale-Message"] = facts.message_id
    mail.set_content(body(facts, attachment, language), cte="quoted-printable")
    if attachment.attached and audio is not None:
        mail.add_attachment(audio, maintype="audio", subtype="mpeg", filename=name)
    return ComposedMail(mail.as_bytes(), attachment.attached, mp3_error)
