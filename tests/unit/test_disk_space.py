"""A full or failing data disk, on a real small tmpfs: what the disk watch reports, how a
recording cut short by the disk is finished at once, and how the database, the call log
and the spool come back when space returns -- without reopening anything."""

from __future__ import annotations

import asyncio
import errno
import os
import sqlite3
import wave
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.harness.tmpfs import fill, free, small_tmpfs
from zentrale.calls.behind import CallLogWriter
from zentrale.errors import StoreError
from zentrale.health import call_log_health, disk_health
from zentrale.media.frames import Frame
from zentrale.media.recorder import WAV_HEADER_SIZE, Recorder
from zentrale.store.db import Database
from zentrale.store.disk import DataDisk, error_kind
from zentrale.store.messages import MessageMeta, MessageRepository
from zentrale.store.state import CallLogRepository

MB = 1_000_000


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "8m") as path:
        yield path


def tone_frames(seconds: float, rate: int = 8000, freq: float = 700.0) -> list[Frame]:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()
    size = rate // 50 * 2
    return [Frame(pcm[i : i + size], rate) for i in range(0, len(pcm) - size + 1, size)]


def test_the_disk_watch_says_ok_low_full_and_ok_again_as_space_goes_and_comes(small_disk: Path) -> None:
    disk = DataDisk(small_disk, min_free_bytes=3 * MB)
    assert disk.state().space == "ok" and disk.recording_refused() is None
    fill(small_disk, leave=2 * MB)
    state = disk.state()
    assert state.space == "low" and not state.recording_allowed
    assert (disk.recording_refused() or "").startswith("disk low")
    assert disk_health(state, 99.9, 100).state == "degraded"
    fill(small_disk)
    state = disk.state()
    assert state.space == "full" and state.free == 0
    assert (disk.recording_refused() or "").startswith("disk full")
    health = disk_health(state, 99.9, 100)
    assert health.state == "fault" and health.detail.startswith("disk full") and health.data["recording"] is False
    free(small_disk)
    assert disk.state().space == "ok" and disk.recording_refused() is None


def test_a_failing_disk_refuses_recordings_for_a_while_then_lets_the_next_one_try() -> None:
    now = [100.0]
    disk = DataDisk(Path("/"), min_free_bytes=0, retry_after=30, monotonic=lambda: now[0])
    assert disk.write_failed("recording", OSError(errno.EIO, "Input/output error"))
    assert disk.state().space == "failing"
    assert "Input/output error" in (disk.recording_refused() or "")
    now[0] += 31
    assert disk.recording_refused() is None
    # not the disk's fault: nothing changes
    assert not disk.write_failed("recording", OSError(errno.EBADF, "Bad file descriptor"))
    assert disk.recording_refused() is None


def test_sqlite_and_os_errors_are_told_apart_by_their_codes() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    wrapped = StoreError("database error: database or disk is full")
    wrapped.__cause__ = full
    assert error_kind(wrapped) == "full"
    assert error_kind(OSError(errno.ENOSPC, "No space left on device")) == "full"
    assert error_kind(OSError(errno.EROFS, "Read-only file system")) == "failing"
    assert error_kind(sqlite3.IntegrityError("UNIQUE constraint failed")) is None


async def test_a_recording_cut_short_by_a_full_disk_is_finished_at_once_with_what_reached_the_disk(
    small_disk: Path,
) -> None:
    fill(small_disk, leave=64 * 1024)
    path = small_disk / "m.wav.part"
    recorder = Recorder(path, 8000, max_seconds=60, silence_seconds=5)
    frames = tone_frames(20.0)
    for frame in frames:
        recorder.write(frame)
        if recorder.done.done():
            break
    assert recorder.done.result() == "write_error"
    assert recorder.error is not None and recorder.error.errno == errno.ENOSPC
    duration_ms = recorder.finish(trim_silence=False)
    # about 4 s of 8 kHz PCM16 fit into 64 KiB; every whole frame that reached the disk is kept
    assert 3000 <= duration_ms <= 4200, duration_ms
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() * 1000 // 8000 == duration_ms
        pcm = w.readframes(w.getnframes())
    assert path.stat().st_size == WAV_HEADER_SIZE + len(pcm)
    assert pcm == b"".join(f.pcm for f in frames)[: len(pcm)]


