"""Login throttling: failed attempts per source address and per account name.

A sliding window: after ``limit`` failures within ``window`` seconds further
attempts are refused (without checking the password, so a locked account
gives no oracle) until the oldest failure is older than the window. A
successful login clears the account's failures, never the source's: one
valid account must not reset the counter for guessing others.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

MAX_KEYS = 10_000  # bounded memory under a flood of made-up names


class FailureWindow:
    def __init__(self, limit: int, window: float, monotonic: Callable[[], float]) -> None:
        self.limit = limit
        self.window = window
        self._now = monotonic
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        cutoff = self._now() - self.window
        while times and times[0] <= cutoff:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, key: str) -> float | None:
        """Seconds until ``key`` may try again, or None when it may now."""
        times = self._recent(key)
        if len(times) < self.limit:
            return None
        return max(0.0, times[-self.limit] + self.window - self._now())

    def failed(self, key: str) -> None:
        times = self._recent(key)
        if not times:
            self._failures[key] = times
        times.append(self._now())
        self._failures.move_to_end(key)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


class LoginThrottle:
    """Per source: 20 failures in 10 minutes; per account name: 5 in 10 minutes."""

    def __init__(
        self,
        monotonic: Callable[[], float],
        per_source: int = 20,
        per_user: int = 5,
        window: float = 600.0,
    ) -> None:
        self.sources = FailureWindow(per_source, window, monotonic)
        self.users = FailureWindow(per_user, window, monotonic)

    def retry_after(self, source: str, user: str) -> float | None:
        waits = [w for w in (self.sources.retry_after(source), self.users.retry_after(user.lower())) if w is not None]
        return max(waits) if waits else None

    def failed(self, source: str, user: str) -> None:
        self.sources.failed(source)
        self.users.failed(user.lower())

    def succeeded(self, user: str) -> None:
        self.users.clear(user.lower())
