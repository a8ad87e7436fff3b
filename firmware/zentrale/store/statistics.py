"""Statistics from the call log: per hour, day or week, per team and per agent (issue 16, item 6).

Everything is counted by SQL aggregates on a read connection of its own (``Statistics``); the
rows never come to Python one by one. What the figures mean (docs/statistics.md):

- ``offered``: calls that reached a team (``team`` set: they entered a queue node);
- ``answered``: taken by an agent (``answered_by`` set); ``abandoned``: an offered call whose
  caller hung up before an agent took it (outcome ``abandoned``, nobody answered; one who hung
  up during a greeting, before any team, is not offered and not abandoned), with how long they
  had waited (average and longest);
- ``messages``: calls that left a message; ``callbacks``: rows with outcome ``callback``;
- ``avg_wait_s``/``p90_wait_s``: the wait of answered calls until an agent took them; the
  90th percentile by the nearest-rank method (the smallest wait that 90 % of the calls did not
  exceed), taken from the waits themselves, sorted (SQLite counts equal waits, Python spreads
  them out: exact, and a percentile cannot be added up from parts);
- ``service_level``: answered within N seconds / offered (None without offered calls);
- ``talk_s``: the agents' talk time. The call log does not record wrap-up time (the agent's
  after-call work is a state of the agent, not of the call): ``wrap_up_s`` is None here and
  filled in by the API from the agents' rings (store/offers.py), per team, agent and in all.

Buckets are the box's local time (the schedule's time zone): a day is local midnight to local
midnight, 23 or 25 hours on the days the clocks change, a week starts on Monday. Hour buckets
are real hours: the autumn night has two buckets labelled 02:00 (with different offsets).
The call log's times are UTC ISO texts as ``datetime.isoformat()`` writes them ("+00:00"), which
sort as text in time order, so a bucket is a range of the covering ``call_log_statistics`` index:
the buckets are passed as one JSON parameter and each one is a range scan.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import math
import sqlite3
from bisect import bisect_right
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from zentrale.core.clock import Clock
from zentrale.errors import Invalid, StoreError
from zentrale.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")
By = Literal["hour", "day", "week"]
MAX_DAYS = {"hour": 14, "day": 366, "week": 371}  # a chart a person can read; the work stays bounded
EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)  # beyond: no call log, and no overflow
COUNTS = ("calls", "offered", "answered", "abandoned", "messages", "callbacks", "answered_in_time")


@dataclass(frozen=True)
class Bucket:
    start: datetime  # local, aware
    end: datetime

    def utc(self) -> tuple[str, str]:
        return self.start.astimezone(UTC).isoformat(), self.end.astimezone(UTC).isoformat()


def buckets(first: date, last: date, by: str, tz: ZoneInfo) -> list[Bucket]:
    """The buckets covering the local days ``first`` to ``last`` (both included)."""
    if by not in MAX_DAYS:
        raise Invalid(f"statistics by {by!r}: use hour, day or week")
    if not (EARLIEST <= first <= LATEST and EARLIEST <= last <= LATEST):
        earliest, latest = EARLIEST, LATEST
        raise Invalid(f"statistics cover days from {earliest} to {latest}")
    if last < first:
        to, start = last, first
        raise Invalid(f"statistics range ends ({to}) before it starts ({start})")
    days = MAX_DAYS[by]
    if (last - first).days + 1 > days:
        raise Invalid(f"statistics by {by} cover at most {days} days")
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    out: list[Bucket] = []
    if by == "hour":  # real hours: step in UTC, label in local time
        at = start.astimezone(UTC)
        stop = end.astimezone(UTC)
        while at < stop:
            out.append(Bucket(at.astimezone(tz), (at + timedelta(hours=1)).astimezone(tz)))
            at += timedelta(hours=1)
        return out
    day = first
    while day <= last:
        step = 1 if by == "day" else 7 - day.weekday()  # a week ends before the next Monday
        following = min(day + timedelta(days=step), last + timedelta(days=1))
        out.append(Bucket(datetime.combine(day, time(0), tzinfo=tz), datetime.combine(following, time(0), tzinfo=tz)))
        day = following
    return out


def p90(waits: list[float]) -> float | None:
    """Nearest-rank 90th percentile of waits sorted ascending: the smallest one that at least
    90 % of them do not exceed; None when empty."""
    return waits[max(1, math.ceil(0.9 * len(waits))) - 1] if waits else None


_SUMS = """
    COUNT(*) AS calls,
    SUM(c.team IS NOT NULL) AS offered,
    SUM(c.answered_by IS NOT NULL) AS answered,
    SUM(c.answered_by IS NULL AND c.outcome = 'abandoned' AND c.team IS NOT NULL) AS abandoned,
    SUM(c.message_id IS NOT NULL) AS messages,
    SUM(c.outcome = 'callback') AS callbacks,
    SUM(c.answered_by IS NOT NULL AND c.team IS NOT NULL AND COALESCE(c.waited_s, 0) <= :level) AS answered_in_time,
    SUM(CASE WHEN c.answered_by IS NOT NULL THEN COALESCE(c.waited_s, 0) END) AS wait_sum,
    SUM(CASE WHEN c.answered_by IS NULL AND c.outcome = 'abandoned' AND c.team IS NOT NULL
        THEN COALESCE(c.waited_s, 0) END)
        AS abandoned_wait_sum,
    MAX(CASE WHEN c.answered_by IS NULL AND c.outcome = 'abandoned' AND c.team IS NOT NULL
        THEN COALESCE(c.waited_s, 0) END)
        AS abandoned_wait_max,
    SUM(COALESCE(c.talk_s, 0)) AS talk_sum
