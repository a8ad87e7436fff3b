"""Caller rules (issue 16, 4): the condition node, the block and VIP lists, VIPs first in the
queue -- on the flow engine with fake sessions and a ManualClock, and the lists in SQLite."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.harness.fakes import FakeSession
from tests.harness.flow_world import DEMO_MODE, World
from zentrale.core.callers import (
    MAX_LIST_ENTRIES,
    CallerLists,
    CallerNumberError,
    ListEntry,
    Pattern,
    is_anonymous,
    normalise,
)
from zentrale.core.flow import FlowEngine
from zentrale.core.modes import Mode, parse_mode, parse_mode_data
from zentrale.errors import ModeError
from zentrale.store.callers import CallerListRepository
from zentrale.store.db import Database


def mode_with(rules: list[dict[str, Any]], otherwise: str = "welcome") -> Mode:
    nodes: dict[str, Any] = {
        "check": {"type": "condition", "rules": rules, "otherwise": otherwise},
        "welcome": {"type": "hangup", "prompt": "welcome"},
        "rejected": {"type": "hangup", "prompt": "rejected"},
        "private": {"type": "hangup", "prompt": "private"},
        "berlin": {"type": "hangup", "prompt": "berlin"},
        "mobile": {"type": "hangup", "prompt": "mobile"},
        "vip": {"type": "hangup", "prompt": "vip"},
        "closed": {"type": "hangup", "prompt": "closed"},
        "holiday": {"type": "hangup", "prompt": "holiday"},
    }
    return parse_mode_data({"name": "t", "start": "check", "nodes": nodes}, "test")


RULES = [
    {"test": "blocked", "next": "rejected"},
    {"test": "anonymous", "next": "private"},
    {"test": "vip", "next": "vip"},
    {"test": "schedule", "schedule": "holiday", "next": "holiday"},
    {"test": "schedule", "schedule": "closed", "next": "closed"},
    {"test": "number", "numbers": ["+4930*", "040*"], "next": "berlin"},
    {"test": "number", "numbers": ["mobile"], "next": "mobile"},
]


async def heard(world: World, mode: Mode, caller: str) -> list[str]:
    session = FakeSession(world.clock, caller=caller)
    task = asyncio.ensure_future(world.engine.run(mode, session))
    await world.clock.run_until(task)
    return session.what()


@pytest.mark.parametrize(
    ("typed", "normalised"),
    [
        ("030 1234-567", "+49301234567"),
        ("0049 30 1234567", "+49301234567"),
        ("+49 (30) 1234567", "+49301234567"),
        ("+44 20 7946 0000", "+442079460000"),
        ("1234", "1234"),  # an extension stays as it is
    ],
)
def test_numbers_are_compared_in_their_international_form(typed: str, normalised: str) -> None:
    assert normalise(typed) == normalised


def test_withheld_numbers_are_anonymous_however_the_line_spells_them() -> None:
    for caller in ("anonymous", "Anonymous", "unknown", "restricted", "", "  "):
        assert is_anonymous(caller), caller
    assert not is_anonymous("+49301234567")


def test_a_pattern_is_a_prefix_or_single_digit_wildcards_never_a_regex() -> None:
    assert Pattern("030*").matches("+49301234567")
    assert not Pattern("030*").matches("+49401234567")
    assert Pattern("0171???????").matches("+491711234567")
    assert not Pattern("0171???????").matches("+4917112345678")
    assert not Pattern("0171???????").matches("+49171123456a")
    assert Pattern("+49301234567").matches("+49301234567")
    assert not Pattern("+4930123456").matches("+49301234567")  # no star: the whole number
    for bad, why in [
        ("(a+)+$", "digits"),
        (".*", "at least one digit"),
        ("0*30", "only end"),
        ("49+30", "only end"),
        ("030\x00123", "control characters"),
        ("0301\n", None),  # stripped: a trailing newline of a pasted line is harmless
        ("1" * 33, "at most 32"),
        ("*", "at least one digit"),
        ("", "is needed"),
    ]:
        if why is None:
            assert Pattern(bad).matches("+49301")
            continue
        with pytest.raises(CallerNumberError, match=why):
            Pattern(bad)


def test_patterns_are_matched_without_a_regex_engine_so_no_pattern_can_backtrack() -> None:
    # the guarantee is structural: core/callers.py compares character by character, once
    import ast

    import zentrale.core.callers as callers

    tree = ast.parse(Path(callers.__file__).read_text(encoding="utf-8"))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {"re", "fnmatch", "glob"} & imported, imported
    lists = CallerLists()
    for i in range(200):
        lists.add("block", ListEntry(f"+49{i:04d}" + "?" * 20 + "*"))
    assert not lists.contains("block", "+4999999" + "9" * 24)
    assert lists.contains("block", "+490042" + "1" * 20)


async def test_the_first_rule_that_holds_wins_and_otherwise_takes_the_rest() -> None:
    world = World()
    world.engine.callers.add("block", ListEntry("030 1234567"))
    world.engine.callers.add("vip", ListEntry("+49301234567"))  # also blocked: the block rule comes first
    world.engine.callers.add("vip", ListEntry("0891111"))
    mode = mode_with(RULES)
    assert await heard(world, mode, "+49301234567") == ["rejected"]
    assert await heard(world, mode, "00493012345678") == ["berlin"]
    assert await heard(world, mode, "0401111") == ["berlin"]
    assert await heard(world, mode, "+4917612345678") == ["mobile"]
    assert await heard(world, mode, "anonymous") == ["private"]
    assert await heard(world, mode, "+49891111") == ["vip"]
    assert await heard(world, mode, "+4922111111") == ["welcome"]


async def test_the_schedule_test_sees_open_closed_and_holidays() -> None:
    world = World()
    state = {"now": "open"}
    world.engine = FlowEngine(world.clock, world.queues, world.control, world.events,
                              schedule_state=lambda: state["now"])  # fmt: skip
    mode = mode_with(RULES[3:5])
    assert await heard(world, mode, "+4922111111") == ["welcome"]
    state["now"] = "closed"
    assert await heard(world, mode, "+4922111111") == ["closed"]
    for why in ("holiday", "closed_day"):
        state["now"] = why
        assert await heard(world, mode, "+4922111111") == ["holiday"]


def test_a_condition_node_refuses_rules_that_make_no_sense() -> None:
    for rule, problem in [
        ({"test": "number", "next": "welcome"}, "'numbers'"),
        ({"test": "blocked", "numbers": ["030*"], "next": "welcome"}, "'numbers'"),
        ({"test": "schedule", "next": "welcome"}, "'schedule"),
        ({"test": "number", "numbers": ["^(a|a)*$"], "next": "welcome"}, "digits"),
        ({"test": "colour", "next": "welcome"}, "test"),
    ]:
        with pytest.raises(ModeError, match=problem):
            mode_with([rule])
    with pytest.raises(ModeError, match="does not exist"):
        parse_mode('{"name": "t", "start": "c", "nodes": {"c": {"type": "condition", "otherwise": "x",'
                   ' "rules": [{"test": "vip", "next": "c"}]}}}', "test")  # fmt: skip


def test_the_demo_mode_starts_with_its_caller_rules() -> None:
    mode = parse_mode(DEMO_MODE.read_text(encoding="utf-8"), str(DEMO_MODE))
    assert mode.start == "caller_rules"
    assert "caller_blocked" in mode.prompts()


async def test_a_vip_waits_ahead_of_callers_who_are_not_but_behind_earlier_vips() -> None:
    world = World()
    queue = world.queues
    normal1 = queue.enter("lvs", "c1", "+4930111", None)
    offered = queue.enter("lvs", "c2", "+4930222", None)
    normal1_id = normal1.entry_id
    queue.offer(normal1_id, "agent")  # an agent's phone already rings for the first one
    vip1 = queue.enter("lvs", "c3", "+4930333", None, vip=True)
    vip2 = queue.enter("lvs", "c4", "+4930444", None, vip=True)
    other_team = queue.enter("sap", "c5", "+4930555", None)
    assert [e.call_id for e in queue.entries("lvs")] == ["c1", "c3", "c4", "c2"]
    assert queue.position(vip1) == 2 and queue.position(vip2) == 3 and queue.position(offered) == 4
    assert queue.position(other_team) == 1
    assert [queue.snapshot(e)["vip"] for e in queue.entries("lvs")] == [False, True, True, False]


async def test_a_caller_on_the_vip_list_enters_the_queue_as_a_vip() -> None:
    world = World()
    world.engine.callers.add("vip", ListEntry("0301234567"))
    mode = parse_mode(DEMO_MODE.read_text(encoding="utf-8"), str(DEMO_MODE))
    first = FakeSession(world.clock, call_id="first", caller="+4989555", digits_at=[(12.0, "1")], hangup_at=60)
    vip = FakeSession(world.clock, call_id="vip", caller="+49301234567", digits_at=[(12.0, "1")], hangup_at=60)
    runs = [asyncio.ensure_future(world.engine.run(mode, s)) for s in (first, vip)]
    await world.clock.advance(30)
    assert [e.call_id for e in world.queues.entries("lvs")] == ["vip", "first"]
    await world.clock.run_until(asyncio.gather(*runs))


async def test_the_lists_survive_a_restart_and_a_full_list_refuses_more(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    db = Database(tmp_path / "z.db")
    await db.open()
    try:
        repo = CallerListRepository(db, CallerLists(max_entries=3))
        at = datetime(2026, 12, 7, tzinfo=UTC)
        first = await repo.add("block", "030 1234567", "Werbung", at, "anna")
        assert first["key"] == "+49301234567"
        await repo.add("block", "0900*", "", at, "anna")
        await repo.add("vip", "+4989111", "Chef", at, "anna")
        await repo.add("block", "+49 30 1234567", "Werbeanrufe", at, "bert")  # the same number: a new note
        await repo.add("block", "0180*", "", at, "anna")
        with pytest.raises(CallerNumberError, match="at most 3"):
            await repo.add("block", "0137*", "", at, "anna")
        with pytest.raises(CallerNumberError, match="control"):
            await repo.add("block", "030\x07", "", at, "anna")
        again = CallerListRepository(db, CallerLists())
        await again.load()
        assert again.lists.contains("block", "+49301234567")
        assert again.lists.contains("block", "09001234")
        assert again.lists.contains("vip", "089111")
        assert {e["key"]: e["note"] for e in again.entries("block")} == {
            "+49301234567": "Werbeanrufe", "+49900*": "", "+49180*": "",
        }  # fmt: skip
        assert await again.remove("block", "+49900*")
        assert not again.lists.contains("block", "09001234")
        assert not await again.remove("block", "+49900*")

        # many at once: all or nothing (the list has room for one more, not for two)
        again.lists.max_entries = 3
        with pytest.raises(CallerNumberError, match="at most 3"):
            await again.add_many("block", [("0137*", ""), ("0138*", "")], at, "bert")
        with pytest.raises(CallerNumberError, match="digits"):
            await again.add_many("block", [("0137*", ""), ("0abc", "")], at, "bert")
        assert await again.add_many("block", [("0137*", "Gewinnspiel"), ("030 1234567", "")], at, "bert") == 1
        third = CallerListRepository(db, CallerLists())
        await third.load()
        assert sorted(e["key"] for e in third.entries("block")) == ["+49137*", "+49180*", "+49301234567"]
    finally:
        await db.close()


def test_a_list_holds_a_bounded_number_of_entries() -> None:
    lists = CallerLists()
    for i in range(MAX_LIST_ENTRIES):
        lists.add("block", ListEntry(f"+4930{i:06d}"))
    with pytest.raises(CallerNumberError, match="at most"):
        lists.add("block", ListEntry("+4940123"))
    lists.add("block", ListEntry("030000001"))  # one it has may be changed
    assert lists.contains("block", "+4930000001")


def test_a_condition_node_gives_the_call_no_more_time_than_the_grace() -> None:
    from zentrale.calls.limits import CallLimits, node_limit

    mode = mode_with(RULES)
    limits = CallLimits(grace=30.0)
    assert node_limit(mode, "check", mode.nodes["check"], lambda name: 2.0, limits) == 30.0


def blocked_mode(language: str) -> Mode:
    nodes: dict[str, Any] = {
        "check": {"type": "condition", "rules": [{"test": "blocked", "next": "blocked"}], "otherwise": "bye"},
        "blocked": {"type": "hangup", "prompt": "caller_blocked"},
        "bye": {"type": "hangup", "prompt": "goodbye"},
    }
    return parse_mode_data({"name": "t", "language": language, "start": "check", "nodes": nodes}, "test")


async def test_an_english_mode_rejects_a_blocked_caller_with_the_english_prompt() -> None:
    world = World()
    world.engine.callers.add("block", ListEntry("030 1234567"))
    assert await heard(world, blocked_mode("de"), "+49301234567") == ["caller_blocked"]
    assert await heard(world, blocked_mode("en"), "+49301234567") == ["caller_blocked_en"]
    # only the shipped rejection has a twin: other prompts play as named in either language
    assert await heard(world, blocked_mode("en"), "+4940111") == ["goodbye"]
    # the mode asks for the prompt it plays (the box checks that it exists before activating)
    assert "caller_blocked_en" in blocked_mode("en").prompts()
    assert "caller_blocked_en" not in blocked_mode("de").prompts()


async def test_a_blocked_caller_is_logged_as_blocked_and_an_unblocked_one_is_not() -> None:
    world = World()
    world.engine.callers.add("block", ListEntry("030 1234567"))
    for caller, expected in (("+49301234567", "blocked"), ("+4940111", "hangup")):
        session = FakeSession(world.clock, caller=caller)
        task = asyncio.ensure_future(world.engine.run(blocked_mode("de"), session))
        await world.clock.run_until(task)
        assert task.result().outcome == expected, caller
