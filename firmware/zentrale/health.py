"""Health of every component, aggregated into ok / degraded / fault.

``GET /status``, the front panel's fault LED and systemd's STATUS= line read
the same report. A component is a named check returning a ``ComponentHealth``;
cheap checks run on every report, checks that need I/O (the database) run
in ``refresh()`` (the daemon calls it every ``health.interval`` seconds) and
are reported from a cache.

Other packages add their own component with ``add_check``/``add_async_check``
(the mail outbox does: ``health.add_check("mail_outbox", outbox.health)``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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

    def report(self) -> dict[str, Any]:
        components = self.components()
        overall = worst([c.state for c in components.values()])
        if overall != self._last_overall:
            problems = [f"{n}: {c.detail}" for n, c in components.items() if c.state != "ok"]
            log.log(logging.INFO if overall == "ok" else logging.WARNING, "health: %s %s", overall, problems)
            self._last_overall = overall
        return {
            "overall": overall,
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