"""
_BUCKETS = (
    "b(i, lo, hi) AS (SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]') FROM json_each(:buckets))"
)
_FILTER = "(:team IS NULL OR c.team = :team) AND (:agent IS NULL OR c.answered_by = :agent)"
_JOIN = f"FROM b JOIN call_log c ON c.started_at >= b.lo AND c.started_at < b.hi WHERE {_FILTER}"
# A team's or an agent's report: the equality first, so SQLite walks only their rows in the
# ``call_log_by_team``/``call_log_by_agent`` indexes (migration 13) instead of every call of the
# range (a team's year of 200,000 calls: 450 ms through the time index)
# (named, and CROSS JOIN keeps the buckets the outer loop: without ANALYZE figures SQLite took
# the time index, or walked all of the team's rows once per bucket)
_JOIN_TEAM = (
    "FROM b CROSS JOIN call_log c INDEXED BY call_log_by_team ON c.team = :team AND c.started_at >= b.lo"
    " AND c.started_at < b.hi WHERE (:agent IS NULL OR c.answered_by = :agent)"
)
_JOIN_AGENT = (
    "FROM b CROSS JOIN call_log c INDEXED BY call_log_by_agent ON c.answered_by = :agent AND c.started_at >= b.lo"
    " AND c.started_at < b.hi"
)
_RAW = (*COUNTS, "wait_sum", "abandoned_wait_sum", "abandoned_wait_max", "talk_sum")


def _figures(row: dict[str, Any], waits: list[float]) -> dict[str, Any]:
    """The figures of one bucket, team or agent from its sums and its answered calls' waits (sorted)."""
    out: dict[str, Any] = {k: int(row.get(k) or 0) for k in COUNTS}
    answered, abandoned, offered = out["answered"], out["abandoned"], out["offered"]
    out["avg_wait_s"] = round(row["wait_sum"] / answered, 1) if answered else None
    out["p90_wait_s"] = p90(waits)
    out["abandoned_avg_wait_s"] = round(row["abandoned_wait_sum"] / abandoned, 1) if abandoned else None
    out["abandoned_max_wait_s"] = row["abandoned_wait_max"] if abandoned else None
    out["service_level"] = round(out["answered_in_time"] / offered, 3) if offered else None
    out["talk_s"] = round(float(row.get("talk_sum") or 0), 1)
    out["avg_talk_s"] = round(out["talk_s"] / answered, 1) if answered else None
    out["wrap_up_s"] = None  # not in the call log: the API adds it from the agents' rings (module doc)
    return out


EMPTY: dict[str, Any] = {k: 0 for k in _RAW} | {"abandoned_wait_max": None}


