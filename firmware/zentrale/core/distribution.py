"""Putting waiting calls through to agents: pull ("Vermitteln") and automatic distribution.

Pure domain logic over two ports: the ``Dialer`` rings an agent's phone and
returns the hand-over (``core.handover``: the answered leg, or a transfer by
the caller's own line) or why not, and the queue board hands it to the
waiting caller, whose flow then bridges the two or lets the line transfer. While an agent's
phone rings, the caller keeps their hold sequence and their position; an
agent who does not answer sends the call back to the queue, not into the void.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol

from zentrale.core.agents import Agent, AgentBoard, AgentState
from zentrale.core.clock import Clock
from zentrale.core.events import CallWaiting, Event, EventBus
from zentrale.core.handover import HandOver, L
from zentrale.core.queues import EntryState, QueueBoard, QueueEntry
from zentrale.errors import Conflict, NotFound

log = logging.getLogger(__name__)

STRATEGIES = ("longest_idle", "round_robin", "linear", "ring_all")
RETRY_PAUSE = 2.0  # seconds between rounds when every free agent failed


@dataclass(frozen=True)
class DialResult(Generic[L]):
    """What ringing an agent gave: the hand-over when the agent took the call, or why not."""

    handover: HandOver[L] | None
    reason: str = "answered"  # answered | busy | declined | no_answer | unreachable | cancelled | failed

    @property
    def answered(self) -> bool:
        return self.handover is not None


class Dialer(Protocol[L]):
    async def dial(
        self, agent: Agent, entry: QueueEntry[L], ring_timeout: float, cancel: asyncio.Future[Any]
    ) -> DialResult[L]:
        """Ring the agent's logged-in number; stop ringing when ``cancel`` is done."""

    async def hang_up(self, handover: HandOver[L]) -> None:
        """The agent took the call a moment too late (the caller is gone, another agent has it)."""

    async def wait_ended(self, handover: HandOver[L]) -> None:
        """Until the agent's call is over (either side hung up); at once after a transfer."""


@dataclass(frozen=True)
class TeamPolicy:
    team: str
    name: str
    auto: bool = False
    strategy: str = "longest_idle"
    ring_timeout: float = 20.0
    wrap_up: float = 10.0


@dataclass(frozen=True)
class PullStarted(Event):
    agent_id: str
    entry_id: str
    call_id: str
    team: str


@dataclass(frozen=True)
class PullFailed(Event):
    """Told to the agent: why the pulled call did not reach them."""

    agent_id: str
    entry_id: str
    reason: str


@dataclass(frozen=True)
class AgentRinging(Event):
    agent_id: str
    entry_id: str
    call_id: str
    team: str


@dataclass(frozen=True)
class CallConnected(Event):
    call_id: str
    entry_id: str
    agent_id: str
    team: str
    how: str  # pull | auto


def order_agents(strategy: str, free: list[Agent], last_rung: str | None) -> list[Agent]:
    """The order in which free agents are tried (ring_all: all at once)."""
    if strategy == "longest_idle":
        return sorted(free, key=lambda a: (a.idle_since, a.priority, a.agent_id))
    linear = sorted(free, key=lambda a: (a.priority, a.agent_id))
    if strategy == "round_robin" and last_rung is not None:
        after = [a for a in linear if a.agent_id > last_rung]
        before = [a for a in linear if a.agent_id <= last_rung]
        return after + before
    return linear  # linear, ring_all, round_robin's first round


