"""The fault LED and the web page's notice tell a full data disk apart from other faults:
a real App (store, SIP socket, loop) on gpiozero's mock pins, its data folder on a small
tmpfs that the test fills up and frees again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.panel import LED_FAULT, finish_setup, make_config, pin
from tests.harness.tmpfs import fill, free, small_tmpfs
from tests.harness.waits import until
from zentrale.app import App
from zentrale.health import notices


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    with small_tmpfs(tmp_path / "data", "24m"):
        config = make_config(tmp_path)
        config = config.model_copy(update={"voicemail": config.voicemail.model_copy(update={"min_free_mb": 8})})
        app = App(config)
        await app.start()
        await finish_setup(app)
        try:
            yield app
        finally:
            free(config.data_dir)
            await app.stop()


async def led_changes(app: App, seconds: float) -> int:
    """How often the fault LED's pin changed state within ``seconds``."""
    led = pin(app, LED_FAULT)
    changes, last = 0, led.state
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(0.02)
        if led.state != last:
            changes, last = changes + 1, led.state
    return changes


async def test_a_full_data_disk_makes_the_fault_led_blink_and_space_coming_back_puts_it_out(app: App) -> None:
    assert app.panel is not None
    await until(lambda: app.panel.patterns["fault"] == "off")
    data = app.config.data_dir
    await asyncio.to_thread(fill, data)
    await until(lambda: app.panel.patterns["fault"] == "blink", timeout=5)
    assert await led_changes(app, 1.0) >= 4  # 4 Hz: calls are answered, messages cannot be recorded
    shown = notices(app.health.components())
    assert [(n["id"], n["space"], n["recording"]) for n in shown] == [("disk", "full", False)]
    assert shown[0]["detail"].startswith("disk full")
    free(data)
    await until(lambda: app.panel.patterns["fault"] == "off", timeout=5)
    assert notices(app.health.components()) == []


async def test_below_the_threshold_the_led_blinks_too_and_a_stalled_media_clock_still_lights_it_steadily(
    app: App,
) -> None:
    assert app.panel is not None
    data = app.config.data_dir
    await asyncio.to_thread(fill, data, 4_000_000)
    await until(lambda: app.panel.patterns["fault"] == "blink", timeout=5)
    assert [n["space"] for n in notices(app.health.components())] == ["low"]
    app.media_clock.stop()  # a fault that keeps calls from being served wins over the disk
    try:
        await until(lambda: app.panel.patterns["fault"] == "on", timeout=5)
    finally:
        app.media_clock.start()
    await until(lambda: app.panel.patterns["fault"] == "blink", timeout=5)
