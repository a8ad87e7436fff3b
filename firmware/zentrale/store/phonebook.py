"""The phonebook cache: names by number, per source (``fritzbox``, ``carddav``, ``csv``).

A source's entries are replaced in one transaction when it was read completely, so a
refresh that fails half-way leaves the previous entries in place (``phonebook/service.py``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from zentrale.store.db import Database

SETTINGS_KEY = "phonebook.sources"  # JSON: the FRITZ!Box and CardDAV sections saved in the web page


# (source, key: core.numbers.lookup_key of the number, number as the source wrote it, name): a
# plain tuple of strings, which the cyclic GC stops tracking (it tracks a NamedTuple for ever:
# 100,000 of them made each full collection 30-60 ms longer while the event loop waited)
CachedEntry = tuple[str, str, str, str]


class PhonebookRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def names_by_source(self) -> dict[str, dict[str, str]]:
        """{source: {key: name}}, built on the database thread (100,000 rows: not on the loop)."""

        def read(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
            by_source: dict[str, dict[str, str]] = {}
            for source, key, name in conn.execute("SELECT source, key, name FROM phonebook"):
                by_source.setdefault(source, {})[key] = name
            return by_source

        return await self.db.run(read)

    async def sources(self) -> dict[str, dict[str, str]]:
        """When each source was last stored, and where it came from (a file name, a URL)."""
        rows = await self.db.fetch("SELECT source, refreshed_at, origin FROM phonebook_sources")
        return {row["source"]: {"refreshed_at": row["refreshed_at"], "origin": row["origin"]} for row in rows}

    async def replace(self, source: str, entries: Sequence[CachedEntry], at: datetime, origin: str = "") -> None:
        def replace(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            try:
                conn.execute("DELETE FROM phonebook WHERE source = ?", (source,))
                conn.executemany(
                    "INSERT OR REPLACE INTO phonebook (source, key, number, name) VALUES (?,?,?,?)", entries
                )
                conn.execute(
                    "INSERT OR REPLACE INTO phonebook_sources (source, refreshed_at, origin) VALUES (?,?,?)",
                    (source, at.isoformat(), origin),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self.db.run(replace)

    async def remove(self, source: str) -> None:
        def remove(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN")
            conn.execute("DELETE FROM phonebook WHERE source = ?", (source,))
            conn.execute("DELETE FROM phonebook_sources WHERE source = ?", (source,))
            conn.execute("COMMIT")

        await self.db.run(remove)

    async def saved_settings(self) -> str | None:
        """The sources set in the web page (JSON), if any."""
        rows = await self.db.fetch("SELECT value FROM settings WHERE key = ?", (SETTINGS_KEY,))
        return str(rows[0]["value"]) if rows else None

    async def save_settings(self, value: str) -> None:
        await self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (SETTINGS_KEY, value),
        )
