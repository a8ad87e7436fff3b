"""The one media clock: a 20 ms tick that drives every outgoing stream.

Not a time source (that is the ``Clock`` port, ``core/clock.py``, with the
system adapter in ``clock.py``): it paces audio on the loop's timer.

One timer for all calls instead of one per call keeps pacing tight and CPU
low. Deadlines are absolute, so a late tick does not shift the next ones;
after a long stall (> 5 ticks) the clock skips ahead instead of bursting.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import time
from collections.abc import Callable

from zentrale.media.frames import FRAME_MS

log = logging.getLogger(__name__)

Tick = Callable[[], None]


class CollectorWatch:
    """Measures the cyclic garbage collector's pauses (they stall the loop, hence the clock)."""

    def __init__(self) -> None:
        self.max_pause = 0.0
        self.collections = 0
        self._started = 0.0

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def uninstall(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.collections += 1
            self.max_pause = max(self.max_pause, time.perf_counter() - self._started)


class MediaClock:
    def __init__(self, interval: float = FRAME_MS / 1000) -> None:
        self.interval = interval
        self._streams: dict[int, Tick] = {}
        self._receivers: dict[int, Tick] = {}  # run before any stream sends (playout into bridges)
        self._keys = itertools.count(1)
        self._handle: asyncio.TimerHandle | None = None
        self._deadline = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self.ticks = 0
        self.skipped = 0
        self.max_late = 0.0
        self.last_tick = 0.0  # loop time of the last tick (health/watchdog)
        self.max_cost = 0.0  # longest time spent inside one tick (all streams)
        self.recent_late = 0.0  # worst lateness since the last ``take_recent``
        # when the tick being run was due (loop time, i.e. time.monotonic()): a late tick is
        # followed at once by the next, so jitter buffers play out by this, not by the time
        # it is now (they would cut what the next ticks catch up anyway)
        self.scheduled = 0.0

    def add(self, tick: Tick, *, receive: bool = False) -> int:
        """Call ``tick`` every 20 ms; ``receive`` ticks run first, so what one call
        receives and hands to another (a bridge) goes out in the same tick."""
        key = next(self._keys)
        (self._receivers if receive else self._streams)[key] = tick
        return key

    def remove(self, key: int) -> None:
        self._streams.pop(key, None)
        self._receivers.pop(key, None)

    @property
    def streams(self) -> int:
        return len(self._streams)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._deadline = self._loop.time() + self.interval
        self.last_tick = self._loop.time()
        self._handle = self._loop.call_at(self._deadline, self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def toggle_stall(self) -> None:
        """Fault injection (tests only, SIGUSR2 with ZENTRALE_FAULT_INJECTION=1): stop a running
        clock, start a stopped one, while the loop runs on."""
        if self._handle is not None:
            log.warning("fault injection: media clock stopped")
            self.stop()
        else:
            log.warning("fault injection: media clock started again")
            self.start()

    def take_recent(self) -> float:
        """Worst lateness since the previous call (seconds)."""
        late, self.recent_late = self.recent_late, 0.0
        return late

    def healthy(self, now: float) -> bool:
        """True while ticks keep coming (used by the watchdog)."""
        return self._handle is not None and now - self.last_tick < 1.0

    def _tick(self) -> None:
        assert self._loop is not None
        now = self._loop.time()
        late = now - self._deadline
        if late > self.max_late:
            self.max_late = late
        if late > self.recent_late:
            self.recent_late = late
        self.ticks += 1
        self.last_tick = now
        self.scheduled = self._deadline
        for table in (self._receivers, self._streams):
            for key, tick in list(table.items()):
                try:
                    tick()
                except Exception:
                    # one broken stream must not cost the others their audio, nor the
                    # log a traceback 50 times a second: it leaves the clock
                    log.exception("media stream tick failed; the stream is taken off the media clock")
                    table.pop(key, None)
        self._deadline += self.interval
        cost = self._loop.time() - now
        if cost > self.max_cost:
            self.max_cost = cost
        now = self._loop.time()
        if now - self._deadline > 5 * self.interval:
            missed = int((now - self._deadline) / self.interval)
            self.skipped += missed
            self._deadline += missed * self.interval
            log.warning("media clock stalled, skipped %d ticks", missed)
        self._handle = self._loop.call_at(self._deadline, self._tick)
