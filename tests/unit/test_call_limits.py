"""Every call ends: the limits per node type and for the whole call, on a ManualClock,
with the real supervisor, session, recorder and message store over a line call whose
media does whatever it does (here: nothing at all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.fakes import PROMPT_SECONDS
from tests.harness.stalled_calls import Box, StalledCall, one_node_mode, tone
from zentrale.calls.limits import BEEP_SECONDS, CallDeadline, CallLimits, node_limit
from zentrale.config import DEMO_DIR
from zentrale.core.clock import ManualClock
from zentrale.core.flow import NO_MESSAGES_WAIT_PROMPT
from zentrale.core.modes import Mode, parse_mode

DEMO = DEMO_DIR / "hotline.yaml"
LIMITS = CallLimits(max_call=4 * 3600, grace=30, max_queue=3600)


def seconds_of(name: str) -> float:
    return PROMPT_SECONDS.get(name, 2.0) if name else 0.0


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


def test_each_node_type_gets_its_own_length_plus_the_grace(mode: Mode) -> None:
    nodes = mode.nodes
    # voicemail: its prompt, the beep and max_seconds
    assert node_limit(mode, "voicemail_lvs", nodes["voicemail_lvs"], seconds_of, LIMITS) == pytest.approx(
        9.0 + BEEP_SECONDS + 120 + 30
    )
    # a queue with max_wait: that (team C's five minutes), and the no-message prompt it may play
    assert node_limit(mode, "queue_pc", nodes["queue_pc"], seconds_of, LIMITS) == pytest.approx(300 + 2 + 30)
    # a queue whose hold sequence ends: the sequence (notice 5 + music 20 + notice 5 + music 60)
    assert node_limit(mode, "queue_lvs", nodes["queue_lvs"], seconds_of, LIMITS) == pytest.approx(90 + 2 + 30)
    # a menu: each try's prompt, timeout and the longer of its retry prompts
    assert node_limit(mode, "main_menu", nodes["main_menu"], seconds_of, LIMITS) == pytest.approx(3 * (8 + 6 + 2) + 30)
    # an announcement: its prompt and every switch prompt that may replace it
    assert node_limit(mode, "greeting", nodes["greeting"], seconds_of, LIMITS) == pytest.approx(3 + 7 + 6 + 30)
    assert node_limit(mode, "goodbye", nodes["goodbye"], seconds_of, LIMITS) == pytest.approx(1 + 30)


def test_a_queue_that_repeats_forever_is_bounded_by_max_queue_seconds(mode: Mode) -> None:
    doc = mode.model_dump()
    doc["nodes"]["queue_pc"]["max_wait"] = None
    doc["nodes"]["queue_pc"]["on_max_wait"] = None
    endless = Mode.model_validate(doc)
    limit = node_limit(endless, "queue_pc", endless.nodes["queue_pc"], seconds_of, LIMITS)
    assert limit == pytest.approx(3600 + seconds_of(NO_MESSAGES_WAIT_PROMPT) + 30)


async def test_a_deadline_follows_the_node_and_the_call_cap_and_an_agent_lifts_the_node_limit() -> None:
    clock = ManualClock()
    deadline = CallDeadline(clock, CallLimits(max_call=100, grace=0), "c1")
    deadline.enter("voicemail", 10)
    expired = asyncio.ensure_future(deadline.expired())
    await clock.advance(5)
    deadline.enter("queue", 20)  # a new node: its own limit from now
    await clock.advance(10)
    assert not expired.done()
    deadline.connected()  # talking to an agent: only the call's cap
    await clock.advance(50)
    assert not expired.done()
    await clock.advance(35.1)
    assert expired.done() and "max_call_seconds" in expired.result()


# --- the supervisor over a line call whose media never moves -----------------------------


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    b = Box(tmp_path, CallLimits(max_call=600, grace=5, max_queue=3600))
    await b.db.open()
    yield b
    await b.supervisor.stop()
    await b.db.close()


async def test_a_greeting_whose_audio_never_goes_out_is_ended_after_its_length_plus_the_grace(box: Box) -> None:
    box.use(one_node_mode({"type": "announcement", "prompt": "greeting"}))
    call = StalledCall("c-greeting")
    started = box.clock.monotonic()
    await box.run(call, until=3600)
    greeting = box.library.clip("greeting", 8000).duration
    assert call.ended.done() and call.hangups >= 1
    assert box.clock.monotonic() - started == pytest.approx(greeting + 5, abs=0.01)
    assert box.supervisor.active == {} and box.supervisor.deadlines == {}
    assert box.supervisor.ended_by_limit == 1
    assert (await box.call_log())["c-greeting"]["outcome"] == "time_limit"


async def test_a_caller_who_speaks_then_sends_no_audio_is_ended_at_max_seconds_plus_grace_and_the_message_kept(
    box: Box,
) -> None:
    # no prompt, no beep (nothing to send out): the recording starts at once; the caller
    # speaks for 2 s and then sends nothing more -- a recorder counting received audio
    # would wait for ever
    box.use(one_node_mode({"type": "voicemail", "beep": False, "max_seconds": 60, "silence_seconds": 5}))
    call = StalledCall("c-vm", frames=tone(2.0))
    box.supervisor.incoming(call)
    task = box.supervisor.active[call.call_id][2]
    await box.clock.advance(64.9)
    assert not call.ended.done()  # still recording, nothing arrives
    await box.clock.advance(0.1)
    assert call.ended.done() and box.supervisor.ended_by_limit == 1
    await box.wind_up(task)
    stored = await box.messages.list()
    assert len(stored) == 1 and stored[0]["duration_ms"] == 2000
    assert box.messages.file(stored[0]).is_file()
    row = (await box.call_log())["c-vm"]
    assert row["outcome"] == "voicemail" and row["message_id"] == stored[0]["id"]


async def test_a_call_talking_to_nobody_in_an_endless_queue_ends_at_the_queue_limit(box: Box, mode: Mode) -> None:
    doc = mode.model_dump()
    queue = doc["nodes"]["queue_pc"] | {"max_wait": None, "on_max_wait": None}
    endless = one_node_mode(queue)
    box.use(endless)
    limit = node_limit(endless, "only", endless.nodes["only"], box.supervisor._seconds_of, box.supervisor.limits)
    call = StalledCall("c-queue")
    started = box.clock.monotonic()
    await box.run(call, until=7200)
    # the call cap (600 s) comes before the queue's own limit (3600 s + grace)
    assert limit > 600
    assert box.clock.monotonic() - started == pytest.approx(600, abs=0.01)
    assert (await box.call_log())["c-queue"]["outcome"] == "time_limit"


async def test_a_box_that_stops_hangs_up_a_waiting_caller_whose_call_is_logged_as_shutdown_not_abandoned(
    box: Box, mode: Mode
) -> None:
    box.use(one_node_mode(mode.model_dump()["nodes"]["queue_pc"]))
    call = StalledCall("c-wait")
    box.supervisor.incoming(call)
    await box.clock.advance(30)
    assert not call.ended.done()
    await box.supervisor.stop()  # no time passes: the flow winds up at the hang-up, within the grace
    assert call.ended.done() and call.hangups >= 1 and box.supervisor.active == {}
    assert (await box.call_log())["c-wait"]["outcome"] == "shutdown"  # the statistics count no abandoned call