_SELECT = f"""CREATE TEMP TABLE period AS WITH {_BUCKETS}
    SELECT b.i AS i, c.team AS team, c.answered_by AS answered_by, c.outcome AS outcome,
        c.message_id AS message_id, c.waited_s AS waited_s, c.talk_s AS talk_s"""
_PERIOD = f"{_SELECT} {_JOIN}"


def _period_sql(params: dict[str, Any]) -> str:
    if params.get("team") is not None:
        return f"{_SELECT} {_JOIN_TEAM}"
    if params.get("agent") is not None:
        return f"{_SELECT} {_JOIN_AGENT}"
    return _PERIOD


Sums = dict[Any, dict[str, Any]]
Waits = dict[Any, list[float]]  # the answered calls' waits, sorted (the 90th percentile is not a sum)


def _period(conn: sqlite3.Connection, params: dict[str, Any]) -> tuple[Sums, Sums, Sums, Waits, Waits, Waits]:
    """Sums and answered calls' waits (sorted) per bucket, team and agent.

    The period's rows are copied once from the covering index into a temporary table (memory)
    and counted from there twice: a third faster than joins of the index, and both counts see
    the same rows. SQLite groups the waits ({wait: count}); Python spreads them out."""
    conn.execute("PRAGMA temp_store=MEMORY")  # a year is ~10 MB for a moment; never a file on the data disk
    conn.execute("DROP TABLE IF EXISTS temp.period")
    try:
        conn.execute(_period_sql(params), params)
    except sqlite3.OperationalError as err:  # a database opened read-only before migration 13 could run
        if "no such index" not in str(err):
            raise
        conn.execute(_PERIOD, params)
    try:
        per: tuple[Sums, Sums, Sums] = ({}, {}, {})
        for row in conn.execute(
            f"SELECT c.i, c.team, c.answered_by, {_SUMS} FROM temp.period c GROUP BY c.i, c.team, c.answered_by",
            {"level": params["level"]},
        ):
            values = dict(row)
            for target, k in zip(per, (values["i"], values["team"], values["answered_by"]), strict=True):
                _add(target.setdefault(k, dict(EMPTY)), values)
        waits: tuple[Waits, Waits, Waits] = ({}, {}, {})
        for i, team, agent, wait, n in conn.execute(
            "SELECT i, team, answered_by, COALESCE(waited_s, 0), COUNT(*) FROM temp.period"
            " WHERE answered_by IS NOT NULL GROUP BY 1, 2, 3, 4"
        ):
            run = [float(wait)] * int(n)
            for into, k in zip(waits, (i, team, agent), strict=True):
                into.setdefault(k, []).extend(run)
        return (*per, *({k: sorted(v) for k, v in into.items()} for into in waits))  # type: ignore[return-value]
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.period")


def _add(into: dict[str, Any], row: dict[str, Any]) -> None:
    for k in _RAW:
        if k == "abandoned_wait_max":
            if row[k] is not None:
                into[k] = max(into[k] or 0, row[k])
        else:
            into[k] += row[k] or 0


def _figured(sums: Sums, waits: Waits) -> dict[Any, dict[str, Any]]:
    return {k: _figures(row, waits.get(k, [])) for k, row in sums.items()}


def _total(sums: Sums, team_waits: Waits) -> dict[str, Any]:
    """The whole range from the per-bucket sums and the per-team waits: the teams (``None``: the
    calls without one) split the rows as the buckets do, and their few long sorted runs merge in
    one quick sort."""
    row = dict(EMPTY)
    for g in sums.values():
        _add(row, g)
    merged: list[float] = []
    for waits in team_waits.values():
        merged.extend(waits)
    return _figures(row, sorted(merged))


# --- days that are over, counted once (Statistics._days) ----------------------------------------
KEEP_DAYS = 400  # a year and a bit: the longest period (371 days) and last year's same weeks
SETTLED = timedelta(days=1)  # a day this long over gets no more rows (every call ends within hours)
Row = tuple[float, ...]  # a sums row in _RAW's order: not a dict (memory); not an array (the GC tracks those)
Cell = tuple[str | None, str | None]  # (team, agent); None: no team / nobody answered


