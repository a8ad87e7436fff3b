"""Until the box is set up (no admin account yet), the front panel says so: the waiting and
the fault LED blink slowly together, on gpiozero's mock pins inside a real App."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.panel import LED_FAULT, LED_OUTAGE, LED_WAITING, make_config, pin
from tests.harness.waits import until
from zentrale.app import App


@pytest.fixture
async def fresh_box(tmp_path: Path) -> AsyncIterator[App]:
    app = App(make_config(tmp_path))
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def changes(led: object, seconds: float) -> list[bool]:
    led.clear_states()  # type: ignore[attr-defined]
    await asyncio.sleep(seconds)
    return [state.state for state in led.states]  # type: ignore[attr-defined]


async def test_a_box_waiting_for_its_set_up_blinks_waiting_and_fault_slowly_until_the_first_admin_exists(
    fresh_box: App,
) -> None:
    app = fresh_box
    assert app.accounts.setup_needed
    assert app.panel.patterns == {"outage": "off", "waiting": "setup", "fault": "setup"}
    # 1 Hz: in 2.2 s each LED turns on and off about twice (4 changes), far fewer than the
    # 4 Hz "blink" (about 17) and far more than the 2 s "flash" (2)
    waiting, fault = await asyncio.gather(changes(pin(app, LED_WAITING), 2.2), changes(pin(app, LED_FAULT), 2.2))
    assert 3 <= len(waiting) <= 6, waiting
    assert 3 <= len(fault) <= 6, fault
    assert True in waiting and False in waiting
    assert pin(app, LED_OUTAGE).state is False
    assert app.status.report()["panel"]["leds"] == {"outage": "off", "waiting": "setup", "fault": "setup"}

    await app.accounts.setup(app.accounts.setup_token or "", "chef", "chef-password", "Chef", "test")
    await until(lambda: app.panel.patterns["waiting"] == "off" and app.panel.patterns["fault"] == "off")
    await asyncio.sleep(0.6)  # the blink threads have stopped
    assert pin(app, LED_WAITING).state is False
    assert pin(app, LED_FAULT).state is False


async def test_during_the_set_up_a_waiting_caller_does_not_hide_the_set_up_pattern_but_a_fault_shows(
    fresh_box: App,
) -> None:
    app = fresh_box
    entry = app.queues.enter("lvs", "call-1", "+4930123", None)
    assert app.panel.patterns["waiting"] == "setup"
    app.queues.leave(entry, "hangup")
    app.media_clock.stop()  # a real fault: the fault LED is steadily on, set-up or not
    try:
        await until(lambda: app.panel.patterns["fault"] == "on", timeout=3)
        assert app.panel.patterns["waiting"] == "setup"
    finally:
        app.media_clock.start()
    await until(lambda: app.panel.patterns["fault"] == "setup", timeout=3)
