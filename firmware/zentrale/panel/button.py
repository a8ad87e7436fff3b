"""Debounce a push button and tell a short press from a long one.

Runs on the event loop: GPIO edges arrive (from gpiozero's thread, via
``loop.call_soon_threadsafe``) as ``edge()``; a press counts only once the
contact has been steady for ``debounce`` seconds, so the bounce of a cheap
tactile switch (a few ms of on/off chatter when pressed and released) makes
one press, not several. The long press fires while the button is still held,
so the person holding it sees the LEDs answer; its release does nothing more.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable


class PressDecoder:
    def __init__(
        self,
        *,
        read_pressed: Callable[[], bool],
        debounce: float,
        long_press: float,
        on_short: Callable[[], None],
        on_long: Callable[[], None],
    ) -> None:
        self._read = read_pressed
        self.debounce = debounce
        self.long_press = long_press
        self._on_short = on_short
        self._on_long = on_long
        self.pressed = False  # the debounced state
        self._settle: asyncio.TimerHandle | None = None
        self._hold: asyncio.TimerHandle | None = None
        self._long_fired = False
        self.edges = 0  # raw edges seen (bounce included), for the status page and tests

    def edge(self) -> None:
        """The contact changed (maybe bouncing): wait until it is steady."""
        self.edges += 1
        if self._settle is not None:
            self._settle.cancel()
        self._settle = asyncio.get_running_loop().call_later(self.debounce, self._settled)

    def _settled(self) -> None:
        self._settle = None
        level = self._read()
        if level == self.pressed:
            return  # bounced back to where it was: no press
        self.pressed = level
        loop = asyncio.get_running_loop()
        if level:
            self._long_fired = False
            # the debounce time already passed since the press began
            self._hold = loop.call_later(max(0.0, self.long_press - self.debounce), self._held)
        else:
            if self._hold is not None:
                self._hold.cancel()
                self._hold = None
            if not self._long_fired:
                self._on_short()

    def _held(self) -> None:
        self._hold = None
        self._long_fired = True
        self._on_long()

    def close(self) -> None:
        for handle in (self._settle, self._hold):
            if handle is not None:
                handle.cancel()
