"""Callbacks that keep the caller's place (issue 16, item 3), on a ManualClock: the caller's
dialogue in the flow, the virtual entry on the queue board, and the retries of calls/callback.py
over a fake line (our own ports only)."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fakes import FakeSession
from tests.harness.flow_world import DEMO_MODE, World
from zentrale.calls.callback import CALLER_FIRST_HOLD, CallbackDialer, CallbackService
from zentrale.config import DEMO_DIR, Team
from zentrale.core.agents import Agent
from zentrale.core.callbacks import CallbackNumbers, RetryPlan
from zentrale.core.distribution import DialResult
from zentrale.core.flow import FlowEngine
from zentrale.core.modes import CallbackNode, Mode, QueueNode, parse_mode, parse_mode_data
from zentrale.core.queues import QueueBoard
from zentrale.lines.base import OriginateFailed
from zentrale.media.library import AudioLibrary
from zentrale.teams import TeamDirectory


def callback_mode() -> Mode:
    return parse_mode_data(
        {
            "name": "Callback",
            "start": "queue",
            "nodes": {
                "queue": {
                    "type": "queue",
                    "team": "lvs",
                    "hold": [{"music": "music_a", "seconds": 30}],
                    "repeat_hold": True,
                    "keys": {"2": "callback"},
                },
                "callback": {"type": "callback", "on_failure": "sorry"},
                "sorry": {"type": "hangup", "prompt": "goodbye"},
            },
        },
        "test",
    )


class Desk:
    """The flow's CallbackDesk: the default numbers, and the place kept on the board."""

    def __init__(self, queues: QueueBoard[Any]) -> None:
        self.queues = queues
        self.numbers = CallbackNumbers(lambda team: None)
        self.requests: list[tuple[str, str, datetime]] = []

    def allows(self, team: str, number: str) -> bool:
        return self.numbers.allows(team, number)

    async def request(self, team: str, number: str, caller_name: str | None, call_id: str, since: datetime) -> str:
        callback_id = f"cb{len(self.requests) + 1}"
        self.requests.append((team, number, since))
        self.queues.enter_callback(team, callback_id, number, caller_name, since)
        return callback_id


@pytest.fixture
def world() -> World:
    w = World()
    w.desk = Desk(w.queues)  # type: ignore[attr-defined]
    w.engine = FlowEngine(w.clock, w.queues, w.control, w.events, callbacks=w.desk)  # type: ignore[attr-defined]
    return w


def start(world: World, mode: Mode, **script: Any) -> tuple[FakeSession, asyncio.Future[Any]]:
    session = FakeSession(world.clock, **script)
    return session, asyncio.ensure_future(world.engine.run(mode, session))


DIGITS_OF_CALLER = [f"digit_{d}" for d in "49301234567"]  # FakeSession's caller: +49301234567


async def test_a_caller_who_presses_2_and_confirms_keeps_their_place_ahead_of_a_later_caller(world: World) -> None:
    mode = callback_mode()
    first, first_task = start(world, mode, call_id="c1")
    await world.clock.advance(5)
    later, later_task = start(world, mode, call_id="c2", caller="0301111111")
    await world.clock.advance(5)
    first.press("2")
    # the number heard is read back digit by digit; 1 confirms it
    await world.clock.advance(4 + 11 * 2)
    first.press("1")
    await world.clock.run_until(first_task)
    assert first_task.result().outcome == "callback"
    what = first.what()
    assert what[what.index("callback_number_is") + 1 : what.index("callback_confirm")] == DIGITS_OF_CALLER
    assert what[-1] == "callback_done"
    assert first.hung_up
    entries = world.queues.entries("lvs")
    assert [(e.caller, e.callback_id, world.queues.position(e)) for e in entries] == [
        ("+49301234567", "cb1", 1),
        ("0301111111", None, 2),
    ]
    snapshot = world.queues.snapshot(entries[0])
    assert snapshot["callback"] == "cb1" and snapshot["waited"] >= 10
    later.end()
    await world.clock.run_until(later_task)


async def test_an_anonymous_caller_types_a_number_which_is_read_back_and_confirmed(world: World) -> None:
    session, task = start(world, callback_mode(), caller="anonymous", digits_at=[(1, "2")])
    await world.clock.advance(3)
    for d in "0301234567#":
        session.press(d)
        await world.clock.advance(0.2)
    await world.clock.advance(12 * 2 + 4)
    session.press("1")
    await world.clock.run_until(task)
    assert world.desk.requests[0][1] == "0301234567"  # type: ignore[attr-defined]
    what = session.what()
    assert what[: what.index("callback_enter_number") + 1][-1] == "callback_enter_number"
    assert [f"digit_{d}" for d in "0301234567"] == what[what.index("callback_number_is") + 1 :][:10]


