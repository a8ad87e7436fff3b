"""The block and VIP lists of caller numbers in SQLite, mirrored in memory (core/callers.py).

Every change goes to the database first, then into the in-memory lists the flow engine
reads: a call never waits for the disk, and a list survives a restart.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from zentrale.core.callers import LIST_NAMES, CallerLists, CallerNumberError, ListEntry, ListName
from zentrale.store.db import Database

_UPSERT = (
    "INSERT INTO caller_list (list, number_key, number, note, added_at, added_by) VALUES (?,?,?,?,?,?)"
    " ON CONFLICT(list, number_key) DO UPDATE SET number=excluded.number, note=excluded.note"
)


class CallerListRepository:
    def __init__(self, db: Database, lists: CallerLists) -> None:
        self.db = db
        self.lists = lists
        self._meta: dict[tuple[str, str], dict[str, Any]] = {}

    async def load(self) -> None:
        rows = await self.db.fetch("SELECT * FROM caller_list ORDER BY added_at")
        for row in rows:
            if row["list"] not in LIST_NAMES:
                continue
            name: ListName = "block" if row["list"] == "block" else "vip"
            try:
                key = self.lists.add(name, ListEntry(row["number"], row["note"]))
            except CallerNumberError:
                continue  # a row the rules refuse now (never written by this version): not used
            self._meta[(name, key)] = {"added_at": row["added_at"], "added_by": row["added_by"]}

    async def add(self, name: ListName, number: str, note: str, at: datetime, by: str) -> dict[str, Any]:
        """Add (or update the note of) a number; ``CallerNumberError`` when it cannot be one."""
        key = self.lists.key(number)  # refuses a bad number before anything is written
        entry = ListEntry(number.strip(), note)
        self.lists.check_room(name, key)
        await self.db.execute(_UPSERT, (name, key, entry.number, note, at.isoformat(), by))
        self.lists.add(name, entry)
        self._meta.setdefault((name, key), {"added_at": at.isoformat(), "added_by": by})
        return self.describe(name, key, entry)

    async def add_many(self, name: ListName, items: list[tuple[str, str]], at: datetime, by: str) -> int:
        """Add (number, note) pairs in one transaction: all of them or, on any refusal or
        database error, none. Returns how many numbers are new on the list."""
        entries = [(self.lists.key(number), ListEntry(number.strip(), note)) for number, note in items]
        new = {key for key, _ in entries} - {key for key, _ in self.lists.entries(name)}
        if self.lists.count(name) + len(new) > self.lists.max_entries:
            raise CallerNumberError(f"a list holds at most {self.lists.max_entries} numbers")
        rows = [(name, key, entry.number, entry.note, at.isoformat(), by) for key, entry in entries]

        def write(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT, rows)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

        await self.db.run(write)
        for key, entry in entries:
            self.lists.add(name, entry)
            self._meta.setdefault((name, key), {"added_at": at.isoformat(), "added_by": by})
        return len(new)

    async def remove(self, name: ListName, key: str) -> bool:
        removed = await self.db.execute("DELETE FROM caller_list WHERE list = ? AND number_key = ?", (name, key))
        self._meta.pop((name, key), None)
        return self.lists.remove(name, key) or removed > 0

    def describe(self, name: ListName, key: str, entry: ListEntry) -> dict[str, Any]:
        meta = self._meta.get((name, key), {})
        return {"list": name, "key": key, "number": entry.number, "note": entry.note,
                "added_at": meta.get("added_at"), "added_by": meta.get("added_by")}  # fmt: skip

    def entries(self, name: ListName) -> list[dict[str, Any]]:
        return [self.describe(name, key, entry) for key, entry in self.lists.entries(name)]