def _row(values: dict[str, Any], shared: dict[Any, Any]) -> Row:
    """SQL's NULL (a sum or maximum of no rows) as 0, and as -1 for the longest wait (none); equal
    figures as one float object (most are small counts)."""
    row = (float(values[k] if values[k] is not None else -1 if k == "abandoned_wait_max" else 0) for k in _RAW)
    return tuple(shared.setdefault(v, v) for v in row)


@dataclass
class DayPartial:
    """One local day of the call log added up per cell -- a team and an agent together -- so
    that every report, for everyone, one team or one agent, by day or week, is a sum of cells.
    Sums (``answered_in_time`` 0: counted from the waits, for the level asked) and the answered
    calls' waits themselves, sorted: a percentile cannot be added up, the waits can be joined.
    Tuples of shared float objects (one per distinct wait): joining and sorting them needs no
    new objects, a third quicker than from ``array('d')``."""

    sums: dict[Cell, Row]
    waits: dict[Cell, tuple[float, ...]]


_DAY_SUMS = _SUMS.replace("COALESCE(c.waited_s, 0) <= :level", "0")  # in time: from the waits, for any level


def _day_partials(conn: sqlite3.Connection, days: list[date], tz: ZoneInfo) -> dict[date, DayPartial]:
    cuts = [buckets(d, d, "day", tz)[0] for d in days]
    params = {"buckets": json.dumps([b.utc() for b in cuts]), "team": None, "agent": None, "level": 0}
    found = {d: DayPartial({}, {}) for d in days}
    cells: dict[tuple[int, str | None, str | None], list[float]] = {}
    shared: dict[Any, Any] = {}  # one object per cell name and per wait for all these days (memory)
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("DROP TABLE IF EXISTS temp.period")
    conn.execute(_PERIOD, params)
    try:
        for row in conn.execute(
            f"SELECT c.i, c.team, c.answered_by, {_DAY_SUMS} FROM temp.period c GROUP BY c.i, c.team, c.answered_by"
        ):
            values = dict(row)
            cell = (values["team"], values["answered_by"])
            found[days[values["i"]]].sums[shared.setdefault(cell, cell)] = _row(values, shared)
        for i, team, agent, wait, n in conn.execute(
            "SELECT i, team, answered_by, COALESCE(waited_s, 0), COUNT(*) FROM temp.period"
            " WHERE answered_by IS NOT NULL GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"
        ):
            value = shared.setdefault(float(wait), float(wait))
            cells.setdefault((i, team, agent), []).extend([value] * int(n))
    finally:
        conn.execute("DROP TABLE IF EXISTS temp.period")
    for (i, team, agent), waits in cells.items():
        found[days[i]].waits[shared[(team, agent)]] = tuple(waits)
    return found


def _summed(rows: list[Row], early: list[int]) -> dict[str, Any]:
    """Cells' sums added column by column (C loops); ``math.fsum``: the same in any order."""
    out: dict[str, Any] = {k: math.fsum(column) for k, column in zip(_RAW, zip(*rows, strict=True), strict=True)}
    longest = max(row[_LONGEST] for row in rows)
    out["abandoned_wait_max"] = longest if longest >= 0 else None
    out["answered_in_time"] = sum(early)
    return out


_LONGEST = _RAW.index("abandoned_wait_max")


def _joined(runs: list[tuple[float, ...]]) -> list[float]:
    merged: list[float] = []
    for run in runs:
        merged.extend(run)
    return sorted(merged)  # sorted runs: Python's sort merges them


