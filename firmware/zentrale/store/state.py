"""Small state tables: switch states, settings, the audit log, the call log."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from zentrale.core.switches import SwitchState
from zentrale.store.db import Database


class StateRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def switch_states(self) -> list[SwitchState]:
        rows = await self.db.fetch("SELECT * FROM switch_state")
        return [
            SwitchState(
                r["switch_id"], bool(r["is_on"]), datetime.fromisoformat(r["since"]) if r["since"] else None, r["by"]
            )
            for r in rows
        ]

    async def save_switch(self, state: SwitchState) -> None:
        await self.db.execute(
            "INSERT INTO switch_state (switch_id, is_on, since, by) VALUES (?,?,?,?)"
            " ON CONFLICT(switch_id) DO UPDATE SET is_on=excluded.is_on, since=excluded.since, by=excluded.by",
            (state.switch_id, int(state.on), state.since.isoformat() if state.since else None, state.by),
        )

    async def setting(self, key: str) -> str | None:
        rows = await self.db.fetch("SELECT value FROM settings WHERE key = ?", (key,))
        return str(rows[0]["value"]) if rows else None

    async def set_setting(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    async def audit(self, at: datetime, who: str, action: str, detail: str = "") -> None:
        await self.db.execute(
            "INSERT INTO audit (at, who, action, detail) VALUES (?,?,?,?)", (at.isoformat(), who, action, detail)
        )

    async def audit_log(self, limit: int = 200, agent: str | None = None) -> list[dict[str, Any]]:
        """The newest entries; for an ``agent`` (a user name) only his own and the switch changes."""
        if agent is not None:
            return await self.db.fetch(
                "SELECT * FROM audit WHERE who = ? OR action IN ('switch.on', 'switch.off') ORDER BY id DESC LIMIT ?",
                (agent, limit),
            )
        return await self.db.fetch("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))


CALL_LOG_COLUMNS = frozenset(
    {
        "line", "caller", "caller_name", "called", "team", "started_at", "answered_at", "ended_at", "waited_s",
        "answered_by", "talk_s", "outcome", "message_id", "entered_queue_at", "quality",
        "left_queue",
    }
)  # fmt: skip


class CallLogRepository:
    """One row per call. Written behind the call (``calls.behind.CallLogWriter``), never
    before answering: a row may come late, or be dropped when the disk is full."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def started(
        self, call_id: str, line: str, caller: str, caller_name: str | None, called: str, at: datetime
    ) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO call_log (call_id, line, caller, caller_name, called, started_at)"
            " VALUES (?,?,?,?,?,?)",
            (call_id, line, caller, caller_name, called, at.isoformat()),
        )

    async def ended(self, call_id: str, **fields: Any) -> None:
        """Insert or complete the call's row: it holds everything even when ``started`` was dropped."""
        names = sorted(fields)
        unknown = set(names) - CALL_LOG_COLUMNS
        if unknown:
            raise ValueError(f"no call log columns {sorted(unknown)}")
        if "started_at" not in fields:
            raise ValueError("a call log row needs started_at")
        columns = ", ".join(["call_id", *names])
        marks = ", ".join("?" * (len(names) + 1))
        updates = ", ".join(f"{n} = excluded.{n}" for n in names)
        await self.db.execute(
            f"INSERT INTO call_log ({columns}) VALUES ({marks}) ON CONFLICT(call_id) DO UPDATE SET {updates}",
            (call_id, *[fields[n] for n in names]),
        )

    async def page(
        self,
        *,
        teams: frozenset[str] | None = None,
        outcomes: tuple[str, ...] | None = None,
        before: tuple[str, str] | None = None,
        limit: int = 100,
    ) -> list[dict[str, Any]]:
        """The newest rows first: of ``teams`` only (None: every row, also those without a team),
        with one of ``outcomes`` (None: any), older than the ``before`` row ((started_at, call_id),
        the last row of the page before: a stable cursor, as two calls may start in one instant)."""
        where: list[str] = []
        args: list[Any] = []
        if teams is not None:
            if not teams:
                return []
            where.append(f"team IN ({', '.join('?' * len(teams))})")
            args.extend(sorted(teams))
        if outcomes is not None:
            where.append(f"outcome IN ({', '.join('?' * len(outcomes))})")
            args.extend(outcomes)
        if before is not None:
            where.append("(started_at < ? OR (started_at = ? AND call_id < ?))")
            args.extend([before[0], before[0], before[1]])
        sql = "SELECT * FROM call_log" + (" WHERE " + " AND ".join(where) if where else "")
        rows = await self.db.fetch(f"{sql} ORDER BY started_at DESC, call_id DESC LIMIT ?", (*args, limit))
        return _with_quality(rows)


def _with_quality(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The call's audio figures (RTCP-style, ``quality``) as the object they were stored as."""
    for row in rows:
        text = row.get("quality")
        try:
            row["quality"] = json.loads(text) if text else None
        except ValueError:
            row["quality"] = None
    return rows
