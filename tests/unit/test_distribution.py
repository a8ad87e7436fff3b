"""Pull and automatic distribution in core/, on a ManualClock with a fake dialer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.harness.flow_world import DEMO_MODE as DEMO
from tests.harness.office_world import Office
from zentrale.core.agents import AgentState, AgentStateChanged
from zentrale.core.distribution import (
    CallConnected,
    PullFailed,
)
from zentrale.core.modes import Mode, parse_mode
from zentrale.core.queues import EntryState
from zentrale.errors import Conflict


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


async def test_pull_rings_the_agent_and_bridges_the_caller_when_answered(mode: Mode) -> None:
    office = Office(wrap_up=10)
    office.agent("anna", "lvs", ("answer", 3.0))
    session, task = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=60.0)
    await office.clock.advance(15)
    entry = office.queues.entries("lvs")[0]
    pull = office.distribution.start_pull(entry.entry_id, "anna")
    assert office.agents.get("anna").state is AgentState.RINGING
    await office.clock.advance(1)
    # while the phone rings the caller keeps the hold sequence and the position
    assert entry.state is EntryState.OFFERED
    assert office.queues.position(entry) == 1
    await office.clock.advance(3)
    assert pull.result().answered
    assert office.agents.get("anna").state is AgentState.ON_CALL
    assert any(isinstance(e, CallConnected) and e.how == "pull" for e in office.seen)
    assert session.what()[-1] == "bridged:anna"
    await office.clock.run_until(task)
    assert task.result().outcome == "answered"
    await office.clock.settle()
    assert office.agents.get("anna").state is AgentState.WRAP_UP
    await office.clock.advance(10)
    assert office.agents.get("anna").state is AgentState.AVAILABLE


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (("busy", 0.5), "busy"),
        (("decline", 2.0), "declined"),
        (("silent",), "no_answer"),
        (("unreachable",), "unreachable"),
    ],
)
async def test_failed_pull_keeps_the_caller_waiting_at_the_same_position_and_tells_the_agent_why(
    mode: Mode, behaviour: tuple[Any, ...], reason: str
) -> None:
    office = Office(ring_timeout=15)
    office.agent("anna", "lvs", behaviour)
    first, t1 = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=80.0, call_id="c1")
    _second, t2 = office.start_call(mode, digits_at=[(5.0, "1")], hangup_at=80.0, call_id="c2")
    await office.clock.advance(10)
    entry = office.queues.entries("lvs")[0]
    result = await asyncio.gather(office.distribution.pull(entry.entry_id, "anna"), office.clock.advance(20))
    assert result[0].reason == reason
    assert [e.reason for e in office.seen if isinstance(e, PullFailed)] == [reason]
    assert entry.state is EntryState.WAITING
    assert [e.call_id for e in office.queues.entries("lvs")] == ["c1", "c2"]
    assert office.agents.get("anna").state is AgentState.AVAILABLE
    # the hold sequence went on while the phone rang
    assert "music:music_a" in first.what()
    await office.clock.run_until(asyncio.ensure_future(asyncio.gather(t1, t2)))


async def test_two_agents_pulling_the_same_call_exactly_one_gets_it(mode: Mode) -> None:
    office = Office()
    office.agent("anna", "lvs", ("answer", 2.0))
    office.agent("ben", "lvs", ("answer", 2.0))
    _, task = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=40.0)
    await office.clock.advance(10)
    entry = office.queues.entries("lvs")[0]
    office.distribution.start_pull(entry.entry_id, "anna")
    with pytest.raises(Conflict, match="already being put through to anna"):
        office.distribution.start_pull(entry.entry_id, "ben")
    assert office.agents.get("ben").state is AgentState.AVAILABLE
    await office.clock.run_until(task)
    assert task.result().outcome == "answered"
    assert [a for _, a in office.dialer.dials] == ["anna"]


async def test_caller_hanging_up_while_the_agent_rings_stops_the_ringing(mode: Mode) -> None:
    office = Office()
    office.agent("anna", "lvs", ("silent",))
    _, task = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=12.0)
    await office.clock.advance(10)
    entry = office.queues.entries("lvs")[0]
    pull = office.distribution.start_pull(entry.entry_id, "anna")
    await office.clock.run_until(task)
    await office.clock.settle()
    assert pull.result().reason == "caller_gone"
    assert office.dialer.cancelled == ["anna"]
    assert office.agents.get("anna").state is AgentState.AVAILABLE


async def test_team_c_first_busy_second_no_answer_third_answers_in_longest_idle_order(mode: Mode) -> None:
    office = Office(strategy="longest_idle", ring_timeout=15)
    office.agent("carl", "pc", ("busy", 1.0))
    await office.clock.advance(1)
    office.agent("dora", "pc", ("silent",))
    await office.clock.advance(1)
    office.agent("emil", "pc", ("answer", 4.0))
    session, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=120.0)
    await office.clock.run_until(task)
    dials = office.dialer.dials
    assert [a for _, a in dials] == ["carl", "dora", "emil"]
    # carl said busy after 1 s, dora rang for the whole ring timeout
    assert dials[1][0] - dials[0][0] == pytest.approx(1.0)
    assert dials[2][0] - dials[1][0] == pytest.approx(15.0)
    assert "bridged:emil" in session.what()
    assert task.result().outcome == "answered"


async def test_round_robin_gives_the_next_call_to_the_next_agent(mode: Mode) -> None:
    office = Office(strategy="round_robin", wrap_up=0)
    for name in ("a1", "a2", "a3"):
        office.agent(name, "pc", ("answer", 1.0))
    tasks = []
    for i in range(3):
        _, t = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=30.0 + i, call_id=f"c{i}")
        tasks.append(t)
        await office.clock.advance(8)
    await office.clock.run_until(asyncio.ensure_future(asyncio.gather(*tasks)))
    assert [a for _, a in office.dialer.dials] == ["a1", "a2", "a3"]


async def test_linear_always_starts_with_the_first_agent(mode: Mode) -> None:
    office = Office(strategy="linear", wrap_up=0)
    office.agent("zeta", "pc", ("answer", 1.0), priority=1)
    office.agent("omega", "pc", ("answer", 1.0), priority=2)
    for i in range(2):
        _, t = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=20.0, call_id=f"c{i}")
        await office.clock.run_until(t)
    assert [a for _, a in office.dialer.dials] == ["zeta", "zeta"]


async def test_ring_all_rings_everyone_and_the_first_to_answer_gets_the_call(mode: Mode) -> None:
    office = Office(strategy="ring_all")
    office.agent("slow", "pc", ("answer", 6.0))
    office.agent("fast", "pc", ("answer", 2.0))
    office.agent("busy", "pc", ("busy", 1.0))
    session, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=40.0)
    await office.clock.run_until(task)
    assert sorted(a for _, a in office.dialer.dials) == ["busy", "fast", "slow"]
    assert len({t for t, _ in office.dialer.dials}) == 1  # all at once
    assert office.dialer.cancelled == ["slow"]
    assert "bridged:fast" in session.what()


async def test_agents_on_a_call_are_skipped(mode: Mode) -> None:
    office = Office(strategy="linear")
    office.agent("first", "pc", ("answer", 1.0), priority=1)
    office.agent("second", "pc", ("answer", 1.0), priority=2)
    _, t1 = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=100.0, call_id="c1")
    await office.clock.advance(10)
    assert office.agents.get("first").state is AgentState.ON_CALL
    _, t2 = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=50.0, call_id="c2")
    await office.clock.run_until(asyncio.ensure_future(asyncio.gather(t1, t2)))
    assert [a for _, a in office.dialer.dials] == ["first", "second"]


async def test_all_agents_busy_for_the_maximum_wait_leads_to_the_voicemail_offer(mode: Mode) -> None:
    office = Office(strategy="longest_idle", ring_timeout=20)
    office.agent("carl", "pc", ("busy", 1.0))
    office.agent("dora", "pc", ("busy", 1.0))
    session, task = office.start_call(mode, digits_at=[(4.0, "3")])
    await office.clock.run_until(task)
    offer_at = next(t for t, w in session.heard if w == "offer_message")
    assert offer_at == pytest.approx(304.0, abs=0.01)
    assert task.result().outcome == "voicemail"
    # both were tried again and again, with a pause between rounds
    assert len(office.dialer.dials) > 10
    assert all(b[0] - a[0] >= 0.99 for a, b in zip(office.dialer.dials, office.dialer.dials[1:], strict=False))
    assert office.queues.entries() == []
    await office.clock.settle()
    assert {a.state for a in office.agents.all()} == {AgentState.AVAILABLE}


async def test_nobody_logged_in_the_caller_just_waits_and_a_new_agent_is_rung_at_once(mode: Mode) -> None:
    office = Office()
    session, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=200.0)
    await office.clock.advance(60)
    assert office.dialer.dials == []
    office.agent("late", "pc", ("answer", 2.0))
    await office.clock.advance(0.1)
    assert [a for _, a in office.dialer.dials] == ["late"]
    await office.clock.run_until(task)
    assert "bridged:late" in session.what()


async def test_login_pause_logout(mode: Mode) -> None:
    office = Office()
    office.agents.define("anna", "Anna", {"lvs", "sap"})
    anna = office.agents.login("anna", "**621", {"sap"})
    assert anna.state is AgentState.AVAILABLE and anna.number == "**621"
    assert office.agents.free("sap") == [anna] and office.agents.free("lvs") == []
    office.agents.pause("anna", True)
    assert office.agents.free("sap") == []
    office.agents.pause("anna", False)
    office.agents.logout("anna")
    assert anna.state is AgentState.LOGGED_OUT
    with pytest.raises(Exception, match="not a member"):
        office.agents.login("anna", "**621", {"pc"})
    del mode


# An agent done with the wrap-up before its time says so ("Fertig" on the web page, or the
# feature code): free at once, and the wrap-up timer does not fire later.
async def test_an_agent_who_is_done_early_is_available_at_once_and_stays_so(mode: Mode) -> None:
    office = Office(wrap_up=30)
    office.agent("anna", "lvs", ("answer", 1.0))
    _session, task = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=20.0)
    await office.clock.advance(10)
    office.distribution.start_pull(office.queues.entries("lvs")[0].entry_id, "anna")
    await office.clock.run_until(task)
    await office.clock.settle()
    assert office.agents.get("anna").state is AgentState.WRAP_UP
    office.agents.pause("anna", False)  # "Fertig"
    assert office.agents.get("anna").state is AgentState.AVAILABLE
    reasons = [e.reason for e in office.seen if isinstance(e, AgentStateChanged)]
    assert reasons[-1] == "wrap-up done"
    await office.clock.advance(40)  # the wrap-up's old end passes without another change
    assert [e.reason for e in office.seen if isinstance(e, AgentStateChanged)] == reasons
    assert office.agents.get("anna").state is AgentState.AVAILABLE
