"""Starting and stopping the box's parts in one order.

The composition root lists its parts once, each with what starts it and what stops it; they
start in that order and stop in the reverse order, so a part is stopped before anything it
uses (the calls before the SIP line that carries them, everything before the database). A
start that fails stops the parts already started (their sockets and files are released, and
the error is the start's), and a part that does not stop in time is named in the log and left
behind, so one stuck part cannot keep the box from stopping or restarting.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


STOP_SECONDS = 10.0  # per part; systemd's TimeoutStopSec (90 s) is the backstop for the whole stop

Step = Callable[[], object]  # a plain function, or one that returns something to await


@dataclass(frozen=True, slots=True)
class Part:
    """One part: ``start`` and ``stop`` may be plain or coroutine functions, or left out."""

    name: str
    start: Step | None = None
    stop: Step | None = None


class Lifecycle:
    def __init__(self, parts: list[Part], stop_seconds: float = STOP_SECONDS) -> None:
        self.parts = parts
        self.stop_seconds = stop_seconds
        self.started: list[Part] = []

    async def start(self) -> None:
        for part in self.parts:
            try:
                if part.start is not None:
                    await _call(part.start)
            except BaseException:
                log.error("starting: %s failed; stopping the parts already started", part.name)
                await self.stop()
                raise
            self.started.append(part)

    async def stop(self) -> None:
        while self.started:
            part = self.started.pop()
            if part.stop is not None:
                await bounded(part.name, _call(part.stop), self.stop_seconds)


async def _call(step: Step) -> None:
    result = step()
    if inspect.isawaitable(result):
        await result


async def bounded(part: str, stopping: Awaitable[Any], seconds: float = STOP_SECONDS) -> None:
    """Wait for one part to stop; after ``seconds`` log which part hung and go on. A part
    whose stop raises is named too: the parts after it must still stop."""
    try:
        await asyncio.wait_for(stopping, seconds)
    except TimeoutError:
        log.error("stopping: %s did not stop within %g s; going on without it", part, seconds)
    except Exception:
        log.exception("stopping: %s failed; going on without it", part)


class Background:
    """Coroutines that run while the box runs: started as one part, cancelled when it stops."""

    def __init__(self) -> None:
        self.tasks: list[asyncio.Future[None]] = []

    def spawn(self, job: Awaitable[None]) -> None:
        self.tasks.append(asyncio.ensure_future(job))

    def part(self, name: str, *jobs: Callable[[], Awaitable[None]]) -> Part:
        return Part(name, lambda: self._start(jobs), self.stop)

    def _start(self, jobs: tuple[Callable[[], Awaitable[None]], ...]) -> None:
        for job in jobs:
            self.spawn(job())

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks.clear()