@pytest.mark.parametrize(
    "typed",
    [
        "1" * 200 + "#",  # far more than any phone number
        "*#",  # no digit at all
        "#",
        "0900123456#",  # premium rate
        "0044201234567#",  # abroad
    ],
    ids=["200_digits", "star_hash", "hash", "premium", "abroad"],
)
async def test_a_number_the_team_does_not_call_back_is_refused_and_after_three_tries_the_caller_is_let_go(
    world: World, typed: str
) -> None:
    session, task = start(world, callback_mode(), caller="anonymous", digits_at=[(1, "2")])
    for _ in range(3):
        await world.clock.advance(4)
        for d in typed:
            session.press(d)
        await world.clock.advance(4)
    await world.clock.run_until(task)
    assert session.what().count("callback_refused") == 3
    assert session.what()[-1] == "goodbye"  # on_failure
    assert world.desk.requests == []  # type: ignore[attr-defined]
    assert world.queues.entries() == []


async def test_a_caller_hanging_up_mid_entry_leaves_no_callback(world: World) -> None:
    session, task = start(world, callback_mode(), caller="anonymous", digits_at=[(1, "2"), (4, "0"), (4.2, "3")])
    await world.clock.advance(5)
    session.end()
    await world.clock.run_until(task)
    assert task.result().outcome == "abandoned"
    assert world.desk.requests == [] and world.queues.entries() == []  # type: ignore[attr-defined]


def test_numbers_a_team_calls_back_by_default_and_with_its_own_patterns() -> None:
    numbers = CallbackNumbers(lambda team: ["^0[1-9][0-9]+$", "^00[0-9]+$"] if team == "export" else None)
    ok = ["0301234567", "+49301234567", "01711234567", "201"]
    refused = ["0900123456", "0137123456", "0180512345", "+44201234567", "0044201234567", "1" * 200, "", "*#"]
    assert [n for n in ok if not numbers.allows("lvs", n)] == []
    assert [n for n in refused if numbers.allows("lvs", n)] == []
    assert numbers.allows("export", "0044201234567")  # allowed where the team says so


def test_the_retry_plan_gives_up_after_the_last_attempt() -> None:
    plan = RetryPlan(attempts=3, interval=60)
    assert plan.next_try(1, 100.0) == 160.0
    assert plan.next_try(2, 100.0) == 160.0
    assert plan.next_try(3, 100.0) is None


# --- calls/callback.py over fake ports -----------------------------------------------------------


@dataclass
class Leg:
    """A line's call, as far as a LineSession needs one (nothing is played: no media clock)."""

    call_id: str
    line: str = "sip"
    caller: str = ""
    caller_name: str | None = None
    called: str = ""
    sample_rate: int = 8000
    ended: asyncio.Future[str] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def on_digit(self, handler: Any) -> None:
        pass

    def set_source(self, source: Any) -> None:
        pass

    def set_sink(self, sink: Any) -> None:
        pass

    def send_digit(self, digit: str) -> None:
        pass

    async def hangup(self) -> None:
        if not self.ended.done():
            self.ended.set_result("hangup")


class SilentLine:
    """The caller never answers: each call rings ``ring_timeout`` seconds on the ManualClock."""

    name = "sip"

    def __init__(self, world: World) -> None:
        self.world = world
        self.calls: list[tuple[float, str]] = []

    async def originate(self, target: str, **kw: Any) -> Any:
        self.calls.append((self.world.clock.monotonic(), target))
        await self.world.clock.sleep(kw["ring_timeout"])
        raise OriginateFailed(480, "Temporarily Unavailable", "no_answer")


