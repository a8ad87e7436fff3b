"""Each ring of an agent's phone is recorded with how it ended (calls/offers.py, store/offers.py),
and the agents' statistics show rung / not answered / ring time (web/statistics_api.py): the real
distribution and agents' board on a ManualClock, agents' phones that behave one way each, the
real database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from tests.harness.flow_world import DEMO_MODE as DEMO
from tests.harness.office_world import Office
from zentrale.calls.offers import OfferLog
from zentrale.core.modes import Mode, parse_mode
from zentrale.store.db import Database
from zentrale.store.offers import OfferRepository
from zentrale.web.statistics_api import AgentFigures, with_rings


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[OfferRepository]:
    db = Database(tmp_path / "z.db")
    await db.open()
    yield OfferRepository(db)
    await db.close()


async def test_a_busy_a_silent_and_an_answering_agent_are_recorded_with_their_results(
    mode: Mode, repo: OfferRepository
) -> None:
    office = Office(strategy="linear", ring_timeout=15)
    rings = OfferLog(office.events, repo, office.clock)
    office.agent("carl", "pc", ("busy", 1.0), priority=1)
    office.agent("dora", "pc", ("silent",), priority=2)
    office.agent("emil", "pc", ("answer", 4.0), priority=3)
    start = office.clock.now()
    _, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=120.0)
    await office.clock.run_until(task)
    await office.clock.advance(11)  # the team's 10 s of wrap-up after emil's call: then he is free again
    await rings.stop()
    assert rings.written == 3 and rings.dropped == 0
    lo, hi = start.isoformat(), (office.clock.now() + timedelta(seconds=1)).isoformat()
    found = await repo.per_agent(lo, hi, None, None)
    assert found == {
        "carl": {"rung": 1, "rung_answered": 0, "rung_missed": 1, "ring_avg_s": None, "wrap_up_s": None},  # busy
        "dora": {"rung": 1, "rung_answered": 0, "rung_missed": 1, "ring_avg_s": None, "wrap_up_s": None},  # rang out
        "emil": {"rung": 1, "rung_answered": 1, "rung_missed": 0, "ring_avg_s": 4.0, "wrap_up_s": 10.0},
    }
    assert await repo.wrap_up(lo, hi, None, None) == {"pc": 10.0, None: 10.0}
    assert await repo.wrap_up(lo, hi, "lvs", None) == {None: None}  # nothing answered there
    assert await repo.per_agent(lo, hi, "lvs", None) == {}  # another team's figures
    assert list(await repo.per_agent(lo, hi, None, "dora")) == ["dora"]
    rows = await repo.db.fetch("SELECT agent, how, result, ring_s, wrap_up_s FROM agent_offers ORDER BY id")
    assert [(r["agent"], r["how"], r["result"], r["ring_s"], r["wrap_up_s"]) for r in rows] == [
        ("carl", "auto", "busy", 1.0, None), ("dora", "auto", "no_answer", 15.0, None),
        ("emil", "auto", "answered", 4.0, 10.0),  # written once his wrap-up was over
    ]  # fmt: skip


async def test_a_pulled_call_the_caller_leaves_while_it_rings_is_not_counted_against_the_agent(
    mode: Mode, repo: OfferRepository
) -> None:
    office = Office(ring_timeout=30)
    rings = OfferLog(office.events, repo, office.clock)
    office.agent("anna", "lvs", ("silent",))
    start = office.clock.now()
    _, task = office.start_call(mode, digits_at=[(4.0, "1")], hangup_at=40.0)
    await office.clock.advance(20)
    (entry,) = office.queues.entries("lvs")
    office.distribution.start_pull(entry.entry_id, "anna")
    await office.clock.run_until(task)
    await rings.stop()
    rows = await repo.db.fetch("SELECT agent, how, result FROM agent_offers")
    assert [(r["agent"], r["how"], r["result"]) for r in rows] == [("anna", "pull", "caller_gone")]
    found = await repo.per_agent(start.isoformat(), office.clock.now().isoformat(), None, None)
    assert found["anna"]["rung"] == 1 and found["anna"]["rung_missed"] == 0


def test_an_agent_who_was_rung_but_took_no_call_gets_a_row_in_the_statistics() -> None:
    taken = {"agent": "emil", **{name: 0 for name in AgentFigures.model_fields if name != "agent"}}
    rings = {
        "emil": {"rung": 2, "rung_answered": 2, "rung_missed": 0, "ring_avg_s": 3.5},
        "dora": {"rung": 3, "rung_answered": 0, "rung_missed": 3, "ring_avg_s": None},
    }
    rows = with_rings([taken], rings)
    assert [r["agent"] for r in rows] == ["dora", "emil"]
    dora = AgentFigures.model_validate(rows[0])  # a complete row: the answer's model takes it
    assert (dora.rung, dora.rung_missed, dora.answered, dora.avg_wait_s) == (3, 3, 0, None)
    assert rows[1]["rung"] == 2 and rows[1]["ring_avg_s"] == 3.5
    assert with_rings([taken], {})[0]["rung"] == 0  # nothing rang: zeros, not missing


async def test_an_agent_who_ends_the_wrap_up_early_or_has_none_or_is_still_in_it_at_the_stop(
    mode: Mode, repo: OfferRepository
) -> None:
    office = Office(strategy="linear", ring_timeout=15, wrap_up=30)
    rings = OfferLog(office.events, repo, office.clock)
    office.agent("emil", "pc", ("answer", 2.0))
    _, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=60.0)
    await office.clock.run_until(task)
    await office.clock.advance(12)
    office.agents.pause("emil", False)  # "Fertig" after 12 of 30 s
    _, task = office.start_call(mode, digits_at=[(4.0, "3")], hangup_at=60.0)
    await office.clock.run_until(task)
    await office.clock.advance(5)  # in the second wrap-up when the box stops
    await rings.stop()
    rows = await repo.db.fetch("SELECT result, wrap_up_s FROM agent_offers ORDER BY id")
    assert [(r["result"], r["wrap_up_s"]) for r in rows] == [("answered", 12.0), ("answered", None)]
