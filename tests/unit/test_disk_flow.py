"""The flow when no message can be recorded (the data disk is full, low or failing): the
customer's example with a fake session and a ManualClock. Callers are told, keep their
place in the queue, and are never thanked for a message that was not kept."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.harness.fakes import FakeSession
from zentrale.core.clock import ManualClock
from zentrale.core.events import CallLeftQueue, Event, EventBus, NodeEntered
from zentrale.core.flow import (
    NO_MESSAGES_PROMPT,
    NO_MESSAGES_WAIT_PROMPT,
    FlowEngine,
    RecordingImpossible,
    RecordingRequest,
    StoredMessage,
)
from zentrale.core.modes import Mode, parse_mode
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl

DEMO = Path(__file__).parents[2] / "firmware" / "zentrale" / "demo" / "hotline.yaml"
DISK_FULL = "disk full (0 bytes free): messages cannot be recorded"


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.events = EventBus()
        self.seen: list[Event] = []
        self.events.subscribe(self.seen.append)
        self.queues = QueueBoard(self.clock, self.events)
        self.control = ManualControl(self.clock, self.events)
        self.engine = FlowEngine(self.clock, self.queues, self.control, self.events)

    async def call(self, mode: Mode, session: FakeSession) -> object:
        task = asyncio.ensure_future(self.engine.run(mode, session))
        await self.clock.run_until(task)
        return task.result()


@pytest.fixture
def world() -> World:
    return World()


async def test_on_a_full_disk_a_waiting_caller_is_told_and_keeps_their_place_instead_of_the_message_offer(
    world: World, mode: Mode
) -> None:
    # digit 1 at 12 s: the hold sequence (5 + 20 + 5 + 60 s) ends at 102 s
    session = FakeSession(world.clock, digits_at=[(12.0, "1")], hangup_at=250.0, recording_refusal=DISK_FULL)
    outcome = await world.call(mode, session)
    heard = session.what()
    assert heard[:6] == ["greeting", "main_menu", "hold_notice", "music:music_a", "hold_notice", "music:music_a"]
    assert heard[6:9] == [NO_MESSAGES_WAIT_PROMPT, "hold_notice", "music:music_a"]
    assert "offer_message" not in heard and "beep" not in heard and "message_saved" not in heard
    assert not session.messages
    told_at = dict((w, t) for t, w in reversed(session.heard))[NO_MESSAGES_WAIT_PROMPT]
    assert told_at == pytest.approx(12.0 + 5 + 20 + 5 + 60)
    # one stay in the queue, never left in between: the caller kept their position
    left = [e for e in world.seen if isinstance(e, CallLeftQueue)]
    assert [e.reason for e in left] == ["hangup"]
    # the wait started over (the call limits count it anew)
    entered = [e.node for e in world.seen if isinstance(e, NodeEntered)]
    assert entered.count("queue_lvs") == 3  # entered, then told twice (102 s and 197 s)
    assert outcome.outcome == "abandoned"  # type: ignore[attr-defined]


async def test_on_a_full_disk_team_c_keeps_waiting_past_its_maximum_wait_and_hears_why(
    world: World, mode: Mode
) -> None:
    session = FakeSession(world.clock, digits_at=[(12.0, "3")], hangup_at=700.0, recording_refusal=DISK_FULL)
    await world.call(mode, session)
    told = [t for t, w in session.heard if w == NO_MESSAGES_WAIT_PROMPT]
    # max_wait (300 s) starts over each time: told at 312 s and 612 s
    assert told == [pytest.approx(312.0), pytest.approx(612.0)]
    assert "offer_message" not in session.what()


async def test_when_space_returns_the_next_offer_records_a_message_again(world: World, mode: Mode) -> None:
    session = FakeSession(world.clock, digits_at=[(12.0, "1")], recording_refusal=DISK_FULL)
    task = asyncio.ensure_future(world.engine.run(mode, session))
    await world.clock.advance(150.0)
    assert session.what().count(NO_MESSAGES_WAIT_PROMPT) == 1
    session.recording_refusal = None  # an admin deleted old messages
    await world.clock.run_until(task)
    assert session.what()[-4:] == ["offer_message", "beep", "recording", "message_saved"]
    assert task.result().outcome == "voicemail"


async def test_a_voicemail_reached_without_a_queue_says_no_message_is_possible_and_ends_the_call(
    world: World, mode: Mode
) -> None:
    doc = mode.model_dump()
    doc["nodes"]["main_menu"]["choices"]["9"] = "voicemail_sap"
    direct = Mode.model_validate(doc)
    session = FakeSession(world.clock, digits_at=[(4.0, "9")], recording_refusal=DISK_FULL)
    outcome = await world.call(direct, session)
    assert session.what() == ["greeting", "main_menu", NO_MESSAGES_PROMPT]
    assert session.hung_up
    assert outcome.outcome == "no_message"  # type: ignore[attr-defined]


class DiskFillsMeanwhile(FakeSession):
    """The check before the offer passed, then the disk refused the recording itself."""

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        self.messages.append(request)
        self.recording_refusal = DISK_FULL
        raise RecordingImpossible("cannot start recording: No space left on device")


async def test_a_recording_the_disk_refuses_at_its_start_sends_the_caller_back_to_wait_not_to_a_thank_you(
    world: World, mode: Mode
) -> None:
    session = DiskFillsMeanwhile(world.clock, digits_at=[(12.0, "1")], hangup_at=300.0)
    await world.call(mode, session)
    heard = session.what()
    at = heard.index("offer_message")
    assert heard[at : at + 3] == ["offer_message", "beep", NO_MESSAGES_WAIT_PROMPT]
    assert heard[at + 3] == "hold_notice"  # back in the queue
    assert "message_saved" not in heard