class Rows:
    """The callbacks table in memory."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}

    async def add(self, callback_id: str, **kw: Any) -> None:
        self.rows[callback_id] = {"id": callback_id, **kw, "state": "waiting", "attempts": 0, "next_at": None}

    async def update(self, callback_id: str, **fields: Any) -> None:
        self.rows[callback_id].update(fields)

    async def get(self, callback_id: str) -> dict[str, Any]:
        return self.rows[callback_id]

    async def waiting(self) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if r["state"] == "waiting"]

    async def tasks(self) -> list[dict[str, Any]]:
        return [r for r in self.rows.values() if r["state"] == "failed"]


class Log:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []

    def ended(self, call_id: str, **fields: Any) -> None:
        self.rows.append((call_id, fields))

    async def stop(self) -> None:
        pass


async def test_a_caller_who_does_not_answer_is_tried_again_at_the_same_place_then_becomes_a_task(
    world: World,
) -> None:
    teams = TeamDirectory([Team(id="lvs", name="LVS", callback_attempts=3, callback_interval=120,
                                callback_ring_timeout=20)])  # fmt: skip
    line, rows, log = SilentLine(world), Rows(), Log()
    service = CallbackService(
        clock=world.clock, queues=world.queues, teams=teams, line=line,  # type: ignore[arg-type]
        library=AudioLibrary([Path(DEMO_DIR) / "prompts"]), messages=None,  # type: ignore[arg-type]
        repo=rows, call_log=log, language=lambda: "de",  # type: ignore[arg-type]
    )  # fmt: skip
    since = world.clock.now()
    callback_id = await service.request("lvs", "0301234567", None, "c1", since)
    await world.clock.advance(30)
    later = world.queues.enter("lvs", "c2", "0309999999", None)  # a caller who came later
    for attempt in range(1, 4):
        entry = next(e for e in world.queues.entries("lvs") if e.callback_id == callback_id)
        assert world.queues.position(entry) == 1 and world.queues.position(later) == 2
        assert entry.callback_attempts == attempt - 1
        world.queues.offer(entry.entry_id, "anna")  # the agent pulled it and answered
        agent = Leg(f"agent-{attempt}")
        world.queues.connect(entry.entry_id, agent, "anna")
        await world.clock.advance(21)  # the caller's phone rang 20 s
        assert agent.ended.done()  # the agent is let go
        assert [e.callback_id for e in world.queues.entries("lvs")] == [None]  # off the board meanwhile
        if attempt < 3:
            assert rows.rows[callback_id]["state"] == "waiting" and rows.rows[callback_id]["next_at"]
            await world.clock.advance(120)
    assert [t for _, t in line.calls] == ["0301234567"] * 3
    assert line.calls[1][0] - line.calls[0][0] == pytest.approx(141, abs=1)  # ring 20 s + 120 s + settle
    assert rows.rows[callback_id]["state"] == "failed" and rows.rows[callback_id]["attempts"] == 3
    assert [r["id"] for r in await service.tasks()] == [callback_id]
    assert [(f["outcome"], f["answered_by"]) for _, f in log.rows] == [("callback_no_answer", "anna")] * 3
    await world.clock.advance(600)
    assert [e.callback_id for e in world.queues.entries("lvs")] == [None]  # given up: not back again
    done = await service.done(callback_id, "anna")
    assert done["state"] == "done" and await service.tasks() == []
    await service.stop()


async def test_callbacks_waiting_before_a_restart_are_back_at_their_places(world: World) -> None:
    rows = Rows()
    early = world.clock.now()
    await rows.add("a", call_id="c1", team="lvs", number="201", caller_name=None, since=early.isoformat(),
                   created_at=early.isoformat())  # fmt: skip
    rows.rows["a"]["since"] = early.isoformat()
    await world.clock.advance(60)
    world.queues.enter("lvs", "c9", "0309999999", None)  # came after the callback was asked for
    service = CallbackService(
        clock=world.clock, queues=world.queues, teams=TeamDirectory([]), line=SilentLine(world),  # type: ignore[arg-type]
        library=AudioLibrary([]),
        messages=None, repo=rows, call_log=Log(), language=lambda: "de",  # type: ignore[arg-type]
    )  # fmt: skip
    assert await service.load() == 1
    await world.clock.settle()
    assert [(e.callback_id, world.queues.position(e)) for e in world.queues.entries("lvs")] == [("a", 1), (None, 2)]
    await service.stop()


class AnsweringLine(SilentLine):
    """The caller answers after ``answer_after`` seconds."""

    def __init__(self, world: World, answer_after: float = 3.0) -> None:
        super().__init__(world)
        self.answer_after = answer_after
        self.legs: list[Leg] = []

    async def originate(self, target: str, **kw: Any) -> Any:
        self.calls.append((self.world.clock.monotonic(), target))
        await self.world.clock.sleep(self.answer_after)
        leg = Leg(f"out-{len(self.legs) + 1}", caller=target)
        self.legs.append(leg)
        return leg


class AgentPhones:
    """The line's dialer for agents: answers after 2 s."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.dials: list[float] = []

    async def dial(self, agent: Any, entry: Any, ring_timeout: float, cancel: Any) -> DialResult[Any]:
        self.dials.append(self.world.clock.monotonic())
        await self.world.clock.sleep(2)
        return DialResult(Leg("agent"))

    async def hang_up(self, handover: Any) -> None:
        await handover.hangup()

    async def wait_ended(self, handover: Any) -> None:
        await asyncio.shield(handover.ended)


