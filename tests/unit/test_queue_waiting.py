"""Callers told where they stand, and keys that leave the queue: on the flow engine, a ManualClock
and fake sessions (issue 16, items 1 and 2)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.harness.fakes import FakeSession
from tests.harness.flow_world import World
from zentrale.calls.limits import CallLimits, node_limit
from zentrale.core.agents import AgentBoard, AgentStateChanged
from zentrale.core.clock import ManualClock
from zentrale.core.events import CallLeftQueue, EventBus, PositionAnnounced
from zentrale.core.flow import CallOutcome
from zentrale.core.modes import Mode, check_mode, parse_mode, schema_problems
from zentrale.core.waits import ServiceRates, announcement_prompts, spoken_wait
from zentrale.errors import ModeError


def queue_mode(hold: list[dict[str, Any]], *, language: str = "de", repeat: bool = True, **queue: Any) -> Mode:
    data = {
        "name": "test",
        "language": language,
        "start": "wait",
        "nodes": {
            "wait": {"type": "queue", "team": "lvs", "hold": hold, "repeat_hold": repeat, **queue},
            "message": {"type": "voicemail", "prompt": "offer_message", "next": "bye"},
            "bye": {"type": "hangup", "prompt": "goodbye"},
        },
    }
    return parse_mode(json.dumps(data), "test")


def staffed(world: World, agents: int) -> AgentBoard:
    board = AgentBoard(world.clock, world.events)
    for i in range(agents):
        board.define(f"a{i}", f"Agent {i}", {"lvs"})
        board.login(f"a{i}", f"10{i}")
    return board


async def served(world: World, count: int, every: float, team: str = "lvs") -> None:
    """``count`` calls handed to agents, one every ``every`` seconds."""
    for i in range(count):
        await world.clock.advance(every)
        world.events.publish(CallLeftQueue(f"old{i}", f"old-call{i}", team, "connected"))


# --- rounding as people speak -------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "spoken"),
    [
        (5, "under_1"),
        (59.9, "under_1"),
        (60, "1"),
        (89, "1"),
        (91, "2"),
        (9.4 * 60, "9"),
        (10.4 * 60, "10"),
        (12.4 * 60, "10"),
        (12.6 * 60, "15"),
        (17.6 * 60, "20"),
        (32.4 * 60, "30"),
        (32.6 * 60, "over_30"),
        (5 * 3600, "over_30"),
    ],
)
def test_an_expected_wait_is_rounded_the_way_people_say_it(seconds: float, spoken: str) -> None:
    assert spoken_wait(seconds) == spoken


# --- the service-rate estimate ----------------------------------------------------------------


async def test_no_figure_until_enough_calls_were_handed_over() -> None:
    world = World()
    staffed(world, 2)
    rates = world.engine.rates
    await served(world, 4, 60)
    estimate = rates.estimate("lvs", 2, min_observations=5)
    assert estimate.seconds is None and estimate.observations == 4
    await served(world, 1, 60)
    assert rates.estimate("lvs", 2, min_observations=5).seconds is not None


async def test_no_figure_when_nobody_is_logged_in() -> None:
    world = World()
    board = staffed(world, 1)
    await served(world, 10, 30)
    board.logout("a0")
    estimate = world.engine.rates.estimate("lvs", 1, min_observations=5)
    assert estimate.seconds is None and "no agent" in estimate.why


async def test_the_expected_wait_follows_the_measured_service_rate() -> None:
    world = World()
    staffed(world, 2)
    await served(world, 10, 60)  # 10 hand-overs at t = 60 .. 600
    estimate = world.engine.rates.estimate("lvs", 2, min_observations=5)
    # 10 hand-overs in the 540 s since the oldest: 1.11 per minute; two calls to go: 108 s
    assert estimate.seconds == pytest.approx(108.0)
    assert estimate.per_minute == pytest.approx(10 / 9)
    assert spoken_wait(estimate.seconds or 0) == "2"
    # a team that stops serving is seen to slow down
    await world.clock.advance(540)
    slower = world.engine.rates.estimate("lvs", 2, min_observations=5)
    assert slower.seconds == pytest.approx(216.0)


async def test_twice_the_agents_logged_in_halve_the_expected_wait() -> None:
    world = World()
    board = staffed(world, 1)
    await served(world, 10, 60)
    alone = world.engine.rates.estimate("lvs", 3, min_observations=5).seconds
    board.define("b", "B", {"lvs"})
    board.login("b", "200")
    together = world.engine.rates.estimate("lvs", 3, min_observations=5).seconds
    assert alone is not None and together == pytest.approx(alone / 2)


async def test_hand_overs_older_than_the_window_are_forgotten() -> None:
    clock = ManualClock()
    events = EventBus()
    rates = ServiceRates(clock, events, window=600, max_samples=20)
    events.publish(CallLeftQueue("x", "y", "lvs", "hangup"))  # not a hand-over: never counted
    events.publish(AgentStateChanged("a", "available", "100", ("lvs",), "login"))
    for _ in range(6):
        await clock.advance(10)
        rates.handed_over("lvs")
    assert rates.estimate("lvs", 1, min_observations=5).seconds is not None
    await clock.advance(575)  # at 635 s the hand-overs at 10, 20, 30 s are older than 600 s
    assert len(rates.recent("lvs")) == 3
    assert rates.estimate("lvs", 1, min_observations=5).seconds is None
    assert rates.estimate("lvs", 1, min_observations=5).observations == 3


async def test_only_the_last_hand_overs_count() -> None:
    clock = ManualClock()
    rates = ServiceRates(clock, EventBus(), max_samples=20)
    for _ in range(50):
        await clock.advance(1)
        rates.handed_over("lvs")
    assert len(rates.recent("lvs")) == 20


# --- the announce step in the hold sequence --------------------------------------------------

HOLD = [{"announce": "both"}, {"music": "music_a", "seconds": 20}]


async def start(world: World, mode: Mode, call_id: str, **script: Any) -> tuple[FakeSession, asyncio.Task[Any]]:
    session = FakeSession(world.clock, call_id=call_id, **script)
    return session, asyncio.ensure_future(world.engine.run(mode, session))


async def test_a_caller_in_position_two_hears_the_position_and_please_hold_without_a_figure() -> None:
    world = World()
    staffed(world, 1)
    mode = queue_mode(HOLD, max_wait=30, on_max_wait="bye")
    first, t1 = await start(world, mode, "c1", hangup_at=100)
    second, t2 = await start(world, mode, "c2", hangup_at=100)
    await world.clock.run_until(asyncio.ensure_future(asyncio.gather(t1, t2)))
    assert first.what()[:3] == ["queue_position_1", "queue_patience", "music:music_a"]
    assert second.what()[:3] == ["queue_position_2", "queue_patience", "music:music_a"]


async def test_after_agents_served_calls_the_caller_hears_a_credible_wait_in_english() -> None:
    world = World()
    staffed(world, 2)
    await served(world, 10, 60)  # as in the estimate test: 108 s for position 2
    mode = queue_mode(HOLD, language="en", max_wait=30, on_max_wait="bye")
    _first, t1 = await start(world, mode, "c1", hangup_at=100)
    second, t2 = await start(world, mode, "c2", hangup_at=100)
    await world.clock.run_until(asyncio.ensure_future(asyncio.gather(t1, t2)))
    assert second.what()[:2] == ["queue_position_2_en", "queue_wait_2_en"]
    told = [e for e in world.seen if isinstance(e, PositionAnnounced)]
    # 54 s for the first, 108 s for the second: "under a minute", "about two minutes"
    assert [(e.call_id, e.position, e.wait, e.observations) for e in told] == [
        ("c1", 1, "under_1", 10),
        ("c2", 2, "2", 10),
    ]


async def test_a_position_is_spoken_again_only_when_it_changed_and_not_sooner_than_announce_every() -> None:
    world = World()
    mode = queue_mode([{"announce": "position"}, {"music": "music_a", "seconds": 10}], announce_every=60)
    first, t1 = await start(world, mode, "c1", hangup_at=25)  # leaves at 25 s: the second moves up
    second, t2 = await start(world, mode, "c2", hangup_at=130)
    await world.clock.run_until(asyncio.ensure_future(asyncio.gather(t1, t2)))
    spoken = [(t, w) for t, w in second.heard if w.startswith("queue_")]
    # position 2 spoken at 0 s (2 s, then 10 s of music); unchanged at 12 s: not spoken, the rounds
    # take 10 s; position 1 from 25 s, but at 32, 42, 52 s not 60 s since the last: spoken at 62 s
    assert spoken == [(0.0, "queue_position_2"), (62.0, "queue_position_1")]
    assert first.what()[0] == "queue_position_1"


async def test_every_announce_prompt_must_exist_in_the_modes_language() -> None:
    mode = queue_mode(HOLD, language="en")
    problems = check_mode(mode, prompts=["music_a", "offer_message", "goodbye", *announcement_prompts("de")])
    missing = {p.message for p in problems}
    assert "prompt 'queue_position_2_en' is missing" in missing
    complete = check_mode(mode, prompts=["music_a", "offer_message", "goodbye", *announcement_prompts("en")])
    assert [p for p in complete if p.severity == "error"] == []


# --- keys in the queue ---------------------------------------------------------------------


async def test_a_key_during_music_leaves_the_queue_at_once_for_its_node() -> None:
    world = World()
    mode = queue_mode(HOLD, keys={"*": "message", "0": "bye"})
    session, outcome = await world.call(mode, digits_at=[(7.5, "*")], hangup_at=200)
    assert isinstance(outcome, CallOutcome)
    offer = next(t for t, w in session.heard if w == "offer_message")
    assert offer == pytest.approx(7.5)
    assert outcome.left_queue == "key *" and outcome.outcome == "voicemail"
    assert world.queues.entries() == []
    left = [e for e in world.seen if isinstance(e, CallLeftQueue)]
    assert [e.reason for e in left] == ["key *"]


async def test_a_key_during_a_prompt_barges_in() -> None:
    world = World()
    mode = queue_mode([{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 20}], keys={"0": "bye"})
    session, outcome = await world.call(mode, digits_at=[(1.0, "0")])
    assert session.heard == [(0.0, "hold_notice"), (1.0, "goodbye")]
    assert isinstance(outcome, CallOutcome) and outcome.left_queue == "key 0"


async def test_a_digit_without_an_exit_leaves_the_music_playing_to_its_end() -> None:
    world = World()
    mode = queue_mode(
        [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 20}],
        repeat=False, after_hold="bye", keys={"*": "message"},
    )  # fmt: skip
    session, outcome = await world.call(mode, digits_at=[(8.0, "5")])
    # notice 5 s, music 5..25 s (the 5 pressed at 8 s changes nothing), then after_hold
    assert [w for _, w in session.heard if not w.startswith("music")] == ["hold_notice", "goodbye"]
    assert session.heard[-1] == (25.0, "goodbye")
    assert isinstance(outcome, CallOutcome) and outcome.left_queue == "after_hold"


async def test_an_agent_taking_the_call_needs_no_key() -> None:
    world = World()
    mode = queue_mode(HOLD, keys={"*": "message"})
    session, task = await start(world, mode, "c1", hangup_at=300)
    await world.clock.advance(10)
    world.queues.connect(world.queues.entries()[0].entry_id, handover="leg", agent="anna")
    await world.clock.run_until(task)
    assert session.bridged_with == "leg" and task.result().left_queue is None


# --- validation ------------------------------------------------------------------------------


def test_a_key_leading_nowhere_is_refused() -> None:
    with pytest.raises(ModeError, match=r"nodes\.wait\.keys\.\*: target node 'nowhere' does not exist"):
        queue_mode(HOLD, keys={"*": "nowhere"})


@pytest.mark.parametrize(
    ("queue", "hold", "message"),
    [
        ({"keys": {"12": "bye"}}, HOLD, "key '12' is not one DTMF digit"),
        ({"keys": {"*": ""}}, HOLD, "key * has no target node"),
        ({}, [{"announce": "position"}], "at least one announcement or music step besides 'announce'"),
        (
            {},
            [{"announce": "later"}, {"music": "music_a", "seconds": 5}],
            "Input should be 'position', 'wait' or 'both'",
        ),
        (
            {},
            [{"announce": "wait", "seconds": 5}, {"music": "music_a", "seconds": 5}],
            "only a music step has 'seconds'",
        ),
        ({}, [{"announce": "wait", "music": "music_a", "seconds": 5}], "either 'announcement"),
        ({"announce_every": -1}, HOLD, "greater than or equal to 0"),
        ({"wait_min_observations": 0}, HOLD, "greater than or equal to 1"),
    ],
)
def test_a_broken_queue_node_is_refused_with_the_reason(
    queue: dict[str, Any], hold: list[dict[str, Any]], message: str
) -> None:
    data = {
        "name": "t",
        "start": "wait",
        "nodes": {
            "wait": {"type": "queue", "team": "lvs", "hold": hold, "repeat_hold": True, **queue},
            "bye": {"type": "hangup"},
        },
    }
    mode, problems = schema_problems(data)
    assert mode is None
    assert any(message in p.message for p in problems), problems


# --- every call ends ---------------------------------------------------------------------------


@pytest.mark.parametrize(("what", "longest"), [("position", 2.8), ("wait", 3.5), ("both", 6.3)])
def test_an_announce_step_counts_its_longest_sentences_towards_the_queues_time_limit(what: str, longest: float) -> None:
    mode = queue_mode([{"announce": what}, {"music": "music_a", "seconds": 20}], repeat=False, after_hold="bye")
    lengths = {
        "queue_position_many": 2.8,
        "queue_wait_25": 3.5,
        "queue_position_2": 2.0,
        "messages_unavailable_wait": 6,
    }
    limit = node_limit(mode, "wait", mode.nodes["wait"], lambda name: lengths.get(name, 1.0), CallLimits(grace=30))
    assert limit == pytest.approx(longest + 20 + 6 + 30)
