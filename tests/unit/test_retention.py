"""Retention (issue 16, 7): with an injected clock and a real SQLite store, only what is due goes.

Each limit is checked one second either side: a row or file one second past its limit is
deleted, one a second short of it stays. Files and rows are real (the store's own commit).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.harness.tmpfs import fill, free, small_tmpfs
from tests.harness.waits import until
from zentrale.config import RetentionConfig, parse_config
from zentrale.core.clock import ManualClock
from zentrale.errors import ConfigError
from zentrale.store.callbacks import CallbackRepository
from zentrale.store.db import Database
from zentrale.store.messages import MessageMeta, MessageRepository
from zentrale.store.offers import OfferRepository
from zentrale.store.retention import ANONYMISED, RetentionJob
from zentrale.store.state import CallLogRepository, StateRepository

NOW = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)
CALLER = "+49301234567"
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


@dataclass
class World:
    data: Path
    db: Database
    messages: MessageRepository
    clock: ManualClock
    deleted: list[str] = field(default_factory=list)

    def job(self, **settings: Any) -> RetentionJob:
        config = RetentionConfig.model_validate({"batch": 2, **settings})  # small batches: many of them
        return RetentionJob(self.db, self.data, config, self.clock, on_deleted=self.deleted.append)

    def wav(self, message_id: str) -> Path:
        return self.data / "messages" / f"{message_id}.wav"

    def mp3(self, message_id: str) -> Path:
        return self.data / "messages" / f"{message_id}.mp3"

    async def message(
        self,
        message_id: str,
        created: datetime,
        *,
        done: datetime | None = None,
        status: str = "new",
        mail: str | None = None,
        sent: datetime | None = None,
    ) -> None:
        """A message stored the way a call stores it (spool file, then the commit), with its MP3."""
        meta = MessageMeta(message_id, created.isoformat(), CALLER, "Erika Muster", "100", "sap", "hotline", "vm", 8000)
        self.messages.begin(meta).write_bytes(b"RIFF" + bytes(2000))
        await self.messages.commit(meta, 1000)
        self.mp3(message_id).write_bytes(b"ID3" + bytes(500))
        if done is not None:
            await self.messages.update(message_id, status="done", status_by="anna", status_at=done.isoformat())
        elif status != "new":
            await self.messages.update(message_id, status=status, status_by="anna", status_at=created.isoformat())
        if mail is not None:
            stamp = (sent or created).isoformat(timespec="microseconds")
            await self.db.execute(
                "INSERT INTO mail_outbox (message_id, recipients, state, queued_at, next_attempt_at, sent_at)"
                " VALUES (?, '[\"sap@example.com\"]', ?, ?, ?, ?)",
                (message_id, mail, stamp, stamp, stamp if mail == "sent" else None),
            )

    async def ids(self) -> set[str]:
        return {r["id"] for r in await self.db.fetch("SELECT id FROM messages")}

    async def call(self, call_id: str, started: datetime) -> None:
        await CallLogRepository(self.db).ended(
            call_id, started_at=started.isoformat(), caller=CALLER, caller_name="Erika Muster", outcome="answered"
        )

    async def calls(self) -> dict[str, tuple[str, str | None]]:
        rows = await self.db.fetch("SELECT call_id, caller, caller_name FROM call_log")
        return {r["call_id"]: (r["caller"], r["caller_name"]) for r in rows}


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    db = Database(tmp_path / "zentrale.db")
    await db.open()
    messages = MessageRepository(db, tmp_path)
    messages.prepare()
    yield World(tmp_path, db, messages, ManualClock(NOW))
    await db.close()


async def test_done_messages_go_with_recording_and_mp3_one_second_after_their_limit_not_before(world: World) -> None:
    limit = 30 * DAY
    await world.message("due", NOW - 200 * DAY, done=NOW - limit - SECOND)
    await world.message("not-yet", NOW - 200 * DAY, done=NOW - limit + SECOND)
    await world.message("done-lately", NOW - 400 * DAY, done=NOW - 2 * DAY)  # old call, done recently: counts from done

    run = await world.job(done_messages_days=30, open_messages_days=0).run_once()

    assert run.ok
    assert await world.ids() == {"not-yet", "done-lately"}
    assert not world.wav("due").exists() and not world.mp3("due").exists()
    for kept in ("not-yet", "done-lately"):
        assert world.wav(kept).exists() and world.mp3(kept).exists()
    assert (run.counts.done_messages, run.counts.open_messages, run.counts.files) == (1, 0, 2)
    assert world.deleted == ["due"]
    assert await world.db.fetch("SELECT * FROM retention_files") == []


async def test_messages_never_done_go_after_their_own_limit_counted_from_the_call(world: World) -> None:
    limit = 180 * DAY
    await world.message("new-due", NOW - limit - SECOND)
    await world.message("working-due", NOW - limit - SECOND, status="in_progress")
    await world.message("new-not-yet", NOW - limit + SECOND)
    await world.message("done-not-yet", NOW - limit - SECOND, done=NOW - 10 * DAY)

    run = await world.job(open_messages_days=180, done_messages_days=30).run_once()

    assert await world.ids() == {"new-not-yet", "done-not-yet"}
    assert (run.counts.open_messages, run.counts.done_messages, run.counts.files) == (2, 0, 4)
    assert sorted(p.name for p in (world.data / "messages").iterdir()) == [
        "done-not-yet.mp3", "done-not-yet.wav", "new-not-yet.mp3", "new-not-yet.wav",
    ]  # fmt: skip


async def test_a_due_message_whose_mail_is_not_sent_yet_stays_until_it_is(world: World) -> None:
    await world.message("queued", NOW - 60 * DAY, done=NOW - 40 * DAY, mail="queued")
    await world.message("sending", NOW - 60 * DAY, done=NOW - 40 * DAY, mail="sending")
    await world.message("sent", NOW - 60 * DAY, done=NOW - 40 * DAY, mail="sent", sent=NOW - 59 * DAY)
    job = world.job(done_messages_days=30)

    first = await job.run_once()
    assert await world.ids() == {"queued", "sending"}
    assert world.wav("queued").exists() and world.wav("sending").exists()
    assert (first.counts.done_messages, first.counts.kept_for_mail) == (1, 2)
    assert [r["message_id"] for r in await world.db.fetch("SELECT message_id FROM mail_outbox ORDER BY 1")] == [
        "queued", "sending",
    ]  # fmt: skip

    await world.db.execute("UPDATE mail_outbox SET state = 'sent', sent_at = ?", (NOW.isoformat(),))
    second = await job.run_once()
    assert await world.ids() == set()
    assert (second.counts.done_messages, second.counts.kept_for_mail) == (2, 0)
    assert await world.db.fetch("SELECT * FROM mail_outbox") == []
    assert not any((world.data / "messages").iterdir())


async def test_old_caller_numbers_are_anonymised_keeping_the_entry_and_older_entries_go(world: World) -> None:
    await world.call("year-past", NOW - 365 * DAY - SECOND)
    await world.call("year-short", NOW - 365 * DAY + SECOND)
    await world.call("quarter-past", NOW - 90 * DAY - SECOND)
    await world.call("quarter-short", NOW - 90 * DAY + SECOND)
    await world.call("today", NOW - SECOND)

    run = await world.job(call_log_days=365, caller_numbers_days=90).run_once()

    assert await world.calls() == {
        "year-short": (ANONYMISED, None),
        "quarter-past": (ANONYMISED, None),
        "quarter-short": (CALLER, "Erika Muster"),
        "today": (CALLER, "Erika Muster"),
    }
    assert (run.counts.call_log, run.counts.numbers) == (1, 2)
    rows = await world.db.fetch("SELECT outcome FROM call_log WHERE call_id = 'quarter-past'")
    assert rows == [{"outcome": "answered"}]  # the statistics keep what happened


async def test_the_rings_of_agents_phones_go_with_the_call_log(world: World) -> None:
    rings = OfferRepository(world.db)
    await rings.add([
        ("year-past", "anna", "sap", "auto", (NOW - 365 * DAY - SECOND).isoformat(), 20.0, "no_answer", None),
        ("year-short", "anna", "sap", "pull", (NOW - 365 * DAY + SECOND).isoformat(), 3.0, "answered", 12.5),
    ])  # fmt: skip
    await world.job(call_log_days=365).run_once()
    rows = await world.db.fetch("SELECT call_id FROM agent_offers")
    assert rows == [{"call_id": "year-short"}]
    await world.job(call_log_days=None).run_once()  # kept for ever with the call log
    assert len(await world.db.fetch("SELECT call_id FROM agent_offers")) == 1


async def test_audit_entries_past_their_limit_go(world: World) -> None:
    state = StateRepository(world.db)
    await state.audit(NOW - 365 * DAY - SECOND, "anna", "message.delete", f"x from {CALLER}")
    await state.audit(NOW - 365 * DAY + SECOND, "anna", "switch.on", "outage")

    run = await world.job(audit_days=365).run_once()

    assert [(r["who"], r["action"]) for r in await state.audit_log()] == [
        ("retention", "retention.run"), ("anna", "switch.on"),
    ]  # fmt: skip
    assert run.counts.audit == 1
    assert (await state.audit_log())[0]["detail"] == run.counts.summary()  # who deleted what: counts only


async def test_finished_callbacks_go_after_their_limit_waiting_ones_and_open_tasks_stay(world: World) -> None:
    callbacks = CallbackRepository(world.db)
    old, recent = NOW - 30 * DAY - SECOND, NOW - 30 * DAY + SECOND
    for callback_id, since in (("waiting", old), ("task", old), ("reached", old), ("reached-recent", recent),
                               ("done", old), ("done-recently", old)):  # fmt: skip
        await callbacks.add(callback_id, call_id=f"c-{callback_id}", team="sap", number=CALLER, caller_name=None,
                            since=since, created_at=since)  # fmt: skip
    await callbacks.update("task", state="failed")
    await callbacks.update("reached", state="connected")
    await callbacks.update("reached-recent", state="connected")
    await callbacks.update("done", state="done", done_by="anna", done_at=old.isoformat())
    await callbacks.update("done-recently", state="done", done_by="anna", done_at=recent.isoformat())

    run = await world.job(callbacks_days=30).run_once()

    left = {r["id"] for r in await world.db.fetch("SELECT id FROM callbacks")}
    assert left == {"waiting", "task", "reached-recent", "done-recently"}
    assert run.counts.callbacks == 2


async def test_the_mp3_copy_of_a_sent_mail_goes_after_its_limit_and_the_recording_stays(world: World) -> None:
    await world.message("sent-past", NOW - 20 * DAY, mail="sent", sent=NOW - 7 * DAY - SECOND)
    await world.message("sent-short", NOW - 20 * DAY, mail="sent", sent=NOW - 7 * DAY + SECOND)
    await world.message("failed-past", NOW - 20 * DAY, mail="failed", sent=NOW - 8 * DAY)

    run = await world.job(mail_copies_days=7).run_once()

    assert await world.ids() == {"sent-past", "sent-short", "failed-past"}
    assert not world.mp3("sent-past").exists() and not world.mp3("failed-past").exists()
    assert world.mp3("sent-short").exists()
    assert all(world.wav(i).exists() for i in ("sent-past", "sent-short", "failed-past"))
    assert run.counts.mail_copies == 2
    assert len(await world.db.fetch("SELECT * FROM mail_outbox")) == 3  # the delivery status stays with its message


async def test_a_message_deleted_by_hand_leaves_no_mp3_and_its_delivery_record_goes_unless_pending(
    world: World,
) -> None:
    for message_id, state in (("gone-sent", "sent"), ("gone-queued", "queued")):
        await world.message(message_id, NOW - DAY, mail=state)
        await world.messages.delete(message_id)
    assert not any((world.data / "messages").iterdir())  # recording and MP3 copy

    run = await world.job().run_once()

    assert [r["message_id"] for r in await world.db.fetch("SELECT message_id FROM mail_outbox")] == ["gone-queued"]
    assert run.counts.outbox == 1


async def test_a_limit_of_zero_or_none_keeps_that_data_forever(world: World) -> None:
    ancient = NOW - 3650 * DAY
    await world.message("old-done", ancient, done=ancient, mail="sent", sent=ancient)
    await world.message("old-open", ancient)
    await world.call("old-call", ancient)
    await StateRepository(world.db).audit(ancient, "anna", "switch.on")
    job = world.job(call_log_days=0, caller_numbers_days=None, done_messages_days=0, open_messages_days=None,
                    mail_copies_days=0, audit_days=None, callbacks_days=0)  # fmt: skip

    run = await job.run_once()

    assert run.ok
    assert await world.ids() == {"old-done", "old-open"}
    assert world.mp3("old-done").exists()
    assert await world.calls() == {"old-call": (CALLER, "Erika Muster")}
    assert [r["action"] for r in await StateRepository(world.db).audit_log()] == ["switch.on"]  # no run entry either
    assert all(value == 0 for value in vars(run.counts).values())


async def test_a_run_logs_counts_only_and_a_second_run_deletes_nothing_more(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(5):  # more than a batch (2) of each
        await world.message(f"m{n}", NOW - 100 * DAY, done=NOW - 31 * DAY)
        await world.call(f"c{n}", NOW - 400 * DAY)
        await world.call(f"d{n}", NOW - 100 * DAY)
    job = world.job()
    caplog.set_level(logging.INFO, logger="zentrale.store.retention")

    first = await job.run_once()
    second = await job.run_once()

    assert (first.counts.done_messages, first.counts.files, first.counts.call_log, first.counts.numbers) == (
        5,
        10,
        5,
        5,
    )
    assert all(value == 0 for value in vars(second.counts).values())
    lines = [r.getMessage() for r in caplog.records if r.name == "zentrale.store.retention"]
    assert lines[0].startswith("retention: deleted 5 call log entries, anonymised 5 caller numbers, deleted 5 messages")
    assert not any(CALLER in line or "49301234567" in line or "Erika" in line or "m1" in line for line in lines)
    later = world.job()  # after a restart: the last run is still known
    await later.load()
    assert later.last_run is not None and later.last_run.counts == second.counts
    assert later.status()["last_run"]["finished_at"] == NOW.isoformat(timespec="seconds")


async def test_the_job_runs_shortly_after_the_start_and_then_daily_on_the_boxs_clock(world: World) -> None:
    await world.message("due-tomorrow", NOW - 40 * DAY, done=NOW - 30 * DAY + 12 * 3600 * SECOND)
    job = world.job(first_run_seconds=300, interval_hours=24)
    job.start()
    try:
        await world.clock.advance(299)
        assert job.runs == 0
        await world.clock.advance(1)
        await until_runs(job, 1)
        assert await world.ids() == {"due-tomorrow"}  # 29.5 days after done: not yet
        await world.clock.advance(24 * 3600 - 1)
        assert job.runs == 1
        await world.clock.advance(1)
        await until_runs(job, 2)
        assert await world.ids() == set()
        assert job.last_run is not None and job.last_run.counts.done_messages == 1
    finally:
        await job.stop()


async def until_runs(job: RetentionJob, runs: int) -> None:
    """The run itself waits on the database thread, not on the manual clock."""
    await until(lambda: job.runs >= runs, 5, f"run {runs}")


async def test_a_locked_database_stops_the_run_with_a_warning_nothing_half_deleted_and_the_next_run_finishes(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.message("due", NOW - 40 * DAY, done=NOW - 31 * DAY)
    job = world.job()
    other = sqlite3.connect(world.data / "zentrale.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the database (a backup, a stuck tool)
    try:
        locked = await job.run_once()  # gives up after the store's busy timeout (5 s)
    finally:
        other.execute("ROLLBACK")
        other.close()

    assert not locked.ok and locked.error is not None and "locked" in locked.error
    assert await world.ids() == {"due"} and world.wav("due").exists() and world.mp3("due").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("retention: stopped early" in w and "trying again next run" in w for w in warnings)
    assert job.status()["last_run"]["ok"] is False

    again = await job.run_once()
    assert again.ok and again.counts.done_messages == 1
    assert await world.ids() == set() and not world.wav("due").exists()


async def test_a_file_that_cannot_be_removed_stays_listed_and_goes_at_the_next_run(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    await world.message("due", NOW - 40 * DAY, done=NOW - 31 * DAY)
    mp3 = world.mp3("due")
    mp3.unlink()
    mp3.mkdir()  # unlink() refuses a directory: a file the job cannot remove
    (mp3 / "x").write_bytes(b"")
    job = world.job()

    first = await job.run_once()
    assert first.ok and await world.ids() == set()  # the row is gone: the file is no longer a message
    assert not world.wav("due").exists()
    assert [r["path"] for r in await world.db.fetch("SELECT path FROM retention_files")] == ["messages/due.mp3"]
    assert any("cannot remove" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)

    (mp3 / "x").unlink()
    mp3.rmdir()
    mp3.write_bytes(b"ID3")  # now an ordinary file
    second = await job.run_once()
    assert second.counts.files == 1 and not mp3.exists()
    assert await world.db.fetch("SELECT * FROM retention_files") == []


async def test_a_run_asked_for_while_one_is_running_waits_for_it(world: World) -> None:
    for n in range(6):
        await world.message(f"m{n}", NOW - 40 * DAY, done=NOW - 31 * DAY)
    job = world.job()
    first, second = await asyncio.gather(job.run_once(), job.run_once())
    assert (first.counts.done_messages, second.counts.done_messages) == (6, 0)


async def test_a_row_naming_a_file_outside_the_messages_folder_loses_its_row_but_not_that_file(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A database from a tampered backup must not make the job delete other files."""
    precious = world.data / "config.yaml"
    precious.write_text("sip: {}\n", encoding="utf-8")
    await world.message("tampered", NOW - 40 * DAY, done=NOW - 31 * DAY, mail="sent", sent=NOW - 31 * DAY)
    await world.db.execute("UPDATE messages SET file = 'messages/../config.yaml'")

    run = await world.job().run_once()

    assert run.ok and await world.ids() == set()
    assert precious.read_text(encoding="utf-8") == "sip: {}\n"
    assert any("outside the messages folder" in r.getMessage() for r in caplog.records)
    assert await world.db.fetch("SELECT * FROM retention_files") == []


