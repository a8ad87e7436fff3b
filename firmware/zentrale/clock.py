"""The real clock: the only place that reads the system time.

``SystemClock`` is the adapter of the ``Clock`` port (``core/clock.py``, which
also holds ``ManualClock`` for tests and the mode simulator). The media clock
(``media/clock.py``) is no time source: it paces the 20 ms audio frames.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
