"""Mode documents: the files in the data folder (``ModeFiles``) and their versions in the
database (``ModeVersions``: every save is a new version with author and time)."""

from __future__ import annotations

import difflib
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from zentrale.core.modes import Mode, dump_mode, parse_mode
from zentrale.errors import NotFound, Refused, ZentraleError
from zentrale.store.db import Database

log = logging.getLogger(__name__)

MODE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")


class ModeFiles:
    """Mode documents as files ``<name>.yaml`` in the data folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path(self, name: str) -> Path:
        for ext in (".yaml", ".yml", ".json"):
            candidate = self.folder / f"{name}{ext}"
            if candidate.is_file():
                return candidate
        raise NotFound(f"no mode '{name}' in {self.folder}")

    def names(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))

    def load(self, name: str) -> Mode:
        path = self.path(name)
        return parse_mode(path.read_text(encoding="utf-8"), str(path))

    def loaded(self) -> Iterator[tuple[str, Mode]]:
        """Every mode that parses (a broken file is skipped: the editor reports it)."""
        for name in self.names():
            try:
                yield name, self.load(name)
            except ZentraleError:
                continue

    def text(self, name: str) -> str:
        return self.path(name).read_text(encoding="utf-8")

    def save(self, name: str, mode: Mode) -> Path:
        return self.save_text(name, dump_mode(mode))

    def save_text(self, name: str, text: str) -> Path:
        if not MODE_NAME_RE.match(name):
            raise Refused(f"mode name '{name}' may use letters, digits, '_' and '-' only")
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.yaml"
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        for other in (self.folder / f"{name}.yml", self.folder / f"{name}.json"):
            other.unlink(missing_ok=True)
        return path

    def delete(self, name: str) -> None:
        self.path(name).unlink()

    def seed(self, source: Path, names: tuple[str, ...]) -> bool:
        """An empty folder gets copies of ``names`` from ``source`` (the demo modes at the first start)."""
        if self.names():
            return False
        self.folder.mkdir(parents=True, exist_ok=True)
        for name in names:
            (self.folder / f"{name}.yaml").write_text((source / f"{name}.yaml").read_text(encoding="utf-8"), "utf-8")
        log.info("seeded the demo modes into %s", self.folder)
        return True


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
