"""Retention (GDPR Art. 5(1)(e), storage limitation): delete or anonymise what is due, daily.

What goes when is configured in ``retention:`` (``config.RetentionConfig``; the defaults and
their reasons are in docs/privacy.md). The job runs shortly after the start and then every
``interval_hours`` on the box's clock (injected, so tests move it). All work runs on the
database thread, in batches of ``batch`` rows, one transaction each: the event loop only
hands the work over (``bench.retention`` measures how late a loop timer runs meanwhile), and
a message being stored waits for one batch at most.

Order of a message's deletion (each step survives a power cut):
1. in one transaction: the paths of its files are written to ``retention_files``, its
   outbox row and its row are deleted;
2. the files are removed, then their paths from ``retention_files``.
A crash or an unlink error between 1 and 2 leaves a file without a row, never a row
without a file; the next run removes it (the start-up recovery leaves such a file alone
instead of moving it to lost+found). A message whose e-mail is still queued or being
sent is kept until it is sent (or failed).

Times in the database are ISO 8601 UTC (``clock.now().isoformat()``), so they compare as
strings. The log gets counts only: no caller numbers, no message ids.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from zentrale.config import RetentionConfig
from zentrale.core.clock import Clock
from zentrale.errors import StoreError
from zentrale.store.db import Database

log = logging.getLogger(__name__)

ANONYMISED = "anonymisiert"  # what the call log shows instead of an old caller number
LAST_RUN_KEY = "retention.last_run"  # JSON of the last ``RetentionRun`` (settings table)
PENDING_MAIL = ("queued", "sending")  # outbox states of a message still to be e-mailed


@dataclass
class RetentionCounts:
    call_log: int = 0  # call log entries deleted
    numbers: int = 0  # call log entries whose caller number was anonymised
    done_messages: int = 0  # messages deleted N days after done
    open_messages: int = 0  # messages deleted N days after the call, never marked done
    files: int = 0  # recordings and MP3s removed with their messages
    mail_copies: int = 0  # MP3 copies of sent mails removed (the message stays)
    outbox: int = 0  # delivery records whose message is gone
    audit: int = 0  # audit log entries deleted
    callbacks: int = 0  # finished callbacks deleted (with the number to call)
    kept_for_mail: int = 0  # due messages kept because their e-mail is not sent yet

    def summary(self) -> str:
        return (
            f"deleted {self.call_log} call log entries, anonymised {self.numbers} caller numbers, deleted "
            f"{self.done_messages + self.open_messages} messages ({self.done_messages} done, {self.open_messages} "
            f"never done) and {self.files} files, {self.mail_copies} mail copies, {self.outbox} delivery records, "
            f"{self.audit} audit entries, {self.callbacks} finished callbacks; kept {self.kept_for_mail} messages "
            "still to be e-mailed"
        )


@dataclass
class RetentionRun:
    started_at: str
    finished_at: str | None = None
    ok: bool = False
    error: str | None = None  # why the run stopped early (what was done is in counts)
    counts: RetentionCounts = field(default_factory=RetentionCounts)

    def public(self) -> dict[str, Any]:
        return asdict(self)


def _cutoff(now: datetime, days: int | None) -> str | None:
    """The newest time that is due, or None when the limit is off (0 or null: keep forever)."""
    if not days:
        return None
    return (now - timedelta(days=days)).isoformat(timespec="microseconds")


@contextlib.contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # SQLite rolls back by itself on some errors (SQLITE_FULL may): a second ROLLBACK would fail
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class Retention:
    """The deletions themselves; ``RetentionJob`` runs them on a schedule."""

    def __init__(self, db: Database, data_dir: Path, config: RetentionConfig) -> None:
        self.db = db
        self.data_dir = data_dir
        self.config = config

    async def run(
        self, now: datetime, counts: RetentionCounts, on_deleted: Callable[[str], None] = lambda _id: None
    ) -> None:
        """Everything due at ``now``; ``counts`` grows batch by batch, so a run stopped by an
        error (``StoreError``, ``OSError``) still tells what it did."""
        cfg = self.config
        counts.files += await self._remove_files()  # left by an interrupted run
        for kind, days in (("done", cfg.done_messages_days), ("open", cfg.open_messages_days)):
            cutoff = _cutoff(now, days)
            first = True
            while cutoff is not None:
                ids, kept = await self.db.run(functools.partial(self._delete_messages, kind=kind, cutoff=cutoff))
                if first:  # the same due messages wait for their e-mail in every batch
                    counts.kept_for_mail += kept
                    first = False
                if kind == "done":
                    counts.done_messages += len(ids)
                else:
                    counts.open_messages += len(ids)
                for message_id in ids:  # told before the files go: the rows are gone whatever follows
                    try:
                        on_deleted(message_id)
                    except Exception:  # a listener must not stop the deletions
                        log.exception("retention: a listener of deleted messages failed")
                counts.files += await self._remove_files()
                if len(ids) < cfg.batch:
                    break
        counts.outbox += await self._batched(self._delete_orphan_deliveries, None)
        counts.mail_copies += await self.db.run(
            lambda c: self._remove_mail_copies(c, _cutoff(now, cfg.mail_copies_days))
        )
        counts.call_log += await self._batched(self._delete_call_log, _cutoff(now, cfg.call_log_days))
        await self._batched(self._delete_offers, _cutoff(now, cfg.call_log_days))  # the rings go with the calls
        counts.numbers += await self._anonymise(_cutoff(now, cfg.caller_numbers_days))
        counts.audit += await self._batched(self._delete_audit, _cutoff(now, cfg.audit_days))
        counts.callbacks += await self._batched(self._delete_callbacks, _cutoff(now, cfg.callbacks_days))

    async def _batched(self, step: Callable[[sqlite3.Connection, str | None], int], cutoff: str | None) -> int:
        total = 0
        while True:
            done = await self.db.run(lambda c: step(c, cutoff))
            total += done
            if done < self.config.batch:
                return total

    def _delete_messages(self, conn: sqlite3.Connection, kind: str, cutoff: str) -> tuple[list[str], int]:
        """One batch of due messages (step 1 above); returns their ids and how many due ones wait for e-mail."""
        due = (
            "m.status = 'done' AND COALESCE(m.status_at, m.created_at) <= ?"
            if kind == "done"
            else "m.status != 'done' AND m.created_at <= ?"
        )
        mailing = "EXISTS (SELECT 1 FROM mail_outbox o WHERE o.message_id = m.id AND o.state IN (?, ?))"
        with _transaction(conn):
            rows = conn.execute(
                f"SELECT m.id, m.file FROM messages m WHERE {due} AND NOT {mailing} ORDER BY m.created_at LIMIT ?",
                (cutoff, *PENDING_MAIL, self.config.batch),
            ).fetchall()
            kept = conn.execute(f"SELECT COUNT(*) FROM messages m WHERE {due} AND {mailing}", (cutoff, *PENDING_MAIL))
            kept_count = int(kept.fetchone()[0])
            ids = [str(r[0]) for r in rows]
            for message_id, file in rows:
                wav = str(file)
                mp3 = str(Path(wav).with_suffix(".mp3"))
                conn.executemany("INSERT OR IGNORE INTO retention_files (path) VALUES (?)", [(wav,), (mp3,)])
                conn.execute("DELETE FROM mail_outbox WHERE message_id = ?", (message_id,))
                conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
        return ids, kept_count

    async def _remove_files(self) -> int:
        """Step 2: remove the files of deleted rows, a batch per piece of work; a path stays listed
        while its file cannot be removed (the next run tries again). Returns the files removed."""
        removed = 0
        while True:
            count, more = await self.db.run(self._remove_some_files)
            removed += count
            if not more:
                return removed

    def _remove_some_files(self, conn: sqlite3.Connection) -> tuple[int, bool]:
        paths = [str(r[0]) for r in conn.execute("SELECT path FROM retention_files LIMIT ?", (self.config.batch,))]
        removed = 0
        done: list[str] = []
        for rel in paths:
            path = self._message_file(rel)
            if path is None:
                done.append(rel)
                continue
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:
                pass  # an MP3 never made, or removed before a crash
            except OSError as err:
                log.warning("retention: cannot remove a deleted message's file (%s); trying again next run",
                            err.strerror or type(err).__name__)  # fmt: skip
                continue
            done.append(rel)
        if done:
            with _transaction(conn):
                conn.executemany("DELETE FROM retention_files WHERE path = ?", [(p,) for p in done])
        return removed, len(paths) == self.config.batch and len(done) == len(paths)

    def _delete_orphan_deliveries(self, conn: sqlite3.Connection, _cutoff: str | None) -> int:
        """Delivery records of messages deleted by hand (the viewer); a pending one is left to
        the sender, which marks it failed ("the message no longer exists")."""
        return conn.execute(
            "DELETE FROM mail_outbox WHERE rowid IN (SELECT o.rowid FROM mail_outbox o WHERE o.state NOT IN (?, ?)"
            " AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = o.message_id) LIMIT ?)",
            (*PENDING_MAIL, self.config.batch),
        ).rowcount

    def _remove_mail_copies(self, conn: sqlite3.Connection, cutoff: str | None) -> int:
        if cutoff is None:
            return 0
        rows = conn.execute(
            "SELECT m.file FROM mail_outbox o JOIN messages m ON m.id = o.message_id WHERE o.state NOT IN (?, ?)"
            " AND COALESCE(o.sent_at, o.last_attempt_at, o.queued_at) <= ?",
            (*PENDING_MAIL, cutoff),
        ).fetchall()
        removed = 0
        for (file,) in rows:
            path = self._message_file(str(Path(str(file)).with_suffix(".mp3")))
            if path is not None:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed += 1
        return removed

    def _message_file(self, rel: str) -> Path | None:
        """The file a row names, if it lies in the messages folder: a database from a tampered
        backup must not make the job delete files elsewhere (``messages/../../etc/...``)."""
        folder = (self.data_dir / "messages").resolve()
        path = self.data_dir / rel
        if path.name in ("", ".", "..") or path.parent.resolve() != folder:
            log.warning("retention: a message names a file outside the messages folder; not removed")
            return None
        return folder / path.name  # a symbolic link is removed, not what it points to

    def _delete_call_log(self, conn: sqlite3.Connection, cutoff: str | None) -> int:
        if cutoff is None:
            return 0
        return conn.execute(
            "DELETE FROM call_log WHERE rowid IN (SELECT rowid FROM call_log WHERE started_at <= ? LIMIT ?)",
            (cutoff, self.config.batch),
        ).rowcount

    def _delete_offers(self, conn: sqlite3.Connection, cutoff: str | None) -> int:
        if cutoff is None:
            return 0
        return conn.execute(
            "DELETE FROM agent_offers WHERE id IN (SELECT id FROM agent_offers WHERE offered_at <= ? LIMIT ?)",
            (cutoff, self.config.batch),
        ).rowcount

    async def _anonymise(self, cutoff: str | None) -> int:
        """Walk the due entries oldest first, ``batch`` at a time, from where the last batch
        ended: each batch reads a bounded slice of the index, however many entries earlier
        runs anonymised already (searching past them from the start made one batch of a
        year's log hold the database thread ~0.5 s, ``bench.retention``)."""
        if cutoff is None:
            return 0
        total, after = 0, ("", 0)
        while True:
            changed, last = await self.db.run(functools.partial(self._anonymise_numbers, cutoff=cutoff, after=after))
            total += changed
            if last is None:
                return total
            after = last

    def _anonymise_numbers(
        self, conn: sqlite3.Connection, cutoff: str, after: tuple[str, int]
    ) -> tuple[int, tuple[str, int] | None]:
        """One slice after ``after`` (started_at, rowid); returns the entries changed and where
        the slice ended (None: it was the last)."""
        rows = conn.execute(
            "SELECT rowid, started_at, caller, caller_name FROM call_log WHERE started_at <= ? AND started_at >= ?"
            " AND (started_at > ? OR rowid > ?) ORDER BY started_at, rowid LIMIT ?",
            (cutoff, after[0], after[0], after[1], self.config.batch),
        ).fetchall()
        due = [(ANONYMISED, r[0]) for r in rows if r[2] != ANONYMISED or r[3] is not None]
        with _transaction(conn):  # one commit (one fsync) per batch, not per entry
            conn.executemany("UPDATE call_log SET caller = ?, caller_name = NULL WHERE rowid = ?", due)
        if len(rows) < self.config.batch:
            return len(due), None
        return len(due), (str(rows[-1][1]), int(rows[-1][0]))

    def _delete_audit(self, conn: sqlite3.Connection, cutoff: str | None) -> int:
        if cutoff is None:
            return 0
        return conn.execute(
            "DELETE FROM audit WHERE id IN (SELECT id FROM audit WHERE at <= ? LIMIT ?)", (cutoff, self.config.batch)
        ).rowcount

    def _delete_callbacks(self, conn: sqlite3.Connection, cutoff: str | None) -> int:
        """Finished callbacks (store/callbacks.py: ``connected``, ``done``); a waiting one or an
        open task (``failed``) is still work for the agents."""
        if cutoff is None:
            return 0
        return conn.execute(
            "DELETE FROM callbacks WHERE rowid IN (SELECT rowid FROM callbacks WHERE state IN ('connected', 'done')"
            " AND COALESCE(done_at, since) <= ? LIMIT ?)",
            (cutoff, self.config.batch),
        ).rowcount


class RetentionJob:
    """Runs ``Retention`` shortly after the start and then every ``interval_hours``; keeps the last run."""

    def __init__(
        self,
        db: Database,
        data_dir: Path,
        config: RetentionConfig,
        clock: Clock,
        on_deleted: Callable[[str], None] | None = None,
    ) -> None:
        self.db = db
        self.config = config
        self.clock = clock
        self.retention = Retention(db, data_dir, config)
        self.on_deleted = on_deleted  # told each deleted message's id (the viewer, message-waiting lamps)
        self.last_run: RetentionRun | None = None
        self.runs = 0  # since the start
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    async def load(self) -> None:
        """The last run before this start, from the settings table."""
        rows = await self.db.fetch("SELECT value FROM settings WHERE key = ?", (LAST_RUN_KEY,))
        if not rows:
            return
        try:
            data = json.loads(rows[0]["value"])
            self.last_run = RetentionRun(**{**data, "counts": RetentionCounts(**data["counts"])})
        except (ValueError, TypeError, KeyError) as err:
            log.warning("retention: the stored last run is unreadable (%s); it is forgotten", err)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        await self.clock.sleep(self.config.first_run_seconds)
        while True:
            try:
                await self.run_once()
            except Exception:  # a bug must not end the daily job; the next run tries again
                log.exception("retention: unexpected error")
            await self.clock.sleep(self.config.interval_hours * 3600)

    async def run_once(self) -> RetentionRun:
        """One run now; a second caller waits for a run in progress, then runs (finding little)."""
        async with self._lock:
            now = self.clock.now()
            run = RetentionRun(started_at=now.isoformat(timespec="seconds"))
            if self.db.read_only:
                run.error = "the database is read-only (the disk is full)"
            else:
                try:
                    await self.retention.run(now, run.counts, self.on_deleted or (lambda _id: None))
                    run.ok = True
                except StoreError as err:  # a locked database, a full disk: nothing half done
                    run.error = str(err)
                except OSError as err:  # its file name could name a message; the reason is enough
                    run.error = f"file error: {err.strerror or type(err).__name__}"
            run.finished_at = self.clock.now().isoformat(timespec="seconds")
            self.runs += 1
            self.last_run = run
            if run.ok:
                log.info("retention: %s", run.counts.summary())
            else:
                log.warning("retention: stopped early (%s); trying again next run; so far %s",
                            run.error, run.counts.summary())  # fmt: skip
            await self._remember(run)
            return run

    async def _remember(self, run: RetentionRun) -> None:
        """Keep the last run (settings), and an audit entry when it deleted something: who
        deleted personal data is answered in the audit log (GDPR Art. 5(2), accountability)."""
        deleted = any(v for k, v in asdict(run.counts).items() if k != "kept_for_mail")

        def remember(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.execute(
                    "INSERT INTO settings (key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                    (LAST_RUN_KEY, json.dumps(run.public())),
                )
                if deleted:
                    conn.execute(
                        "INSERT INTO audit (at, who, action, detail) VALUES (?, 'retention', 'retention.run', ?)",
                        (run.started_at, run.counts.summary()),
                    )

        try:
            await self.db.run(remember)
        except StoreError as err:  # shown from memory until the next run
            log.warning("retention: cannot store the last run (%s)", err)

    def status(self) -> dict[str, Any]:
        return {
            "settings": self.config.model_dump(),
            "anonymised_marker": ANONYMISED,
            "last_run": self.last_run.public() if self.last_run else None,
            "runs_since_start": self.runs,
            "running": self._lock.locked(),
        }