class CallDistribution(Generic[L]):
    def __init__(
        self,
        clock: Clock,
        queues: QueueBoard[L],
        agents: AgentBoard,
        dialer: Dialer[L],
        events: EventBus,
        policy: Callable[[str], TeamPolicy],
    ) -> None:
        self._clock = clock
        self._queues = queues
        self._agents = agents
        self._dialer = dialer
        self._events = events
        self._policy = policy  # read at each use: a team changed in the web page is in force at once
        self._last_rung: dict[str, str] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}  # entry id -> its auto distribution
        self._pulls: set[asyncio.Task[Any]] = set()
        events.subscribe(self._on_event)

    def policy(self, team: str) -> TeamPolicy:
        return self._policy(team)

    # --- pull ("Vermitteln") -----------------------------------------------------------

    def start_pull(self, entry_id: str, agent_id: str) -> asyncio.Task[DialResult[L]]:
        """Reserve the call for the agent at once (Conflict if someone else has it),
        then ring the agent in the background."""
        agent = self._agents.get(agent_id)
        entry = self._queues.get(entry_id)
        if entry.team not in agent.logged_in_teams:
            raise Conflict(f"agent {agent_id} is not logged in to team {entry.team}")
        if agent.state is not AgentState.AVAILABLE:
            raise Conflict(f"agent {agent_id} is {agent.state.value}, not available")
        self._queues.offer(entry_id, agent_id)  # raises Conflict when another agent has it
        self._agents.ringing(agent, entry.call_id)
        self._events.publish(PullStarted(agent_id, entry_id, entry.call_id, entry.team))
        task = asyncio.ensure_future(self._ring(agent, entry, "pull"))
        self._pulls.add(task)
        task.add_done_callback(self._pulls.discard)
        return task

    async def pull(self, entry_id: str, agent_id: str) -> DialResult[L]:
        return await self.start_pull(entry_id, agent_id)

    async def _ring(self, agent: Agent, entry: QueueEntry[L], how: str) -> DialResult[L]:
        """Ring one agent for a reserved entry; connect on answer, release otherwise."""
        policy = self.policy(entry.team)
        self._events.publish(AgentRinging(agent.agent_id, entry.entry_id, entry.call_id, entry.team))
        try:
            result = await self._dialer.dial(agent, entry, policy.ring_timeout, entry.left)
        except Exception:
            log.exception("ringing agent %s failed", agent.agent_id)
            result = DialResult(None, "failed")
        if result.handover is None:
            reason = "caller_gone" if entry.state is EntryState.LEFT else result.reason
            self._queues.withdraw(entry.entry_id, agent.agent_id)
            self._agents.not_answered(agent, reason)
            if how == "pull":
                self._events.publish(PullFailed(agent.agent_id, entry.entry_id, reason))
            return DialResult(None, reason)
        try:
            self._queues.connect(entry.entry_id, result.handover, agent.agent_id)
        except (Conflict, NotFound):
            # the caller hung up the moment the agent answered
            await self._dialer.hang_up(result.handover)
            self._agents.not_answered(agent, "caller_gone")
            if how == "pull":
                self._events.publish(PullFailed(agent.agent_id, entry.entry_id, "caller_gone"))
            return DialResult(None, "caller_gone")
        self._agents.answered(agent)
        self._events.publish(CallConnected(entry.call_id, entry.entry_id, agent.agent_id, entry.team, how))
        self._watch_call(agent, result.handover, policy.wrap_up)
        return result

    def _watch_call(self, agent: Agent, handover: HandOver[L], wrap_up: float) -> None:
        async def watch() -> None:
            try:
                await self._dialer.wait_ended(handover)
            finally:
                self._agents.call_ended(agent, wrap_up)

        task = asyncio.ensure_future(watch())
        self._pulls.add(task)
        task.add_done_callback(self._pulls.discard)

    # --- automatic distribution (team C) -------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CallWaiting) and self.policy(event.team).auto:
            entry = self._queues.get(event.entry_id)
            self._tasks[entry.entry_id] = asyncio.ensure_future(self._distribute(entry))

    async def _distribute(self, entry: QueueEntry[L]) -> None:
        policy = self.policy(entry.team)
        tried: set[str] = set()
        try:
            while entry.state in (EntryState.WAITING, EntryState.OFFERED):
                if entry.state is EntryState.OFFERED:  # an agent pulled it meanwhile
                    await self._wait_change(entry)
                    continue
                free = [a for a in self._agents.free(entry.team) if a.agent_id not in tried]
                if not free:
                    if tried and self._agents.free(entry.team):
                        tried.clear()  # everyone failed once: next round after a pause
                        await self._wait_change(entry, RETRY_PAUSE)
                    else:
                        await self._wait_change(entry)
                    continue
                order = order_agents(policy.strategy, free, self._last_rung.get(entry.team))
                if policy.strategy == "ring_all":
                    if await self._ring_all(entry, order):
                        return
                    tried.update(a.agent_id for a in order)
                    continue
                agent = order[0]
                tried.add(agent.agent_id)
                self._last_rung[entry.team] = agent.agent_id
                try:
                    self._queues.offer(entry.entry_id, agent.agent_id)
                    self._agents.ringing(agent, entry.call_id)
                except (Conflict, NotFound):
                    continue
                result = await self._ring(agent, entry, "auto")
                if result.answered:
                    return
        finally:
            self._tasks.pop(entry.entry_id, None)

    async def _ring_all(self, entry: QueueEntry[L], agents: list[Agent]) -> bool:
        """Ring every free agent at once; the first to answer gets the call."""
        try:
            self._queues.offer(entry.entry_id, "ring_all")
        except (Conflict, NotFound):
            return False
        stop: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def caller_gone(_f: asyncio.Future[Any]) -> None:
            if not stop.done():
                stop.set_result(None)

        entry.left.add_done_callback(caller_gone)
        policy = self.policy(entry.team)
        ringing: dict[asyncio.Task[DialResult[L]], Agent] = {}
        for agent in agents:
            self._agents.ringing(agent, entry.call_id)
            self._events.publish(AgentRinging(agent.agent_id, entry.entry_id, entry.call_id, entry.team))
            ringing[asyncio.ensure_future(self._dialer.dial(agent, entry, policy.ring_timeout, stop))] = agent
        winner: tuple[Agent, HandOver[L]] | None = None
        pending = set(ringing)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                agent = ringing[task]
                failed = task.cancelled() or task.exception() is not None
                result: DialResult[L] = DialResult(None, "failed") if failed else task.result()
                if result.handover is not None and winner is None and entry.state is not EntryState.LEFT:
                    winner = (agent, result.handover)
                    if not stop.done():
                        stop.set_result(None)  # the others stop ringing
                elif result.handover is not None:
                    await self._dialer.hang_up(result.handover)  # answered a moment too late
                    self._agents.not_answered(agent, "taken by another agent")
                else:
                    self._agents.not_answered(agent, result.reason)
        self._queues.withdraw(entry.entry_id, "ring_all")
        if winner is None:
            return False
        agent, handover = winner
        self._queues.offer(entry.entry_id, agent.agent_id)
        try:
            self._queues.connect(entry.entry_id, handover, agent.agent_id)
        except (Conflict, NotFound):
            await self._dialer.hang_up(handover)
            self._agents.not_answered(agent, "caller_gone")
            return False
        self._agents.answered(agent)
        self._events.publish(CallConnected(entry.call_id, entry.entry_id, agent.agent_id, entry.team, "auto"))
        self._watch_call(agent, handover, policy.wrap_up)
        return True

    async def _wait_change(self, entry: QueueEntry[L], timeout: float | None = None) -> None:
        """Until an agent's state changes, the entry is handed over or leaves, or ``timeout``."""
        waits: set[asyncio.Future[Any]] = {self._agents.changed(), entry.left, entry.handed_over}
        sleeper: asyncio.Future[Any] | None = None
        if timeout is not None:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            waits.add(sleeper)
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if sleeper is not None and not sleeper.done():
            sleeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sleeper

    async def stop(self) -> None:
        tasks: list[asyncio.Future[Any]] = [*self._tasks.values(), *self._pulls]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