async def test_a_full_disk_stops_the_run_with_a_warning_nothing_half_deleted_and_the_next_run_finishes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_tmpfs(tmp_path / "data", "8m") as data:
        db = Database(data / "zentrale.db")
        await db.open()
        try:
            world = World(data, db, MessageRepository(db, data), ManualClock(NOW))
            world.messages.prepare()
            for n in range(4):
                await world.message(f"m{n}", NOW - 40 * DAY, done=NOW - 31 * DAY)
                await world.call(f"c{n}", NOW - 400 * DAY)
            await db.run(lambda c: c.execute("PRAGMA wal_checkpoint(TRUNCATE)"))  # every write must grow the WAL
            fill(data)
            job = world.job()

            full = await job.run_once()

            assert not full.ok and full.error is not None and "full" in full.error
            assert any("retention: stopped early" in r.getMessage() for r in caplog.records)
            for message_id in await world.ids():  # a row never outlives its recording
                assert world.wav(message_id).exists()
            free(data)
            again = await job.run_once()
            assert again.ok
            assert await world.ids() == set() and await world.calls() == {}
            assert sorted(p.name for p in (data / "messages").iterdir()) == []
        finally:
            await db.close()


async def test_a_crash_between_deleting_the_row_and_the_file_leaves_the_file_to_the_next_run_not_lost_found(
    world: World,
) -> None:
    await world.message("due", NOW - 40 * DAY, done=NOW - 31 * DAY)
    job = world.job()
    # step 1 alone, as if the power went before the files were removed
    ids, _ = await world.db.run(lambda c: job.retention._delete_messages(c, "done", NOW.isoformat()))
    assert ids == ["due"] and world.wav("due").exists()

    restarted = MessageRepository(world.db, world.data)
    await restarted.recover()  # the start-up recovery: not a lost message
    assert world.wav("due").exists() and not (world.data / "lost+found").exists()

    run = await job.run_once()
    assert run.counts.files == 2 and not world.wav("due").exists() and not world.mp3("due").exists()


def test_the_defaults_and_a_bad_limit_named_by_its_field() -> None:
    defaults = parse_config("{}", "config.yaml").retention
    assert (defaults.call_log_days, defaults.caller_numbers_days, defaults.done_messages_days) == (365, 90, 30)
    assert (defaults.open_messages_days, defaults.mail_copies_days, defaults.audit_days) == (180, 7, 365)
    off = parse_config("retention: {call_log_days: null, audit_days: 0}", "config.yaml").retention
    assert off.call_log_days is None and off.audit_days == 0
    with pytest.raises(ConfigError) as refused:
        parse_config("retention: {done_messages_days: -1}", "config.yaml")
    assert "retention.done_messages_days" in str(refused.value)
    assert "greater than or equal to 0" in str(refused.value)