async def test_caller_first_calls_the_caller_before_the_agent_and_bridges_both(world: World) -> None:
    teams = TeamDirectory([Team(id="lvs", name="LVS", callback_order="caller_first")])
    line, rows, log = AnsweringLine(world), Rows(), Log()
    service = CallbackService(
        clock=world.clock, queues=world.queues, teams=teams, line=line,  # type: ignore[arg-type]
        library=AudioLibrary([Path(DEMO_DIR) / "prompts", Path(DEMO_DIR) / "music"]), messages=None,  # type: ignore[arg-type]
        repo=rows, call_log=log, language=lambda: "de",  # type: ignore[arg-type]
    )  # fmt: skip
    phones = AgentPhones(world)
    dialer = CallbackDialer(phones, service)
    callback_id = await service.request("lvs", "0301234567", None, "c1", world.clock.now())
    await world.clock.settle()
    entry = world.queues.entries("lvs")[0]
    world.queues.offer(entry.entry_id, "anna")
    anna = Agent("anna", "Anna", frozenset({"lvs"}))
    ringing = asyncio.ensure_future(dialer.dial(anna, entry, 8, entry.left))
    await world.clock.run_until(ringing)
    assert [t for t, _ in line.calls] == [0.0] and phones.dials == [3.0]  # the caller first, the agent once answered
    world.queues.connect(entry.entry_id, ringing.result().handover, "anna")
    await world.clock.advance(30)
    assert world.queues.entries("lvs") == []
    line.legs[0].ended.set_result("hangup")  # the caller ends the conversation
    await world.clock.advance(1)
    assert [(f["outcome"], f["answered_by"]) for _, f in log.rows] == [("callback_answered", "anna")]
    assert rows.rows[callback_id]["state"] == "connected"
    await service.stop()


async def test_caller_first_a_caller_who_does_not_answer_leaves_the_board_until_the_next_attempt(world: World) -> None:
    teams = TeamDirectory([Team(id="lvs", name="LVS", callback_order="caller_first", callback_interval=60,
                                callback_ring_timeout=10)])  # fmt: skip
    line, rows, log = SilentLine(world), Rows(), Log()
    service = CallbackService(
        clock=world.clock, queues=world.queues, teams=teams, line=line,  # type: ignore[arg-type]
        library=AudioLibrary([]), messages=None, repo=rows, call_log=log, language=lambda: "de",  # type: ignore[arg-type]
    )  # fmt: skip
    phones = AgentPhones(world)
    await service.request("lvs", "0301234567", None, "c1", world.clock.now())
    await world.clock.settle()
    entry = world.queues.entries("lvs")[0]
    world.queues.offer(entry.entry_id, "anna")
    ringing = asyncio.ensure_future(CallbackDialer(phones, service).dial(Agent("anna", "Anna", frozenset({"lvs"})),
                                                                         entry, 8, entry.left))  # fmt: skip
    await world.clock.run_until(ringing)
    assert ringing.result().reason == "caller_no_answer" and phones.dials == []  # the agent was never rung
    assert world.queues.entries("lvs") == []
    await world.clock.advance(61)
    assert [e.callback_attempts for e in world.queues.entries("lvs")] == [1]  # back at its place
    assert [f["outcome"] for _, f in log.rows] == ["callback_no_answer"]
    await service.stop()


class DeafAgentPhones(AgentPhones):
    """Agents whose phones ring out: nobody takes the call."""

    async def dial(self, agent: Any, entry: Any, ring_timeout: float, cancel: Any) -> DialResult[Any]:
        self.dials.append(self.world.clock.monotonic())
        await self.world.clock.sleep(ring_timeout)
        return DialResult(None, "no_answer")


