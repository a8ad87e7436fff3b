"""Events on the one internal bus, and the bus itself.

Everything that changes (a call waiting, a switch flipped, a message stored)
is published here; the web client, the LEDs and the store subscribe.
Events are frozen dataclasses, like h11's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """Base of all events; ``kind`` names it on the wire (SSE, logs)."""

    @property
    def kind(self) -> str:
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class CallStarted(Event):
    call_id: str
    caller: str
    caller_name: str | None
    called: str
    line: str


@dataclass(frozen=True)
class NodeEntered(Event):
    call_id: str
    node: str
    node_type: str


@dataclass(frozen=True)
class CallEnded(Event):
    call_id: str
    outcome: str


@dataclass(frozen=True)
class CallWaiting(Event):
    """A call entered a team's queue."""

    entry_id: str
    call_id: str
    team: str
    caller: str
    caller_name: str | None
    position: int


@dataclass(frozen=True)
class QueueChanged(Event):
    """Positions or hold steps in a team's queue changed."""

    team: str
    entries: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class CallLeftQueue(Event):
    entry_id: str
    call_id: str
    team: str
    reason: str  # connected, hangup, overflow, after_hold


@dataclass(frozen=True)
class PositionAnnounced(Event):
    """A waiting caller was told their position and/or expected wait (the queue's announce step)."""

    call_id: str
    team: str
    position: int
    wait: str | None  # the spoken figure (core/waits.py spoken_wait), "none" when not credible, None: not asked
    observations: int  # hand-overs the figure rests on
    why: str = ""  # why there is no figure


@dataclass(frozen=True)
class SwitchChanged(Event):
    switch_id: str
    on: bool
    by: str
    since: str  # ISO 8601


@dataclass(frozen=True)
class MessageStored(Event):
    message_id: str
    team: str | None
    caller: str
    duration_ms: int


@dataclass(frozen=True)
class MessageMailChanged(Event):
    """A message's e-mail delivery changed state: queued, sending, sent, failed."""

    message_id: str
    state: str


@dataclass(frozen=True)
class MessageUpdated(Event):
    """Someone took a message on, finished it, reopened it or commented it."""

    message_id: str
    status: str
    status_by: str | None
    status_at: str | None
    comment: str


@dataclass(frozen=True)
class MessageDeleted(Event):
    message_id: str
    by: str


@dataclass(frozen=True)
class ModeActivated(Event):
    mode: str
    by: str


Subscriber = Callable[[Event], None]


class OffTheLoop(RuntimeError):
    """An event was published from a thread other than the event loop's."""


class EventBus:
    """Synchronous fan-out on the event loop's thread.

    A failing subscriber is logged and never stops the others or the publisher.
    Threads other than the loop's must hop in with ``loop.call_soon_threadsafe``:
    ``publish`` refuses to run anywhere else (``OffTheLoop``), since the
    subscribers change state the loop owns without a lock (ARCHITECTURE.md).
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop of the first publish

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise OffTheLoop(f"{event.kind} published outside the event loop: use loop.call_soon_threadsafe") from None
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise OffTheLoop(f"{event.kind} published on another event loop than the bus's")
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("event subscriber failed on %s", event.kind)
