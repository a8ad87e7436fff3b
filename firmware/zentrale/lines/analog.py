"""What every analog call has in common (voice modem, ALSA line board).

The ``Call`` port's bookkeeping, the blind transfer by hook flash, and the
outgoing frame of each 20 ms tick: queued DTMF tones win over the player,
which keeps its pace underneath.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from zentrale.errors import LineError
from zentrale.media.frames import Frame, FrameSink, FrameSource, silence

log = logging.getLogger(__name__)


class AnalogLineOps(Protocol):
    name: str

    async def answer(self, call: Any) -> None: ...

    async def hangup(self, call: Any, reason: str) -> None: ...

    async def transfer(self, call: Any, extension: str) -> None: ...


class AnalogCall:
    def __init__(
        self, line: AnalogLineOps, *, direction: str, caller: str, caller_name: str | None, called: str
    ) -> None:
        self._line = line
        self.line = line.name
        self.call_id = f"{line.name}-{secrets.token_hex(6)}"
        self.direction = direction
        self.caller = caller
        self.caller_name = caller_name
        self.called = called
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.state = "offered" if direction == "in" else "calling"
        self._source: FrameSource | None = None
        self._sink: FrameSink | None = None
        self._digit_cb: Callable[[str], None] | None = None
        self._tones: deque[Frame] = deque()

    @property
    def sample_rate(self) -> int:
        return 8000

    @property
    def codec_name(self) -> str:
        return "L16"

    @property
    def answered(self) -> bool:
        return self.state == "answered"

    def set_source(self, source: FrameSource | None) -> None:
        self._source = source

    def set_sink(self, sink: FrameSink | None) -> None:
        self._sink = sink

    def on_digit(self, callback: Callable[[str], None] | None) -> None:
        self._digit_cb = callback

    def _digit(self, digit: str) -> None:
        if self._digit_cb is not None:
            self._digit_cb(digit)

    async def answer(self) -> None:
        if self.state == "offered" and not self.ended.done():
            await self._line.answer(self)

    async def hangup(self) -> None:
        if not self.ended.done():
            await self._line.hangup(self, "local hangup")

    async def transfer(self, extension: str) -> None:
        """Blind transfer by hook flash: flash, dial the extension, hang up (PBX style)."""
        if not self.answered or self.ended.done():
            raise LineError(f"call {self.call_id} is not connected")
        if not extension or any(ch not in "0123456789*#" for ch in extension):
            raise LineError(f"cannot dial extension {extension!r} on an analog line")
        await self._line.transfer(self, extension)

    def info(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "line": self.line,
            "direction": self.direction,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "called": self.called,
            "state": self.state,
            "codec": self.codec_name,
        }

    def next_frame(self) -> Frame:
        """The frame for this tick: a queued DTMF tone, else the player's frame, else silence."""
        if self._tones:
            if self._source is not None:
                self._source.read()  # the player keeps its pace under the tone
            frame = self._tones.popleft()
            if not self._tones:
                self.tones_finished()
            return frame
        played = self._source.read() if self._source is not None else None
        return played if played is not None and played.rate == 8000 else silence(8000)

    def tones_finished(self) -> None:
        """Hook: the last queued tone went out."""

    def _end(self, reason: str) -> None:
        self._source = None
        self._sink = None
        if not self.ended.done():
            self.state = "ended"
            self.ended.set_result(reason)
            log.info("call %s ended: %s", self.call_id, reason)
