"""Read-only wallboard tokens: a wall screen opens ``/wallboard?token=...`` without a login.

Admins create and revoke them (Verwaltung). Only the token's SHA-256 is stored: the token is
shown once, when it is created, and a copy of the database does not open any wallboard.
A revoked token stays in the table (who revoked it when), so it answers 403 "revoked", not
401 "unknown" -- the wall screen's page can tell the office why it went dark.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from zentrale.core.clock import Clock
from zentrale.errors import Conflict, NotFound
from zentrale.store.db import Database

MAX_TOKENS = 50  # wall screens of one office; bounds the table against a script gone wrong


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", errors="replace")).hexdigest()


class WallboardTokens:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create(self, name: str, by: str) -> dict[str, Any]:
        """A new token; the answer is the only time its text is seen."""
        active = await self.db.fetch("SELECT COUNT(*) AS n FROM wallboard_tokens WHERE revoked_at IS NULL")
        if active[0]["n"] >= MAX_TOKENS:
            most = MAX_TOKENS
            raise Conflict(f"at most {most} wallboard tokens; revoke one first")
        token = secrets.token_urlsafe(24)
        ident = secrets.token_hex(6)
        at = self.clock.now().isoformat()
        await self.db.execute(
            "INSERT INTO wallboard_tokens (id, name, token_hash, created_at, created_by) VALUES (?,?,?,?,?)",
            (ident, name, _hash(token), at, by),
        )
        return {"id": ident, "name": name, "created_at": at, "created_by": by, "revoked_at": None,
                "revoked_by": None, "token": token}  # fmt: skip

    async def list(self) -> list[dict[str, Any]]:
        return await self.db.fetch(
            "SELECT id, name, created_at, created_by, revoked_at, revoked_by FROM wallboard_tokens"
            " ORDER BY created_at DESC"
        )

    async def revoke(self, ident: str, by: str) -> dict[str, Any]:
        # revoking twice is fine: the first revocation stays on record
        await self.db.execute(
            "UPDATE wallboard_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
            (self.clock.now().isoformat(), by, ident),
        )
        rows = await self.db.fetch(
            "SELECT id, name, created_at, created_by, revoked_at, revoked_by FROM wallboard_tokens WHERE id = ?",
            (ident,),
        )
        if not rows:
            token = ident
            raise NotFound(f"no wallboard token {token}")
        return rows[0]

    async def check(self, token: str) -> str:
        """``valid``, ``revoked`` or ``unknown``."""
        rows = await self.db.fetch("SELECT token_hash, revoked_at FROM wallboard_tokens WHERE token_hash = ?",
                                   (_hash(token),))  # fmt: skip
        if not rows or not hmac.compare_digest(rows[0]["token_hash"], _hash(token)):
            return "unknown"
        return "revoked" if rows[0]["revoked_at"] else "valid"