def _merge_days(
    parts: list[tuple[int, DayPartial]], level: float, team: str | None = None, agent: str | None = None
) -> tuple[Sums, Sums, Sums, Waits, Waits, Waits]:
    """Per bucket (``i``: the day's bucket), team and agent from kept days: the cells of the team
    or agent asked for (as the call log's rows are chosen: a team's calls, the calls an agent
    answered), collected per bucket, team and agent and added at the end. Answered in time: the
    cell's waits up to ``level`` (``bisect`` in the sorted waits), none for calls without a team
    (not offered: never in time)."""
    groups: tuple[dict[Any, tuple[list[Row], list[int], list[tuple[float, ...]]]], ...] = ({}, {}, {})
    for i, part in parts:
        for cell, row in part.sums.items():
            t, a = cell
            if (team is not None and t != team) or (agent is not None and a != agent):
                continue
            waits = part.waits.get(cell)
            early = bisect_right(waits, level) if waits is not None and t is not None else 0
            for into, k in zip(groups, (i, t, a), strict=True):
                group = into.get(k)
                if group is None:
                    group = into[k] = ([], [], [])
                group[0].append(row)
                group[1].append(early)
                if waits is not None:
                    group[2].append(waits)
    sums = [{k: _summed(rows, early) for k, (rows, early, _) in into.items()} for into in groups]
    waits_of = [{k: _joined(runs) for k, (_, _, runs) in into.items() if runs} for into in groups]
    return (*sums, *waits_of)  # type: ignore[return-value]


