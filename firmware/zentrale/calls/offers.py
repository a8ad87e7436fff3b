"""Each ring of an agent's phone, recorded from the events (store/offers.py has the rows).

The distribution says when it rings an agent (``AgentRinging``, after ``PullStarted`` when the
agent pulled the call) and the agents' board says how it ended: the agent on the call
(answered), or free again with the dialer's reason, or gone (logged out, paused). An answered
ring is written once the agent is free again, with the wrap-up it took (the time in
``wrap_up`` after the call; 0 when the agent was free at once). The rows are written behind the
calls from a bounded queue: a database that refuses them costs figures, never a call (as the
call log, calls/behind.py).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from zentrale.core.agents import AgentState, AgentStateChanged
from zentrale.core.clock import Clock
from zentrale.core.distribution import AgentRinging, PullStarted
from zentrale.core.events import Event, EventBus
from zentrale.errors import StoreError
from zentrale.store.offers import OfferRepository

log = logging.getLogger(__name__)

MAX_PENDING = 2000  # rows waiting for the database at most (a store that hangs must not grow this)

Ring = tuple[str, str, str | None, str, str, float, str]
Row = tuple[str, str, str | None, str, str, float, str, float | None]


@dataclass
class _Ring:
    call_id: str
    team: str
    how: str
    at: str  # UTC ISO, as the call log's times
    since: float  # the clock's monotonic seconds


class OfferLog:
    def __init__(self, events: EventBus, repo: OfferRepository, clock: Clock) -> None:
        self._repo = repo
        self._clock = clock
        self._ringing: dict[str, _Ring] = {}  # agent id -> the ring in progress
        self._pulled: set[tuple[str, str]] = set()  # (agent, call) pulls not yet ringing
        self._talking: dict[str, Ring] = {}  # agent id -> the answered ring, until the agent is free again
        self._wrap_from: dict[str, float] = {}  # agent id -> when their wrap-up began (monotonic)
        self._rows: list[Row] = []
        self._task: asyncio.Task[None] | None = None
        self.written = 0
        self.dropped = 0
        events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, PullStarted):
            self._pulled.add((event.agent_id, event.call_id))
        elif isinstance(event, AgentRinging):
            pulled = (event.agent_id, event.call_id) in self._pulled
            self._pulled.discard((event.agent_id, event.call_id))
            now = self._clock.now().isoformat()
            self._ringing[event.agent_id] = _Ring(
                event.call_id, event.team, "pull" if pulled else "auto", now, self._clock.monotonic()
            )
        elif isinstance(event, AgentStateChanged) and event.state != AgentState.RINGING.value:
            agent = event.agent_id
            ring = self._ringing.pop(agent, None)
            if ring is not None:
                if event.state == AgentState.ON_CALL.value:
                    result = "answered"
                elif event.state == AgentState.AVAILABLE.value:
                    result = event.reason or "no_answer"
                else:  # logged out or paused while it rang
                    result = event.state
                ring_s = round(self._clock.monotonic() - ring.since, 1)
                done: Ring = (ring.call_id, agent, ring.team, ring.how, ring.at, ring_s, result)
                if result == "answered":
                    self._talking[agent] = done  # written with its wrap-up, once the agent is free again
                else:
                    self._put((*done, None))
                return
            answered = self._talking.get(agent)
            if answered is None or event.state == AgentState.ON_CALL.value:
                return
            if event.state == AgentState.WRAP_UP.value:
                self._wrap_from[agent] = self._clock.monotonic()
                return
            del self._talking[agent]  # free again (or paused, logged out): the call and its wrap-up are over
            began = self._wrap_from.pop(agent, None)
            self._put((*answered, round(self._clock.monotonic() - began, 1) if began is not None else 0.0))

    def _put(self, row: Row) -> None:
        if len(self._rows) >= MAX_PENDING:
            self.dropped += 1
            return
        self._rows.append(row)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._write())

    async def _write(self) -> None:
        while self._rows:
            rows, self._rows = self._rows, []
            try:
                await self._repo.add(rows)
                self.written += len(rows)
            except (StoreError, OSError) as err:
                self.dropped += len(rows)
                log.warning("agent rings: %d row(s) not stored: %s", len(rows), err)

    async def stop(self) -> None:
        """The rows still waiting, written before the database closes (the wrap-up of an agent
        still in it is not known: NULL)."""
        for answered in self._talking.values():
            self._put((*answered, None))
        self._talking.clear()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)
