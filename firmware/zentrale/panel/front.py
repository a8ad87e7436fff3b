"""The front panel of the appliance (wiring: hw/WIRING.md).

Button
  short press   toggles the active mode's front-panel outage switch, through
                ``Hotline.toggle_front_panel_switch``: the same effect, the same
                persistence and the same audit entry as the web switch.
  long press    lamp test: all LEDs light for ``lamp_test`` seconds, the health
                report goes to the journal and an audit entry is written. It
                changes nothing callers hear, no switch, no call, no setting,
                so leaning on the button by accident is harmless.

LEDs (steady ``on``; ``blink`` = 4 Hz; ``flash`` = a short flash every 2 s;
``setup`` = 1 Hz, slow and even)
  outage   on: the front-panel outage switch is on; flash: another outage
           switch of the mode is on (set in the web page)
  waiting  blink: callers are waiting in a queue
  fault    on: a fault that may keep calls from being served (SIP registration
           lost, media clock stalled, database unreachable, data disk over
           its fault percentage);
           blink: the data disk is full, failing or below the recording
           threshold -- calls are answered, but no message can be recorded;
           flash: degraded otherwise.
           The lamp test (long press) writes the reasons to the journal.
  set-up   until the first admin account exists (the web page's first-run
           set-up with the token from the console or the boot partition), the
           waiting and the fault LED blink slowly together (``setup``): the
           box is up and waiting to be set up from a PC. A real fault keeps
           its own pattern on the fault LED.

gpiozero calls back from its own thread; every edge hops into the event
loop with ``loop.call_soon_threadsafe`` and is handled there (the loop owns
all state, ARCHITECTURE.md).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from gpiozero import LED, Button

from zentrale.config import PanelConfig
from zentrale.core.events import EventBus
from zentrale.health import ComponentHealth, HealthMonitor
from zentrale.panel.button import PressDecoder

if TYPE_CHECKING:
    from zentrale.hotline import Hotline

log = logging.getLogger(__name__)

Pattern = Literal["off", "on", "blink", "flash", "setup"]
BLINK = {"blink": (0.125, 0.125), "flash": (0.15, 1.85), "setup": (0.5, 0.5)}
REFRESH_SECONDS = 0.5  # the health part of the LEDs is polled; switches and queues come as events
DISK_COMPONENTS = frozenset({"disk", "store", "call_log"})  # what a full disk degrades by itself


def make_pin_factory(kind: str) -> Any:
    """None lets gpiozero choose (lgpio on a Pi)."""
    if kind == "mock":
        from gpiozero.pins.mock import MockFactory

        return MockFactory()
    if kind == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory

        return LGPIOFactory()
    return None


class FrontPanel:
    def __init__(
        self,
        config: PanelConfig,
        *,
        hotline: Hotline,
        events: EventBus,
        health: HealthMonitor,
        recording_refused: Callable[[], str | None] = lambda: None,
        setup_pending: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self._setup_pending = setup_pending
        self.hotline = hotline
        self.events = events
        self.health = health
        self._recording_refused = recording_refused
        self.running = False
        self.factory: Any = None
        self._button: Button | None = None
        self._leds: dict[str, LED] = {}
        self.patterns: dict[str, Pattern] = {}
        self.decoder: PressDecoder | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._refresher: asyncio.Task[None] | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._lamp_test_until = 0.0
        self.presses = {"short": 0, "long": 0}

    # --- life cycle -----------------------------------------------------------------------

    def start_or_degrade(self) -> bool:
        """Start; without GPIO the hotline runs on and the panel is reported degraded."""
        try:
            self.start()
        except Exception as err:
            reason = f"GPIO unavailable: {err}"
            log.error("front panel: %s; running without the panel", reason)
            self.health.add_check("panel", lambda: ComponentHealth("degraded", reason))
            return False
        self.health.add_check("panel", lambda: ComponentHealth("ok", "button and LEDs on GPIO"))
        return True

    def start(self) -> None:
        """Open the GPIO lines; raises gpiozero's errors (the caller logs and goes on without a panel)."""
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        self.factory = make_pin_factory(cfg.pin_factory)
        # bounce_time=None: debouncing is ours (PressDecoder), the same on every pin factory
        button = Button(cfg.button, pull_up=True, bounce_time=None, pin_factory=self.factory)
        self._button = button
        self.decoder = PressDecoder(
            read_pressed=lambda: bool(button.is_pressed),
            debounce=cfg.debounce,
            long_press=cfg.long_press,
            on_short=self._short_press,
            on_long=self._long_press,
        )
        loop = self._loop
        decoder = self.decoder
        button.when_pressed = lambda: loop.call_soon_threadsafe(decoder.edge)
        button.when_released = lambda: loop.call_soon_threadsafe(decoder.edge)
        for name, pin in (("outage", cfg.led_outage), ("waiting", cfg.led_waiting), ("fault", cfg.led_fault)):
            if pin is not None:
                self._leds[name] = LED(pin, pin_factory=self.factory)
                self.patterns[name] = "off"
        self._unsubscribe = self.events.subscribe(lambda _event: self.refresh())
        self._refresher = asyncio.ensure_future(self._refresh_periodically())
        leds = {"outage": cfg.led_outage, "waiting": cfg.led_waiting, "fault": cfg.led_fault}
        wired = ", ".join(f"{name} GPIO{pin}" for name, pin in leds.items() if pin is not None)
        log.info("front panel: button GPIO%d, LEDs %s", cfg.button, wired or "none")
        self.running = True
        self.refresh()

    async def stop(self) -> None:
        self.running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.decoder is not None:
            self.decoder.close()
        for led in self._leds.values():
            led.close()  # stops a blink thread
        if self._button is not None:
            self._button.close()
        if self.factory is not None:
            self.factory.close()

    # --- the button -----------------------------------------------------------------------

    def _spawn(self, coro: Any, what: str) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("front panel: %s failed", what, exc_info=t.exception())

        task.add_done_callback(done)

    def _short_press(self) -> None:
        self.presses["short"] += 1
        self._spawn(self._toggle(), "outage toggle")

    async def _toggle(self) -> None:
        switch = await self.hotline.toggle_front_panel_switch("front panel")
        if switch is None:
            log.warning("front panel: the active mode has no switch to toggle")
        else:
            log.info("front panel: switch '%s' is now %s", switch["id"], "on" if switch["on"] else "off")
        self.refresh()

    def _long_press(self) -> None:
        self.presses["long"] += 1
        assert self._loop is not None
        self._lamp_test_until = self._loop.time() + self.config.lamp_test
        self._loop.call_later(self.config.lamp_test, self.refresh)
        problems = self.health.problems()
        log.info("front panel: lamp test; health %s%s", self.health.overall(), f": {problems}" if problems else "")
        self._spawn(self.hotline.state.audit(self.hotline.clock.now(), "front panel", "panel.lamp_test"), "audit")
        self.refresh()

    # --- the LEDs -------------------------------------------------------------------------

    def wanted(self) -> dict[str, Pattern]:
        assert self._loop is not None
        if self._loop.time() < self._lamp_test_until:
            return {name: "on" for name in self._leds}
        switches = self.hotline.switch_list()
        panel_id = self.hotline.front_panel_switch_id()
        outage: Pattern = "off"
        if any(s["on"] and s["id"] == panel_id for s in switches):
            outage = "on"
        elif any(s["on"] for s in switches):
            outage = "flash"
        fault = self._fault_pattern()
        waiting: Pattern = "blink" if self.hotline.waiting_calls() else "off"
        if self._setup_pending():
            waiting = "setup"
            fault = "setup" if fault == "off" else fault
        return {"outage": outage, "waiting": waiting, "fault": fault}

    def _fault_pattern(self) -> Pattern:
        health = self.health.overall()
        if health == "ok":
            return "off"
        states = {name: c.state for name, c in self.health.components().items()}
        if any(state == "fault" for name, state in states.items() if name not in DISK_COMPONENTS):
            return "on"
        if self._recording_refused() is not None:
            return "blink"
        return "on" if health == "fault" else "flash"

    def refresh(self) -> None:
        """Bring the LEDs to the wanted pattern; an LED already showing it is left alone."""
        if self._loop is None:
            return
        for name, pattern in self.wanted().items():
            led = self._leds.get(name)
            if led is None or self.patterns.get(name) == pattern:
                continue
            if pattern == "on":
                led.on()
            elif pattern == "off":
                led.off()
            else:
                on_time, off_time = BLINK[pattern]
                led.blink(on_time=on_time, off_time=off_time, background=True)
            self.patterns[name] = pattern

    async def _refresh_periodically(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                self.refresh()
            except Exception:
                log.exception("front panel: LED refresh failed")

    def status(self) -> dict[str, Any] | None:
        """For ``/status``; None while the panel does not run (no GPIO)."""
        if not self.running:
            return None
        return {
            "button": {
                "gpio": self.config.button,
                "pressed": self.decoder.pressed if self.decoder else None,
                "edges": self.decoder.edges if self.decoder else 0,
                "presses": dict(self.presses),
            },
            "leds": dict(self.patterns),
        }