async def test_caller_first_a_caller_nobody_takes_is_told_let_go_after_the_hold_limit_and_called_again(
    world: World,
) -> None:
    teams = TeamDirectory([Team(id="lvs", name="LVS", callback_order="caller_first", callback_interval=60)])
    line, rows, log = AnsweringLine(world), Rows(), Log()
    service = CallbackService(
        clock=world.clock, queues=world.queues, teams=teams, line=line,  # type: ignore[arg-type]
        library=AudioLibrary([Path(DEMO_DIR) / "prompts", Path(DEMO_DIR) / "music"]), messages=None,  # type: ignore[arg-type]
        repo=rows, call_log=log, language=lambda: "de",  # type: ignore[arg-type]
    )  # fmt: skip
    callback_id = await service.request("lvs", "0301234567", None, "c1", world.clock.now())
    await world.clock.settle()
    entry = world.queues.entries("lvs")[0]
    world.queues.offer(entry.entry_id, "anna")
    dialer = CallbackDialer(DeafAgentPhones(world), service)
    ringing = asyncio.ensure_future(dialer.dial(Agent("anna", "Anna", frozenset({"lvs"})), entry, 8, entry.left))
    await world.clock.run_until(ringing)
    assert ringing.result().reason == "no_answer"
    world.queues.withdraw(entry.entry_id, "anna")  # as the distribution does: back on the board, caller on the line
    caller = line.legs[0]
    await world.clock.advance(CALLER_FIRST_HOLD - 30)
    assert not caller.ended.done()  # still waiting with music, not held for ever either
    await world.clock.advance(60)  # the hold limit, then "Leider ist gerade kein Mitarbeiter frei ..."
    assert caller.ended.done()
    assert [f["outcome"] for _, f in log.rows] == ["callback_no_agent"]
    assert rows.rows[callback_id]["state"] == "waiting" and rows.rows[callback_id]["outcome"] == "no_agent"
    await world.clock.advance(61)
    assert [e.callback_attempts for e in world.queues.entries("lvs")] == [1]  # called again, at its place
    await service.stop()


def demo_audio_texts() -> tuple[dict[str, str], dict[str, str]]:
    """The texts tools/make_demo_audio.py speaks (German, English), read from the script itself."""
    import importlib.util

    script = Path(__file__).resolve().parents[2] / "tools" / "make_demo_audio.py"
    spec = importlib.util.spec_from_file_location("make_demo_audio", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module.PROMPTS, module.PROMPTS_EN


def test_the_demo_mode_validates_and_its_hold_text_offers_the_callback_key() -> None:
    mode = parse_mode(DEMO_MODE.read_text(encoding="utf-8"), str(DEMO_MODE))
    queue = mode.nodes["queue_pc"]
    assert isinstance(queue, QueueNode)
    ((key, target),) = queue.keys.items()
    assert (key, target) == ("2", "callback_pc") and isinstance(mode.nodes[target], CallbackNode)
    assert "hold_callback" in [step.name for step in queue.hold]
    library = AudioLibrary([DEMO_DIR / "prompts", DEMO_DIR / "music"])
    missing = sorted(mode.prompts() - library.names())
    assert missing == []  # every prompt the mode plays is shipped (the callback's too)
    german, english = demo_audio_texts()
    assert f"drücken Sie die {key}." in german["hold_callback"], german["hold_callback"]
    assert f"press {key}." in english["hold_callback_en"], english["hold_callback_en"]
    assert {"hold_callback", "hold_callback_en"} <= library.names()
    audio_md = (DEMO_DIR / "AUDIO.md").read_text(encoding="utf-8")
    assert german["hold_callback"] in audio_md and english["hold_callback_en"] in audio_md


async def test_a_demo_caller_for_team_c_hears_the_offer_presses_2_and_keeps_the_place(world: World) -> None:
    mode = parse_mode(DEMO_MODE.read_text(encoding="utf-8"), str(DEMO_MODE))
    session, task = start(world, mode, call_id="c1", digits_at=[(12.0, "3")])  # "3": team C (PC)
    for _ in range(120):
        await world.clock.advance(1)
        if "hold_callback" in session.what():
            break
    assert session.what()[-3:] == ["hold_notice", "music:music_c", "hold_callback"], session.what()
    session.press("2")
    await world.clock.advance(4 + 11 * 2)
    session.press("1")
    await world.clock.run_until(task)
    assert task.result().outcome == "callback"
    assert session.what()[-1] == "callback_done"
    entries = world.queues.entries("pc")
    assert [(e.caller, e.callback_id) for e in entries] == [("+49301234567", "cb1")]
