"""Health of every component, aggregated into ok / degraded / fault.

``GET /status``, the front panel's fault LED and systemd's STATUS= line read
the same report. A component is a named check returning a ``ComponentHealth``;
cheap checks run on every report, checks that need I/O (the database) run
in ``refresh()`` (the daemon calls it every ``health.interval`` seconds) and
are reported from a cache.

``BoxStatus`` adds the daemon's components (lines, media clock, mode, disk,
database, call log, mail) and builds what ``GET /status``, systemd's STATUS=
and its watchdog report; the front panel adds its own component when it starts.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

from zentrale import __version__, priority
from zentrale.accounts.service import Accounts
from zentrale.calls.supervisor import CallSupervisor
from zentrale.config import HealthConfig
from zentrale.core.agents import AgentBoard
from zentrale.core.queues import QueueBoard
from zentrale.hotline import Hotline
from zentrale.lines.base import Call, Line
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.mail.outbox import MailOutbox
from zentrale.media.clock import CollectorWatch, MediaClock
from zentrale.store.db import Database
from zentrale.store.disk import DataDisk, DiskState

log = logging.getLogger(__name__)

State = Literal["ok", "degraded", "fault"]
SEVERITY: dict[str, int] = {"ok": 0, "degraded": 1, "fault": 2}


@dataclass(frozen=True)
class ComponentHealth:
    state: State
    detail: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "detail": self.detail, **self.data}


Check = Callable[[], ComponentHealth]
AsyncCheck = Callable[[], Awaitable[ComponentHealth]]


def worst(states: list[State]) -> State:
    return max(states, key=SEVERITY.__getitem__, default="ok")


class HealthMonitor:
    def __init__(self, interval: float = 5.0, async_timeout: float = 3.0) -> None:
        self.interval = interval
        self.async_timeout = async_timeout
        self._checks: dict[str, Check] = {}
        self._async_checks: dict[str, AsyncCheck] = {}
        self._cached: dict[str, ComponentHealth] = {}
        self._last_overall: State | None = None

    def add_check(self, name: str, check: Check) -> None:
        self._checks[name] = check

    def add_async_check(self, name: str, check: AsyncCheck) -> None:
        self._async_checks[name] = check
        self._cached[name] = ComponentHealth("degraded", "not checked yet")

    def components(self) -> dict[str, ComponentHealth]:
        out: dict[str, ComponentHealth] = {}
        for name, check in self._checks.items():
            try:
                out[name] = check()
            except Exception as err:  # a broken check is itself a fault, never a crash
                log.exception("health check %s failed", name)
                out[name] = ComponentHealth("fault", f"check failed: {err}")
        out.update(self._cached)
        return out

    def _judge(self, components: dict[str, ComponentHealth]) -> State:
        """The worst state of all; a change is logged once."""
        overall = worst([c.state for c in components.values()])
        if overall != self._last_overall:
            problems = [f"{n}: {c.detail}" for n, c in components.items() if c.state != "ok"]
            log.log(logging.INFO if overall == "ok" else logging.WARNING, "health: %s %s", overall, problems)
            self._last_overall = overall
        return overall

    def overall(self) -> State:
        return self._judge(self.components())

    def report(self) -> dict[str, Any]:
        components = self.components()
        return {
            "overall": self._judge(components),
            "components": {name: c.to_dict() for name, c in components.items()},
        }

    def problems(self) -> list[str]:
        return [f"{n}: {c.detail}" for n, c in self.components().items() if c.state != "ok"]

    async def refresh(self) -> None:
        for name, check in self._async_checks.items():
            try:
                self._cached[name] = await asyncio.wait_for(check(), self.async_timeout)
            except TimeoutError:
                self._cached[name] = ComponentHealth("fault", f"no answer within {self.async_timeout:g} s")
            except Exception as err:
                log.warning("health check %s failed: %s", name, err)
                self._cached[name] = ComponentHealth("fault", str(err))


# --- the daemon's components --------------------------------------------------------------


def disk_health(disk: DiskState | Path, warn_percent: float, fault_percent: float) -> ComponentHealth:
    """The data disk: a fault when it is full or failing (no message can be recorded; the LED
    says so), degraded when below the recording threshold ("disk low") or above a use percentage."""
    state = disk if isinstance(disk, DiskState) else DataDisk(disk, 0).state()
    used = round(100 * (state.total - state.free) / state.total, 1) if state.total else 100.0
    data = {
        "total": state.total,
        "free": state.free,
        "used_percent": used,
        "space": state.space,
        "recording": state.recording_allowed,
        "min_free": state.min_free,
        "last_error": state.last_error,
    }
    if state.space in ("full", "failing"):
        return ComponentHealth("fault", state.detail, data)
    if used >= fault_percent:
        return ComponentHealth("fault", f"data disk {used}% full (fault at {fault_percent:g}%)", data)
    if state.space == "low":
        return ComponentHealth("degraded", state.detail, data)
    if used >= warn_percent:
        return ComponentHealth("degraded", f"data disk {used}% full (warning at {warn_percent:g}%)", data)
    return ComponentHealth("ok", f"{used}% used", data)


def notices(components: dict[str, ComponentHealth]) -> list[dict[str, Any]]:
    """What every user of the web page should see in a banner: a data disk on which no
    message can be recorded (full, failing, or below the threshold)."""
    disk = components.get("disk")
    if disk is None or disk.data.get("recording", True):
        return []
    keys = ("space", "free", "min_free", "recording")
    return [{"id": "disk", "state": disk.state, "detail": disk.detail, **{k: disk.data.get(k) for k in keys}}]


def store_health(disk: DiskState, read_only: bool = False) -> ComponentHealth:
    """The database answered; whether it can also write is the disk's state."""
    if read_only:
        return ComponentHealth("degraded", f"database read-only: opened on a full disk ({disk.space} now)")
    if disk.space in ("full", "failing"):
        return ComponentHealth("degraded", f"database answers, but the disk refuses writes ({disk.space})")
    return ComponentHealth("ok", "database answers")


