"""Statistics (issue 16, 6) from a hand-made call log in a real SQLite store: what each figure
counts, local-time buckets across midnight and the clock changes, the empty and the odd cases,
and the CSV a German Excel opens."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from zentrale.core.clock import ManualClock
from zentrale.errors import Invalid
from zentrale.store import statistics as statistics_module
from zentrale.store.db import Database
from zentrale.store.state import CallLogRepository
from zentrale.store.statistics import Statistics, buckets, p90
from zentrale.store.wallboard import WallboardTokens
from zentrale.web.statistics_api import statistics_csv

BERLIN = ZoneInfo("Europe/Berlin")


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)  # type: ignore[misc]


class Log:
    def __init__(self, db: Database) -> None:
        self.repo = CallLogRepository(db)
        self.n = 0

    async def call(
        self, at: datetime, *, team: str | None = "support", outcome: str = "answered", waited: float = 0,
        agent: str | None = None, talk: float | None = None, message: str | None = None,
    ) -> None:  # fmt: skip
        """A row as the call supervisor writes it (``CallLogRepository.ended``)."""
        self.n += 1
        fields: dict[str, Any] = {"started_at": at.astimezone(UTC).isoformat(), "team": team, "outcome": outcome,
                                  "waited_s": waited, "message_id": message, "caller": "+49301234567"}  # fmt: skip
        if agent is not None:
            answered = at + timedelta(seconds=waited)
            fields |= {"answered_by": agent, "answered_at": answered.astimezone(UTC).isoformat(), "talk_s": talk}
        await self.repo.ended(f"c{self.n}", **fields)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[Statistics, Log, Database]]:
    db = Database(tmp_path / "zentrale.db")
    await db.open()
    stats = Statistics(db)
    yield stats, Log(db), db
    await stats.close()  # its read connections (Python 3.13 warns of an unclosed one)
    await db.close()


async def test_each_figure_counts_what_its_name_says(store: tuple[Statistics, Log, Database]) -> None:
    stats, log, _ = store
    day = date(2026, 3, 10)
    await log.call(local(2026, 3, 10, 9, 0), agent="anna", waited=5, talk=120)
    await log.call(local(2026, 3, 10, 9, 5), agent="anna", waited=25, talk=60)
    await log.call(local(2026, 3, 10, 9, 10), agent="ben", waited=10, talk=30, team="sales")
    await log.call(local(2026, 3, 10, 9, 20), outcome="abandoned", waited=40)
    await log.call(local(2026, 3, 10, 9, 30), outcome="abandoned", waited=80)
    await log.call(local(2026, 3, 10, 9, 40), outcome="voicemail", waited=60, message="m1")
    await log.call(local(2026, 3, 10, 9, 50), outcome="callback", waited=30)
    await log.call(local(2026, 3, 10, 10, 0), team=None, outcome="hangup")  # an announcement only: no team
    await log.call(local(2026, 3, 10, 10, 5), team=None, outcome="abandoned")  # hung up in the greeting
    report = await stats.report(day, day, "day", BERLIN, service_level_s=20)
    total = report["total"]
    assert (total["calls"], total["offered"], total["answered"], total["abandoned"]) == (9, 7, 3, 2)
    assert (total["messages"], total["callbacks"], total["answered_in_time"]) == (1, 1, 2)
    assert total["avg_wait_s"] == pytest.approx((5 + 25 + 10) / 3, abs=0.05)
    assert total["p90_wait_s"] == 25  # nearest rank: ceil(0.9 * 3) = 3rd of 5, 10, 25
    assert (total["abandoned_avg_wait_s"], total["abandoned_max_wait_s"]) == (60, 80)
    assert total["service_level"] == pytest.approx(2 / 7, abs=0.001)
    assert (total["talk_s"], total["avg_talk_s"], total["wrap_up_s"]) == (210, 70, None)
    teams = {t["team"]: t for t in report["teams"]}
    assert (teams["support"]["offered"], teams["support"]["answered"], teams["sales"]["answered"]) == (6, 2, 1)
    assert (teams[None]["calls"], teams[None]["offered"], teams[None]["abandoned"]) == (2, 0, 0)
    agents = {a["agent"]: a for a in report["agents"]}
    assert set(agents) == {"anna", "ben"}
    assert (agents["anna"]["answered"], agents["anna"]["talk_s"], agents["anna"]["p90_wait_s"]) == (2, 180, 25)
    assert len(report["series"]) == 1 and report["series"][0]["calls"] == 9
    # with a higher service level the early-answered count follows
    wider = await stats.report(day, day, "day", BERLIN, service_level_s=30)
    assert wider["total"]["answered_in_time"] == 3
    only_sales = await stats.report(day, day, "day", BERLIN, team="sales")
    assert (only_sales["total"]["offered"], only_sales["total"]["answered"]) == (1, 1)
    only_anna = await stats.report(day, day, "day", BERLIN, agent="anna")
    assert (only_anna["total"]["answered"], only_anna["total"]["abandoned"]) == (2, 0)


async def test_a_call_just_before_midnight_counts_on_its_local_day(store: tuple[Statistics, Log, Database]) -> None:
    stats, log, _ = store
    await log.call(local(2026, 7, 1, 23, 59, 59), agent="anna", waited=3, talk=10)  # 21:59:59 UTC
    await log.call(local(2026, 7, 2, 0, 0, 0), agent="anna", waited=4, talk=10)  # 22:00:00 UTC the day before
    report = await stats.report(date(2026, 7, 1), date(2026, 7, 2), "day", BERLIN)
    assert [b["answered"] for b in report["series"]] == [1, 1]
    assert report["series"][1]["start"] == "2026-07-02T00:00:00+02:00"
    hours = await stats.report(date(2026, 7, 1), date(2026, 7, 1), "hour", BERLIN)
    assert len(hours["series"]) == 24 and hours["series"][23]["answered"] == 1 and hours["series"][0]["answered"] == 0


async def test_the_days_the_clocks_change_have_23_and_25_hours(store: tuple[Statistics, Log, Database]) -> None:
    stats, log, _ = store
    # 2026-10-25: 03:00 CEST becomes 02:00 CET -- two real hours are labelled 02:xx
    first = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    second = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    await log.call(first, outcome="abandoned", waited=9)
    await log.call(second, outcome="abandoned", waited=11)
    autumn = await stats.report(date(2026, 10, 25), date(2026, 10, 25), "hour", BERLIN)
    assert len(autumn["series"]) == 25
    twos = [b for b in autumn["series"] if "T02:" in b["start"]]
    assert [(b["start"], b["abandoned"]) for b in twos] == [
        ("2026-10-25T02:00:00+02:00", 1), ("2026-10-25T02:00:00+01:00", 1),
    ]  # fmt: skip
    spring = await stats.report(date(2026, 3, 29), date(2026, 3, 29), "hour", BERLIN)
    assert len(spring["series"]) == 23
    days = await stats.report(date(2026, 10, 24), date(2026, 10, 26), "day", BERLIN)
    assert [b["abandoned"] for b in days["series"]] == [0, 2, 0]
    span = datetime.fromisoformat(days["series"][1]["end"]) - datetime.fromisoformat(days["series"][1]["start"])
    assert span == timedelta(hours=25)


async def test_no_calls_give_zeros_and_no_averages(store: tuple[Statistics, Log, Database]) -> None:
    stats, _, _ = store
    report = await stats.report(date(2026, 1, 1), date(2026, 1, 7), "day", BERLIN)
    assert len(report["series"]) == 7
    total = report["total"]
    assert (total["calls"], total["offered"], total["answered"]) == (0, 0, 0)
    assert (total["avg_wait_s"], total["p90_wait_s"], total["service_level"], total["abandoned_avg_wait_s"]) == (
        None, None, None, None,
    )  # fmt: skip
    assert report["teams"] == [] and report["agents"] == []


async def test_only_abandoned_calls_give_a_service_level_of_zero(store: tuple[Statistics, Log, Database]) -> None:
    stats, log, _ = store
    for waited in (3, 12, 45):
        await log.call(local(2026, 5, 4, 11, 0), outcome="abandoned", waited=waited)
    total = (await stats.report(date(2026, 5, 4), date(2026, 5, 4), "week", BERLIN))["total"]
    assert (total["offered"], total["answered"], total["abandoned"], total["service_level"]) == (3, 0, 3, 0)
    assert (total["avg_wait_s"], total["p90_wait_s"]) == (None, None)
    assert (total["abandoned_avg_wait_s"], total["abandoned_max_wait_s"]) == (20, 45)


async def test_p90_of_one_call_is_its_wait() -> None:
    assert p90([]) is None
    assert p90([12.3]) == 12.3
    assert p90([float(n) for n in range(1, 11)]) == 9  # rank ceil(9.0) = 9
    assert p90([float(n) for n in range(1, 12)]) == 10  # rank ceil(9.9) = 10
    assert p90([1.0] * 95 + [100.0] * 5) == 1


async def test_weeks_start_on_monday_and_are_cut_to_the_range() -> None:
    cuts = buckets(date(2026, 12, 2), date(2026, 12, 16), "week", BERLIN)  # a Wednesday to a Wednesday
    assert [(b.start.date().isoformat(), b.end.date().isoformat()) for b in cuts] == [
        ("2026-12-02", "2026-12-07"), ("2026-12-07", "2026-12-14"), ("2026-12-14", "2026-12-17"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("first", "last", "by", "says"),
    [
        (date(2026, 5, 2), date(2026, 5, 1), "day", "ends (2026-05-01) before it starts (2026-05-02)"),
        (date(2000, 1, 1), date(2099, 12, 31), "week", "at most 371 days"),
        (date(2026, 1, 1), date(2026, 1, 15), "hour", "at most 14 days"),
        (date(1, 1, 1), date(1, 1, 2), "day", "days from 2000-01-01 to 2099-12-31"),
        (date(2026, 1, 1), date(2026, 1, 2), "minute", "use hour, day or week"),
    ],
)
def test_unusable_ranges_are_refused_with_the_reason(first: date, last: date, by: str, says: str) -> None:
    with pytest.raises(Invalid, match=says.replace("(", r"\(").replace(")", r"\)")):
        buckets(first, last, by, BERLIN)


async def test_the_csv_opens_in_a_german_excel(store: tuple[Statistics, Log, Database]) -> None:
    stats, log, _ = store
    await log.call(local(2026, 3, 10, 9, 0), agent="anna", waited=5.5, talk=100)
    await log.call(local(2026, 3, 10, 9, 5), outcome="abandoned", waited=30)
    report = await stats.report(date(2026, 3, 9), date(2026, 3, 10), "day", BERLIN)
    data = statistics_csv(report, "de")
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    head = rows[0]
    assert head[:4] == ["Art", "Von", "Bis", "Name"] and "Angenommen" in head and "Servicelevel (%)" in head
    by_kind = [r for r in rows[1:] if r[0] == "Zeit"]
    assert [r[1] for r in by_kind] == ["2026-03-09 00:00", "2026-03-10 00:00"]
    total = next(r for r in rows if r[0] == "Gesamt")
    column = dict(zip(head, total, strict=True))
    assert (column["Angenommen"], column["Aufgelegt"], column["Ø Wartezeit (s)"]) == ("1", "1", "5,5")
    assert column["Servicelevel (%)"] == "50,0"
    assert [r[3] for r in rows if r[0] == "Agent"] == ["anna"]
    english = list(csv.reader(io.StringIO(statistics_csv(report, "en").decode("utf-8-sig"))))
    assert (
        english[0][:2] == ["Kind", "From"] and dict(zip(english[0], english[-2], strict=True))["Avg wait (s)"] == "5.5"
    )


async def test_a_wallboard_token_is_valid_until_revoked_and_only_its_hash_is_kept(
    store: tuple[Statistics, Log, Database],
) -> None:
    _, _, db = store
    clock = ManualClock(datetime(2026, 12, 7, 9, 0, tzinfo=UTC))
    tokens = WallboardTokens(db, clock)
    made = await tokens.create("Flur", "admin")
    assert await tokens.check(made["token"]) == "valid"
    assert await tokens.check(made["token"] + "x") == "unknown"
    assert await tokens.check("") == "unknown"
    stored = await db.fetch("SELECT * FROM wallboard_tokens")
    assert made["token"] not in str(stored)
    await tokens.revoke(made["id"], "admin")
    assert await tokens.check(made["token"]) == "revoked"
    listed = await tokens.list()
    assert listed[0]["revoked_by"] == "admin" and "token" not in listed[0]


async def test_days_that_are_over_are_kept_and_give_the_same_figures_as_the_call_log(
    store: tuple[Statistics, Log, Database],
) -> None:
    stats, log, _ = store
    now = local(2026, 3, 30, 15, 0)  # a Monday, the day after the clocks changed
    rows = [  # (day, hour, team, outcome, waited, agent, talk)
        (23, 9, "support", "answered", 4.5, "anna", 60.0), (23, 10, "sales", "answered", 31.0, "ben", 20.0),
        (24, 11, "support", "abandoned", 12.0, None, None), (26, 23, "support", "answered", 19.9, "anna", 5.0),
        (27, 0, "sales", "voicemail", 40.0, None, None), (29, 2, "support", "callback", 8.0, None, None),
        (29, 12, "support", "answered", 20.1, "ben", 70.0), (30, 9, "sales", "answered", 2.0, "anna", 30.0),
        (30, 10, None, "hangup", 0.0, None, None),
    ]  # fmt: skip
    for day, hour, team, outcome, waited, agent, talk in rows:
        await log.call(local(2026, 3, day, hour, 0), team=team, outcome=outcome, waited=waited, agent=agent, talk=talk,
                       message="m" if outcome == "voicemail" else None)  # fmt: skip
    for by in ("day", "week"):
        for team, agent in ((None, None), ("support", None), (None, "anna"), ("sales", "anna")):
            for level in (5, 20, 30):
                args = (date(2026, 3, 20), date(2026, 3, 30), by, BERLIN, team, agent, level)
                kept = await stats.report(*args, now=now)
                counted = await stats.report(*args)
                assert kept == counted, (by, team, agent, level)
    assert {d for _, d in stats._days} == {date(2026, 3, d) for d in range(20, 29)}  # the 29th: not a day over yet
    # a late row for a recent day counts at once; the kept days are not read again
    await log.call(local(2026, 3, 29, 18, 0), outcome="abandoned", waited=3)
    again = await stats.report(date(2026, 3, 20), date(2026, 3, 30), "day", BERLIN, now=now)
    assert [b["abandoned"] for b in again["series"]][-3:] == [0, 1, 0]
    assert again["total"]["abandoned"] == 2


async def test_at_most_keep_days_days_are_kept_the_oldest_go_first(
    store: tuple[Statistics, Log, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, log, _ = store
    monkeypatch.setattr("zentrale.store.statistics.KEEP_DAYS", 10)
    await log.call(local(2026, 1, 5, 9, 0), agent="anna", waited=4, talk=10)
    now = local(2026, 3, 1, 12, 0)
    first = await stats.report(date(2026, 1, 1), date(2026, 1, 14), "day", BERLIN, now=now)
    assert len(stats._days) == 10 and min(d for _, d in stats._days) == date(2026, 1, 5)
    later = await stats.report(date(2026, 1, 1), date(2026, 1, 14), "week", BERLIN, now=now)
    assert first["total"] == later["total"] and first["total"]["answered"] == 1


async def test_a_teams_or_an_agents_figures_from_their_own_index_equal_those_of_the_time_index(
    store: tuple[Statistics, Log, Database], monkeypatch: pytest.MonkeyPatch
) -> None:
    stats, log, db = store
    rows = [  # (day, hour, team, outcome, waited, agent)
        (2, 9, "support", "answered", 4.5, "anna"), (2, 10, "sales", "answered", 31.0, "ben"),
        (3, 11, "support", "abandoned", 12.0, None), (4, 23, "support", "answered", 19.9, "anna"),
        (5, 0, "sales", "voicemail", 40.0, None), (6, 12, "support", "answered", 20.1, "ben"),
        (6, 13, "sales", "answered", 2.0, "anna"), (7, 10, None, "hangup", 0.0, None),
    ]  # fmt: skip
    for day, hour, team, outcome, waited, agent in rows:
        await log.call(local(2026, 3, day, hour, 0), team=team, outcome=outcome, waited=waited, agent=agent,
                       talk=10.0 if agent else None)  # fmt: skip
    cases = [("support", None), ("sales", None), (None, "anna"), ("sales", "anna"), ("nobody", None), (None, "zoe")]
    own = [await stats.report(date(2026, 3, 1), date(2026, 3, 8), "day", BERLIN, team, agent) for team, agent in cases]
    monkeypatch.setattr("zentrale.store.statistics._period_sql", lambda params: statistics_module._PERIOD)
    through_time = [
        await stats.report(date(2026, 3, 1), date(2026, 3, 8), "day", BERLIN, team, agent) for team, agent in cases
    ]
    assert own == through_time
    assert own[0]["total"]["offered"] == 4 and own[2]["total"]["answered"] == 3
    monkeypatch.undo()
    query = statistics_module._period_sql({"team": "x"}).replace("CREATE TEMP TABLE period AS ", "EXPLAIN QUERY PLAN ")
    params = {"buckets": "[]", "team": "x", "agent": None}
    plan = await db.run(lambda c: c.execute(query, params).fetchall())
    assert "call_log_by_team" in " ".join(str(tuple(r)) for r in plan)


async def test_warming_counts_the_last_years_days_that_are_over_and_changes_no_figure(
    store: tuple[Statistics, Log, Database],
) -> None:
    stats, log, _ = store
    now = local(2026, 3, 30, 15, 0)
    for day in (1, 15, 28):
        await log.call(local(2026, 3, day, 9, 0), agent="anna", waited=5, talk=60)
    await log.call(local(2025, 4, 2, 9, 0), outcome="abandoned", waited=3)  # within the year
    await stats.warm(BERLIN, now)
    days = {d for _, d in stats._days}
    assert date(2025, 4, 2) in days and date(2026, 3, 28) in days and date(2026, 3, 29) not in days  # not over yet
    assert len(days) == 364  # 366 days up to today, less today and yesterday
    args = (date(2025, 4, 1), date(2026, 3, 30), "week", BERLIN)
    assert await stats.report(*args, now=now) == await stats.report(*args)


async def test_a_teams_or_an_agents_figures_from_kept_days_equal_the_rows_over_midnight_and_the_clock_change(
    store: tuple[Statistics, Log, Database],
) -> None:
    stats, log, db = store
    now = local(2026, 11, 9, 12, 0)  # every day below is over and kept
    rows = [  # (local start, team, outcome, waited, agent)
        (local(2026, 10, 24, 23, 59, 59), "support", "answered", 20.0, "anna"),  # the evening before the change
        (local(2026, 10, 25, 0, 0, 0), "support", "answered", 20.1, "anna"),  # local midnight: 22:00 UTC the 24th
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "sales", "answered", 5.0, "anna"),  # 02:30 +02:00
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "sales", "abandoned", 61.5, None),  # 02:30 +01:00
        (local(2026, 10, 25, 23, 30), "support", "answered", 3.3, "ben"),  # 22:30 UTC, still the 25th
        (local(2026, 10, 26, 0, 10), "support", "voicemail", 44.0, None),
        (local(2026, 10, 26, 9, 0), None, "answered", 0.0, "ben"),  # put through to ben: answered, no team
        (local(2026, 10, 26, 9, 5), "support", "callback", 12.0, None),
        (local(2026, 10, 27, 10, 0), "sales", "answered", 29.9, "ben"),
        (local(2026, 10, 27, 10, 1), "sales", "answered", 30.0, "ben"),
        (local(2026, 10, 27, 10, 2), "support", "abandoned", 7.0, None),
        (local(2026, 11, 2, 8, 0), "support", "answered", 19.9, "anna"),  # the next week
        (local(2026, 11, 2, 8, 1), None, "hangup", 0.0, None),
    ]  # fmt: skip
    for at, team, outcome, waited, agent in rows:
        await log.call(at, team=team, outcome=outcome, waited=waited, agent=agent, talk=15.5 if agent else None,
                       message="m" if outcome == "voicemail" else None)  # fmt: skip
    cases = [("support", None), ("sales", None), (None, "anna"), (None, "ben"), ("sales", "ben"), ("support", "ben"),
             ("nobody", None), (None, "zoe"), (None, None)]  # fmt: skip
    periods = [(date(2026, 10, 24), date(2026, 10, 26)), (date(2026, 10, 20), date(2026, 11, 5))]
    kept: list[dict[str, Any]] = []
    for first, last in periods:
        for by in ("day", "week"):
            for team, agent in cases:
                for level in (5, 20, 30):
                    args = (first, last, by, BERLIN, team, agent, level)
                    kept.append(await stats.report(*args, now=now))
                    assert kept[-1] == await stats.report(*args), (first, by, team, agent, level)
    assert (BERLIN.key, date(2026, 10, 25)) in stats._days  # the 25-hour day is a kept day like any other
    support = await stats.report(date(2026, 10, 24), date(2026, 10, 26), "day", BERLIN, "support", None, 20, now=now)
    assert [b["offered"] for b in support["series"]] == [1, 2, 2]  # the midnight call on the 25th
    assert (support["total"]["answered"], support["total"]["answered_in_time"]) == (3, 2)  # 20.1 s is late
    assert support["total"]["p90_wait_s"] == 20.1 and [t["team"] for t in support["teams"]] == ["support"]
    assert [(a["agent"], a["answered"]) for a in support["agents"]] == [("anna", 2), ("ben", 1)]
    ben = await stats.report(date(2026, 10, 24), date(2026, 10, 30), "week", BERLIN, None, "ben", 30, now=now)
    assert (ben["total"]["answered"], ben["total"]["offered"], ben["total"]["answered_in_time"]) == (4, 3, 3)
    assert {t["team"]: t["answered"] for t in ben["teams"]} == {None: 1, "sales": 2, "support": 1}
    # they come from the kept days: the same figures once the rows are gone (as after the retention job)
    await db.execute("DELETE FROM call_log")
    again: list[dict[str, Any]] = []
    for first, last in periods:
        for by in ("day", "week"):
            for team, agent in cases:
                for level in (5, 20, 30):
                    again.append(await stats.report(first, last, by, BERLIN, team, agent, level, now=now))
    assert again == kept
    gone = await stats.report(date(2026, 10, 24), date(2026, 10, 26), "day", BERLIN, "support")
    assert gone["total"]["offered"] == 0
