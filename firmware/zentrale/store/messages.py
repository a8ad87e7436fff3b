"""Voicemail messages: a WAV file and a row, made visible together.

Order of a commit (each step survives a power cut):
1. the recorder writes ``spool/<id>.wav.part`` and a ``spool/<id>.json`` sidecar;
2. the finished file gets its header, is fsynced and renamed to ``spool/<id>.wav``;
3. in one transaction: insert the row, move the file to ``messages/``, fsync, commit;
4. the sidecar is removed.
``recover`` at start-up finishes or cleans whatever a crash interrupted: a
``.part`` file is salvaged into a complete message (its audio up to the
crash) when it holds at least a second of audio, else removed. A message
whose step 3 the database refused (a full disk) is kept in ``pending`` and
stored by ``commit_pending`` once writes work again, without a restart.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zentrale.errors import NotFound
from zentrale.media.recorder import salvage_part_file
from zentrale.store.db import Database

log = logging.getLogger(__name__)
MIN_SALVAGE_MS = 1000


@dataclass(frozen=True)
class MessageMeta:
    id: str
    created_at: str
    caller: str
    caller_name: str | None
    called: str
    team: str | None
    mode: str
    node: str
    rate: int
    email: list[str] | None = None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MessageRepository:
    def __init__(self, db: Database, data_dir: Path) -> None:
        self.db = db
        self.spool = data_dir / "spool"
        self.folder = data_dir / "messages"
        # hooks run inside the commit transaction (the mail outbox); they must not commit
        self.on_commit: list[Callable[[sqlite3.Connection, MessageMeta, int], None]] = []
        # recorded and finished in the spool, but the database refused the row (disk full):
        # committed by ``commit_pending`` once it takes writes again, not only at the next start
        self.pending: dict[str, tuple[MessageMeta, int]] = {}

    def prepare(self) -> None:
        self.spool.mkdir(parents=True, exist_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)

    def part_path(self, message_id: str) -> Path:
        return self.spool / f"{message_id}.wav.part"

    def begin(self, meta: MessageMeta) -> Path:
        """Write the sidecar; returns where the recorder writes. A sidecar the disk
        refuses (full) is removed again: an empty one would stay in the spool for good."""
        sidecar = self.spool / f"{meta.id}.json"
        try:
            sidecar.write_text(json.dumps(asdict(meta)), encoding="utf-8")
        except OSError:
            sidecar.unlink(missing_ok=True)
            raise
        return self.part_path(meta.id)

    def discard(self, message_id: str) -> None:
        for path in (self.part_path(message_id), self.spool / f"{message_id}.json", self.spool / f"{message_id}.wav"):
            path.unlink(missing_ok=True)

    async def commit(self, meta: MessageMeta, duration_ms: int) -> None:
        """Steps 2-4 above; the part file must be finished (header written, fsynced)."""
        await self.db.run(lambda conn: self._commit(conn, meta, duration_ms))

    def _commit(self, conn: sqlite3.Connection, meta: MessageMeta, duration_ms: int) -> None:
        part = self.part_path(meta.id)
        ready = self.spool / f"{meta.id}.wav"
        if part.exists():
            os.replace(part, ready)
            _fsync_dir(self.spool)
        final = self.folder / f"{meta.id}.wav"
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT OR IGNORE INTO messages (id, created_at, caller, caller_name, called, team, mode, node,"
                " duration_ms, file, rate, email) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    meta.id,
                    meta.created_at,
                    meta.caller,
                    meta.caller_name,
                    meta.called,
                    meta.team,
                    meta.mode,
                    meta.node,
                    duration_ms,
                    f"messages/{meta.id}.wav",
                    meta.rate,
                    json.dumps(meta.email) if meta.email else None,
                ),
            )
            for hook in self.on_commit:
                hook(conn, meta, duration_ms)
            if ready.exists():
                os.replace(ready, final)
                _fsync_dir(self.folder)
            conn.execute("COMMIT")
        except BaseException:
            # SQLite rolls back by itself on some errors (SQLITE_FULL may); a second
            # ROLLBACK would fail and hide the error that matters
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        (self.spool / f"{meta.id}.json").unlink(missing_ok=True)
        log.info("message %s stored: %s, team %s, %.1f s", meta.id, meta.caller, meta.team, duration_ms / 1000)

    def keep_pending(self, meta: MessageMeta, duration_ms: int) -> None:
        self.pending[meta.id] = (meta, duration_ms)

    async def commit_pending(self) -> list[MessageMeta]:
        """Try again to store the messages the database refused; returns those now stored.
        Stops at the first refusal (the next try comes later)."""
        stored: list[MessageMeta] = []
        for message_id, (meta, duration_ms) in list(self.pending.items()):
            await self.commit(meta, duration_ms)  # StoreError/OSError: still pending
            del self.pending[message_id]
            stored.append(meta)
        return stored

    async def recover(self) -> list[str]:
        """Finish or clean up what a crash left behind; returns the ids adopted."""
        adopted = await self.db.run(self._recover)
        if adopted:
            log.warning("recovered %d message(s) interrupted by a crash", len(adopted))
        return adopted

    def _recover(self, conn: sqlite3.Connection) -> list[str]:
        self.prepare()
        adopted: list[str] = []
        known = {r[0] for r in conn.execute("SELECT id FROM messages")}
        for sidecar in sorted(self.spool.glob("*.json")):
            message_id = sidecar.stem
            try:
                meta = MessageMeta(**json.loads(sidecar.read_text(encoding="utf-8")))
            except (ValueError, TypeError) as err:
                log.error("spool: unreadable sidecar %s (%s), keeping it for inspection", sidecar.name, err)
                continue
            part = self.part_path(message_id)
            ready = self.spool / f"{message_id}.wav"
            final = self.folder / f"{message_id}.wav"
            duration_ms: int | None = None
            if message_id in known:
                sidecar.unlink()
                continue
            if part.exists():
                duration_ms = salvage_part_file(part, meta.rate)
                if duration_ms < MIN_SALVAGE_MS:
                    log.info("spool: dropping %s, only %d ms recorded before the crash", message_id, duration_ms)
                    self.discard(message_id)
                    continue
            elif ready.exists() or final.exists():
                path = ready if ready.exists() else final
                duration_ms = max(0, path.stat().st_size - 44) * 1000 // (2 * meta.rate)
            else:
                sidecar.unlink()
                continue
            if final.exists() and not ready.exists() and not part.exists():
                os.replace(final, ready)  # re-run the commit transaction
            try:
                self._commit(conn, meta, duration_ms)
            except (sqlite3.Error, OSError) as err:
                # a full disk must not keep the box from starting: the message waits in the
                # spool and is stored once the database takes writes (commit_pending)
                log.warning("spool: message %s recovered after a crash, not yet stored: %s", message_id, err)
                self.pending[message_id] = (meta, duration_ms)
                continue
            adopted.append(message_id)
            log.warning("spool: recovered message %s after a crash (%d ms)", message_id, duration_ms)
        # deleted by the retention job, which a crash stopped before their files went: not lost,
        # due (GDPR); the job's next run removes them (store/retention.py)
        doomed = {Path(str(r[0])).name for r in conn.execute("SELECT path FROM retention_files")}
        for wav in self.folder.glob("*.wav"):
            if wav.name in doomed:
                continue
            if wav.stem not in known and wav.stem not in adopted and wav.stem not in self.pending:
                log.warning("messages: %s has no database row and no sidecar; moving to lost+found", wav.name)
                lost = self.folder.parent / "lost+found"
                lost.mkdir(exist_ok=True)
                os.replace(wav, lost / wav.name)
        return adopted

    async def list(self, team: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        if team:
            return await self.db.fetch(
                "SELECT * FROM messages WHERE team = ? ORDER BY created_at DESC LIMIT ?", (team, limit)
            )
        return await self.db.fetch("SELECT * FROM messages ORDER BY created_at DESC LIMIT ?", (limit,))

    async def get(self, message_id: str) -> dict[str, Any]:
        rows = await self.db.fetch("SELECT * FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise NotFound(f"no message {message_id}")
        return rows[0]

    def file(self, row: dict[str, Any]) -> Path:
        return self.folder.parent / str(row["file"])

    async def update(self, message_id: str, **fields: Any) -> dict[str, Any]:
        """Change the viewer's columns (status, status_by, status_at, comment)."""
        allowed = {"status", "status_by", "status_at", "comment"}
        names = sorted(fields)
        if not names or not set(names) <= allowed:
            raise ValueError(f"cannot update {names}")
        assignments = ", ".join(f"{n} = ?" for n in names)
        changed = await self.db.execute(
            f"UPDATE messages SET {assignments} WHERE id = ?", (*[fields[n] for n in names], message_id)
        )
        if not changed:
            raise NotFound(f"no message {message_id}")
        return await self.get(message_id)

    async def delete(self, message_id: str) -> dict[str, Any]:
        """Remove the row, then the file and its MP3 copy (a file left by a crash in between goes to
        lost+found at start-up)."""
        row = await self.get(message_id)
        path = self.file(row)

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            path.unlink(missing_ok=True)
            path.with_suffix(".mp3").unlink(missing_ok=True)  # the copy made for e-mail (GDPR: no leftover)

        await self.db.run(delete)
        log.info("message %s deleted", message_id)
        return row
