"""Agents (name, default number, teams) and who is logged in with which number."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from zentrale.store.db import Database


class AgentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def agents(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM agents ORDER BY priority, id")
        for row in rows:
            row["teams"] = json.loads(row["teams"])
        return rows

    async def save(self, agent_id: str, name: str, default_number: str, teams: list[str], priority: int) -> None:
        await self.db.execute(
            "INSERT INTO agents (id, name, default_number, teams, priority) VALUES (?,?,?,?,?)"
            " ON CONFLICT(id) DO UPDATE SET name=excluded.name, default_number=excluded.default_number,"
            " teams=excluded.teams, priority=excluded.priority",
            (agent_id, name, default_number, json.dumps(sorted(teams)), priority),
        )

    async def delete(self, agent_id: str) -> None:
        await self.db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))

    async def logins(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch("SELECT * FROM agent_logins")
        for row in rows:
            row["teams"] = json.loads(row["teams"])
        return rows

    async def save_login(self, agent_id: str, number: str, teams: list[str], paused: bool, since: datetime) -> None:
        await self.db.execute(
            "INSERT INTO agent_logins (agent_id, number, teams, paused, since) VALUES (?,?,?,?,?)"
            " ON CONFLICT(agent_id) DO UPDATE SET number=excluded.number, teams=excluded.teams,"
            " paused=excluded.paused, since=excluded.since",
            (agent_id, number, json.dumps(sorted(teams)), int(paused), since.isoformat()),
        )

    async def delete_login(self, agent_id: str) -> None:
        await self.db.execute("DELETE FROM agent_logins WHERE agent_id = ?", (agent_id,))
