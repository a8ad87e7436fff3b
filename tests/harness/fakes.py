"""Fakes for our own ports: a scripted call session on a ManualClock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from zentrale.calls.simulation import SimulatedSession
from zentrale.core.flow import RecordingRequest, StoredMessage
from zentrale.errors import CallGone

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
class FakeSession(SimulatedSession):
    """The editor's simulated call, driven by a script of timed digits.

    ``digits_at``: (seconds after start, digit). ``hangup_at``: seconds after start.
    ``heard`` lists what the caller hears as (start time, what).
    """

    seconds_of: Callable[[str], float] = field(default=lambda name: PROMPT_SECONDS.get(name, 2.0))
    call_id: str = "call-1"
    caller_name: str | None = None
    digits_at: list[tuple[float, str]] = field(default_factory=list)
    hangup_at: float | None = None
    speak_seconds: float = 10.0  # how long the caller talks into voicemail before silence
    messages: list[RecordingRequest] = field(default_factory=list)
    bridged_with: object | None = None
    hung_up: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        self._t0 = self.clock.monotonic()
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

    def now(self) -> float:
        return round(self.clock.monotonic() - self._t0, 3)

    @property
    def heard(self) -> list[tuple[float, str]]:
        shown = {"prompt": "{}", "music": "music:{}", "beep": "beep", "recording": "recording", "agent": "{}"}
        return [
            (round(t["t"] - self._t0, 3), shown[t["kind"]].format(t["name"]))
            for t in self.transcript
            if t["kind"] in shown
        ]

    def what(self) -> list[str]:
        return [w for _, w in self.heard]

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        """The caller speaks for ``speak_seconds``; silence then ends the message."""
        self._note("recording", "", request.max_seconds)
        self.messages.append(request)
        start = self.clock.monotonic()
        try:
            await self._wait(min(self.speak_seconds + request.silence_seconds, request.max_seconds), stop_on_digit=True)
        except CallGone:
            pass
        took = self.clock.monotonic() - start
        return StoredMessage(f"m{next(self._ids)}", int(took * 1000))

    async def bridge(self, leg: object) -> None:
        self._note("agent", "bridged", None)
        self.bridged_with = leg
        await self._wait(3600, stop_on_digit=False)

    async def hangup(self) -> None:
        self.hung_up = True
        self._driver.cancel()
