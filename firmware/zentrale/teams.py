"""Teams (Fachgruppen): the list in force, and the web page's changes to it.

``TeamDirectory`` is the one live list of teams. Everything that needs a team
-- the distribution's policies, the dialer's display names and number
patterns, the agents' login check, the mode checks, the mail lists, the web
page -- asks the directory when it needs it, so a change is in force at once
everywhere without copying it into each of them. The configuration file's
list is where it starts; ``Config`` itself is never changed.

``TeamSettings`` is the web page's use case: the first change stores the
whole list in the database (``SETTINGS_KEY``); from then on the database's
list is the box's, at every start. A team a mode still uses, that has
members, or that has callers waiting cannot be deleted (the answer names them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, Literal

from zentrale.config import Team, validated
from zentrale.core.agents import AgentBoard
from zentrale.core.clock import Clock
from zentrale.core.distribution import TeamPolicy
from zentrale.core.numbers import NumberPolicies
from zentrale.core.queues import QueueBoard
from zentrale.errors import Conflict, Invalid, NotFound
from zentrale.lines.base import Call
from zentrale.store.modes import ModeFiles
from zentrale.store.state import StateRepository

log = logging.getLogger(__name__)

SETTINGS_KEY = "teams"
Source = Literal["config", "web"]


def team_from(fields: dict[str, Any]) -> Team:
    """A ``Team`` from submitted fields; ``Invalid`` names the field and the problem."""
    return validated(Team, fields, "team")


class TeamDirectory:
    """The teams in force and what follows from them (policies, names, number patterns)."""

    def __init__(self, teams: Iterable[Team]) -> None:
        self.source: Source = "config"  # where the list comes from: the config file or the web page
        self._teams: tuple[Team, ...] = ()
        self._numbers = NumberPolicies({})
        self.replace(teams, "config")

    def replace(self, teams: Iterable[Team], source: Source) -> None:
        self._teams = tuple(teams)
        self.source = source
        # one set of patterns: the login check and the check right before dialling
        self._numbers = NumberPolicies({t.id: t.allowed_numbers for t in self._teams})

    def all(self) -> tuple[Team, ...]:
        return self._teams

    def ids(self) -> list[str]:
        return [t.id for t in self._teams]

    def get(self, team_id: str) -> Team | None:
        return next((t for t in self._teams if t.id == team_id), None)

    def name(self, team_id: str) -> str:
        """The team's name for people (an agent's phone display); its id if it is gone."""
        team = self.get(team_id)
        return team.name if team is not None else team_id

    def policy(self, team_id: str) -> TeamPolicy:
        """How calls waiting for the team reach its agents (``core.distribution``)."""
        t = self.get(team_id)
        if t is None:
            return TeamPolicy(team_id, team_id)
        return TeamPolicy(t.id, t.name, t.distribution == "auto", t.strategy, t.ring_timeout, t.wrap_up)

    @property
    def numbers(self) -> NumberPolicies:
        return self._numbers


class TeamSettings:
    def __init__(
        self,
        *,
        directory: TeamDirectory,
        state: StateRepository,
        clock: Clock,
        modes: ModeFiles,
        agents: AgentBoard,
        queues: QueueBoard[Call],
    ) -> None:
        self.directory = directory
        self.state = state
        self.clock = clock
        self.modes = modes
        self.agents = agents
        self.queues = queues

    @property
    def source(self) -> Source:
        return self.directory.source

    async def load(self) -> None:
        stored = await self.state.setting(SETTINGS_KEY)
        if not stored:
            return
        try:
            teams = [team_from(t) for t in json.loads(stored)]
        except (Invalid, ValueError, TypeError) as err:
            log.error("teams: the list saved in the web page is not valid any more (%s); using the config file's", err)
            return
        self.directory.replace(teams, "web")

    def overview(self) -> list[dict[str, Any]]:
        members: dict[str, list[str]] = {}
        for agent in self.agents.all():
            for team in agent.teams:
                members.setdefault(team, []).append(agent.agent_id)
        uses = self._used_by_modes()
        return [
            {**t.model_dump(), "members": sorted(members.get(t.id, [])), "modes": uses.get(t.id, [])}
            for t in self.directory.all()
        ]

    async def save(self, team_id: str, fields: dict[str, Any], by: str) -> dict[str, Any]:
        team = team_from({**fields, "id": team_id})
        teams = list(self.directory.all())
        index = next((i for i, t in enumerate(teams) if t.id == team_id), None)
        if index is None:
            teams.append(team)
        else:
            teams[index] = team
        await self._store(teams)
        await self.state.audit(self.clock.now(), by, "team.saved", f"{team.id} ({team.name})")
        log.info("team %s saved by %s", team.id, by)
        return next(t for t in self.overview() if t["id"] == team_id)

    async def delete(self, team_id: str, by: str) -> None:
        if self.directory.get(team_id) is None:
            raise NotFound(f"no team {team_id!r}")
        modes = self._used_by_modes().get(team_id)
        if modes:
            raise Conflict(f"team {team_id!r} is used by mode(s) {', '.join(modes)}: change them first")
        members = sorted(a.agent_id for a in self.agents.all() if team_id in a.teams)
        if members:
            raise Conflict(f"team {team_id!r} still has agents: {', '.join(members)}")
        if self.queues.entries(team_id):
            raise Conflict(f"callers are waiting in team {team_id!r}")
        await self._store([t for t in self.directory.all() if t.id != team_id])
        await self.state.audit(self.clock.now(), by, "team.deleted", team_id)
        log.info("team %s deleted by %s", team_id, by)

    async def _store(self, teams: list[Team]) -> None:
        await self.state.set_setting(SETTINGS_KEY, json.dumps([t.model_dump(mode="json") for t in teams]))
        self.directory.replace(teams, "web")

    def _used_by_modes(self) -> dict[str, list[str]]:
        uses: dict[str, list[str]] = {}
        for name, mode in self.modes.loaded():
            for team in mode.teams():
                uses.setdefault(team, []).append(name)
        return uses
