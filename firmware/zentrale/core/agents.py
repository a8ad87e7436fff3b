"""Agents and their states: logged out, available, paused, ringing, on call, wrap-up.

An agent logs in to teams with a phone number (shift work: the number may
differ each day) or a SIP URI (the home-office agent over VPN). The board
holds who is free; distribution and pulls change states through it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from zentrale.core.clock import Clock
from zentrale.core.events import Event, EventBus
from zentrale.errors import Conflict, NotFound, Refused


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    PAUSED = "paused"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"


@dataclass(frozen=True)
class AgentStateChanged(Event):
    agent_id: str
    state: str
    number: str | None
    teams: tuple[str, ...]
    reason: str = ""


@dataclass(eq=False)
class Agent:
    agent_id: str
    name: str
    teams: frozenset[str]  # teams the agent belongs to
    default_number: str = ""
    priority: int = 0  # order for the linear strategy (lower first)
    state: AgentState = AgentState.LOGGED_OUT
    number: str | None = None  # the number or URI logged in with
    logged_in_teams: frozenset[str] = frozenset()
    since: float = 0.0  # when the state began (monotonic)
    idle_since: float = 0.0  # when the agent last became free (longest idle)
    calls: int = 0
    current_call: str | None = None
    _wrap_up: asyncio.Future[None] | None = field(default=None, repr=False)

    @property
    def free(self) -> bool:
        return self.state is AgentState.AVAILABLE

    def snapshot(self, now: float) -> dict[str, Any]:
        return {
            "id": self.agent_id,
            "name": self.name,
            "teams": sorted(self.teams),
            "default_number": self.default_number,
            "priority": self.priority,
            "state": self.state.value,
            "number": self.number,
            "logged_in_teams": sorted(self.logged_in_teams),
            "seconds_in_state": round(max(0.0, now - self.since), 1),
            "calls": self.calls,
            "current_call": self.current_call,
        }


class AgentBoard:
    def __init__(self, clock: Clock, events: EventBus) -> None:
        self._clock = clock
        self._events = events
        self._agents: dict[str, Agent] = {}
        self._changed: asyncio.Future[None] | None = None

    # --- definitions -------------------------------------------------------------

    def define(self, agent_id: str, name: str, teams: set[str], default_number: str = "", priority: int = 0) -> Agent:
        agent = self._agents.get(agent_id)
        if agent is None:
            agent = Agent(agent_id, name, frozenset(teams), default_number, priority, since=self._clock.monotonic())
            self._agents[agent_id] = agent
        else:
            agent.name, agent.teams = name, frozenset(teams)
            agent.default_number, agent.priority = default_number, priority
            agent.logged_in_teams &= agent.teams
        return agent

    def remove(self, agent_id: str) -> None:
        agent = self.get(agent_id)
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL):
            raise Conflict(f"agent {agent_id} is on a call")
        del self._agents[agent_id]

    def get(self, agent_id: str) -> Agent:
        try:
            return self._agents[agent_id]
        except KeyError:
            raise NotFound(f"no agent {agent_id}") from None

    def all(self) -> list[Agent]:
        return list(self._agents.values())

    def logged_in(self, team: str) -> list[Agent]:
        return [a for a in self._agents.values() if team in a.logged_in_teams and a.state is not AgentState.LOGGED_OUT]

    def free(self, team: str) -> list[Agent]:
        return [a for a in self.logged_in(team) if a.free]

    # --- agent's own operations ----------------------------------------------------

    def login(self, agent_id: str, number: str, teams: set[str] | None = None) -> Agent:
        agent = self.get(agent_id)
        wanted = frozenset(teams) if teams else agent.teams
        if not wanted <= agent.teams:
            raise Refused(f"agent {agent_id} is not a member of {', '.join(sorted(wanted - agent.teams))}")
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL):
            raise Conflict(f"agent {agent_id} is on a call")
        agent.number = number
        agent.logged_in_teams = wanted
        self._set(agent, AgentState.AVAILABLE, "login")
        agent.idle_since = self._clock.monotonic()
        return agent

    def logout(self, agent_id: str) -> Agent:
        agent = self.get(agent_id)
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL):
            raise Conflict(f"agent {agent_id} is on a call; log out after it")
        agent.logged_in_teams = frozenset()
        self._cancel_wrap_up(agent)
        self._set(agent, AgentState.LOGGED_OUT, "logout")
        return agent

    def pause(self, agent_id: str, paused: bool) -> Agent:
        agent = self.get(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            raise Conflict(f"agent {agent_id} is not logged in")
        if paused and agent.state in (AgentState.AVAILABLE, AgentState.WRAP_UP):
            self._cancel_wrap_up(agent)
            self._set(agent, AgentState.PAUSED, "pause")
        elif not paused and agent.state in (AgentState.PAUSED, AgentState.WRAP_UP):
            # "Fertig": an agent done with the wrap-up before its time is free at once
            self._cancel_wrap_up(agent)
            self._set(agent, AgentState.AVAILABLE, "unpause" if agent.state is AgentState.PAUSED else "wrap-up done")
            agent.idle_since = self._clock.monotonic()
        return agent

    # --- changes made by calls -------------------------------------------------------

    def ringing(self, agent: Agent, call_id: str) -> None:
        if agent.state is not AgentState.AVAILABLE:
            raise Conflict(f"agent {agent.agent_id} is {agent.state.value}")
        agent.current_call = call_id
        self._set(agent, AgentState.RINGING, call_id)

    def not_answered(self, agent: Agent, reason: str) -> None:
        """The agent's phone did not take the call: free again at once."""
        if agent.state is AgentState.RINGING:
            agent.current_call = None
            self._set(agent, AgentState.AVAILABLE, reason)

    def answered(self, agent: Agent) -> None:
        agent.calls += 1
        self._set(agent, AgentState.ON_CALL, agent.current_call or "")

    def call_ended(self, agent: Agent, wrap_up: float) -> None:
        agent.current_call = None
        if agent.state is AgentState.LOGGED_OUT:
            return
        if wrap_up <= 0:
            self._become_free(agent, "call ended")
            return
        self._set(agent, AgentState.WRAP_UP, "call ended")
        agent._wrap_up = asyncio.ensure_future(self._clock.sleep(wrap_up))
        agent._wrap_up.add_done_callback(lambda f: None if f.cancelled() else self._become_free(agent, "wrap-up over"))

    def _become_free(self, agent: Agent, reason: str) -> None:
        agent._wrap_up = None
        if agent.state in (AgentState.WRAP_UP, AgentState.ON_CALL, AgentState.RINGING):
            self._set(agent, AgentState.AVAILABLE, reason)
            agent.idle_since = self._clock.monotonic()

    def _cancel_wrap_up(self, agent: Agent) -> None:
        if agent._wrap_up is not None:
            agent._wrap_up.cancel()
            agent._wrap_up = None

    def _set(self, agent: Agent, state: AgentState, reason: str) -> None:
        agent.state = state
        agent.since = self._clock.monotonic()
        self._events.publish(
            AgentStateChanged(agent.agent_id, state.value, agent.number, tuple(sorted(agent.logged_in_teams)), reason)
        )
        if self._changed is not None and not self._changed.done():
            self._changed.set_result(None)
        self._changed = None

    def changed(self) -> asyncio.Future[None]:
        """A future resolved at the next state change of any agent."""
        if self._changed is None or self._changed.done():
            self._changed = asyncio.get_running_loop().create_future()
        return self._changed

    def snapshot(self) -> list[dict[str, Any]]:
        now = self._clock.monotonic()
        return [a.snapshot(now) for a in self._agents.values()]
