"""Teams (Fachgruppen) set in the web page: kept in the database over the config file's.

The first change in the web page stores the whole list (``SETTINGS_KEY``);
from then on the database's list is the box's, at every start. A change is in
force at once: the distribution's policies, the dialer's team names and
number patterns, the agents' login check and the page's team list all read
the new list. A team a mode still uses, that has members, or that has
callers waiting cannot be deleted (the answer names them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zentrale.config import Config, Team, validated
from zentrale.errors import Conflict, Invalid, NotFound

if TYPE_CHECKING:
    from zentrale.hotline import Hotline
    from zentrale.staffing import Staffing
    from zentrale.store.state import StateRepository

log = logging.getLogger(__name__)

SETTINGS_KEY = "teams"


def team_from(fields: dict[str, Any]) -> Team:
    """A ``Team`` from submitted fields; ``Invalid`` names the field and the problem."""
    return validated(Team, fields, "team")


class TeamSettings:
    def __init__(
        self,
        config: Config,
        state: StateRepository,
        hotline: Hotline,
        staffing: Staffing,
        apply: Callable[[], None],
    ) -> None:
        self.config = config
        self.state = state
        self.hotline = hotline
        self.staffing = staffing
        self.apply = apply  # puts config.teams in force everywhere (the app's wiring)
        self.source = "config"

    async def load(self) -> None:
        stored = await self.state.setting(SETTINGS_KEY)
        if not stored:
            return
        try:
            teams = [team_from(t) for t in json.loads(stored)]
        except (Invalid, ValueError, TypeError) as err:
            log.error("teams: the list saved in the web page is not valid any more (%s); using the config file's", err)
            return
        self.config.teams[:] = teams
        self.source = "web"
        self.apply()

    def overview(self) -> list[dict[str, Any]]:
        members: dict[str, list[str]] = {}
        for agent in self.staffing.board.all():
            for team in agent.teams:
                members.setdefault(team, []).append(agent.agent_id)
        uses = self._used_by_modes()
        return [
            {**t.model_dump(), "members": sorted(members.get(t.id, [])), "modes": uses.get(t.id, [])}
            for t in self.config.teams
        ]

    async def save(self, team_id: str, fields: dict[str, Any], by: str) -> dict[str, Any]:
        team = team_from({**fields, "id": team_id})
        teams = list(self.config.teams)
        index = next((i for i, t in enumerate(teams) if t.id == team_id), None)
        if index is None:
            teams.append(team)
        else:
            teams[index] = team
        await self._store(teams)
        await self.state.audit(self.hotline.clock.now(), by, "team.saved", f"{team.id} ({team.name})")
        log.info("team %s saved by %s", team.id, by)
        return next(t for t in self.overview() if t["id"] == team_id)

    async def delete(self, team_id: str, by: str) -> None:
        if self.config.team(team_id) is None:
            raise NotFound(f"no team {team_id!r}")
        modes = self._used_by_modes().get(team_id)
        if modes:
            raise Conflict(f"team {team_id!r} is used by mode(s) {', '.join(modes)}: change them first")
        members = sorted(a.agent_id for a in self.staffing.board.all() if team_id in a.teams)
        if members:
            raise Conflict(f"team {team_id!r} still has agents: {', '.join(members)}")
        if self.hotline.waiting_calls(team_id):
            raise Conflict(f"callers are waiting in team {team_id!r}")
        await self._store([t for t in self.config.teams if t.id != team_id])
        await self.state.audit(self.hotline.clock.now(), by, "team.deleted", team_id)
        log.info("team %s deleted by %s", team_id, by)

    async def _store(self, teams: list[Team]) -> None:
        await self.state.set_setting(SETTINGS_KEY, json.dumps([t.model_dump(mode="json") for t in teams]))
        self.config.teams[:] = teams
        self.source = "web"
        self.apply()

    def _used_by_modes(self) -> dict[str, list[str]]:
        uses: dict[str, list[str]] = {}
        for name, mode in self.hotline.modes.loaded():
            for team in mode.teams():
                uses.setdefault(team, []).append(name)
        return uses
