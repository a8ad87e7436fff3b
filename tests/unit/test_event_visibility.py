"""Who sees which live event: agents their teams' queues and their own agent; admins everything."""

from __future__ import annotations

from zentrale.accounts.service import Principal
from zentrale.core.agents import AgentStateChanged
from zentrale.core.distribution import PullFailed
from zentrale.core.events import CallStarted, CallWaiting, MessageUpdated, QueueChanged, SwitchChanged
from zentrale.web.events import visible

ANNA = Principal("anna", "Anna", "agent", "anna")
CHEF = Principal("chef", "Chefin", "admin", None)
TEAMS = frozenset({"lvs"})


def test_an_agent_sees_waiting_calls_of_her_teams_only() -> None:
    assert visible(CallWaiting("q1", "c1", "lvs", "0301", None, 1), ANNA, TEAMS)
    assert not visible(CallWaiting("q2", "c2", "sap", "0302", None, 1), ANNA, TEAMS)
    assert not visible(QueueChanged("pc", ()), ANNA, TEAMS)
    assert visible(CallWaiting("q2", "c2", "sap", "0302", None, 1), CHEF, frozenset())


def test_an_agent_sees_her_own_agent_events_only() -> None:
    assert visible(PullFailed("anna", "q1", "busy"), ANNA, TEAMS)
    assert not visible(PullFailed("ben", "q1", "busy"), ANNA, TEAMS)
    assert not visible(AgentStateChanged("ben", "available", "202", ("lvs",)), ANNA, TEAMS)
    assert visible(AgentStateChanged("ben", "available", "202", ("lvs",)), CHEF, frozenset())


def test_switches_and_messages_are_for_everyone_call_details_for_admins() -> None:
    assert visible(SwitchChanged("sap_outage", True, "ben", "2026-01-01T10:00:00+00:00"), ANNA, TEAMS)
    assert visible(MessageUpdated("m1", "in_progress", "ben", None, ""), ANNA, TEAMS)
    assert not visible(CallStarted("c1", "0301", None, "100", "sip"), ANNA, TEAMS)
    assert visible(CallStarted("c1", "0301", None, "100", "sip"), CHEF, frozenset())
