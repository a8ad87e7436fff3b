"""A message the disk fills up under: the real supervisor, session, recorder, message store
and database on a small tmpfs, a line call that speaks into it. What reached the disk is
finished at once and never lost; the row follows once the database takes writes again."""

from __future__ import annotations

import asyncio
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.stalled_calls import Box, StalledCall, one_node_mode, tone
from tests.harness.tmpfs import fill, free, small_tmpfs
from zentrale.calls.limits import CallLimits
from zentrale.store.disk import DataDisk


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    with small_tmpfs(tmp_path / "data", "8m") as data:
        b = Box(data, CallLimits(max_call=600, grace=5))
        # full only at 0 bytes: this test writes into the last few kilobytes
        b.supervisor.disk = DataDisk(data, min_free_bytes=0, full_below_bytes=0)
        b.db.disk = b.supervisor.disk
        await b.db.open()
        try:
            yield b
        finally:
            await b.supervisor.stop()
            await b.db.close()
            free(data)


async def test_a_message_cut_short_by_a_full_disk_is_finished_at_once_and_stored_when_space_returns(box: Box) -> None:
    box.use(one_node_mode({"type": "voicemail", "beep": False, "max_seconds": 60, "silence_seconds": 5}))
    spool = box.messages.spool
    # room for the sidecar, the header, the call log's row (in three indexes) and a few seconds
    # of 8 kHz audio (16 KB a second)
    fill(spool, leave=80_000)
    call = StalledCall("c-cut", frames=tone(6.0))
    box.supervisor.incoming(call)
    task = box.supervisor.active[call.call_id][2]
    await box.wind_up(task)
    assert box.supervisor.disk is not None and box.supervisor.disk.write_failures >= 1
    # finished now, not at the next start: no part file; a complete WAV of what reached the disk
    assert not list(spool.glob("*.part"))
    pending = dict(box.messages.pending)
    if pending:  # the database refused the row too (its WAL had no free page): kept for later
        (message_id, (_meta, duration_ms)), *_ = pending.items()
        # in the spool, or already moved when the refusal came at COMMIT (recover handles both)
        wav = next(p for p in (spool / f"{message_id}.wav", box.messages.folder / f"{message_id}.wav") if p.exists())
    else:
        row = (await box.messages.list())[0]
        message_id, duration_ms, wav = row["id"], row["duration_ms"], box.messages.file(row)
    assert 1000 <= duration_ms < 6000, duration_ms
    with wave.open(str(wav), "rb") as w:
        assert w.getnframes() * 1000 // w.getframerate() == duration_ms
    await box.supervisor.call_log.drain()
    log = box.supervisor.call_log.status()
    assert log["written"] + log["dropped"] == 2  # the start and end rows: written or counted
    free(spool)
    await box.messages.commit_pending()
    row = await box.messages.get(message_id)
    assert row["duration_ms"] == duration_ms and box.messages.file(row).is_file()
    assert not box.messages.pending and not list(spool.iterdir())


async def test_a_recording_the_disk_refuses_from_the_start_tells_the_caller_and_leaves_nothing(box: Box) -> None:
    box.use(one_node_mode({"type": "voicemail", "beep": False, "max_seconds": 60, "silence_seconds": 5}))
    spool = box.messages.spool
    fill(spool)
    box.supervisor.disk = None  # no check before the offer: the disk refuses the recording itself
    call = StalledCall("c-refused", frames=tone(3.0))
    box.supervisor.incoming(call)
    task = box.supervisor.active[call.call_id][2]
    await box.clock.advance(1)
    assert [p.name for p in spool.iterdir()] == [".filler"]  # no sidecar, no part file
    assert box.supervisor.node_of(call.call_id) == "only" and not call.ended.done()
    free(spool)
    # the caller is told (messages_unavailable: its frames never go out on this stalled
    # line, so the node's limit ends the call), never recorded, never thanked
    await box.clock.advance(70)
    await asyncio.wait_for(asyncio.shield(task), 10)
    assert await box.messages.list() == [] and not list(spool.iterdir())
    assert (await box.call_log())["c-refused"]["outcome"] == "no_message"
