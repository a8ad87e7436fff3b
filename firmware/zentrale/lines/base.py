"""The Line and Call ports every line driver implements (SIP, modem, ALSA).

A Line delivers incoming Calls and can originate outgoing ones (to reach
an agent). A Call carries 20 ms PCM16 frames both ways: the media clock
pulls what it sends from ``source``, what it receives goes to ``sink``.
Digits arrive through ``on_digit``. ``ended`` resolves with a reason when
the call is over, whoever ended it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from zentrale.errors import LineError
from zentrale.media.frames import FrameSink, FrameSource


class OriginateFailed(LineError):
    """An outgoing call was not answered: busy, declined, no answer, unreachable."""

    def __init__(self, code: int, reason: str, why: str | None = None) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason
        self._why = why

    @property
    def why(self) -> str:
        """One word for people: busy, declined, no_answer, unreachable, failed."""
        if self._why is not None:
            return self._why
        if self.code in (486, 600):
            return "busy"
        if self.code in (603, 403):
            return "declined"
        if self.code in (408, 480, 487):
            return "no_answer"
        if self.code in (404, 410, 484, 502, 503, 504):
            return "unreachable"
        return "failed"


class Call(Protocol):
    call_id: str
    line: str
    direction: str  # "in" | "out"
    caller: str
    caller_name: str | None
    called: str
    ended: asyncio.Future[str]

    @property
    def sample_rate(self) -> int:
        """PCM rate of this call's frames (8000, or 16000 with G.722)."""

    @property
    def codec_name(self) -> str: ...

    @property
    def answered(self) -> bool: ...

    def set_source(self, source: FrameSource | None) -> None: ...

    def set_sink(self, sink: FrameSink | None) -> None: ...

    def on_digit(self, callback: Callable[[str], None] | None) -> None: ...

    def send_digit(self, digit: str) -> None: ...

    async def answer(self) -> None: ...

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None: ...

    async def hangup(self) -> None: ...

    def info(self) -> dict[str, Any]: ...


@runtime_checkable
class TransferableCall(Call, Protocol):
    """A call that can be handed on blind: hook flash + digits on analog lines
    (modem, ALSA). The line cannot tell whether the extension answered."""

    async def transfer(self, target: str) -> None: ...


@runtime_checkable
class ReferableCall(Call, Protocol):
    """A call whose far end (the PBX) can be asked to call an agent itself and
    reports how that went: SIP REFER (RFC 3515) with its NOTIFYs."""

    async def refer(self, target: str, *, ring_timeout: float, cancel: asyncio.Future[Any] | None = None) -> None:
        """Return once the far end reports the target answered; raise
        ``OriginateFailed`` when it refuses, the target does not answer or
        ``cancel`` is done. On success the caller is the PBX's: hang up."""
        ...


IncomingHandler = Callable[[Call], None]


class Line(Protocol):
    name: str

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def on_incoming(self, handler: IncomingHandler) -> None: ...

    async def originate(
        self,
        target: str,
        *,
        display: str = "",
        caller: str = "",
        ring_timeout: float = 30.0,
        on_ringing: Callable[[], None] | None = None,
        cancel: asyncio.Future[None] | None = None,
    ) -> Call:
        """Call ``target``; returns the answered call or raises OriginateFailed."""

    def status(self) -> dict[str, Any]: ...