class Statistics:
    """Reads on a connection and a thread of its own (WAL: readers never wait for the writer),
    so a year of figures -- a second on a slow box -- does not hold up the database thread that
    stores messages and the call log. One reader: two, counting a report's sums and waits
    at once, were slower on two busy cores and made a 5 ms timer up to 50 ms late (the GIL), as
    against 7 ms with one (bench/statistics.py). Falls back to the database thread when the file
    cannot be opened a second time (the disk-full read-only start, ``Database._open``)."""

    READERS = 1

    def __init__(self, db: Database) -> None:
        self.db = db
        self._executor = ThreadPoolExecutor(max_workers=self.READERS, thread_name_prefix="statistics")
        self._slots = asyncio.Semaphore(self.READERS)  # at most READERS connections, each used by one at a time
        self._idle: list[sqlite3.Connection] = []
        self._warned = False
        # local days that are over, counted once (a year: ~5 MB); lost at a restart, not updated
        # when the retention job deletes old rows (figures then outlive the rows they came from)
        self._days: dict[tuple[str, date], DayPartial] = {}

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(f"file:{self.db.path}?mode=ro", uri=True, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=5000")
            conn.execute("SELECT 1 FROM call_log LIMIT 1").fetchall()
        except sqlite3.Error:
            conn.close()
            raise
        return conn

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self.db.read_only:
            return await self.db.run(fn)
        loop = asyncio.get_running_loop()
        async with self._slots:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                try:
                    conn = await loop.run_in_executor(self._executor, self._connect)
                except sqlite3.Error as err:
                    if not self._warned:
                        log.warning("statistics: reading on the database thread (%s)", err)
                        self._warned = True
                    return await self.db.run(fn)

            def call() -> T:
                try:
                    return fn(conn)
                except sqlite3.Error as err:
                    raise StoreError(f"database error: {err}") from err

            try:
                return await loop.run_in_executor(self._executor, call)
            finally:
                self._idle.append(conn)

    async def close(self) -> None:
        async with self._slots:  # one at a time: the ones in use come back first
            pass
        idle, self._idle = self._idle, []
        for conn in idle:
            await asyncio.get_running_loop().run_in_executor(self._executor, conn.close)
        self._executor.shutdown(wait=True)

    async def _from_days(
        self,
        cuts: list[Bucket],
        tz: ZoneInfo,
        now: datetime,
        level: float,
        team: str | None = None,
        agent: str | None = None,
    ) -> tuple[Sums, Sums, Sums, Waits, Waits, Waits]:
        where: list[tuple[int, date]] = []
        for i, cut in enumerate(cuts):
            day = cut.start.date()
            while day < cut.end.date():
                where.append((i, day))
                day += timedelta(days=1)
        settled = {d for _, d in where if datetime.combine(d + timedelta(days=1), time(0), tzinfo=tz) + SETTLED <= now}
        have = {d: self._days[(tz.key, d)] for d in settled if (tz.key, d) in self._days}
        missing = sorted(settled - have.keys())
        for start in range(0, len(missing), 62):  # two months at a time: the reader is not held for long
            have |= await self._run(functools.partial(_day_partials, days=missing[start : start + 62], tz=tz))
        recent = [d for _, d in where if d not in settled]
        if recent:
            have |= await self._run(functools.partial(_day_partials, days=recent, tz=tz))
        parts = [(i, have[d]) for i, d in where]
        for d in missing:
            self._days[(tz.key, d)] = have[d]
        if len(self._days) > KEEP_DAYS:  # bounded: the oldest days go first (an old period is counted again)
            for key in sorted(self._days, key=lambda k: k[1])[: len(self._days) - KEEP_DAYS]:
                del self._days[key]
        # a year is ~100 ms of Python: on the reader's thread, not the event loop's (the media clock)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, _merge_days, parts, level, team, agent)

    async def warm(self, tz: ZoneInfo, now: datetime) -> None:
        """Count and keep the days of the last year that are over -- what the first long report
        after a start would otherwise do while its reader waits (1.0-1.8 s for 200,000 calls)."""
        last = now.astimezone(tz).date()
        first = max(EARLIEST, last - timedelta(days=MAX_DAYS["day"] - 1))
        await self._from_days(buckets(first, last, "day", tz), tz, now, 20)

    async def report(
        self,
        first: date,
        last: date,
        by: str,
        tz: ZoneInfo,
        team: str | None = None,
        agent: str | None = None,
        service_level_s: float = 20,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """Figures per bucket, per team and per agent, and for the whole range. With ``now``,
        days and weeks come from per-day totals (per team and agent: for everyone, one team or
        one agent), those of days over kept (``_days``); hours are counted from the call log."""
        cuts = buckets(first, last, by, tz)
        if now is not None and by != "hour":
            merged = await self._from_days(cuts, tz, now, service_level_s, team, agent)
        else:
            params = {
                "buckets": json.dumps([b.utc() for b in cuts]),
                "team": team, "agent": agent, "level": service_level_s,
            }  # fmt: skip

            def work(conn: sqlite3.Connection) -> tuple[Sums, Sums, Sums, Waits, Waits, Waits]:
                return _period(conn, params)

            merged = await self._run(work)
        series, teams, agents, series_waits, team_waits, agent_waits = merged
        found = {
            "series": _figured(series, series_waits),
            "total": _total(series, team_waits),
            "teams": _figured(teams, team_waits),
            "agents": _figured(agents, agent_waits),
        }
        empty = _figures(EMPTY, [])
        return {
            "from": first.isoformat(),
            "to": last.isoformat(),
            "by": by,
            "timezone": tz.key,
            "team": team,
            "agent": agent,
            "service_level_s": service_level_s,
            "total": found["total"],
            "series": [
                {"start": b.start.isoformat(), "end": b.end.isoformat(), **found["series"].get(i, empty)}
                for i, b in enumerate(cuts)
            ],
            "teams": [{"team": k, **v} for k, v in sorted(found["teams"].items(), key=lambda kv: kv[0] or "")],
            "agents": [{"agent": k, **v} for k, v in sorted(found["agents"].items(), key=lambda kv: kv[0] or "") if k],
        }

    async def today(self, now: datetime, tz: ZoneInfo, service_level_s: float = 20) -> dict[str, dict[str, Any]]:
        """The local day so far, per team (the wallboard): answered, abandoned, service level."""
        day = now.astimezone(tz).date()
        cut = buckets(day, day, "day", tz)[0]
        params = {"buckets": json.dumps([cut.utc()]), "team": None, "agent": None, "level": service_level_s}

        def work(conn: sqlite3.Connection) -> dict[str, dict[str, Any]]:
            _, teams, _, _, team_waits, _ = _period(conn, params)
            return {k: v for k, v in _figured(teams, team_waits).items() if k is not None}

        return await self._run(work)


async def warm_later(stats: Statistics, tz: Callable[[], ZoneInfo], clock: Clock, delay: float) -> None:
    """``Statistics.warm`` once, ``delay`` seconds after the start (the box's own start first)."""
    await clock.sleep(delay)
    try:
        await stats.warm(tz(), clock.now())
    except (StoreError, Invalid, OSError) as err:  # the report counts these days itself then
        log.warning("statistics: the days of the last year were not counted ahead (%s)", err)
