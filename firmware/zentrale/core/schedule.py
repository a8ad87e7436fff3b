"""Schedules (Zeitsteuerung): which mode is active when.

A week plan of opening hours, public holidays (given by an injected
function, e.g. the ``holidays`` package for a German federal state) and
custom closed days choose between an "open" and a "closed" mode. A manual
override (an admin activating a mode by hand) wins until switched back.
Pure: the caller passes the time.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

HolidayLookup = Callable[[date], str | None]


def _parse_hhmm(text: str) -> time:
    m = _HHMM.match(text)
    if not m or (m.group(1) == "24" and m.group(2) != "00"):
        raise ValueError(f"{text!r} is not a time like 08:30")
    hours, minutes = int(m.group(1)), int(m.group(2))
    return time.max if hours == 24 else time(hours, minutes)


class Schedule(BaseModel):
    """The week plan as an admin edits it."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    timezone: str = "Europe/Berlin"
    open_mode: str = "hotline"
    closed_mode: str = "closed"
    holiday_mode: str | None = Field(None, description="default: the closed mode")
    week: dict[str, list[tuple[str, str]]] = Field(
        default_factory=lambda: {d: ([("08:00", "17:00")] if d not in ("sat", "sun") else []) for d in DAYS}
    )
    holidays_country: str = "DE"
    holidays_state: str | None = Field("BY", description="federal state (Bundesland) code, e.g. BY, NW, BE")
    closed_days: list[date] = Field(default_factory=list, description="extra closed days")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except Exception:
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("week")
    @classmethod
    def _week(cls, value: dict[str, list[tuple[str, str]]]) -> dict[str, list[tuple[str, str]]]:
        for day, spans in value.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            for start, end in spans:
                if _parse_hhmm(start) >= _parse_hhmm(end):
                    raise ValueError(f"{day}: opening {start} is not before closing {end}")
        return value

    @model_validator(mode="after")
    def _modes(self) -> Schedule:
        if not self.open_mode or not self.closed_mode:
            raise ValueError("open_mode and closed_mode are needed")
        return self

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


Why = Literal["open", "closed", "holiday", "closed_day"]


def mode_at(schedule: Schedule, when: datetime, is_holiday: HolidayLookup) -> tuple[str, Why, str]:
    """(mode, why, detail) at the aware datetime ``when``."""
    local = when.astimezone(schedule.tz)
    day = local.date()
    if day in schedule.closed_days:
        return schedule.holiday_mode or schedule.closed_mode, "closed_day", day.isoformat()
    holiday = is_holiday(day)
    if holiday:
        return schedule.holiday_mode or schedule.closed_mode, "holiday", holiday
    now = local.time()
    for start, end in schedule.week.get(DAYS[local.weekday()], []):
        if _parse_hhmm(start) <= now < _parse_hhmm(end):
            return schedule.open_mode, "open", f"{start}-{end}"
    return schedule.closed_mode, "closed", ""


def next_change(
    schedule: Schedule, after: datetime, is_holiday: HolidayLookup, horizon_days: int = 21
) -> tuple[datetime, str] | None:
    """The next moment (aware, in the schedule's zone) the scheduled mode changes."""
    current, _, _ = mode_at(schedule, after, is_holiday)
    local = after.astimezone(schedule.tz)
    tz = schedule.tz
    for offset in range(horizon_days + 1):
        day = local.date() + timedelta(days=offset)
        points = {time(0, 0)}
        for start, end in schedule.week.get(DAYS[day.weekday()], []):
            points.add(_parse_hhmm(start))
            if end != "24:00":
                points.add(_parse_hhmm(end))
        for point in sorted(points):
            moment = datetime.combine(day, point, tzinfo=tz)
            if moment <= local:
                continue
            mode, _, _ = mode_at(schedule, moment, is_holiday)
            if mode != current:
                return moment, mode
    return None
