"""Accounts of the web page and their sessions.

A session row holds the SHA-256 of the cookie value, never the value itself:
a copy of the database does not log anyone in.
"""

from __future__ import annotations

from typing import Any

from zentrale.store.db import Database


class UserRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def users(self) -> list[dict[str, Any]]:
        return await self.db.fetch("SELECT * FROM users ORDER BY name")

    async def save(
        self, name: str, display_name: str, role: str, agent_id: str | None, password_hash: str, created_at: str
    ) -> None:
        await self.db.execute(
            "INSERT INTO users (name, display_name, role, agent_id, password_hash, created_at) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(name) DO UPDATE SET display_name=excluded.display_name, role=excluded.role,"
            " agent_id=excluded.agent_id, password_hash=excluded.password_hash",
            (name, display_name, role, agent_id, password_hash, created_at),
        )

    async def delete(self, name: str) -> None:
        await self.db.execute("DELETE FROM users WHERE name = ?", (name,))

    async def sessions(self) -> list[dict[str, Any]]:
        return await self.db.fetch("SELECT * FROM sessions")

    async def save_session(
        self, id_hash: str, user_name: str, csrf: str, created_at: str, last_seen: str, source: str
    ) -> None:
        await self.db.execute(
            "INSERT INTO sessions (id_hash, user_name, csrf, created_at, last_seen, source) VALUES (?,?,?,?,?,?)"
            " ON CONFLICT(id_hash) DO UPDATE SET last_seen=excluded.last_seen",
            (id_hash, user_name, csrf, created_at, last_seen, source),
        )

    async def delete_sessions(self, id_hashes: list[str]) -> None:
        if not id_hashes:
            return
        marks = ",".join("?" for _ in id_hashes)
        await self.db.execute(f"DELETE FROM sessions WHERE id_hash IN ({marks})", tuple(id_hashes))
