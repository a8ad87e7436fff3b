"""The one way a test waits for a state: a condition polled until a deadline.

A test never sleeps for a state (``time.sleep(2)`` "until the call is up"): it waits
for the condition, with a deadline that names what did not happen. A sleep is right
only for time that is part of what is tested: a caller speaking for 3 s, a prompt
that must be heard to its end, a period in which nothing may happen.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

POLL = 0.05  # seconds between two looks: short beside every state a test waits for


def wait_until(condition: Callable[[], T], timeout: float, what: str, *, poll: float = POLL) -> T:
    """Poll ``condition`` until it returns something true and return that; after ``timeout``
    seconds fail with ``AssertionError("timed out after N s waiting for <what>")``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(poll)


async def until(
    condition: Callable[[], T | Awaitable[T]], timeout: float = 5.0, what: str = "the condition", *, poll: float = 0.02
) -> T:
    """``wait_until`` inside the event loop: the loop runs on while the test waits.
    ``condition`` may be a plain function or a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if isinstance(value, Awaitable):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(poll)
