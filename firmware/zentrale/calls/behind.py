"""Storage work done behind the calls, never in their way.

Answering a call never waits for the database (issue 13, fault 3: a full disk
made the call-log insert fail before the answer, and every call got 480). The
call log is handed to ``CallLogWriter``, which writes it from a queue of its
own; what the store refuses is dropped and counted (``/status``: ``call_log``),
and the calls go on. ``PendingMessages`` stores the messages that were
recorded and finished in the spool while the database refused their row, as
soon as it takes writes again -- not only at the next start.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Any

from zentrale.errors import StoreError
from zentrale.store.messages import MessageMeta, MessageRepository
from zentrale.store.state import CallLogRepository

log = logging.getLogger(__name__)

MAX_PENDING_ROWS = 2000  # a store that hangs must not make the queue grow without bound


class CallLogWriter:
    """Call-log rows from a queue, one at a time, on a task of their own."""

    def __init__(self, repo: CallLogRepository, max_pending: int = MAX_PENDING_ROWS) -> None:
        self.repo = repo
        self.max_pending = max_pending
        self._queue: collections.deque[tuple[str, str, dict[str, Any]]] = collections.deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self.written = 0
        self.dropped = 0
        self.failing: str | None = None  # the store's last refusal while it lasts

    def started(self, call_id: str, **fields: Any) -> None:
        """The call was answered: a row with what is known so far."""
        self._put("started", call_id, fields)

    def ended(self, call_id: str, **fields: Any) -> None:
        """The call is over: its whole row (written whole, so a dropped start loses nothing)."""
        self._put("ended", call_id, fields)

    def _put(self, kind: str, call_id: str, fields: dict[str, Any]) -> None:
        if len(self._queue) >= self.max_pending:
            self._drop(call_id, "too many rows waiting for the database")
            return
        self._queue.append((kind, call_id, fields))
        self._idle.clear()
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            if not self._queue:
                self._idle.set()
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            kind, call_id, fields = self._queue.popleft()
            try:
                if kind == "started":
                    await self.repo.started(call_id, **fields)
                else:
                    await self.repo.ended(call_id, **fields)
            except (StoreError, OSError) as err:
                self._drop(call_id, str(err))
                continue
            self.written += 1
            if self.failing is not None:
                log.info("call log: written again (%d row(s) dropped while the store refused)", self.dropped)
                self.failing = None

    def _drop(self, call_id: str, why: str) -> None:
        self.dropped += 1
        if self.failing is None:  # one line when it starts failing, not one per call
            log.warning("call log: row of call %s dropped: %s (counted on /status)", call_id, why)
        else:
            log.debug("call log: row of call %s dropped: %s", call_id, why)
        self.failing = why

    def status(self) -> dict[str, Any]:
        return {"written": self.written, "dropped": self.dropped, "waiting": len(self._queue), "failing": self.failing}

    async def drain(self, timeout: float = 2.0) -> None:
        """Wait (a little) for the rows in the queue, e.g. before the database closes."""
        if not self._idle.is_set():  # rows queued, or one being written
            try:
                await asyncio.wait_for(self._idle.wait(), timeout)
            except TimeoutError:
                log.warning("call log: %d row(s) not written at stop", len(self._queue))

    async def stop(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


class PendingMessages:
    """Retries, every ``interval`` seconds while there are any, the messages the database refused."""

    def __init__(
        self,
        messages: MessageRepository,
        interval: float = 10.0,
        on_stored: Callable[[MessageMeta], None] | None = None,
    ) -> None:
        self.messages = messages
        self.interval = interval
        self.on_stored = on_stored
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Called after each call: start retrying if something is pending."""
        if self.messages.pending and (self._task is None or self._task.done()):
            self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while self.messages.pending:
            await asyncio.sleep(self.interval)
            try:
                stored = await self.messages.commit_pending()
            except (StoreError, OSError) as err:
                log.debug("spool: %d message(s) still waiting for the database: %s", len(self.messages.pending), err)
                continue
            for meta in stored:
                log.info("spool: message %s stored now that the database takes writes again", meta.id)
                if self.on_stored is not None:
                    self.on_stored(meta)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