def call_log_health(status: dict[str, Any]) -> ComponentHealth:
    """The call log, written behind the calls: degraded while the store refuses its rows."""
    if status.get("failing"):
        detail = f"call log not written ({status['failing']}): {status['dropped']} row(s) dropped"
        return ComponentHealth("degraded", detail, status)
    detail = f"{status['written']} row(s) written" + (f", {status['dropped']} dropped" if status["dropped"] else "")
    return ComponentHealth("ok", detail, status)


def media_clock_health(healthy: bool, ticks: int, max_late_ms: float) -> ComponentHealth:
    data = {"ticks": ticks, "max_late_ms": max_late_ms}
    if not healthy:
        return ComponentHealth("fault", "media clock stalled (no tick for over a second)", data)
    return ComponentHealth("ok", "ticking", data)


def line_health(name: str, listening: bool, status: dict[str, Any]) -> ComponentHealth:
    if not listening:
        return ComponentHealth("fault", f"{name} line is not listening", {"line": status})
    return ComponentHealth("ok", f"listening on {status.get('listening', '?')}", {"line": status})


def registration_health(status: dict[str, Any] | None) -> ComponentHealth:
    if status is None:
        return ComponentHealth("ok", "no registration configured")
    if status.get("registered"):
        return ComponentHealth("ok", f"registered at {status['registrar']}", status)
    why = status.get("last_error") or (f"answer {status['last_status']}" if status.get("last_status") else "no answer")
    return ComponentHealth("fault", f"not registered at {status['registrar']} ({why})", status)


def analog_line_health(status: dict[str, Any]) -> ComponentHealth:
    """A modem or ALSA line: ready while idle, ringing or in a call."""
    if status.get("ready"):
        return ComponentHealth("ok", f"{status.get('type', 'line')} {status.get('state')}", {"line": status})
    why = f" ({status['last_error']})" if status.get("last_error") else ""
    return ComponentHealth("fault", f"{status.get('name')} line {status.get('state')}{why}", {"line": status})


# --- the daemon as a whole ------------------------------------------------------------------


class PanelReport(Protocol):
    """The front panel's part of ``/status`` (None: no panel running)."""

    def status(self) -> dict[str, Any] | None: ...


@dataclass(frozen=True)
class Parts:
    """The daemon's components whose health and counters ``BoxStatus`` reports."""

    sip: SipUserAgent
    analog_lines: Sequence[Line]
    media_clock: MediaClock
    gc_watch: CollectorWatch
    db: Database
    disk: DataDisk
    mail: MailOutbox
    calls: CallSupervisor
    hotline: Hotline
    queues: QueueBoard[Call]
    agents: AgentBoard
    accounts: Accounts
    panel: PanelReport | None = None


