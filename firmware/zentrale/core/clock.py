"""The Clock port and a manual clock for tests and the mode simulator.

Domain code never reads the system time; it gets a ``Clock``. The real one
lives in ``zentrale.clock`` (an adapter), the manual one here, because the
mode simulator of the web editor uses it too.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds for durations, aware UTC datetimes for calendars."""

    def monotonic(self) -> float: ...

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class ManualClock:
    """A clock that only moves when told to.

    ``sleep`` parks the caller until ``advance`` moves time past its deadline,
    so a five-minute queue limit takes microseconds in a test.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._t = 0.0
        self._start = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._t

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._t)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._t + seconds, next(self._seq), fut))
        await fut

    def next_deadline(self) -> float | None:
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)  # cancelled sleepers
        return self._sleepers[0][0] if self._sleepers else None

    async def settle(self, rounds: int = 30) -> None:
        """Let every runnable task run until it blocks again."""
        for _ in range(rounds):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper at its own deadline in order."""
        target = self._t + seconds
        await self.settle()
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > target:
                break
            self._t = max(self._t, deadline)
            while self._sleepers and self._sleepers[0][0] <= self._t:
                _, _, fut = heapq.heappop(self._sleepers)
                if not fut.done():
                    fut.set_result(None)
            await self.settle()
        self._t = target
        await self.settle()

    async def run_until(self, task: asyncio.Future[object], limit: float = 24 * 3600) -> None:
        """Jump from deadline to deadline until ``task`` is done (or ``limit`` passes)."""
        end = self._t + limit
        await self.settle()
        while not task.done():
            deadline = self.next_deadline()
            if deadline is None:
                await self.settle()
                if task.done():
                    break
                raise RuntimeError("task is blocked on something other than the clock")
            if deadline > end:
                raise TimeoutError(f"task still running after {limit} simulated seconds")
            await self.advance(deadline - self._t)
