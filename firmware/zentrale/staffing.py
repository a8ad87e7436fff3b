"""Agents as the office manages them: definitions, logins with a phone number,
pause, and pulling a waiting call ("Vermitteln"), persisted and audited
around ``core.agents`` and ``core.distribution``.
"""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

from zentrale.core.agents import AgentBoard, AgentState
from zentrale.core.clock import Clock
from zentrale.core.distribution import CallDistribution, DialResult
from zentrale.errors import NotFound, Refused
from zentrale.lines.base import Call
from zentrale.store.agents import AgentRepository
from zentrale.store.state import StateRepository
from zentrale.teams import TeamDirectory

log = logging.getLogger(__name__)

NUMBER_RE = re.compile(r"^(\+?[0-9*#]{2,32}|sips?:[^\s<>\"]{3,200})$")
AGENT_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def check_number(number: str) -> str:
    number = number.strip().replace(" ", "").replace("-", "").replace("/", "")
    if not NUMBER_RE.match(number):
        raise Refused(f"'{number}' is neither a phone number nor a SIP URI")
    return number


class Staffing:
    def __init__(
        self,
        *,
        teams: TeamDirectory,
        clock: Clock,
        board: AgentBoard,
        distribution: CallDistribution[Call],
        repo: AgentRepository,
        state: StateRepository,
    ) -> None:
        self.teams = teams
        self.clock = clock
        self.board = board
        self.distribution = distribution
        self.repo = repo
        self.state = state
        self.last_pull: dict[str, dict[str, Any]] = {}

    async def _check_allowed(self, agent_id: str, number: str, teams: set[str] | frozenset[str], by: str) -> None:
        """Toll-fraud guard: the number must match the patterns of every team it serves."""
        if self.teams.numbers.allows(number, sorted(teams)):
            return
        log.warning(
            "agent %s refused number %s for team(s) %s (not allowed)", agent_id, number, ", ".join(sorted(teams))
        )
        await self.state.audit(self.clock.now(), by, "agent.number_refused", f"{agent_id} {number}")
        raise Refused(f"'{number}' is not a number agents of {', '.join(sorted(teams)) or 'this box'} may use")

    async def restore(self) -> None:
        """At start-up: agents from the database, logins as they were (calls are gone)."""
        for row in await self.repo.agents():
            self.board.define(row["id"], row["name"], set(row["teams"]), row["default_number"], row["priority"])
        for login in await self.repo.logins():
            if not self.teams.numbers.allows(login["number"], login["teams"]):
                log.warning("login of %s with %s not restored: the number is not allowed", login["agent_id"],
                            login["number"])  # fmt: skip
                continue
            try:
                self.board.login(login["agent_id"], login["number"], set(login["teams"]))
                if login["paused"]:
                    self.board.pause(login["agent_id"], True)
            except Exception as err:
                log.warning("login of %s not restored: %s", login["agent_id"], err)

    def _teams(self, teams: list[str]) -> list[str]:
        known = set(self.teams.ids())
        unknown = sorted(set(teams) - known)
        if unknown:
            raise Refused(f"unknown team(s): {', '.join(unknown)}")
        return teams

    async def save_agent(
        self, agent_id: str, name: str, teams: list[str], default_number: str = "", priority: int = 0, by: str = "api"
    ) -> dict[str, Any]:
        if not AGENT_ID_RE.match(agent_id):
            raise Refused(f"agent id '{agent_id}' may use letters, digits, '.', '_' and '-' only")
        number = check_number(default_number) if default_number else ""
        teams = self._teams(teams)
        if number:
            await self._check_allowed(agent_id, number, set(teams), by)
        await self.repo.save(agent_id, name, number, teams, priority)
        self.board.define(agent_id, name, set(teams), number, priority)
        await self.state.audit(self.clock.now(), by, "agent.save", agent_id)
        return self.agent(agent_id)

    async def delete_agent(self, agent_id: str, by: str = "api") -> None:
        self.board.remove(agent_id)
        await self.repo.delete(agent_id)
        await self.state.audit(self.clock.now(), by, "agent.delete", agent_id)

    def agent(self, agent_id: str) -> dict[str, Any]:
        agent = self.board.get(agent_id)
        snap = agent.snapshot(self.clock.monotonic())
        snap["last_pull"] = self.last_pull.get(agent_id)
        return snap

    def teams_of(self, agent_id: str | None) -> frozenset[str]:
        """The teams an agent belongs to (none for no or an unknown agent)."""
        if agent_id is None:
            return frozenset()
        try:
            return self.board.get(agent_id).teams
        except NotFound:
            return frozenset()

    def agents(self) -> list[dict[str, Any]]:
        return [{**a, "last_pull": self.last_pull.get(a["id"])} for a in self.board.snapshot()]

    async def login(self, agent_id: str, number: str | None, teams: list[str] | None) -> dict[str, Any]:
        agent = self.board.get(agent_id)
        dial = check_number(number or agent.default_number or "")
        team_set = set(self._teams(teams)) if teams else None
        await self._check_allowed(agent_id, dial, team_set if team_set is not None else agent.teams, "api")
        self.board.login(agent_id, dial, team_set)
        await self.repo.save_login(agent_id, dial, sorted(agent.logged_in_teams), False, self.clock.now())
        log.info("agent %s logged in with %s to %s", agent_id, dial, ", ".join(sorted(agent.logged_in_teams)))
        return self.agent(agent_id)

    async def logout(self, agent_id: str) -> dict[str, Any]:
        self.board.logout(agent_id)
        await self.repo.delete_login(agent_id)
        return self.agent(agent_id)

    async def pause(self, agent_id: str, paused: bool) -> dict[str, Any]:
        agent = self.board.pause(agent_id, paused)
        if agent.number:
            await self.repo.save_login(
                agent_id,
                agent.number,
                sorted(agent.logged_in_teams),
                agent.state is AgentState.PAUSED,
                self.clock.now(),
            )
        return self.agent(agent_id)

    async def pull(self, entry_id: str, agent_id: str, wait: bool) -> dict[str, Any]:
        """Ring the agent for this waiting call. Conflict at once when someone else
        has it; with ``wait`` the answer says how it ended, else "ringing"."""
        task = self.distribution.start_pull(entry_id, agent_id)
        self.last_pull[agent_id] = {"entry_id": entry_id, "result": "ringing"}

        def done(t: asyncio.Future[DialResult[Call]]) -> None:
            result = "failed" if t.cancelled() or t.exception() else t.result().reason
            self.last_pull[agent_id] = {"entry_id": entry_id, "result": result}

        task.add_done_callback(done)
        if not wait:
            return {"entry_id": entry_id, "agent": agent_id, "result": "ringing"}
        result = await asyncio.shield(task)
        return {"entry_id": entry_id, "agent": agent_id, "result": result.reason}
