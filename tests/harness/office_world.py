"""An office on a ManualClock: the agents' board, the distribution and agents' phones that each
behave one way (our Dialer port), for the unit tests of the distribution and of what is
recorded about it (tests/unit/test_distribution.py, test_agent_offers.py)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from tests.harness.fakes import FakeSession
from tests.harness.flow_world import World
from zentrale.core.agents import Agent, AgentBoard
from zentrale.core.distribution import CallDistribution, DialResult, TeamPolicy
from zentrale.core.modes import Mode
from zentrale.core.queues import QueueEntry


@dataclass
class FakeLeg:
    agent: str
    ended: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class FakeDialer:
    """Agents' phones, one behaviour each: ("answer", s), ("busy", s), ("decline", s), ("silent",), ("unreachable",)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.behaviour: dict[str, tuple[Any, ...]] = {}
        self.dials: list[tuple[float, str]] = []
        self.cancelled: list[str] = []

    async def dial(
        self, agent: Agent, entry: QueueEntry, ring_timeout: float, cancel: asyncio.Future[Any]
    ) -> DialResult:
        clock = self.world.clock
        self.dials.append((clock.monotonic(), agent.agent_id))
        kind, *args = self.behaviour.get(agent.agent_id, ("silent",))
        if kind == "unreachable":
            return DialResult(None, "unreachable")
        delay = args[0] if args else ring_timeout + 1
        sleeper = asyncio.ensure_future(clock.sleep(min(delay, ring_timeout)))
        await asyncio.wait({sleeper, cancel}, return_when=asyncio.FIRST_COMPLETED)
        if not sleeper.done():
            sleeper.cancel()
            self.cancelled.append(agent.agent_id)
            return DialResult(None, "cancelled")
        if delay > ring_timeout:
            return DialResult(None, "no_answer")
        if kind == "answer":
            return DialResult(FakeLeg(agent.agent_id))
        return DialResult(None, "busy" if kind == "busy" else "declined")

    async def hang_up(self, leg: object) -> None:
        assert isinstance(leg, FakeLeg)
        if not leg.ended.done():
            leg.ended.set_result(None)

    async def wait_ended(self, leg: object) -> None:
        assert isinstance(leg, FakeLeg)
        await asyncio.shield(leg.ended)


class BridgingSession(FakeSession):
    """A caller who talks to the agent until hanging up, then the agent's leg ends too."""

    async def bridge(self, leg: object) -> None:
        assert isinstance(leg, FakeLeg)
        self._note("agent", f"bridged:{leg.agent}", None)
        self.bridged_with = leg
        try:
            await self._wait(3600, stop_on_digit=False)
        finally:
            assert isinstance(leg, FakeLeg)
            if not leg.ended.done():
                leg.ended.set_result(None)


class Office(World):
    def __init__(self, strategy: str = "longest_idle", ring_timeout: float = 15, wrap_up: float = 10) -> None:
        super().__init__()
        self.agents = AgentBoard(self.clock, self.events)
        self.dialer = FakeDialer(self)
        policies = {
            "lvs": TeamPolicy("lvs", "LVS", ring_timeout=ring_timeout, wrap_up=wrap_up),
            "pc": TeamPolicy("pc", "PC", auto=True, strategy=strategy, ring_timeout=ring_timeout, wrap_up=wrap_up),
        }
        self.distribution = CallDistribution(
            self.clock, self.queues, self.agents, self.dialer, self.events,
            lambda team: policies.get(team) or TeamPolicy(team, team),
        )  # fmt: skip

    def agent(self, agent_id: str, team: str, behaviour: tuple[Any, ...], priority: int = 0) -> Agent:
        self.agents.define(agent_id, agent_id.title(), {team}, priority=priority)
        self.dialer.behaviour[agent_id] = behaviour
        return self.agents.login(agent_id, f"20{len(self.agents.all())}")

    def start_call(self, mode: Mode, **script: Any) -> tuple[BridgingSession, asyncio.Task[Any]]:
        session = BridgingSession(self.clock, **script)
        return session, asyncio.ensure_future(self.engine.run(mode, session))
