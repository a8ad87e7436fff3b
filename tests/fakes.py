"""Fakes for our own ports: a scripted call session on a ManualClock."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

from zentrale.core.clock import ManualClock
from zentrale.core.flow import RecordingRequest, StoredMessage
from zentrale.errors import CallEnded

# Prompt lengths in seconds, as if the demo prompts were played.
PROMPT_SECONDS = {
    "greeting": 3.0,
    "main_menu": 8.0,
    "hold_notice": 5.0,
    "offer_message": 9.0,
    "message_saved": 4.0,
    "goodbye": 1.0,
    "invalid_choice": 2.0,
    "no_input": 2.0,
    "outage_sap": 7.0,
    "outage_network": 6.0,
}


@dataclass
class FakeSession:
    """A call as the flow engine sees it, driven by a script of timed digits.

    ``digits_at``: (seconds after start, digit). ``hangup_at``: seconds after start.
    Everything the caller "hears" is logged in ``heard`` as (start time, what).
    """

    clock: ManualClock
    digits_at: list[tuple[float, str]] = field(default_factory=list)
    hangup_at: float | None = None
    speak_seconds: float = 10.0  # how long the caller talks into voicemail before silence
    call_id: str = "call-1"
    caller: str = "+49301234567"
    caller_name: str | None = None
    heard: list[tuple[float, str]] = field(default_factory=list)
    messages: list[RecordingRequest] = field(default_factory=list)
    bridged_with: object | None = None
    hung_up: bool = False
    _digits: list[str] = field(default_factory=list)
    _ended: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._t0 = self.clock.monotonic()
        self._wakeup = asyncio.Event()
        self._driver = asyncio.ensure_future(self._drive())

    async def _drive(self) -> None:
        events = sorted([(t, d) for t, d in self.digits_at] + ([(self.hangup_at, "")] if self.hangup_at else []))
        for at, digit in events:
            delay = self._t0 + at - self.clock.monotonic()
            if delay > 0:
                await self.clock.sleep(delay)
            if digit:
                self._digits.append(digit)
            else:
                self._ended = True
            self._wakeup.set()

    @property
    def ended(self) -> bool:
        return self._ended

    def now(self) -> float:
        return round(self.clock.monotonic() - self._t0, 3)

    async def _wait(self, seconds: float, *, stop_on_digit: bool) -> str | None:
        """Let ``seconds`` pass unless the caller hangs up (or presses a digit)."""
        deadline = self.clock.monotonic() + seconds
        while True:
            if self._ended:
                raise CallEnded(self.call_id)
            if stop_on_digit and self._digits:
                return self._digits.pop(0)
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return None
            self._wakeup.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(left))
            waker = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this wait is cancelled: no sleeper may outlive it
                sleeper.cancel()
                waker.cancel()

    async def play(self, prompt: str, *, barge_in: bool = False) -> str | None:
        self.heard.append((self.now(), prompt))
        return await self._wait(PROMPT_SECONDS.get(prompt, 2.0), stop_on_digit=barge_in)

    async def play_music(self, music: str, seconds: float) -> None:
        self.heard.append((self.now(), f"music:{music}"))
        await self._wait(seconds, stop_on_digit=False)

    async def next_digit(self, timeout: float) -> str | None:
        return await self._wait(timeout, stop_on_digit=True)

    def take_digit(self) -> str | None:
        return self._digits.pop(0) if self._digits else None

    def clear_digits(self) -> None:
        self._digits.clear()

    async def beep(self) -> None:
        self.heard.append((self.now(), "beep"))
        await self._wait(0.3, stop_on_digit=False)

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        self.heard.append((self.now(), "recording"))
        self.messages.append(request)
        start = self.clock.monotonic()
        try:
            await self._wait(min(self.speak_seconds + request.silence_seconds, request.max_seconds), stop_on_digit=True)
        except CallEnded:
            pass
        took = self.clock.monotonic() - start
        return StoredMessage(f"m{next(self._ids)}", int(took * 1000))

    async def bridge(self, leg: object) -> None:
        self.heard.append((self.now(), "bridged"))
        self.bridged_with = leg
        await self._wait(3600, stop_on_digit=False)

    async def hangup(self) -> None:
        self.hung_up = True
        self._driver.cancel()

    def what(self) -> list[str]:
        return [w for _, w in self.heard]
