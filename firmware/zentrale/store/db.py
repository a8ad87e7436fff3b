"""The database: one SQLite file (WAL, synchronous=FULL), one worker thread."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from zentrale.errors import StoreError
from zentrale.store.disk import DataDisk, error_kind

log = logging.getLogger(__name__)
T = TypeVar("T")
Connection = sqlite3.Connection  # for hooks outside store/ that get the open connection

MIGRATIONS: list[str] = [
    # 1: the foundation
    """
    CREATE TABLE messages (
        id TEXT PRIMARY KEY,
        created_at TEXT NOT NULL,
        caller TEXT NOT NULL,
        caller_name TEXT,
        called TEXT,
        team TEXT,
        mode TEXT,
        node TEXT,
        duration_ms INTEGER NOT NULL,
        file TEXT NOT NULL,
        rate INTEGER NOT NULL DEFAULT 8000,
        status TEXT NOT NULL DEFAULT 'new',
        status_by TEXT,
        comment TEXT NOT NULL DEFAULT '',
        email TEXT
    );
    CREATE INDEX messages_team ON messages(team, created_at);
    CREATE TABLE switch_state (
        switch_id TEXT PRIMARY KEY,
        is_on INTEGER NOT NULL,
        since TEXT,
        by TEXT
    );
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        who TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE call_log (
        call_id TEXT PRIMARY KEY,
        line TEXT,
        caller TEXT,
        caller_name TEXT,
        called TEXT,
        team TEXT,
        started_at TEXT NOT NULL,
        answered_at TEXT,
        ended_at TEXT,
        waited_s REAL,
        answered_by TEXT,
        talk_s REAL,
        outcome TEXT,
        message_id TEXT
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 2: agents and their logins (shift work: the number may change daily)
    """
    CREATE TABLE agents (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        default_number TEXT NOT NULL DEFAULT '',
        teams TEXT NOT NULL DEFAULT '[]',
        priority INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE agent_logins (
        agent_id TEXT PRIMARY KEY REFERENCES agents(id) ON DELETE CASCADE,
        number TEXT NOT NULL,
        teams TEXT NOT NULL,
        paused INTEGER NOT NULL DEFAULT 0,
        since TEXT NOT NULL
    );
    ALTER TABLE call_log ADD COLUMN entered_queue_at TEXT;
    """,
    # 3: every saved version of every mode document
    """
    CREATE TABLE mode_versions (
        mode TEXT NOT NULL,
        version INTEGER NOT NULL,
        author TEXT NOT NULL,
        created_at TEXT NOT NULL,
        comment TEXT NOT NULL DEFAULT '',
        document TEXT NOT NULL,
        PRIMARY KEY (mode, version)
    );
    """,
    # 4: the mail outbox (zentrale.store.outbox): one row per message to e-mail
    """
    CREATE TABLE mail_outbox (
        message_id TEXT PRIMARY KEY,
        recipients TEXT NOT NULL,
        state TEXT NOT NULL,
        round INTEGER NOT NULL DEFAULT 1,
        attempts INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        queued_at TEXT NOT NULL,
        next_attempt_at TEXT NOT NULL,
        last_attempt_at TEXT,
        sent_at TEXT,
        error TEXT,
        mp3_error TEXT,
        refused TEXT,
        attached INTEGER
    );
    CREATE INDEX mail_outbox_due ON mail_outbox(state, next_attempt_at);
    """,
    # 5: accounts of the web page, their sessions, who changed a message's status when
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY,
        display_name TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL CHECK (role IN ('admin', 'agent')),
        agent_id TEXT,
        password_hash TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        id_hash TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
        csrf TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL,
        source TEXT NOT NULL DEFAULT ''
    );
    ALTER TABLE messages ADD COLUMN status_at TEXT;
    """,
    # 6: the audio quality of a call (JSON: loss, jitter, concealment, an estimated MOS)
    """
    ALTER TABLE call_log ADD COLUMN quality TEXT;
    """,
    # 7: retention (zentrale.store.retention): files whose rows are gone, removed after the commit
    # (a crash in between leaves the path here for the next run); the call log by time.
    # IF NOT EXISTS: harmless when branches merged in another order number it differently
    """
    CREATE TABLE IF NOT EXISTS retention_files (
        path TEXT PRIMARY KEY
    );
    CREATE INDEX IF NOT EXISTS call_log_started ON call_log(started_at);
    """,
    # 8: why a caller left a queue without an agent: a key ("key *"), overflow, after_hold
    """
    ALTER TABLE call_log ADD COLUMN left_queue TEXT;
    """,
    # 9: the phonebook cache (zentrale.phonebook): names by number from the FRITZ!Box, CardDAV,
    # a CSV upload; one source's rows are replaced whole at each refresh, kept when it fails
    """
    CREATE TABLE IF NOT EXISTS phonebook (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        number TEXT NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (source, key)
    );
    CREATE TABLE IF NOT EXISTS phonebook_sources (
        source TEXT PRIMARY KEY,
        refreshed_at TEXT NOT NULL,
        origin TEXT NOT NULL DEFAULT ''
    );
    """,
    # 10: the block and VIP lists of caller numbers (store/callers.py); ``number_key`` is the
    # normalised number or pattern (core/callers.py), ``number`` what the agent typed
    """
    CREATE TABLE IF NOT EXISTS caller_list (
        list TEXT NOT NULL,
        number_key TEXT NOT NULL,
        number TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '',
        added_at TEXT NOT NULL,
        added_by TEXT NOT NULL,
        PRIMARY KEY (list, number_key)
    );
    """,
    # 11: callbacks that keep the caller's place (store/callbacks.py): waiting ones survive a
    # restart; a failed one is a task for the agents until someone marks it done
    """
    CREATE TABLE IF NOT EXISTS callbacks (
        id TEXT PRIMARY KEY,
        call_id TEXT NOT NULL,
        team TEXT NOT NULL,
        number TEXT NOT NULL,
        caller_name TEXT,
        since TEXT NOT NULL,
        created_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'waiting',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at TEXT,
        outcome TEXT,
        agent TEXT,
        done_by TEXT,
        done_at TEXT
    );
    CREATE INDEX IF NOT EXISTS callbacks_state ON callbacks(state, since);
    """,
    # 12: statistics (zentrale.store.statistics): a covering index, so a year of figures never reads
    # the rows themselves; read-only wallboard tokens (only their SHA-256 is kept)
    """
    CREATE INDEX IF NOT EXISTS call_log_statistics
        ON call_log(started_at, team, answered_by, outcome, waited_s, talk_s, message_id);
    CREATE TABLE IF NOT EXISTS wallboard_tokens (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        created_by TEXT NOT NULL,
        revoked_at TEXT,
        revoked_by TEXT
    );
    """,
    # 13: a team's and an agent's statistics walk only their own rows (store/statistics.py)
    """
    CREATE INDEX IF NOT EXISTS call_log_by_team
        ON call_log(team, started_at, answered_by, outcome, waited_s, talk_s, message_id);
    CREATE INDEX IF NOT EXISTS call_log_by_agent
        ON call_log(answered_by, started_at, team, outcome, waited_s, talk_s, message_id);
    """,
    # 14: every ring of an agent's phone, how it ended and the wrap-up after it (store/offers.py)
    """
    CREATE TABLE IF NOT EXISTS agent_offers (
        id INTEGER PRIMARY KEY,
        call_id TEXT NOT NULL,
        agent TEXT NOT NULL,
        team TEXT,
        how TEXT NOT NULL,
        offered_at TEXT NOT NULL,
        ring_s REAL NOT NULL,
        result TEXT NOT NULL,
        wrap_up_s REAL
    );
    CREATE INDEX IF NOT EXISTS agent_offers_time ON agent_offers(offered_at, team, agent, result, ring_s);
    """,
]


class Database:
    def __init__(self, path: Path, disk: DataDisk | None = None) -> None:
        self.path = path
        self.disk = disk  # told of writes a full or failing disk refused (``/status``, recordings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._conn: sqlite3.Connection | None = None
        self.read_only = False  # opened without write access because the disk was full

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = self._connect()
        except sqlite3.Error as err:
            # A cleanly closed database has no -wal/-shm files, and on a full disk SQLite cannot
            # create them: the box would not start at all. Read what is there instead (immutable:
            # no locks, no -shm; safe, since a clean close checkpointed the WAL into the file)
            # and take writes again once the disk has room (``reopen_writable``).
            if error_kind(err) is None or not self.path.exists():
                raise
            conn = sqlite3.connect(
                f"file:{self.path}?immutable=1", uri=True, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version != len(MIGRATIONS):
                conn.close()
                raise
            log.error("database: cannot open for writing (%s); reading only until the disk has room again", err)
            self.read_only = True
        else:
            self.read_only = False
        self._conn = conn

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                log.info("database: migrating to schema %d", number)
                conn.executescript(f"BEGIN; {script}; PRAGMA user_version={number}; COMMIT;")
        except BaseException:
            conn.close()
            raise
        return conn

    async def reopen_writable(self) -> bool:
        """Opened read-only on a full disk: try to open for writing again; True once it is."""
        if not self.read_only:
            return True

        def reopen() -> bool:
            try:
                conn = self._connect()
            except sqlite3.Error as err:
                log.debug("database: still read-only: %s", err)
                return False
            if self._conn is not None:
                self._conn.close()
            self._conn, self.read_only = conn, False
            log.warning("database: writable again")
            return True

        return await self.run_raw(reopen)

    async def open(self) -> None:
        await self.run_raw(self._open)

    async def close(self) -> None:
        def close() -> None:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await self.run_raw(close)
        self._executor.shutdown(wait=True)

    async def run_raw(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(connection)`` on the database thread."""

        def call() -> T:
            if self._conn is None:
                raise StoreError("database is not open")
            try:
                return fn(self._conn)
            except sqlite3.Error as err:
                if self.disk is not None and not self.read_only:  # read-only: the disk's state says why
                    self.disk.write_failed("database", err)
                raise StoreError(f"database error: {err}") from err

        return await self.run_raw(call)

    async def fetch(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return await self.run(lambda c: [dict(r) for r in c.execute(sql, params).fetchall()])

    async def execute(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return await self.run(lambda c: c.execute(sql, params).rowcount)
