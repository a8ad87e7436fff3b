"""The retention job on two years of a busy office: 200,000 calls, 4,000 messages, 20,000 audit
entries. How long the first run (a year's backlog) and a daily run take, the longest one batch
holds the database thread (a message being stored waits at most that long), and how late a
5 ms loop timer runs meanwhile (the media clock's view).

    .venv/bin/python -m bench.retention
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from zentrale.config import RetentionConfig
from zentrale.core.clock import ManualClock
from zentrale.store.db import Database
from zentrale.store.retention import RetentionJob

T = TypeVar("T")
NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
CALLS, MESSAGES, AUDIT, DAYS = 200_000, 4_000, 20_000, 730


class TimedDatabase(Database):
    """Records how long each piece of work holds the database thread, and which one it was."""

    held: list[tuple[float, str]]

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        name = str(getattr(getattr(fn, "func", fn), "__name__", "?"))

        def timed(conn: sqlite3.Connection) -> T:
            start = time.perf_counter()
            try:
                return fn(conn)
            finally:
                self.held.append((time.perf_counter() - start, name))

        return await super().run(timed)


def seed(db: Path, data: Path) -> None:
    """Fill the file directly, as fast as it can (not through the repositories)."""
    (data / "messages").mkdir(parents=True)
    conn = sqlite3.connect(db)
    step = DAYS * 86400 / CALLS
    conn.executemany(
        "INSERT INTO call_log (call_id, caller, caller_name, started_at, outcome) VALUES (?,?,?,?,?)",
        ((f"c{n}", f"+4930{n:07d}", "Erika Muster", (NOW - timedelta(seconds=n * step)).isoformat(), "answered")
         for n in range(CALLS)),
    )  # fmt: skip
    rows = []
    for n in range(MESSAGES):
        at = NOW - timedelta(seconds=n * DAYS * 86400 / MESSAGES)
        (data / "messages" / f"m{n}.wav").write_bytes(b"RIFF" + bytes(1000))
        rows.append((f"m{n}", at.isoformat(), "+49301234567", 1000, f"messages/m{n}.wav", "done" if n % 2 else "new",
                     (at + timedelta(days=1)).isoformat()))  # fmt: skip
    conn.executemany(
        "INSERT INTO messages (id, created_at, caller, duration_ms, file, status, status_at) VALUES (?,?,?,?,?,?,?)",
        rows,
    )
    conn.executemany(
        "INSERT INTO audit (at, who, action) VALUES (?, 'anna', 'switch.on')",
        (((NOW - timedelta(seconds=n * DAYS * 86400 / AUDIT)).isoformat(),) for n in range(AUDIT)),
    )
    conn.commit()
    conn.close()


async def lateness_while(job: asyncio.Future[Any]) -> float:
    worst = 0.0
    while not job.done():
        start = time.perf_counter()
        await asyncio.sleep(0.005)
        worst = max(worst, time.perf_counter() - start - 0.005)
    await job
    return worst


async def main() -> None:
    idle = await lateness_while(asyncio.ensure_future(asyncio.to_thread(time.sleep, 2)))
    print(f"baseline: 5 ms timer at most {idle * 1000:.1f} ms late while a thread sleeps")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db = TimedDatabase(data / "zentrale.db")
        db.held = []
        await db.open()
        await db.run_raw(lambda: seed(db.path, data))
        clock = ManualClock(NOW)
        job = RetentionJob(db, data, RetentionConfig(), clock)
        for label in ("first run (a year's backlog)", "next day's run"):
            db.held = []
            start = time.perf_counter()
            task = asyncio.ensure_future(job.run_once())
            late = await lateness_while(task)
            run = task.result()
            took = time.perf_counter() - start
            counts = run.counts
            longest = max(db.held)
            print(
                f"{label}: {took:.2f} s, {len(db.held)} pieces of work, longest {longest[0] * 1000:.1f} ms "
                f"({longest[1]}); "
                f"5 ms timer at most {late * 1000:.1f} ms late; deleted {counts.call_log} calls, anonymised "
                f"{counts.numbers}, deleted {counts.done_messages + counts.open_messages} messages "
                f"({counts.files} files), {counts.audit} audit entries"
            )
            await clock.advance(86400)
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
