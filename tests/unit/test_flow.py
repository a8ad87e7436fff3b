"""The customer's example on the flow engine, with a fake session and a ManualClock."""

from __future__ import annotations

import asyncio

import pytest

from tests.harness.fakes import FakeSession
from tests.harness.flow_world import DEMO_MODE as DEMO
from tests.harness.flow_world import World
from zentrale.core.events import CallLeftQueue, CallWaiting
from zentrale.core.modes import Mode, parse_mode


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


@pytest.fixture
def world() -> World:
    return World()


async def test_given_digit_1_when_nobody_pulls_then_the_whole_hold_sequence_plays_and_a_message_is_offered(
    world: World, mode: Mode
) -> None:
    session, outcome = await world.call(mode, digits_at=[(12.0, "1")])
    assert session.what() == [
        "greeting",
        "main_menu",
        "hold_notice",
        "music:music_a",
        "hold_notice",
        "music:music_a",
        "offer_message",
        "beep",
        "recording",
        "message_saved",
    ]
    assert session.messages[0].team == "lvs"
    assert outcome.outcome == "voicemail"  # type: ignore[attr-defined]
    assert session.hung_up
    # hold notice 5 s + music 20 s + notice 5 s + music 60 s after the menu choice at 12 s
    offer_at = dict((w, t) for t, w in reversed(session.heard))["offer_message"]
    assert offer_at == pytest.approx(12.0 + 5 + 20 + 5 + 60)


async def test_given_digit_2_then_team_b_hears_its_own_music(world: World, mode: Mode) -> None:
    session, _ = await world.call(mode, digits_at=[(4.0, "2")])
    assert "music:music_b" in session.what()
    assert session.messages[0].team == "sap"


async def test_given_team_c_when_five_minutes_pass_then_voicemail_is_offered(world: World, mode: Mode) -> None:
    session, outcome = await world.call(mode, digits_at=[(12.0, "3")])
    offer_at = next(t for t, w in session.heard if w == "offer_message")
    assert offer_at == pytest.approx(12.0 + 300, abs=0.01)
    # the hold sequence repeated while waiting
    assert session.what().count("hold_notice") >= 5
    assert outcome.outcome == "voicemail"  # type: ignore[attr-defined]
    assert session.messages[0].team == "pc"
    left = [e for e in world.seen if isinstance(e, CallLeftQueue)]
    assert [e.reason for e in left] == ["overflow"]


async def test_given_outage_switch_on_then_greeting_is_replaced_and_menu_follows(world: World, mode: Mode) -> None:
    world.control.set("sap_outage", True, by="agent1")
    session, _ = await world.call(mode, digits_at=[(20.0, "9")], hangup_at=25.0)
    assert session.what()[:2] == ["outage_sap", "main_menu"]
    world.control.set("sap_outage", False, by="agent1")
    session, _ = await world.call(mode, hangup_at=2.0)
    assert session.what() == ["greeting"]


async def test_two_switches_on_play_both_announcements(world: World, mode: Mode) -> None:
    world.control.set("sap_outage", True, by="a")
    world.control.set("network_outage", True, by="b")
    session, _ = await world.call(mode, hangup_at=14.0)
    assert session.what()[:3] == ["outage_sap", "outage_network", "main_menu"]


async def test_menu_retries_after_invalid_digit_and_timeout_then_says_goodbye(world: World, mode: Mode) -> None:
    session, outcome = await world.call(mode, digits_at=[(5.0, "7")])
    assert session.what() == [
        "greeting",
        "main_menu",
        "invalid_choice",
        "main_menu",
        "no_input",
        "main_menu",
        "goodbye",
    ]
    assert outcome.outcome == "hangup"  # type: ignore[attr-defined]


async def test_digit_during_menu_prompt_barges_in(world: World, mode: Mode) -> None:
    session, _ = await world.call(mode, digits_at=[(4.0, "1")], hangup_at=6.0)
    assert session.what() == ["greeting", "main_menu", "hold_notice"]
    assert session.heard[2][0] == pytest.approx(4.0)


async def test_given_waiting_call_when_agent_leg_connects_then_hold_stops_and_caller_is_bridged(
    world: World, mode: Mode
) -> None:
    session = FakeSession(world.clock, digits_at=[(4.0, "1")], hangup_at=200.0)
    task = asyncio.ensure_future(world.engine.run(mode, session))
    await world.clock.advance(15.0)
    waiting = world.queues.entries("lvs")
    assert len(waiting) == 1
    assert world.queues.position(waiting[0]) == 1
    assert waiting[0].hold_label.startswith("music:")
    world.queues.connect(waiting[0].entry_id, handover="agent-leg", agent="anna")
    await world.clock.run_until(task)
    assert session.bridged_with == "agent-leg"
    assert task.result().outcome == "answered"
    assert world.queues.entries() == []
    assert "offer_message" not in session.what()


async def test_caller_hanging_up_in_queue_leaves_no_entry(world: World, mode: Mode) -> None:
    _session, outcome = await world.call(mode, digits_at=[(4.0, "3")], hangup_at=40.0)
    assert outcome.outcome == "abandoned"  # type: ignore[attr-defined]
    assert world.queues.entries() == []
    assert [type(e) for e in world.seen if isinstance(e, CallWaiting | CallLeftQueue)] == [CallWaiting, CallLeftQueue]


async def test_caller_hanging_up_during_recording_keeps_the_message(world: World, mode: Mode) -> None:
    session, outcome = await world.call(mode, digits_at=[(4.0, "2")], hangup_at=4 + 90 + 9 + 0.3 + 3)
    assert session.what()[-1] == "recording"
    assert outcome.outcome == "voicemail"  # type: ignore[attr-defined]
    assert outcome.message_id == "m1"  # type: ignore[attr-defined]


async def test_positions_are_kept_in_arrival_order(world: World, mode: Mode) -> None:
    sessions = []
    tasks = []
    for i in range(3):
        s = FakeSession(world.clock, call_id=f"c{i}", digits_at=[(4.0 + i, "1")], hangup_at=100.0)
        sessions.append(s)
        tasks.append(asyncio.ensure_future(world.engine.run(mode, s)))
    await world.clock.advance(20)
    entries = world.queues.entries("lvs")
    assert [e.call_id for e in entries] == ["c0", "c1", "c2"]
    world.queues.connect(entries[1].entry_id, handover="x")
    await world.clock.advance(1)
    entries = world.queues.entries("lvs")
    assert [(e.call_id, world.queues.position(e)) for e in entries] == [("c0", 1), ("c2", 2)]
    await world.clock.run_until(asyncio.ensure_future(asyncio.gather(*tasks)))


async def test_whole_example_runs_in_well_under_a_second(world: World, mode: Mode) -> None:
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    for digit in "123":
        await world.call(mode, digits_at=[(12.0, digit)])
    world.control.set("sap_outage", True, by="x")
    await world.call(mode, digits_at=[(12.0, "2")])
    assert loop.time() - t0 < 1.0
