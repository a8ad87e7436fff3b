"""Callbacks (calls/callback.py): one row each, from the caller's request to its end.

``state``: ``waiting`` (in the queue board, or between two attempts: ``next_at``), ``connected``
(the caller was reached), ``failed`` (every attempt failed: a task for the agents), ``done`` (a
failed one someone took care of). Waiting ones are put back on the queue board at the start.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from zentrale.errors import NotFound
from zentrale.store.db import Database

STATES = ("waiting", "connected", "failed", "done")
_FIELDS = {"state", "attempts", "next_at", "outcome", "agent", "done_by", "done_at"}


class CallbackRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, callback_id: str, *, call_id: str, team: str, number: str, caller_name: str | None, since: datetime,
        created_at: datetime,
    ) -> None:  # fmt: skip
        await self.db.execute(
            "INSERT INTO callbacks (id, call_id, team, number, caller_name, since, created_at) VALUES (?,?,?,?,?,?,?)",
            (callback_id, call_id, team, number, caller_name, since.isoformat(), created_at.isoformat()),
        )

    async def update(self, callback_id: str, **fields: Any) -> None:
        unknown = set(fields) - _FIELDS
        if unknown:
            raise ValueError(f"no callback fields {sorted(unknown)}")
        sets = ", ".join(f"{name} = ?" for name in fields)
        await self.db.execute(f"UPDATE callbacks SET {sets} WHERE id = ?", (*fields.values(), callback_id))

    async def get(self, callback_id: str) -> dict[str, Any]:
        rows = await self.db.fetch("SELECT * FROM callbacks WHERE id = ?", (callback_id,))
        if not rows:
            raise NotFound(f"no callback {callback_id}")
        return rows[0]

    async def waiting(self) -> list[dict[str, Any]]:
        return await self.db.fetch("SELECT * FROM callbacks WHERE state = 'waiting' ORDER BY since")

    async def tasks(self) -> list[dict[str, Any]]:
        """Failed callbacks nobody has taken care of yet, oldest first."""
        return await self.db.fetch("SELECT * FROM callbacks WHERE state = 'failed' ORDER BY since")
