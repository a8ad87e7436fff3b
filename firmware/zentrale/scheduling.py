"""The schedule at work: activates the mode the week plan and the holidays ask
for, unless an admin has chosen a mode by hand (the override wins until it
is switched back to the schedule).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from datetime import date, timedelta
from typing import Any

import holidays

from zentrale.core.clock import Clock
from zentrale.core.schedule import HolidayLookup, Schedule, mode_at, next_change
from zentrale.errors import Invalid, NotFound, Refused
from zentrale.hotline import Hotline
from zentrale.store.state import StateRepository

log = logging.getLogger(__name__)

# German federal states (Bundesländer) as the ``holidays`` package names them, for the schedule page
FEDERAL_STATES: dict[str, str] = {
    code: name for name, code in sorted(holidays.country_holidays("DE").subdivisions_aliases.items()) if len(code) == 2
}


def holiday_language(country: str, language: str) -> str:
    """The ``holidays`` package's name for our page language in this country's calendar.

    The package knows "en_US" (not "en") for Germany. A language it does not know makes it
    fall back to gettext's choice from the environment (LANGUAGE, LC_ALL, LC_MESSAGES, LANG):
    under LANG=C.UTF-8 Python 3.11's locale aliases turned "C.UTF-8" into "en_US.UTF-8" and the
    names came out English by accident; Python 3.13 keeps "C.UTF-8" as it is (the alias table
    was corrected) and they came out German. So the language is always one the package knows:
    the same, else its first regional variant ("en" -> "en_US"), else the country's own.
    """
    calendar_class = holidays.country_holidays(country).__class__
    supported: tuple[str, ...] = tuple(getattr(calendar_class, "supported_languages", ()))
    if language in supported:
        return language
    regional = sorted(code for code in supported if code.split("_")[0] == language.split("_")[0])
    if regional:
        return regional[0]
    return str(getattr(calendar_class, "default_language", None) or language)


@functools.lru_cache(maxsize=8)
def public_holidays(country: str, state: str | None, language: str) -> HolidayLookup:
    """A lookup for the public holidays of a country and federal state (the ``holidays`` package)."""
    calendar = holidays.country_holidays(country, subdiv=state, language=holiday_language(country, language))

    def lookup(day: date) -> str | None:
        name = calendar.get(day)
        return str(name) if name else None

    return lookup


class ModeScheduler:
    def __init__(self, *, clock: Clock, hotline: Hotline, state: StateRepository, language: str = "de") -> None:
        self.clock = clock
        self.hotline = hotline
        self.state = state
        self.language = language
        self.schedule = Schedule()
        self.override: str | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def holidays(self, language: str | None = None) -> HolidayLookup:
        return public_holidays(self.schedule.holidays_country, self.schedule.holidays_state, language or self.language)

    def upcoming_holidays(self, language: str | None = None, count: int = 6) -> list[dict[str, str]]:
        """The next public holidays and custom closed days (a year ahead at most)."""
        lookup = self.holidays(language)
        today = self.clock.now().astimezone(self.schedule.tz).date()
        closed = set(self.schedule.closed_days)
        out: list[dict[str, str]] = []
        for offset in range(366):
            day = today + timedelta(days=offset)
            name = lookup(day)
            if name or day in closed:
                out.append({"date": day.isoformat(), "name": name or "", "kind": "holiday" if name else "closed_day"})
            if len(out) >= count:
                break
        return out

    async def load(self) -> None:
        raw = await self.state.setting("schedule")
        if raw:
            try:
                self.schedule = Schedule.model_validate(json.loads(raw))
            except ValueError as err:
                log.error("stored schedule is invalid, schedule off: %s", err)
        self.override = await self.state.setting("mode_override") or None

    def _check_modes(self, schedule: Schedule) -> None:
        names = set(self.hotline.modes.names())
        for mode in {schedule.open_mode, schedule.closed_mode, schedule.holiday_mode} - {None}:
            if mode not in names:
                raise NotFound(f"the schedule names mode '{mode}', which does not exist")

    async def save(self, schedule: Schedule, by: str) -> dict[str, Any]:
        if schedule.enabled:
            self._check_modes(schedule)
        try:
            public_holidays(schedule.holidays_country, schedule.holidays_state, self.language)
        except NotImplementedError as err:  # the holidays package's word for an unknown country or state
            where = f"{schedule.holidays_country}/{schedule.holidays_state or '-'}"
            raise Invalid(f"no public holidays known for {where}: unknown country or federal state") from err
        self.schedule = schedule
        await self.state.set_setting("schedule", schedule.model_dump_json())
        await self.state.audit(self.clock.now(), by, "schedule.save", "on" if schedule.enabled else "off")
        await self.apply()  # the answer already shows the mode the new plan asks for
        self._wake.set()
        return self.status()

    async def activate_by_hand(self, name: str, by: str) -> None:
        """An admin chooses a mode: it is activated and, while the schedule is on, wins over it."""
        await self.hotline.activate(name, by)
        if self.schedule.enabled:
            self.override = name
            await self.state.set_setting("mode_override", name)

    async def back_to_schedule(self, by: str) -> dict[str, Any]:
        if not self.schedule.enabled:
            raise Refused("the schedule is off")
        self.override = None
        await self.state.set_setting("mode_override", "")
        await self.state.audit(self.clock.now(), by, "schedule.resume", "")
        self._wake.set()
        await self.apply()
        return self.status()

    def status(self, language: str | None = None) -> dict[str, Any]:
        """What the schedule page shows; holiday names in ``language`` (default: the box's)."""
        now = self.clock.now()
        lookup = self.holidays(language)
        mode, why, detail = mode_at(self.schedule, now, lookup)
        change = next_change(self.schedule, now, lookup) if self.schedule.enabled else None
        return {
            "schedule": json.loads(self.schedule.model_dump_json()),
            "active_mode": self.hotline.mode_name,
            "scheduled_mode": mode if self.schedule.enabled else None,
            "why": why if self.schedule.enabled else None,
            "detail": detail,
            "override": self.override,
            "next_change": {"at": change[0].isoformat(), "mode": change[1]} if change else None,
            "now": now.astimezone(self.schedule.tz).isoformat(),
            "upcoming_holidays": self.upcoming_holidays(language),
            "federal_states": [{"code": c, "name": n} for c, n in sorted(FEDERAL_STATES.items(), key=lambda x: x[1])],
        }

    def state_now(self) -> str:
        """The week plan's state now (open | closed | holiday | closed_day), for the condition
        node's ``schedule`` test (core/callers.py); the plan counts even while it does not switch modes."""
        return mode_at(self.schedule, self.clock.now(), self.holidays())[1]

    async def apply(self) -> None:
        """Activate the scheduled mode if it is not active (and no override holds)."""
        if not self.schedule.enabled or self.override:
            return
        mode, why, detail = mode_at(self.schedule, self.clock.now(), self.holidays())
        if mode != self.hotline.mode_name:
            log.info("schedule: switching to mode '%s' (%s %s)", mode, why, detail)
            try:
                await self.hotline.activate(mode, "schedule")
            except Exception as err:
                log.error("schedule: cannot activate '%s': %s", mode, err)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self.apply()
            self._wake.clear()
            wait = 60.0
            if self.schedule.enabled:
                change = next_change(self.schedule, self.clock.now(), self.holidays())
                if change is not None:
                    wait = max(0.5, min(wait, (change[0] - self.clock.now()).total_seconds()))
            sleeper = asyncio.ensure_future(self.clock.sleep(wait))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()
