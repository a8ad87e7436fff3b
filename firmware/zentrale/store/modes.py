"""Versions of mode documents: every save is a new version with author and time."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Any

from zentrale.errors import NotFound
from zentrale.store.db import Database


class ModeVersions:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, mode: str, document: str, author: str, at: datetime, comment: str = "") -> int:
        """Store ``document`` as the next version unless it equals the latest one."""

        def run(conn: Any) -> int:
            row = conn.execute(
                "SELECT version, document FROM mode_versions WHERE mode = ? ORDER BY version DESC LIMIT 1", (mode,)
            ).fetchone()
            if row is not None and row["document"] == document:
                return int(row["version"])
            version = (int(row["version"]) if row else 0) + 1
            conn.execute(
                "INSERT INTO mode_versions (mode, version, author, created_at, comment, document) VALUES (?,?,?,?,?,?)",
                (mode, version, author, at.isoformat(), comment, document),
            )
            return version

        return await self.db.run(run)

    async def list(self, mode: str) -> list[dict[str, Any]]:
        return await self.db.fetch(
            "SELECT version, author, created_at, comment FROM mode_versions WHERE mode = ? ORDER BY version DESC",
            (mode,),
        )

    async def get(self, mode: str, version: int) -> dict[str, Any]:
        rows = await self.db.fetch("SELECT * FROM mode_versions WHERE mode = ? AND version = ?", (mode, version))
        if not rows:
            raise NotFound(f"mode '{mode}' has no version {version}")
        return rows[0]

    async def latest(self, mode: str) -> int:
        rows = await self.db.fetch("SELECT MAX(version) AS v FROM mode_versions WHERE mode = ?", (mode,))
        return int(rows[0]["v"] or 0)

    async def diff(self, mode: str, a: int, b: int) -> str:
        old, new = await self.get(mode, a), await self.get(mode, b)
        return "".join(
            difflib.unified_diff(
                str(old["document"]).splitlines(keepends=True),
                str(new["document"]).splitlines(keepends=True),
                fromfile=f"{mode} v{a}",
                tofile=f"{mode} v{b}",
            )
        )

    async def rename(self, old: str, new: str) -> None:
        await self.db.execute("UPDATE mode_versions SET mode = ? WHERE mode = ?", (new, old))
