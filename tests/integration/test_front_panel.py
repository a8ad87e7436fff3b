"""The front panel on gpiozero's mock pins, inside a real App (real store,
real SIP socket, real event loop).

A "finger" thread drives the button pin the way a cheap tactile switch
does: a burst of on/off chatter at every press and release (contact bounce),
from a thread other than the loop's, as gpiozero's lgpio callbacks come.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.harness.panel import (
    BUTTON,
    LED_FAULT,
    LED_OUTAGE,
    LED_WAITING,
    chatter,
    finger,
    finish_setup,
    make_config,
    pin,
)
from tests.harness.waits import until
from zentrale.app import App


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[App]:
    app = App(make_config(tmp_path))
    await app.start()
    await finish_setup(app)
    try:
        yield app
    finally:
        await app.stop()


async def press(app: App, hold: float, bounce: bool = True) -> None:
    thread = threading.Thread(target=finger, args=(pin(app, BUTTON), hold, bounce))
    thread.start()
    await asyncio.to_thread(thread.join)
    await asyncio.sleep(app.config.panel.debounce * 3)  # let the release settle and the toggle land


def switch_on(app: App, switch_id: str) -> bool:
    return app.control.is_on(switch_id)


async def test_a_short_press_with_contact_bounce_toggles_the_outage_switch_once(app: App) -> None:
    assert app.hotline.front_panel_switch_id() == "sap_outage"
    assert pin(app, LED_OUTAGE).state is False
    await press(app, hold=0.2)
    await until(lambda: switch_on(app, "sap_outage"))
    assert app.panel.decoder.edges >= 20  # the chatter arrived, edge by edge
    assert app.panel.presses == {"short": 1, "long": 0}
    assert pin(app, LED_OUTAGE).state is True
    # the same effect as the web switch: persisted, audited, shown as on
    saved = {s.switch_id: s for s in await app.state.switch_states()}
    assert saved["sap_outage"].on
    assert saved["sap_outage"].by == "front panel"
    audit = await app.state.audit_log(5)
    assert (audit[0]["who"], audit[0]["action"], audit[0]["detail"]) == ("front panel", "switch.on", "sap_outage")
    assert next(s for s in app.hotline.switch_list() if s["id"] == "sap_outage")["on"]

    await press(app, hold=0.2)
    await until(lambda: not switch_on(app, "sap_outage"))
    assert app.panel.presses["short"] == 2
    await until(lambda: pin(app, LED_OUTAGE).state is False)
    assert (await app.state.audit_log(1))[0]["action"] == "switch.off"


async def test_chatter_that_never_settles_pressed_is_no_press(app: App) -> None:
    button = pin(app, BUTTON)
    for _ in range(5):
        await asyncio.to_thread(chatter, button, False, 8, 0.001)
        await asyncio.sleep(0.005)  # shorter than the debounce time
    await asyncio.sleep(0.2)
    assert app.panel.decoder.edges >= 80
    assert app.panel.presses == {"short": 0, "long": 0}
    assert not switch_on(app, "sap_outage")


async def test_a_long_press_is_a_lamp_test_and_changes_nothing(app: App) -> None:
    leds = [pin(app, n) for n in (LED_OUTAGE, LED_WAITING, LED_FAULT)]
    thread = threading.Thread(target=finger, args=(pin(app, BUTTON), 1.6))
    thread.start()
    await until(lambda: app.panel.presses["long"] == 1, timeout=1.5)  # fires while still held
    assert thread.is_alive()
    assert [led.state for led in leds] == [True, True, True]
    await asyncio.to_thread(thread.join)
    await until(lambda: not any(led.state for led in leds), timeout=2)  # the lamp test ends
    await asyncio.sleep(0.1)
    assert app.panel.presses == {"short": 0, "long": 1}  # the release is no short press
    assert not any(s["on"] for s in app.hotline.switch_list())
    assert (await app.state.audit_log(1))[0]["action"] == "panel.lamp_test"


async def test_the_outage_led_follows_the_web_switch_too(app: App) -> None:
    await app.hotline.set_switch("sap_outage", True, "web")
    assert pin(app, LED_OUTAGE).state is True
    await app.hotline.set_switch("sap_outage", False, "web")
    await app.hotline.set_switch("network_outage", True, "web")  # not the panel's switch: a short flash
    assert app.panel.patterns["outage"] == "flash"


async def test_the_waiting_led_blinks_while_callers_wait(app: App) -> None:
    led = pin(app, LED_WAITING)
    entry = app.queues.enter("lvs", "call-1", "+4930123", None)
    assert app.panel.patterns["waiting"] == "blink"
    led.clear_states()
    await asyncio.sleep(0.6)
    assert len(led.states) >= 3  # it really blinks (4 Hz: about 5 changes in 0.6 s)
    app.queues.leave(entry, "hangup")
    assert app.panel.patterns["waiting"] == "off"
    await until(lambda: led.state is False, 1, "the waiting LED off")


async def test_the_fault_led_lights_when_the_media_clock_stalls(app: App) -> None:
    assert app.status.report()["overall"] == "ok"
    assert pin(app, LED_FAULT).state is False
    app.media_clock.stop()
    await until(lambda: pin(app, LED_FAULT).state is True, timeout=3)
    assert app.status.report()["components"]["media_clock"]["state"] == "fault"
    app.media_clock.start()
    await until(lambda: pin(app, LED_FAULT).state is False, timeout=3)


async def test_without_gpio_the_hotline_runs_on_and_reports_the_panel_degraded(tmp_path: Path) -> None:
    app = App(make_config(tmp_path, pin_factory="lgpio"))  # no GPIO chip on the test machine
    await app.start()
    try:
        status = app.status.report()
        assert status["panel"] is None
        assert status["components"]["panel"]["state"] == "degraded"
        assert status["overall"] == "degraded"
        assert status["components"]["line_sip"]["state"] == "ok"
    finally:
        await app.stop()
