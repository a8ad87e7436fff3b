"""The call log's pages (GET /api/calllog, web/calllog_api.py) in SQLite: newest first, a team's
rows only, by outcome, and paging on from the last row shown loses and repeats no row, also when
several calls started in the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from zentrale.store.db import Database
from zentrale.store.state import CallLogRepository

START = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


async def filled(db: Database) -> CallLogRepository:
    log = CallLogRepository(db)
    for i in range(25):
        # three calls per instant: the cursor must tell them apart by call id
        at = START + timedelta(seconds=i // 3)
        team, outcome = (("lvs", "answered"), ("sap", "abandoned"), (None, "blocked"))[i % 3]
        await log.ended(f"c{i:02d}", started_at=at.isoformat(), caller=f"+4930{i:04d}", team=team, outcome=outcome,
                        quality='{"mos": 4.2}')  # fmt: skip
    return log


async def test_paging_on_from_the_last_row_shown_visits_every_row_once_newest_first(tmp_path: Path) -> None:
    db = Database(tmp_path / "z.db")
    await db.open()
    try:
        log = await filled(db)
        seen: list[dict[str, object]] = []
        before = None
        while True:
            page = await log.page(before=before, limit=4)
            seen += page
            if len(page) < 4:
                break
            before = (str(page[-1]["started_at"]), str(page[-1]["call_id"]))
        assert [r["call_id"] for r in seen] == [f"c{i:02d}" for i in reversed(range(25))]
        assert all(r["quality"] == {"mos": 4.2} for r in seen)  # the route gives them to admins only
    finally:
        await db.close()


async def test_a_page_holds_only_the_teams_and_outcomes_asked_for(tmp_path: Path) -> None:
    db = Database(tmp_path / "z.db")
    await db.open()
    try:
        log = await filled(db)
        lvs = await log.page(teams=frozenset({"lvs"}))
        assert [r["call_id"] for r in lvs] == [f"c{i:02d}" for i in reversed(range(0, 25, 3))]
        both = await log.page(teams=frozenset({"lvs", "sap"}), outcomes=("abandoned",), limit=2)
        assert [(r["call_id"], r["team"], r["outcome"]) for r in both] == [("c22", "sap", "abandoned"),
                                                                            ("c19", "sap", "abandoned")]  # fmt: skip
        assert await log.page(teams=frozenset()) == []  # an agent in no team sees nothing
        blocked = await log.page(outcomes=("blocked",))
        assert {r["team"] for r in blocked} == {None} and len(blocked) == 8
        # without an id the cursor skips the rest of that instant: nothing of it comes twice
        older = await log.page(before=((START + timedelta(seconds=7)).isoformat(), ""))
        assert older[0]["call_id"] == "c20"
    finally:
        await db.close()
