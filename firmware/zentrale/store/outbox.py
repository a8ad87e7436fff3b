"""The mail outbox: one row per message to be e-mailed, in the same database.

A row is inserted by ``queue_in`` inside the transaction that makes the
message visible (``MessageRepository.on_commit``), so a stored message with
recipients always has a row, and a row never outlives a crash unseen.

States: ``queued`` (waiting for ``next_attempt_at``) -> ``sending`` (one
attempt in progress) -> ``sent`` or back to ``queued`` (temporary failure)
or ``failed`` (permanent failure, or temporary ones for too long). A row in
``sending`` at start-up was interrupted by a crash: it is queued again, so
delivery is at-least-once. Times are ISO 8601 UTC with microseconds, so they
compare as strings.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import datetime
from typing import Any

from zentrale.errors import Conflict, NotFound
from zentrale.store.db import Database

log = logging.getLogger(__name__)

QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"


def stamp(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def public_status(row: dict[str, Any]) -> dict[str, Any]:
    """The delivery status as the API and the viewer show it."""
    return {
        "state": row["state"],
        "recipients": json.loads(row["recipients"]),
        "attempts": row["attempts"],
        "queued_at": row["queued_at"],
        "next_attempt_at": row["next_attempt_at"] if row["state"] == QUEUED else None,
        "last_attempt_at": row["last_attempt_at"],
        "sent_at": row["sent_at"],
        "error": row["error"],
        "mp3_error": row["mp3_error"],
        "refused": json.loads(row["refused"]) if row["refused"] else {},
        "attached": None if row["attached"] is None else bool(row["attached"]),
    }


class OutboxRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    def queue_in(self, conn: sqlite3.Connection, message_id: str, recipients: list[str], now: datetime) -> bool:
        """Queue a message inside the caller's open transaction.

        A savepoint keeps a failure here from rolling back the message itself:
        a message is never lost because of e-mail. Returns whether it is queued.
        """
        conn.execute("SAVEPOINT mail_outbox")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO mail_outbox (message_id, recipients, state, queued_at, next_attempt_at)"
                " VALUES (?,?,?,?,?)",
                (message_id, json.dumps(recipients), QUEUED, stamp(now), stamp(now)),
            )
        except sqlite3.Error as err:
            conn.execute("ROLLBACK TO mail_outbox")
            conn.execute("RELEASE mail_outbox")
            log.error("mail: message %s stored but not queued for e-mail: %s", message_id, err)
            return False
        conn.execute("RELEASE mail_outbox")
        return True

    async def reset_interrupted(self) -> list[str]:
        """Rows left in ``sending`` by a crash or kill: queue them again (at-least-once)."""

        def reset(conn: sqlite3.Connection) -> list[str]:
            ids = [r[0] for r in conn.execute("SELECT message_id FROM mail_outbox WHERE state = ?", (SENDING,))]
            conn.execute(
                "UPDATE mail_outbox SET state = ?, error = ? WHERE state = ?",
                (QUEUED, "interrupted while sending (restart); a duplicate e-mail is possible", SENDING),
            )
            return ids

        return await self.db.run(reset)

    async def next_queued(self) -> dict[str, Any] | None:
        rows = await self.db.fetch(
            "SELECT * FROM mail_outbox WHERE state = ? ORDER BY next_attempt_at, queued_at LIMIT 1", (QUEUED,)
        )
        return rows[0] if rows else None

    async def get(self, message_id: str) -> dict[str, Any]:
        rows = await self.db.fetch("SELECT * FROM mail_outbox WHERE message_id = ?", (message_id,))
        if not rows:
            raise NotFound(f"message {message_id} has no e-mail delivery")
        return rows[0]

    async def statuses(self, message_ids: list[str]) -> dict[str, dict[str, Any]]:
        if not message_ids:
            return {}
        marks = ",".join("?" * len(message_ids))
        rows = await self.db.fetch(f"SELECT * FROM mail_outbox WHERE message_id IN ({marks})", tuple(message_ids))
        return {r["message_id"]: public_status(r) for r in rows}

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetch("SELECT state, COUNT(*) AS n FROM mail_outbox GROUP BY state")
        return {QUEUED: 0, SENDING: 0, SENT: 0, FAILED: 0} | {r["state"]: r["n"] for r in rows}

    async def mark_sending(self, message_id: str, now: datetime) -> None:
        await self.db.execute(
            "UPDATE mail_outbox SET state = ?, attempts = attempts + 1, last_attempt_at = ? WHERE message_id = ?",
            (SENDING, stamp(now), message_id),
        )

    async def mark_sent(
        self, message_id: str, now: datetime, *, refused: dict[str, str], attached: bool, mp3_error: str | None
    ) -> None:
        await self.db.execute(
            "UPDATE mail_outbox SET state = ?, sent_at = ?, error = NULL, failures = 0, refused = ?, attached = ?,"
            " mp3_error = ? WHERE message_id = ?",
            (SENT, stamp(now), json.dumps(refused) if refused else None, int(attached), mp3_error, message_id),
        )

    async def mark_retry(self, message_id: str, next_at: datetime, error: str, mp3_error: str | None) -> None:
        await self.db.execute(
            "UPDATE mail_outbox SET state = ?, next_attempt_at = ?, failures = failures + 1, error = ?,"
            " mp3_error = ? WHERE message_id = ?",
            (QUEUED, stamp(next_at), error, mp3_error, message_id),
        )

    async def mark_failed(self, message_id: str, error: str, mp3_error: str | None) -> None:
        await self.db.execute(
            "UPDATE mail_outbox SET state = ?, error = ?, mp3_error = ? WHERE message_id = ?",
            (FAILED, error, mp3_error, message_id),
        )

    async def requeue(self, message_id: str, recipients: list[str], now: datetime) -> None:
        """ "Send again": a new round for a sent or failed row, or a first row."""

        def requeue(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute("SELECT state FROM mail_outbox WHERE message_id = ?", (message_id,)).fetchone()
                if row is not None and row[0] == SENDING:
                    raise Conflict(f"message {message_id} is being sent right now")
                if row is None:
                    conn.execute(
                        "INSERT INTO mail_outbox (message_id, recipients, state, queued_at, next_attempt_at)"
                        " VALUES (?,?,?,?,?)",
                        (message_id, json.dumps(recipients), QUEUED, stamp(now), stamp(now)),
                    )
                else:
                    conn.execute(
                        "UPDATE mail_outbox SET recipients = ?, state = ?, round = round + 1, failures = 0,"
                        " queued_at = ?, next_attempt_at = ?, sent_at = NULL, error = NULL, refused = NULL"
                        " WHERE message_id = ?",
                        (json.dumps(recipients), QUEUED, stamp(now), stamp(now), message_id),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self.db.run(requeue)