class BoxStatus:
    """``GET /status``, systemd's STATUS= line and what withholds its watchdog ping."""

    def __init__(self, monitor: HealthMonitor, limits: HealthConfig, parts: Parts) -> None:
        self.monitor = monitor
        self.parts = parts
        p = parts
        monitor.add_check("line_sip", lambda: line_health("SIP", p.sip.transport.listening, p.sip.status()))
        monitor.add_check(
            "sip_registration", lambda: registration_health(p.sip.registrar.status() if p.sip.registrar else None)
        )
        for line in p.analog_lines:
            monitor.add_check(f"line_{line.name}", functools.partial(_analog_line_check, line))
        monitor.add_check("media_clock", self._media_clock)
        monitor.add_check("mode", self._mode)
        monitor.add_check(
            "disk", lambda: disk_health(p.disk.state(), limits.disk_warn_percent, limits.disk_fault_percent)
        )
        monitor.add_check("call_log", lambda: call_log_health(p.calls.call_log.status()))
        monitor.add_async_check("store", self._store)
        monitor.add_async_check("mail_outbox", self._mail)

    def _media_clock(self) -> ComponentHealth:
        clock = self.parts.media_clock
        healthy = clock.healthy(asyncio.get_running_loop().time())
        return media_clock_health(healthy, clock.ticks, round(clock.max_late * 1000, 2))

    def _mode(self) -> ComponentHealth:
        name = self.parts.hotline.mode_name
        if name is None:
            return ComponentHealth("degraded", "no active mode: calls are refused")
        return ComponentHealth("ok", f"mode '{name}'")

    async def _store(self) -> ComponentHealth:
        db, disk = self.parts.db, self.parts.disk
        await db.fetch("SELECT 1")  # answers only if the database thread and file work
        if db.read_only and disk.state().space in ("ok", "low"):
            await db.reopen_writable()  # started on a full disk; space is back
        return store_health(disk.state(), db.read_only)

    async def _mail(self) -> ComponentHealth:
        """E-mail delivery: failed messages make the box 'degraded' (they stay in the viewer)."""
        mail = self.parts.mail
        if not mail.enabled:
            return ComponentHealth("ok", "e-mail off")
        counts = await mail.outbox.counts()
        failed = counts.get("failed", 0)
        waiting = counts.get("queued", 0) + counts.get("sending", 0)
        detail = f"{waiting} waiting, {failed} failed"
        return ComponentHealth("degraded" if failed else "ok", detail, {"outbox": counts})

    def report(self) -> dict[str, Any]:
        """``GET /status``: every component and the box's counters."""
        p = self.parts
        clock = p.media_clock
        health = self.monitor.report()
        return {
            "overall": health["overall"],
            "components": health["components"],
            "version": __version__,
            "mode": p.hotline.mode_name,
            "lines": [p.sip.status(), *(line.status() for line in p.analog_lines)],
            "calls": len(p.calls.active),
            "tasks": len(asyncio.all_tasks()),
            "waiting": len(p.queues.entries()),
            "agents": {
                state: sum(1 for a in p.agents.all() if a.state.value == state)
                for state in ("available", "paused", "ringing", "on_call", "wrap_up")
            },
            "media_clock": {
                "healthy": clock.healthy(asyncio.get_running_loop().time()),
                "scheduling": priority.describe(),  # the loop's thread: real-time on the appliance
                "streams": clock.streams,
                "ticks": clock.ticks,
                "max_late_ms": round(clock.max_late * 1000, 2),
                "recent_late_ms": round(clock.take_recent() * 1000, 2),
                "max_tick_cost_ms": round(clock.max_cost * 1000, 2),
                "skipped": clock.skipped,
                "gc_max_pause_ms": round(p.gc_watch.max_pause * 1000, 2),
                "gc_collections": p.gc_watch.collections,
            },
            "disk": health["components"]["disk"],
            "switches": [s for s in p.hotline.switch_list() if s["on"]],
            "panel": p.panel.status() if p.panel is not None else None,
            "setup_needed": p.accounts.setup_needed,
        }

    def line(self) -> str:
        """One line for systemd's STATUS= (``systemctl status zentrale``)."""
        overall = self.monitor.overall()
        problems = "; ".join(self.monitor.problems())
        p = self.parts
        return (
            f"{overall}: mode '{p.hotline.mode_name}', {len(p.calls.active)} call(s), "
            f"{len(p.queues.entries())} waiting" + (f" | {problems}" if problems else "")
        )

    def watchdog_problem(self) -> str | None:
        """What withholds systemd's watchdog ping: only what a restart can cure (a stalled
        loop or media clock), never a PBX that is down or a full disk."""
        if not self.parts.media_clock.healthy(asyncio.get_running_loop().time()):
            return "media clock stalled"
        return None


def _analog_line_check(line: Line) -> ComponentHealth:
    return analog_line_health(line.status())
