"""Caller rules: who is calling, compared the way people write numbers.

The ``condition`` node of a mode (core/modes.py) branches on the caller: on the
block list, on the VIP list, anonymous (withheld), a number pattern (area
prefixes, mobile), or the schedule's state. Numbers are compared normalised:
"030 1234-567", "0049301234567" and "+49301234567" are one number.

A pattern is no regular expression (an agent edits the lists: a pattern must
not be able to make the box spin, i.e. no ReDoS): digits and ``+`` literal,
``?`` (or ``x``) one digit, and an optional ``*`` at the end for any rest.
Matching walks the number once.

Pure: the lists live in SQLite (store/callers.py) and are held here in memory
(``CallerLists``) so a call never waits for the disk to branch.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

from zentrale.core.callbacks import prompt as shipped_in
from zentrale.errors import Invalid

ListName = Literal["block", "vip"]
LIST_NAMES: tuple[ListName, ...] = ("block", "vip")
MAX_NUMBER_CHARS = 32  # E.164 has at most 15 digits; room for a national prefix and a pattern
MAX_LIST_ENTRIES = 10_000  # per list: far more than an office blocks, small enough to hold in memory

# What our lines report when the caller withheld the number: lines/sip/incoming.py caller_of
# gives "anonymous" for a From without a user part; phones and PBXs also write these
# (RFC 3323 §4.1.1.3 recommends "Anonymous" <sip:anonymous@anonymous.invalid>; carriers
# send "unknown", "restricted", "private", "unavailable" or "withheld").
ANONYMOUS_NAMES = frozenset({"", "anonymous", "unknown", "restricted", "private", "unavailable", "withheld"})

# The shipped rejection a blocked caller hears (tools/make_demo_audio.py). A mode names it in
# German; an English mode plays its English twin, named as the callback's shipped prompts are.
BLOCKED_PROMPT = "caller_blocked"


def in_language(prompt: str, language: str) -> str:
    """The prompt a mode in ``language`` plays for ``prompt``: the English twin of the shipped
    rejection in an English mode; any other prompt as named (an uploaded one has no twin)."""
    return shipped_in(prompt, language) if prompt == BLOCKED_PROMPT else prompt


# German mobile networks: 015x, 016x, 017x (Bundesnetzagentur number plan)
MOBILE_PREFIXES = ("+4915*", "+4916*", "+4917*")

_SEPARATORS = str.maketrans("", "", " -/().\t")
_PATTERN_CHARS = frozenset("0123456789+?*")


class CallerNumberError(Invalid):
    """A number or pattern that cannot be on a list; the text says why."""


def is_anonymous(caller: str) -> bool:
    return caller.strip().lower() in ANONYMOUS_NAMES


def normalise(number: str, country: str = "49") -> str:
    """The international form (+<country><national>) of a public number; extensions and
    other short numbers stay as they are. "030 123" -> "+4930123", "0049..." -> "+49...".
    Anything with letters (a SIP user name) is returned lower-cased, unchanged otherwise."""
    text = number.strip().translate(_SEPARATORS)
    if text.startswith("00"):
        return "+" + text[2:]
    if text.startswith("0") and len(text) > 1:
        return f"+{country}{text[1:]}"
    if text.startswith("+") or text.isdigit():
        return text
    return text.lower()


def check_number(text: str) -> str:
    """The text of a list entry as typed, refused with a clear reason when it cannot be one."""
    stripped = text.strip()
    if not stripped:
        raise CallerNumberError("a number is needed")
    if len(stripped) > MAX_NUMBER_CHARS:
        raise CallerNumberError(f"a number has at most {MAX_NUMBER_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in stripped):
        raise CallerNumberError("a number must not contain control characters")
    cleaned = stripped.translate(_SEPARATORS).replace("x", "?").replace("X", "?")
    if not cleaned or any(c not in _PATTERN_CHARS for c in cleaned):
        raise CallerNumberError("a number has digits, + and the wildcards ? (one digit) and * (at the end) only")
    if "*" in cleaned[:-1] or "+" in cleaned[1:]:
        raise CallerNumberError("* may only end a number (any rest), + only begin it")
    if not any(c.isdigit() for c in cleaned):
        raise CallerNumberError("a number needs at least one digit")
    return stripped


class Pattern:
    """One number or pattern, normalised; ``matches`` a normalised caller number in one pass."""

    def __init__(self, text: str, country: str = "49") -> None:
        cleaned = check_number(text).translate(_SEPARATORS).replace("x", "?").replace("X", "?")
        self.text = text.strip()
        self.prefix = cleaned.endswith("*")
        self.body = normalise(cleaned.removesuffix("*"), country)

    def matches(self, number: str) -> bool:
        body = self.body
        if len(number) < len(body) or (not self.prefix and len(number) != len(body)):
            return False
        return all(p == c or (p == "?" and c.isdigit()) for p, c in zip(body, number, strict=False))

    @property
    def exact(self) -> bool:
        return not self.prefix and "?" not in self.body


def patterns(texts: Iterable[str], country: str = "49") -> list[Pattern]:
    """Patterns of a condition rule; "mobile" stands for the German mobile prefixes."""
    found: list[Pattern] = []
    for text in texts:
        names = MOBILE_PREFIXES if text.strip().lower() == "mobile" else (text,)
        found.extend(Pattern(name, country) for name in names)
    return found


@dataclass(frozen=True)
class ListEntry:
    number: str  # as typed
    note: str = ""


class CallerLists:
    """The block and VIP lists in memory: exact numbers in a set (one lookup per call),
    patterns (``*``/``?``) checked one by one (few, bounded by ``MAX_LIST_ENTRIES``)."""

    def __init__(self, country: str = "49", max_entries: int = MAX_LIST_ENTRIES) -> None:
        self.country = country
        self.max_entries = max_entries
        self._exact: dict[ListName, dict[str, ListEntry]] = {name: {} for name in LIST_NAMES}
        self._patterns: dict[ListName, dict[str, tuple[Pattern, ListEntry]]] = {name: {} for name in LIST_NAMES}

    def key(self, number: str) -> str:
        """The normalised form an entry is stored and found under."""
        pattern = Pattern(number, self.country)
        return pattern.body + ("*" if pattern.prefix else "")

    def check_room(self, name: ListName, key: str) -> None:
        """Refuse a new entry on a full list (a known one may always be changed)."""
        if key not in self._exact[name] and key not in self._patterns[name] and self.count(name) >= self.max_entries:
            raise CallerNumberError(f"a list holds at most {self.max_entries} numbers")

    def add(self, name: ListName, entry: ListEntry) -> str:
        pattern = Pattern(entry.number, self.country)
        key = pattern.body + ("*" if pattern.prefix else "")
        self.check_room(name, key)
        if pattern.exact:
            self._exact[name][key] = entry
        else:
            self._patterns[name][key] = (pattern, entry)
        return key

    def remove(self, name: ListName, key: str) -> bool:
        return (self._exact[name].pop(key, None) or self._patterns[name].pop(key, None)) is not None

    def count(self, name: ListName) -> int:
        return len(self._exact[name]) + len(self._patterns[name])

    def entries(self, name: ListName) -> Iterator[tuple[str, ListEntry]]:
        yield from self._exact[name].items()
        yield from ((key, entry) for key, (_, entry) in self._patterns[name].items())

    def contains(self, name: ListName, caller: str) -> bool:
        """The caller's number (as the line reports it) is on the list; never an anonymous one."""
        if is_anonymous(caller):
            return False
        number = normalise(caller, self.country)
        if number in self._exact[name]:
            return True
        return any(pattern.matches(number) for pattern, _ in self._patterns[name].values())


ScheduleState = Literal["open", "closed", "holiday"]
Test = Literal["blocked", "vip", "anonymous", "number", "schedule"]


@dataclass(frozen=True)
class CallerFacts:
    """What a condition looks at, taken once when the call reaches the node."""

    caller: str
    blocked: bool
    vip: bool
    schedule: str  # open | closed | holiday | closed_day (core/schedule.py ``Why``)
    country: str = "49"  # the lists' country code: a national number is compared as +<country>...


def rule_matches(
    test: Test, facts: CallerFacts, *, numbers: list[Pattern] | None = None, schedule: str | None = None
) -> bool:
    """One rule's test. ``schedule: closed`` holds whenever the office is not open (holidays
    too), ``holiday`` on public holidays and the office's own closed days only."""
    if test == "blocked":
        return facts.blocked
    if test == "vip":
        return facts.vip
    if test == "anonymous":
        return is_anonymous(facts.caller)
    if test == "number":
        if is_anonymous(facts.caller):
            return False
        number = normalise(facts.caller, facts.country)
        return any(p.matches(number) for p in numbers or [])
    if schedule == "open":
        return facts.schedule == "open"
    if schedule == "closed":
        return facts.schedule != "open"
    return facts.schedule in ("holiday", "closed_day")
