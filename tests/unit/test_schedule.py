"""Schedules: week plan, German public holidays, closed days, next change."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import holidays
import pytest

from zentrale.core.schedule import Schedule, mode_at, next_change

BERLIN = ZoneInfo("Europe/Berlin")
BAVARIA = holidays.country_holidays("DE", subdiv="BY", language="de")


def is_holiday(day: date) -> str | None:
    return BAVARIA.get(day)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=BERLIN)


@pytest.fixture
def plan() -> Schedule:
    return Schedule(enabled=True, closed_days=[date(2026, 12, 24)])


def test_opening_hours_choose_the_open_mode_at_the_right_minute(plan: Schedule) -> None:
    assert mode_at(plan, at("2026-11-26 07:59"), is_holiday)[0] == "closed"
    assert mode_at(plan, at("2026-11-26 08:00"), is_holiday)[:2] == ("hotline", "open")
    assert mode_at(plan, at("2026-11-26 16:59"), is_holiday)[0] == "hotline"
    assert mode_at(plan, at("2026-11-26 17:00"), is_holiday)[0] == "closed"
    assert mode_at(plan, at("2026-11-28 10:00"), is_holiday)[0] == "closed"  # a Saturday


def test_a_bavarian_public_holiday_is_closed_all_day(plan: Schedule) -> None:
    mode, why, detail = mode_at(plan, at("2026-01-06 10:00"), is_holiday)  # Epiphany, a Tuesday
    assert (mode, why) == ("closed", "holiday")
    assert detail == "Heilige Drei Könige"
    # not a holiday in Berlin
    berlin = holidays.country_holidays("DE", subdiv="BE")
    assert mode_at(plan, at("2026-01-06 10:00"), berlin.get)[0] == "hotline"


def test_custom_closed_day(plan: Schedule) -> None:
    assert mode_at(plan, at("2026-12-24 10:00"), is_holiday)[:2] == ("closed", "closed_day")


def test_next_change_finds_the_next_opening_and_closing(plan: Schedule) -> None:
    assert next_change(plan, at("2026-11-26 12:00"), is_holiday) == (at("2026-11-26 17:00"), "closed")
    # Friday evening -> Monday morning
    assert next_change(plan, at("2026-11-27 18:00"), is_holiday) == (at("2026-11-30 08:00"), "hotline")
    # before Epiphany (Tue): Monday opens, Tuesday stays closed, Wednesday opens again
    assert next_change(plan, at("2026-01-05 17:30"), is_holiday) == (at("2026-01-07 08:00"), "hotline")


def test_utc_input_is_read_in_the_schedules_zone(plan: Schedule) -> None:
    # 07:30 UTC = 08:30 in Berlin in winter
    assert mode_at(plan, datetime(2026, 11, 26, 7, 30, tzinfo=UTC), is_holiday)[0] == "hotline"


def test_bad_plans_are_refused() -> None:
    with pytest.raises(ValueError, match="not before closing"):
        Schedule(week={"mon": [("17:00", "08:00")]})
    with pytest.raises(ValueError, match="not a time"):
        Schedule(week={"mon": [("8", "17:00")]})
    with pytest.raises(ValueError, match="unknown day"):
        Schedule(week={"monday": []})
    with pytest.raises(ValueError, match="unknown time zone"):
        Schedule(timezone="Mars/Olympus")
