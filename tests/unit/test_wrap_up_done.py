"""An agent done with the wrap-up before its time says so ("Fertig" on the web page, or the
feature code): free at once, and the wrap-up timer does not fire later."""

from __future__ import annotations

from tests.unit.test_distribution import Office, mode
from zentrale.core.agents import AgentState, AgentStateChanged
from zentrale.core.modes import Mode

__all__ = ["mode"]


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
