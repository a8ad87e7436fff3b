"""The text of a message e-mail, in German and English.

Pure functions over ``MessageFacts``: no I/O, no clock. The subject reads
like "Neue Nachricht für SAP von +49 30 1234567 (0:42)", with the caller's name
first when one is known: "... von Jörg Müller, +49 30 1234567 (0:42)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Language = Literal["de", "en"]

_TEXT: dict[str, dict[str, str]] = {
    "de": {
        "subject_team": "Neue Nachricht für {team} von {caller} ({duration})",
        "subject": "Neue Nachricht von {caller} ({duration})",
        "intro": "Neue Nachricht auf der Hotline.",
        "from": "Von",
        "team": "Für",
        "time": "Zeit",
        "duration": "Dauer",
        "called": "Gewählt",
        "listen": "Anhören",
        "in_viewer": "im Viewer der Zentrale, Nachricht {id}",
        "attached": "Die Nachricht ist als MP3 angehängt ({name}, {size}).",
        "too_large": "Die MP3-Datei ({size}) ist größer als {limit} und deshalb nicht angehängt.",
        "no_mp3": "Die MP3-Datei konnte nicht erstellt werden ({problem}); die Aufnahme ist im Viewer.",
        "unknown": "unbekannt",
        "time_format": "{weekday}, {date:%d.%m.%Y}, {date:%H:%M} Uhr",
        "file": "Nachricht",
        "title": "Nachricht von {caller}",
        "id3_language": "deu",
    },
    "en": {
        "subject_team": "New message for {team} from {caller} ({duration})",
        "subject": "New message from {caller} ({duration})",
        "intro": "A new message on the hotline.",
        "from": "From",
        "team": "For",
        "time": "Time",
        "duration": "Length",
        "called": "Dialled",
        "listen": "Listen",
        "in_viewer": "in the Zentrale viewer, message {id}",
        "attached": "The message is attached as MP3 ({name}, {size}).",
        "too_large": "The MP3 file ({size}) is larger than {limit} and therefore not attached.",
        "no_mp3": "The MP3 file could not be made ({problem}); the recording is in the viewer.",
        "unknown": "unknown",
        "time_format": "{weekday}, {date:%Y-%m-%d}, {date:%H:%M}",
        "file": "Message",
        "title": "Message from {caller}",
        "id3_language": "eng",
    },
}
_WEEKDAYS = {
    "de": ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
}
_ANONYMOUS = {"", "anonymous", "unknown", "unavailable", "restricted", "private"}


@dataclass(frozen=True)
class MessageFacts:
    """What the mail says about one message; ``recorded`` is in the reader's time zone."""

    message_id: str
    caller: str
    caller_name: str | None
    called: str | None
    team: str | None  # the team's display name
    recorded: datetime
    duration_ms: int
    link: str | None  # the message in the viewer, or None when no viewer URL is configured


@dataclass(frozen=True)
class Attachment:
    """What happened to the MP3: attached, too large (link only), or not made."""

    name: str
    size: int | None = None  # bytes of the MP3, None when there is none
    attached: bool = False
    limit: int | None = None  # the configured limit in bytes when it was too large
    problem: str | None = None  # why there is no MP3


def duration_text(ms: int) -> str:
    """0:42, 12:05, 1:02:03 (rounded to the nearest second)."""
    seconds = (ms + 500) // 1000
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def size_text(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB" if size >= 1_000_000 else f"{max(1, round(size / 1000))} KB"


def caller_text(facts: MessageFacts, language: Language) -> str:
    """The caller's number, or the name, or "unknown"."""
    number = facts.caller.strip()
    if number.lower() in _ANONYMOUS:
        return facts.caller_name or _TEXT[language]["unknown"]
    return number


def subject(facts: MessageFacts, language: Language) -> str:
    text = _TEXT[language]
    caller = caller_text(facts, language)
    if facts.caller_name and facts.caller_name != caller:  # the phonebook's name, else the SIP display name
        caller = f"{facts.caller_name}, {caller}"
    values = {"caller": caller, "duration": duration_text(facts.duration_ms)}
    if facts.team:
        return text["subject_team"].format(team=facts.team, **values)
    return text["subject"].format(**values)


def body(facts: MessageFacts, attachment: Attachment, language: Language) -> str:
    text = _TEXT[language]
    caller = caller_text(facts, language)
    if facts.caller_name and facts.caller_name != caller:
        caller = f"{caller} ({facts.caller_name})"
    when = text["time_format"].format(weekday=_WEEKDAYS[language][facts.recorded.weekday()], date=facts.recorded)
    rows = [(text["from"], caller)]
    if facts.team:
        rows.append((text["team"], facts.team))
    rows += [(text["time"], when), (text["duration"], duration_text(facts.duration_ms))]
    if facts.called:
        rows.append((text["called"], facts.called))
    rows.append((text["listen"], facts.link or text["in_viewer"].format(id=facts.message_id)))
    width = max(len(label) for label, _ in rows) + 2
    lines = [text["intro"], ""]
    lines += [f"{label + ':':<{width}}{value}" for label, value in rows]
    lines.append("")
    if attachment.attached and attachment.size is not None:
        lines.append(text["attached"].format(name=attachment.name, size=size_text(attachment.size)))
    elif attachment.problem:
        lines.append(text["no_mp3"].format(problem=attachment.problem))
    elif attachment.size is not None and attachment.limit is not None:
        limit = size_text(attachment.limit)
        lines.append(text["too_large"].format(size=size_text(attachment.size), limit=limit))
    lines += ["", "-- ", "Zentrale", ""]
    return "\n".join(lines)


def attachment_name(facts: MessageFacts, language: Language) -> str:
    caller = re.sub(r"[^0-9A-Za-z+]", "", facts.caller) or "anonym"
    return f"{_TEXT[language]['file']}-{facts.recorded:%Y%m%d-%H%M}-{caller}.mp3"


def mp3_title(facts: MessageFacts, language: Language) -> str:
    return _TEXT[language]["title"].format(caller=caller_text(facts, language))


def id3_language(language: Language) -> str:
    return _TEXT[language]["id3_language"]