async def test_a_recording_that_cannot_even_start_leaves_no_file(small_disk: Path) -> None:
    fill(small_disk)
    path = small_disk / "m.wav.part"
    with pytest.raises(OSError, match="No space left") as err:
        Recorder(path, 8000, max_seconds=60, silence_seconds=5)
    assert err.value.errno == errno.ENOSPC
    assert not path.exists()


async def refused_write(db: Database) -> str:
    """Write until the full disk refuses (a page or two may still be free inside the WAL)."""
    for n in range(200):
        try:
            await db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (f"k{n}", "x" * 4000))
        except StoreError as err:
            return str(err)
    raise AssertionError("the full disk took 800 KB")


def _meta(message_id: str) -> MessageMeta:
    return MessageMeta(message_id, "2026-01-05T09:00:00+00:00", "+4930123", None, "100", "lvs", "m", "vm", 8000)


async def test_a_message_the_full_database_refused_is_stored_once_space_returns_without_a_restart(
    small_disk: Path,
) -> None:
    disk = DataDisk(small_disk, min_free_bytes=0)
    db = Database(small_disk / "zentrale.db", disk)
    await db.open()
    messages = MessageRepository(db, small_disk)
    messages.prepare()
    try:
        meta = _meta("20260105-090000-abcdef")
        path = messages.begin(meta)
        recorder = Recorder(path, 8000, max_seconds=60, silence_seconds=5)
        for frame in tone_frames(3.0):
            recorder.write(frame)
        duration_ms = recorder.finish(trim_silence=False)
        fill(small_disk)
        # the WAL needs new pages for the row: refused
        assert "full" in await refused_write(db)
        with pytest.raises(StoreError, match="full"):
            await messages.commit(meta, duration_ms)
        assert disk.state().space == "full"
        messages.keep_pending(meta, duration_ms)
        free(small_disk)
        stored = await messages.commit_pending()
        assert [m.id for m in stored] == [meta.id] and not messages.pending
        row = await messages.get(meta.id)
        assert row["duration_ms"] == duration_ms == 3000
        assert messages.file(row).is_file()
        assert not list(messages.spool.iterdir())
    finally:
        await db.close()


async def test_the_call_log_drops_and_counts_what_a_full_disk_refuses_and_writes_again_after(
    small_disk: Path,
) -> None:
    disk = DataDisk(small_disk, min_free_bytes=0)
    db = Database(small_disk / "zentrale.db", disk)
    await db.open()
    repo = CallLogRepository(db)
    writer = CallLogWriter(repo)
    try:
        fill(small_disk)
        for n in range(40):  # until the WAL's last free page is used up
            writer.ended(f"c{n}", started_at="2026-01-05T09:00:00", caller="+49301" + "9" * 2000, outcome="hangup")
        await writer.drain(timeout=10)
        assert writer.dropped > 0 and writer.failing is not None and "full" in writer.failing
        health = call_log_health(writer.status())
        assert health.state == "degraded" and "dropped" in health.detail
        free(small_disk)
        at = datetime(2026, 1, 5, 9, 0)
        writer.started("late", line="sip", caller="+4930999", caller_name=None, called="100", at=at)
        writer.ended("late", started_at="2026-01-05T09:00:00", caller="+4930999", outcome="voicemail")
        await writer.drain(timeout=10)
        assert writer.failing is None
        rows = {r["call_id"]: r for r in await repo.page(limit=1000)}
        assert rows["late"]["outcome"] == "voicemail" and rows["late"]["caller"] == "+4930999"
        assert call_log_health(writer.status()).state == "ok"
    finally:
        await writer.stop()
        await db.close()


