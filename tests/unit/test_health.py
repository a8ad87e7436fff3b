"""The health report: the worst component decides, a broken check is a fault, never a crash."""

from __future__ import annotations

import asyncio
from pathlib import Path

from zentrale.health import ComponentHealth, HealthMonitor, disk_health, registration_health, worst


def test_the_worst_state_wins() -> None:
    assert worst([]) == "ok"
    assert worst(["ok", "degraded", "ok"]) == "degraded"
    assert worst(["degraded", "fault", "ok"]) == "fault"


def test_a_check_that_raises_is_reported_as_a_fault() -> None:
    health = HealthMonitor()
    health.add_check("good", lambda: ComponentHealth("ok"))

    def broken() -> ComponentHealth:
        raise RuntimeError("sensor gone")

    health.add_check("broken", broken)
    report = health.report()
    assert report["overall"] == "fault"
    assert report["components"]["broken"] == {"state": "fault", "detail": "check failed: sensor gone"}
    assert health.problems() == ["broken: check failed: sensor gone"]


async def test_a_slow_async_check_times_out_as_a_fault() -> None:
    health = HealthMonitor(async_timeout=0.05)

    async def stuck() -> ComponentHealth:
        await asyncio.sleep(1)
        return ComponentHealth("ok")

    health.add_async_check("store", stuck)
    assert health.report()["components"]["store"]["state"] == "degraded"  # not checked yet
    await health.refresh()
    assert health.report()["components"]["store"] == {"state": "fault", "detail": "no answer within 0.05 s"}


def test_disk_thresholds(tmp_path: Path) -> None:
    assert disk_health(tmp_path, 100, 100).state == "ok"
    assert disk_health(tmp_path, 0.001, 100).state == "degraded"
    assert disk_health(tmp_path, 0.001, 0.002).state == "fault"


def test_a_lost_registration_is_a_fault_naming_the_reason() -> None:
    assert registration_health(None).state == "ok"
    lost = registration_health(
        {"registrar": "fritz.box:5060", "registered": False, "last_status": 403, "last_error": "403 Forbidden"}
    )
    assert lost.state == "fault"
    assert lost.detail == "not registered at fritz.box:5060 (403 Forbidden)"
