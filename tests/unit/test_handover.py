"""Handing a waiting caller over to an agent: one typed hand-over, two signals on the queue
entry (handed over / left), the call's outcome carrying who answered and when it queued,
and an event bus that only runs on the loop."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from tests.harness.fakes import FakeSession
from zentrale.core.clock import ManualClock
from zentrale.core.events import Event, EventBus, OffTheLoop, SwitchChanged
from zentrale.core.flow import CallOutcome, FlowEngine
from zentrale.core.handover import HookFlashTransfer, TransferredByPbx
from zentrale.core.modes import Mode, parse_mode
from zentrale.core.queues import EntryState, QueueBoard
from zentrale.core.switches import ManualControl

DEMO = Path(__file__).parents[2] / "firmware" / "zentrale" / "demo" / "hotline.yaml"


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


def board() -> tuple[ManualClock, QueueBoard[str]]:
    clock = ManualClock()
    return clock, QueueBoard(clock, EventBus())


async def test_a_caller_who_hangs_up_in_the_queue_leaves_it_without_being_handed_over() -> None:
    _clock, queues = board()
    entry = queues.enter("lvs", "call-1", "+4930123", None)
    queues.leave(entry, "hangup")
    assert entry.left.result() == "hangup"
    assert not entry.handed_over.done()  # nobody took it: no "cancelled hand-over" to tell apart
    assert entry.state is EntryState.LEFT


async def test_an_agent_taking_the_call_hands_it_over_and_the_caller_leaves_the_queue_as_connected() -> None:
    _clock, queues = board()
    entry = queues.enter("lvs", "call-1", "+4930123", None)
    queues.offer(entry.entry_id, "anna")
    queues.connect(entry.entry_id, TransferredByPbx("201"), "anna")
    assert entry.handed_over.result() == TransferredByPbx("201")
    assert not entry.left.done()  # still in the queue until the caller's flow takes the hand-over
    queues.leave(entry, "connected")
    assert entry.left.result() == "connected"
    assert entry.state is EntryState.CONNECTED


async def test_the_outcome_names_the_agent_who_answered_and_when_the_caller_entered_the_queue(mode: Mode) -> None:
    clock = ManualClock()
    events = EventBus()
    queues: QueueBoard[str] = QueueBoard(clock, events)
    engine = FlowEngine(clock, queues, ManualControl(clock, events), events)
    session = FakeSession(clock, digits_at=[(4.0, "1")], hangup_at=200.0)
    progress = CallOutcome()
    task = asyncio.ensure_future(engine.run(mode, session, progress))
    await clock.advance(15.0)
    (entry,) = queues.entries("lvs")
    assert progress.entered_queue_at == entry.entered_wall and progress.answered_by is None
    assert progress.last_node == "queue_lvs"  # the live outcome: where the call is now
    queues.offer(entry.entry_id, "anna")
    await clock.advance(5.0)  # her phone rings
    answered = clock.now()
    queues.connect(entry.entry_id, "anna's phone", "anna")
    await clock.run_until(task)
    outcome = task.result()
    assert outcome is progress
    assert session.bridged_with == "anna's phone"
    assert (outcome.outcome, outcome.answered_by, outcome.answered_at) == ("answered", "anna", answered)
    assert outcome.waited == pytest.approx((answered - entry.entered_wall).total_seconds())


async def test_a_hook_flash_hand_over_reaches_the_session_as_such(mode: Mode) -> None:
    clock = ManualClock()
    events = EventBus()
    queues: QueueBoard[str] = QueueBoard(clock, events)
    engine = FlowEngine(clock, queues, ManualControl(clock, events), events)
    session = FakeSession(clock, digits_at=[(4.0, "1")], hangup_at=200.0)
    task = asyncio.ensure_future(engine.run(mode, session))
    await clock.advance(15.0)
    (entry,) = queues.entries("lvs")
    queues.connect(entry.entry_id, HookFlashTransfer("**201"), "anna")
    await clock.run_until(task)
    assert session.bridged_with == HookFlashTransfer("**201")


async def test_an_event_published_from_another_thread_is_refused_and_one_handed_in_is_delivered() -> None:
    bus = EventBus()
    seen: list[Event] = []
    bus.subscribe(seen.append)
    event = SwitchChanged("sap_outage", True, "panel", "2026-01-05T09:00:00+00:00")
    bus.publish(event)  # on the loop: delivered
    refused: list[BaseException] = []

    def from_a_thread() -> None:
        try:
            bus.publish(event)
        except OffTheLoop as err:
            refused.append(err)

    thread = threading.Thread(target=from_a_thread)
    thread.start()
    thread.join()
    assert len(refused) == 1 and "call_soon_threadsafe" in str(refused[0])
    assert seen == [event]
    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    thread = threading.Thread(target=lambda: (loop.call_soon_threadsafe(bus.publish, event),
                                              loop.call_soon_threadsafe(done.set)))  # fmt: skip
    thread.start()
    thread.join()
    await asyncio.wait_for(done.wait(), 5)
    assert seen == [event, event]
