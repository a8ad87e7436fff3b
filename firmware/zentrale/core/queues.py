"""Team queues: callers wait in order; agents are connected to waiting calls.

Plain state plus two signals per entry: ``handed_over`` (``connect`` resolves
it with the hand-over to the agent, and the flow engine, waiting in the queue
step, bridges the caller or lets the line transfer them) and ``left`` (the
entry left the queue, with the reason: the caller hung up, overflowed, was
connected). ``offer`` reserves an entry while an agent's phone rings (so two
agents cannot take the same call); the caller keeps their position.

A callback (``core.callbacks``) waits as a *virtual* entry: no call behind it, put at the place
its caller had when they entered the queue (``enter_callback``); agents see and pull it like a
waiting call, and ``calls/callback.py`` answers its hand-over by calling the caller.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic

from zentrale.core.callbacks import callback_snapshot
from zentrale.core.clock import Clock
from zentrale.core.events import CallLeftQueue, CallWaiting, EventBus, QueueChanged
from zentrale.core.handover import HandOver, L
from zentrale.errors import Conflict, NotFound


class EntryState(StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"  # an agent's phone rings for this call
    CONNECTED = "connected"
    LEFT = "left"


def _future() -> asyncio.Future[Any]:
    return asyncio.get_running_loop().create_future()


@dataclass(eq=False)
class QueueEntry(Generic[L]):
    entry_id: str
    call_id: str
    team: str
    caller: str
    caller_name: str | None
    entered_at: float
    entered_wall: datetime
    state: EntryState = EntryState.WAITING
    offered_to: str | None = None  # the agent whose phone rings, then the one who has the call
    hold_step: int = 0
    hold_label: str = ""
    vip: bool = False  # on the VIP list: waits ahead of callers who are not
    handed_over: asyncio.Future[HandOver[L]] = field(default_factory=_future)
    left: asyncio.Future[str] = field(default_factory=_future)  # the reason it left the queue
    callback_id: str | None = None  # a virtual entry: a caller who hung up and is to be called back
    callback_attempts: int = 0  # calls to that caller that failed so far

    def waited(self, now: float) -> float:
        return max(0.0, now - self.entered_at)


class QueueBoard(Generic[L]):
    """All team queues of the box."""

    def __init__(self, clock: Clock, events: EventBus) -> None:
        self._clock = clock
        self._events = events
        self._entries: dict[str, QueueEntry[L]] = {}  # insertion order = arrival order
        self._ids = itertools.count(1)

    def enter(
        self, team: str, call_id: str, caller: str, caller_name: str | None, *, vip: bool = False
    ) -> QueueEntry[L]:
        entry: QueueEntry[L] = QueueEntry(
            entry_id=f"q{next(self._ids)}",
            call_id=call_id,
            team=team,
            caller=caller,
            caller_name=caller_name,
            entered_at=self._clock.monotonic(),
            entered_wall=self._clock.now(),
            vip=vip,
        )
        self._entries[entry.entry_id] = entry
        if vip:
            self._ahead_of_others(entry)
        self._events.publish(CallWaiting(entry.entry_id, call_id, team, caller, caller_name, self.position(entry)))
        self._publish_team(team)
        return entry

    def _ahead_of_others(self, vip: QueueEntry[L]) -> None:
        """Move a VIP ahead of the team's callers who wait and are no VIPs (behind earlier VIPs
        and behind a call an agent's phone already rings for)."""
        first = next((e for e in self.entries(vip.team) if e is not vip and not e.vip
                      and e.state is EntryState.WAITING), None)  # fmt: skip
        if first is None:
            return
        reordered: dict[str, QueueEntry[L]] = {}
        for entry_id, entry in self._entries.items():
            if entry is first:
                reordered[vip.entry_id] = vip
            if entry is not vip:
                reordered[entry_id] = entry
        self._entries = reordered

    def enter_callback(
        self, team: str, callback_id: str, number: str, caller_name: str | None, since: datetime, attempts: int = 0
    ) -> QueueEntry[L]:
        """A virtual entry for a callback, at the place of a caller who entered at ``since``:
        ahead of everyone who came later, behind everyone who came before (wall clock, so a
        callback kept over a restart goes ahead of the calls that came after it)."""
        waited = max(0.0, (self._clock.now() - since).total_seconds())
        entry: QueueEntry[L] = QueueEntry(
            entry_id=f"q{next(self._ids)}",
            call_id=f"callback-{callback_id}",
            team=team,
            caller=number,
            caller_name=caller_name,
            entered_at=self._clock.monotonic() - waited,
            entered_wall=since,
            callback_id=callback_id,
            callback_attempts=attempts,
        )
        later = [e for e in self._entries.values() if e.entered_wall > since]
        for other in later:  # re-inserted behind the new entry: dict order is the queue's order
            del self._entries[other.entry_id]
        self._entries[entry.entry_id] = entry
        for other in later:
            self._entries[other.entry_id] = other
        self._events.publish(
            CallWaiting(entry.entry_id, entry.call_id, team, number, caller_name, self.position(entry))
        )
        self._publish_team(team)
        return entry

    def leave(self, entry: QueueEntry[L], reason: str) -> None:
        if self._entries.pop(entry.entry_id, None) is None:
            return
        if entry.state is not EntryState.CONNECTED:
            entry.state = EntryState.LEFT
        if not entry.left.done():
            entry.left.set_result(reason)
        self._events.publish(CallLeftQueue(entry.entry_id, entry.call_id, entry.team, reason))
        self._publish_team(entry.team)

    def get(self, entry_id: str) -> QueueEntry[L]:
        try:
            return self._entries[entry_id]
        except KeyError:
            raise NotFound(f"no waiting call {entry_id}") from None

    def find_by_call(self, call_id: str) -> QueueEntry[L] | None:
        return next((e for e in self._entries.values() if e.call_id == call_id), None)

    def entries(self, team: str | None = None) -> list[QueueEntry[L]]:
        return [e for e in self._entries.values() if team is None or e.team == team]

    def position(self, entry: QueueEntry[L]) -> int:
        """1-based position among the team's waiting calls."""
        for i, other in enumerate(self.entries(entry.team), start=1):
            if other is entry:
                return i
        return 0

    def offer(self, entry_id: str, agent: str) -> QueueEntry[L]:
        """Reserve a waiting call for ``agent`` while their phone rings."""
        entry = self.get(entry_id)
        if entry.state is EntryState.OFFERED:
            raise Conflict(f"call {entry_id} is already being put through to {entry.offered_to}")
        if entry.state is not EntryState.WAITING:
            raise Conflict(f"call {entry_id} is no longer waiting")
        entry.state = EntryState.OFFERED
        entry.offered_to = agent
        self._publish_team(entry.team)
        return entry

    def withdraw(self, entry_id: str, agent: str) -> None:
        """The agent did not take the call: it waits again at the same position."""
        entry = self._entries.get(entry_id)
        if entry is None or entry.offered_to != agent or entry.state is not EntryState.OFFERED:
            return
        entry.state = EntryState.WAITING
        entry.offered_to = None
        self._publish_team(entry.team)

    def connect(self, entry_id: str, handover: HandOver[L], agent: str | None = None) -> QueueEntry[L]:
        """Hand the waiting caller over to an agent (``handover``: the agent's answered leg, or
        the transfer the caller's line made or is to make).

        The entry must be waiting, or offered to this agent. Raises Conflict
        when the caller has gone or someone else has the call.
        """
        entry = self.get(entry_id)
        if entry.state is EntryState.OFFERED and agent is not None and entry.offered_to != agent:
            raise Conflict(f"call {entry_id} is being put through to {entry.offered_to}")
        if entry.state not in (EntryState.WAITING, EntryState.OFFERED) or entry.handed_over.done():
            raise Conflict(f"call {entry_id} is no longer waiting")
        entry.state = EntryState.CONNECTED
        entry.offered_to = agent
        entry.handed_over.set_result(handover)
        return entry

    def set_hold_step(self, entry: QueueEntry[L], index: int, label: str) -> None:
        entry.hold_step = index
        entry.hold_label = label
        self._publish_team(entry.team)

    def snapshot(self, entry: QueueEntry[L]) -> dict[str, Any]:
        return {
            "entry_id": entry.entry_id,
            "call_id": entry.call_id,
            "team": entry.team,
            "caller": entry.caller,
            "caller_name": entry.caller_name,
            "position": self.position(entry),
            "entered": entry.entered_wall.isoformat(),
            "waited": round(entry.waited(self._clock.monotonic()), 1),
            "state": entry.state.value,
            "offered_to": entry.offered_to,
            "hold_step": entry.hold_step,
            "hold_label": entry.hold_label,
            "vip": entry.vip,
            **callback_snapshot(entry.callback_id, entry.callback_attempts),
        }

    def _publish_team(self, team: str) -> None:
        self._events.publish(QueueChanged(team, tuple(self.snapshot(e) for e in self.entries(team))))
