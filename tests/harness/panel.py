"""The front panel on gpiozero's mock pins: a config with the panel on, its pins, and a finger
that presses the button with contact bounce from a thread of its own."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import yaml

from tests.harness.daemon import DEMO, free_port
from zentrale.app import App
from zentrale.config import Config

BUTTON, LED_OUTAGE, LED_WAITING, LED_FAULT = 5, 6, 12, 13  # the defaults


PANEL = {
    "enabled": True,
    "pin_factory": "mock",
    "button": BUTTON,
    "led_outage": LED_OUTAGE,
    "led_waiting": LED_WAITING,
    "led_fault": LED_FAULT,
    "debounce": 0.03,
    "long_press": 0.8,
    "lamp_test": 0.6,
}


def make_config(tmp_path: Path, **panel: Any) -> Config:
    data: dict[str, Any] = yaml.safe_load((DEMO / "config.yaml").read_text(encoding="utf-8"))
    data["data_dir"] = str(tmp_path / "data")
    # a port free for UDP and TCP both (with 0 the line takes a free UDP port, whose number
    # may be taken for TCP by another test's process)
    data["sip"].update(bind="127.0.0.1", port=free_port())
    data["http"]["port"] = 0
    data["panel"] = {**PANEL, **panel}
    return Config.model_validate(data)


async def finish_setup(app: App) -> None:
    """The first admin account, as the web page's set-up makes it: until then the waiting and
    fault LEDs show the set-up pattern (tests/integration/test_panel_setup.py)."""
    assert app.accounts.setup_token is not None
    await app.accounts.setup(app.accounts.setup_token, "chef", "chef-password", "Chef", "test")
    app.panel.refresh()


def pin(app: App, number: int) -> Any:
    return app.panel.factory.pin(number)


def chatter(button: Any, final_low: bool, bursts: int = 6, every: float = 0.001) -> None:
    """Contact bounce: ``bursts`` on/off pairs ``every`` seconds apart. On a loaded machine a
    plain thread's 1 ms sleep can last longer than the debounce time (a real press, then), so
    the finger runs at real-time priority where it may (root), as a switch's bounce would."""
    realtime = hasattr(os, "sched_setscheduler") and os.geteuid() == 0
    if realtime:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))  # this thread only (Linux)
    try:
        for _ in range(bursts):
            button.drive_low()
            time.sleep(every)
            button.drive_high()
            time.sleep(every)
        if final_low:
            button.drive_low()
    finally:
        if realtime:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # executor threads are reused


def finger(button: Any, hold: float, bounce: bool = True) -> None:
    """Press, hold, release: on a thread of its own, like gpiozero's callbacks."""
    if bounce:
        chatter(button, final_low=True)
    else:
        button.drive_low()
    time.sleep(hold)
    if bounce:
        chatter(button, final_low=False)  # ends high: released
    else:
        button.drive_high()
