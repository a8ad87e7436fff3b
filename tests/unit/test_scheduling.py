"""The scheduler activates the scheduled mode at the right minute, on a fake clock."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from zentrale.core.clock import ManualClock
from zentrale.core.schedule import Schedule
from zentrale.errors import Invalid
from zentrale.scheduling import ModeScheduler

BERLIN = ZoneInfo("Europe/Berlin")


class FakeModes:
    def names(self) -> list[str]:
        return ["hotline", "closed", "holiday"]


class FakeHotline:
    def __init__(self) -> None:
        self.mode_name = "closed"
        self.modes = FakeModes()
        self.activations: list[tuple[str, str]] = []

    async def activate(self, name: str, by: str) -> None:
        self.mode_name = name
        self.activations.append((name, by))


class FakeState:
    def __init__(self) -> None:
        self.settings: dict[str, str] = {}

    async def setting(self, key: str) -> str | None:
        return self.settings.get(key)

    async def set_setting(self, key: str, value: str) -> None:
        self.settings[key] = value

    async def audit(self, *args: Any) -> None:
        pass


def scheduler(start: str) -> tuple[ModeScheduler, ManualClock, FakeHotline]:
    clock = ManualClock(datetime.fromisoformat(start).replace(tzinfo=BERLIN))
    hotline = FakeHotline()
    sched = ModeScheduler(clock=clock, hotline=hotline, state=FakeState())  # type: ignore[arg-type]
    return sched, clock, hotline


async def test_the_open_mode_starts_at_eight_sharp_and_ends_at_five() -> None:
    sched, clock, hotline = scheduler("2026-11-26 07:58:30")
    await sched.save(Schedule(enabled=True), "admin")
    sched.start()
    await clock.settle()
    assert hotline.mode_name == "closed"
    await clock.advance(60)  # 07:59:30
    assert hotline.mode_name == "closed"
    await clock.advance(31)  # 08:00:01
    assert hotline.activations == [("hotline", "schedule")]
    assert sched.status()["next_change"] == {"at": "2026-11-26T17:00:00+01:00", "mode": "closed"}
    await clock.advance(9 * 3600)
    assert hotline.mode_name == "closed"
    await sched.stop()


async def test_a_public_holiday_of_the_configured_state_uses_the_holiday_mode() -> None:
    sched, clock, hotline = scheduler("2026-01-06 07:00")  # Epiphany: a holiday in Bavaria, not in Berlin
    await sched.save(Schedule(enabled=True, holidays_state="BY", holiday_mode="holiday"), "admin")
    sched.start()
    await clock.advance(3 * 3600)
    assert hotline.mode_name == "holiday"
    assert sched.status()["why"] == "holiday"
    await sched.stop()
    sched, clock, hotline = scheduler("2026-01-06 07:00")
    await sched.save(Schedule(enabled=True, holidays_state="BE"), "admin")
    sched.start()
    await clock.advance(3 * 3600)
    assert hotline.mode_name == "hotline"
    await sched.stop()


async def test_a_manual_override_wins_until_switched_back() -> None:
    sched, clock, hotline = scheduler("2026-11-26 09:00")
    await sched.save(Schedule(enabled=True, closed_days=[date(2026, 12, 24)]), "admin")
    sched.start()
    await clock.settle()
    assert hotline.mode_name == "hotline"
    await sched.activate_by_hand("closed", "admin")  # e.g. a staff meeting
    await clock.advance(3600)
    assert hotline.mode_name == "closed"
    assert sched.status()["override"] == "closed"
    await sched.back_to_schedule("admin")
    await clock.settle()
    assert hotline.mode_name == "hotline"
    await sched.stop()


async def test_the_schedule_page_learns_the_coming_holidays_closed_days_and_federal_states() -> None:
    sched, _clock, _hotline = scheduler("2026-09-30 12:00")
    await sched.save(Schedule(enabled=True, holidays_state="BY", closed_days=[date(2026, 10, 2)]), "admin")
    status = sched.status("de")
    assert status["upcoming_holidays"][:2] == [
        {"date": "2026-10-02", "name": "", "kind": "closed_day"},
        {"date": "2026-10-03", "name": "Tag der Deutschen Einheit", "kind": "holiday"},
    ]
    assert sched.status("en")["upcoming_holidays"][1]["name"] == "German Unity Day"
    states = {s["code"]: s["name"] for s in status["federal_states"]}
    assert len(states) == 16 and states["NW"] == "Nordrhein-Westfalen"


async def test_an_unknown_federal_state_is_refused_with_a_message() -> None:
    sched, _clock, _hotline = scheduler("2026-09-30 12:00")
    with pytest.raises(Invalid, match="unknown country or federal state"):
        await sched.save(Schedule(enabled=True, holidays_state="XX"), "admin")


async def test_saving_a_plan_applies_it_at_once_so_the_answer_shows_the_mode_it_asks_for() -> None:
    sched, _clock, hotline = scheduler("2026-11-26 10:00")  # no scheduler task running
    status = await sched.save(Schedule(enabled=True), "admin")
    assert hotline.activations == [("hotline", "schedule")]
    assert (status["active_mode"], status["scheduled_mode"], status["why"]) == ("hotline", "hotline", "open")
