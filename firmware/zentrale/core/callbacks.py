"""A callback that keeps the caller's place (issue 16, item 3): the pure part.

The caller presses a key in the queue (``QueueNode.keys`` -> a ``callback`` node), confirms the
number the box heard or types another, and hangs up; the queue board keeps a *virtual* entry at
their place (``QueueBoard.enter_callback``). Agents pull it like a waiting call; the box then
rings the agent and, once the agent answers, the caller (``calls/callback.py``).

Here: the caller's dialogue (``ask_number``, over the flow's ``CallSession`` port), which numbers
may be called back (``CallbackNumbers``: the team's patterns, core/numbers.py -- never a premium
or foreign number unless the team allows it), and when to try again (``RetryPlan``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from zentrale.core.numbers import NumberPolicy

MAX_DIGITS = 20  # E.164 allows 15 digits plus a national prefix; anything longer is mistyped
DIGIT_TIMEOUT = 8.0  # seconds between two digits (ETSI ES 201 235-2 suggests 5-10 s)
ASKS = 3  # how often the caller is asked before the node gives up (on_failure)

# Numbers a team calls back when it sets no patterns of its own: internal extensions
# (numbers.DEFAULT) and German landline and mobile numbers, with the trunk prefix 0 or as
# +49 (how SIP trunks present them) -- neither international (00..., +<other>) nor the
# costly service ranges: 0900/09x premium, 0137/0138 mass calls, 0180 shared cost, 0700
# personal numbers, 0118 directory services.
_COSTLY = "(?!9|137|138|180|700|118)"
NATIONAL = rf"^0{_COSTLY}[1-9][0-9]{{4,13}}$"
NATIONAL_E164 = rf"^\+49{_COSTLY}[1-9][0-9]{{4,13}}$"
CALLBACK_DEFAULT = ("default", NATIONAL, NATIONAL_E164)

PROMPT_NUMBER_IS = "callback_number_is"  # "Wir rufen Sie zurück unter der Nummer"
PROMPT_CONFIRM = "callback_confirm"  # "Zum Bestätigen drücken Sie die 1. Oder ... Rautetaste."
PROMPT_ENTER = "callback_enter_number"  # "Bitte geben Sie Ihre Rufnummer ein ..."
PROMPT_REFUSED = "callback_refused"  # "Diese Nummer können wir leider nicht zurückrufen."
PROMPT_DONE = "callback_done"  # "Vielen Dank. Wir rufen Sie zurück ... Auf Wiederhören."
PROMPT_GREETING = "callback_greeting"  # to the caller called back: "... Sie hatten um Rückruf gebeten."
PROMPT_AGENT = "callback_agent"  # to the agent: "Rückruf. Der Anrufer wird jetzt angerufen."
PROMPT_HOLD_OVER = "callback_hold_over"  # caller_first, nobody took it: "... Wir rufen Sie später noch einmal an."
_SENTENCES = (
    PROMPT_NUMBER_IS,
    PROMPT_CONFIRM,
    PROMPT_ENTER,
    PROMPT_REFUSED,
    PROMPT_DONE,
    PROMPT_GREETING,
    PROMPT_AGENT,
    PROMPT_HOLD_OVER,
)


def prompt(name: str, language: str) -> str:
    return f"{name}_en" if language == "en" else name


def digit_prompt(digit: str, language: str) -> str:
    return prompt(f"digit_{digit}", language)


def callback_prompts(language: str) -> list[str]:
    """Every prompt a callback may speak in ``language`` (they must all exist)."""
    return [prompt(n, language) for n in _SENTENCES] + [digit_prompt(str(d), language) for d in range(10)]


class CallbackNumbers:
    """Which numbers one team calls back (patterns as for agents' numbers, core/numbers.py)."""

    def __init__(self, patterns: Callable[[str], list[str] | None]) -> None:
        self._patterns = patterns  # per team, read at each use: a change is in force at once

    def allows(self, team: str, number: str) -> bool:
        if not number or len(number) > MAX_DIGITS + 1:  # + 1: a leading '+'
            return False
        patterns = self._patterns(team)
        return NumberPolicy(list(patterns) if patterns is not None else list(CALLBACK_DEFAULT)).allows(number)


@dataclass(frozen=True)
class RetryPlan:
    """How often and how far apart the box tries to reach a caller who asked for a callback."""

    attempts: int = 3  # calls to the caller in all
    interval: float = 300.0  # seconds from a failed attempt to the entry waiting again

    def next_try(self, made: int, now: float) -> float | None:
        """When the callback waits again after ``made`` failed attempts (None: give up, a task)."""
        return now + self.interval if made < self.attempts else None


class CallbackDesk(Protocol):
    """What the flow's ``callback`` node needs: the number check and the request itself."""

    def allows(self, team: str, number: str) -> bool: ...

    async def request(self, team: str, number: str, caller_name: str | None, call_id: str, since: datetime) -> str:
        """Keep the caller's place (``since``: when they entered the queue); returns the callback's id."""
        ...


class _Session(Protocol):
    async def play(self, prompt: str, *, barge_in: bool = False) -> str | None: ...

    async def next_digit(self, timeout: float) -> str | None: ...

    def clear_digits(self) -> None: ...


def plausible(number: str) -> bool:
    """A caller ID worth reading back: digits only (a leading + allowed), not too long."""
    digits = number[1:] if number.startswith("+") else number
    return digits.isdigit() and len(digits) <= MAX_DIGITS


async def ask_number(session: _Session, heard: str, language: str, allowed: Callable[[str], bool]) -> str | None:
    """The caller's dialogue: read back ``heard`` (if it may be called back), 1 confirms; or
    digits up to # give another number, checked by ``allowed`` and read back to confirm.
    Returns the number confirmed, or None when the caller gives none after ``ASKS`` tries."""
    number: str | None = heard if plausible(heard) and allowed(heard) else None
    session.clear_digits()
    ahead: str | None = None  # a key that cut the refusal short: the start of the next answer
    for _ in range(ASKS):
        digit = ahead if ahead is not None else await _offer(session, number, language)
        ahead = None
        if digit is None:
            digit = await session.next_digit(DIGIT_TIMEOUT)
        if digit is None:
            continue
        if digit == "1" and number is not None:
            return number
        typed = await _typed(session, digit)
        if typed is not None and allowed(typed):
            number = typed  # read back and confirmed in the next round
            continue
        ahead = await session.play(prompt(PROMPT_REFUSED, language), barge_in=True)
    return None


async def _offer(session: _Session, number: str | None, language: str) -> str | None:
    """Read ``number`` back and ask to confirm it, or ask for a number; a key stops it."""
    if number is None:
        return await session.play(prompt(PROMPT_ENTER, language), barge_in=True)
    for name in [prompt(PROMPT_NUMBER_IS, language), *(digit_prompt(d, language) for d in number if d.isdigit())]:
        digit = await session.play(name, barge_in=True)
        if digit is not None:
            return digit
    return await session.play(prompt(PROMPT_CONFIRM, language), barge_in=True)


async def _typed(session: _Session, first: str) -> str | None:
    """Digits from ``first`` to # (or a pause); None when nothing usable came: no digit, only
    * and #, or more than MAX_DIGITS (all of it is read to the #, so no digit is left over
    to count as the next answer)."""
    digits: list[str] = []
    digit: str | None = first
    while digit is not None and digit != "#":
        if digit.isdigit():
            digits.append(digit)
        digit = await session.next_digit(DIGIT_TIMEOUT)
    if not digits or len(digits) > MAX_DIGITS:
        return None
    return "".join(digits)


def callback_snapshot(callback_id: str | None, attempts: int) -> dict[str, Any]:
    """What the queue board adds to a callback's entry for the agents' page."""
    return {"callback": callback_id, "callback_attempts": attempts} if callback_id else {"callback": None}