async def test_a_dropped_start_row_is_made_whole_by_the_end_row(tmp_path: Path) -> None:
    db = Database(tmp_path / "zentrale.db")
    await db.open()
    repo = CallLogRepository(db)
    try:
        await repo.ended("c1", started_at="2026-01-05T09:00:00", line="sip", caller="+4930", outcome="abandoned")
        rows = await repo.page()
        assert rows[0]["call_id"] == "c1" and rows[0]["line"] == "sip" and rows[0]["outcome"] == "abandoned"
        with pytest.raises(ValueError, match="columns"):
            await repo.ended("c1", started_at="x", nonsense=1)
    finally:
        await db.close()


async def test_the_writer_never_blocks_the_caller_even_when_the_store_hangs() -> None:
    class HangingRepo:
        def __init__(self) -> None:
            self.release = asyncio.Event()

        async def started(self, call_id: str, **fields: object) -> None:
            await self.release.wait()

        async def ended(self, call_id: str, **fields: object) -> None:
            await self.release.wait()

    repo = HangingRepo()
    writer = CallLogWriter(repo, max_pending=5)  # type: ignore[arg-type]
    for n in range(10):
        writer.ended(f"c{n}", started_at="x")  # returns at once
    assert writer.dropped >= 4  # beyond the bound: dropped and counted, not queued forever
    repo.release.set()
    await writer.drain()
    await writer.stop()


async def test_a_crash_on_a_full_disk_does_not_keep_the_box_from_starting_and_the_message_follows_later(
    small_disk: Path,
) -> None:
    disk = DataDisk(small_disk, min_free_bytes=0)
    db = Database(small_disk / "zentrale.db", disk)
    await db.open()
    messages = MessageRepository(db, small_disk)
    messages.prepare()
    try:
        # a crash mid-recording: the sidecar and a part file without a finished header
        meta = _meta("20260105-090000-c0ffee")
        path = messages.begin(meta)
        recorder = Recorder(path, 8000, max_seconds=60, silence_seconds=5)
        for frame in tone_frames(2.0):
            recorder.write(frame)
        recorder._flush()  # what the kernel had when the daemon was killed
        assert recorder._fd is not None
        os.close(recorder._fd)  # the killed process's descriptor
        fill(small_disk)
        assert "full" in await refused_write(db)
        # the next start: salvaged, but the database refuses the row -- no exception, kept pending
        assert await messages.recover() == []
        assert list(messages.pending) == [meta.id]
        assert not (small_disk / "lost+found").exists()
        free(small_disk)
        assert [m.id for m in await messages.commit_pending()] == [meta.id]
        row = await messages.get(meta.id)
        assert row["duration_ms"] == 2000 and messages.file(row).is_file()
    finally:
        await db.close()


async def test_a_database_closed_cleanly_opens_read_only_on_a_full_disk_and_writable_once_space_returns(
    small_disk: Path,
) -> None:
    first = Database(small_disk / "zentrale.db")
    await first.open()
    await first.execute("INSERT INTO settings (key, value) VALUES ('active_mode', 'hotline')")
    await first.close()  # a clean close removes the -wal and -shm files
    fill(small_disk)
    db = Database(small_disk / "zentrale.db", DataDisk(small_disk, min_free_bytes=0))
    await db.open()  # SQLite cannot create its -shm file: before, the box did not start
    try:
        assert db.read_only
        assert await db.fetch("SELECT value FROM settings") == [{"value": "hotline"}]
        with pytest.raises(StoreError, match="readonly"):
            await db.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')")
        assert not await db.reopen_writable()  # still full
        free(small_disk)
        assert await db.reopen_writable() and not db.read_only
        await db.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')")
        assert len(await db.fetch("SELECT * FROM settings")) == 2
    finally:
        await db.close()
