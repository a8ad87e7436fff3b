"""The call supervisor: takes calls from lines, runs the flow engine over them,
keeps the call log, and makes sure no call, task or socket is left behind.

An exception in one call is logged with its call id and that call is hung
up politely; the loop and every other call go on. Answering never waits for
the database: the call log is written behind the call (``calls.behind``).
Every call ends: each is held to its node's and the box's time limits
(``calls.limits``), whatever its media does.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from zentrale.calls.behind import CallLogWriter, PendingMessages
from zentrale.calls.limits import CallDeadline, CallLimits, node_limit, prompt_seconds
from zentrale.calls.session import LineSession
from zentrale.core.clock import Clock
from zentrale.core.distribution import CallConnected
from zentrale.core.events import CallStarted, Event, EventBus, NodeEntered
from zentrale.core.flow import CallOutcome, FlowEngine
from zentrale.core.modes import Mode
from zentrale.errors import CallGone
from zentrale.lines.base import Call
from zentrale.media.library import AudioLibrary
from zentrale.store.disk import DataDisk
from zentrale.store.messages import MessageRepository
from zentrale.store.state import CallLogRepository

log = logging.getLogger(__name__)

HANGUP_GRACE = 5.0  # seconds the flow has to wind up after the box hung up on a limit
STOP_GRACE = 2.0  # seconds the flows have to wind up when the box stops (a message spoken is kept whole)


class ServiceNumber(Protocol):
    """A number answered by a service instead of the hotline's mode (recording prompts by phone)."""

    def matches(self, call: Call) -> bool: ...

    async def run(self, session: LineSession) -> str:
        """The whole service call; returns the call-log outcome."""
        ...


class ActiveCall(NamedTuple):
    call: Call
    session: LineSession
    task: asyncio.Task[None]
    progress: CallOutcome  # filled in by the flow as the call goes: node, queue, who answered


class CallSupervisor:
    def __init__(
        self,
        *,
        clock: Clock,
        events: EventBus,
        engine: FlowEngine[Call],
        active_mode: Callable[[], Mode | None],
        messages: MessageRepository,
        call_log: CallLogRepository,
        library: AudioLibrary,
        silence_dbfs: float,
        limits: CallLimits | None = None,
        disk: DataDisk | None = None,
        service: ServiceNumber | None = None,
    ) -> None:
        self.clock = clock
        self.events = events
        self.engine = engine
        self.active_mode = active_mode  # the hotline's mode now: a call runs the one active when it came
        self.messages = messages
        self.library = library
        self.silence_dbfs = silence_dbfs
        self.limits = limits or CallLimits()
        self.disk = disk
        self.service = service
        self.call_log = CallLogWriter(call_log)
        self.pending_messages = PendingMessages(messages)
        self.active: dict[str, ActiveCall] = {}
        self.stopping = False  # set by ``stop``: a call ended now was hung up by the box
        self.on_session: list[Callable[[LineSession], None]] = []  # hooks for benchmarks/tests: each new session
        self.deadlines: dict[str, tuple[CallDeadline, Mode | None]] = {}  # the limits each call is held to
        self.ended_by_limit = 0
        self._seconds_of = prompt_seconds(library)
        events.subscribe(self._track)

    def _track(self, event: Event) -> None:
        """A call's limits change the moment it enters a node or an agent takes it."""
        if isinstance(event, NodeEntered):
            self._enter_node(event.call_id, event.node)
        elif isinstance(event, CallConnected):
            held = self.deadlines.get(event.call_id)
            if held is not None:
                held[0].connected()

    def _enter_node(self, call_id: str, node_id: str) -> None:
        held = self.deadlines.get(call_id)
        if held is None:
            return
        deadline, mode = held
        node = mode.nodes.get(node_id) if mode is not None else None
        if mode is None or node is None:
            deadline.enter(node_id, None)
            return
        deadline.enter(node_id, node_limit(mode, node_id, node, self._seconds_of, self.limits))

    def incoming(self, call: Call) -> None:
        """A line offers a new call (called on the loop)."""
        session = LineSession(
            call,
            clock=self.clock,
            library=self.library,
            messages=self.messages,
            silence_dbfs=self.silence_dbfs,
            disk=self.disk,
        )
        progress = CallOutcome()
        task = asyncio.ensure_future(self._run(call, session, progress))
        self.active[call.call_id] = ActiveCall(call, session, task, progress)
        for hook in self.on_session:
            hook(session)

    async def _run(self, call: Call, session: LineSession, progress: CallOutcome) -> None:
        if self.service is not None and self.service.matches(call):
            work = functools.partial(self._service_outcome, session, progress)
            await self._supervise(call, work, progress, None, hotline=False)
            return
        mode = self.active_mode()
        if mode is None:
            log.warning("call %s refused: no active mode", call.call_id)
            self.active.pop(call.call_id, None)
            await call.reject(503, "Service Unavailable")
            return
        work = functools.partial(self.engine.run, mode, session, progress)
        await self._supervise(call, work, progress, mode, hotline=True)

    async def _service_outcome(self, session: LineSession, progress: CallOutcome) -> CallOutcome:
        """A call to the service number (recording prompts by phone), not to the hotline."""
        assert self.service is not None
        try:
            progress.outcome = await self.service.run(session)
        except CallGone:
            progress.outcome = "hangup"
        return progress

    async def _supervise(
        self,
        call: Call,
        work: Callable[[], Awaitable[CallOutcome]],
        progress: CallOutcome,
        mode: Mode | None,
        *,
        hotline: bool,
    ) -> None:
        """Answer, run ``work`` (the mode's flow or the service) within the call's limits,
        hang up and log, whatever happens."""
        started = self.clock.now()
        outcome = progress
        try:
            if hotline:
                self.events.publish(CallStarted(call.call_id, call.caller, call.caller_name, call.called, call.line))
            log.info("call %s from %s to %s (%s)%s", call.call_id, call.caller, call.called, call.line,
                     "" if hotline else ": recording prompts")  # fmt: skip
            await call.answer()
            self.call_log.started(
                call.call_id, line=call.line, caller=call.caller, caller_name=call.caller_name, called=call.called,
                at=started,
            )  # fmt: skip
            outcome = await self._within_limits(call, work, progress, mode)
        except asyncio.CancelledError:
            outcome.outcome = "shutdown"
            raise
        except Exception:
            log.exception("call %s failed; hanging up", call.call_id)
            outcome.outcome = "failed"
        finally:
            if self.stopping and outcome.outcome in ("abandoned", "hangup"):
                outcome.outcome = "shutdown"  # the box hung up, not the caller (statistics: not abandoned)
            self.active.pop(call.call_id, None)
            self.deadlines.pop(call.call_id, None)
            try:
                await call.hangup()
            except Exception:
                log.exception("call %s: hangup failed", call.call_id)
            self._log_end(call, started, outcome)
            self.pending_messages.wake()

    async def _within_limits(
        self, call: Call, work: Callable[[], Awaitable[CallOutcome]], progress: CallOutcome, mode: Mode | None
    ) -> CallOutcome:
        """Run ``work``; when a time limit passes first, hang up (the flow winds up as after a
        caller's hang-up, storing a recording in progress) and, if it does not, cancel it."""
        deadline = CallDeadline(self.clock, self.limits, call.call_id)
        self.deadlines[call.call_id] = (deadline, mode)  # before the flow enters its first node
        task = asyncio.ensure_future(work())
        watch = asyncio.ensure_future(deadline.expired())
        try:
            await asyncio.wait({task, watch}, return_when=asyncio.FIRST_COMPLETED)
            if task.done():
                return task.result()
            why = watch.result()
            self.ended_by_limit += 1
            log.warning("call %s: %s; the box hangs up", call.call_id, why)
            try:
                await call.hangup()
            except Exception:
                log.exception("call %s: hangup failed", call.call_id)
            grace = asyncio.ensure_future(self.clock.sleep(HANGUP_GRACE))
            await asyncio.wait({task, grace}, return_when=asyncio.FIRST_COMPLETED)
            grace.cancel()
            if not task.done():
                log.warning("call %s: the flow did not end %g s after the hang-up; cancelled", call.call_id,
                            HANGUP_GRACE)  # fmt: skip
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                progress.outcome = "time_limit"
                return progress
            outcome = task.result()
            if outcome.outcome in ("abandoned", "hangup"):
                outcome.outcome = "time_limit"
            return outcome
        finally:
            watch.cancel()
            if not task.done():  # cancelled from outside (shutdown)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _log_end(self, call: Call, started: datetime, outcome: CallOutcome) -> None:
        entered = outcome.entered_queue_at
        extra: dict[str, Any] = {"entered_queue_at": entered.isoformat()} if entered else {}
        if outcome.left_queue is not None:
            extra["left_queue"] = outcome.left_queue
        quality = call.info().get("quality")
        if quality:
            extra["quality"] = json.dumps(quality, separators=(",", ":"))
        if outcome.answered_at is not None and outcome.talk_from is not None:
            extra |= {
                "answered_by": outcome.answered_by,
                "answered_at": outcome.answered_at.isoformat(),
                "talk_s": round(self.clock.monotonic() - outcome.talk_from, 1),
            }
        self.call_log.ended(
            call.call_id,
            line=call.line,
            caller=call.caller,
            caller_name=call.caller_name,
            called=call.called,
            started_at=started.isoformat(),
            ended_at=self.clock.now().isoformat(),
            team=outcome.team,
            waited_s=round(outcome.waited, 1),
            outcome=outcome.outcome,
            message_id=outcome.message_id,
            **extra,
        )

    async def stop(self) -> None:
        """Hang up every call; each flow winds up as after a hang-up (a message being spoken is
        stored whole and mailed, not salvaged from its part at the next start) for up to
        STOP_GRACE, then what is left is cancelled. The call log says "shutdown"."""
        self.stopping = True
        actives = list(self.active.values())
        for active in actives:
            try:
                await active.call.hangup()
            except Exception:
                log.exception("call %s: hangup failed", active.call.call_id)
        flows = asyncio.gather(*(a.task for a in actives), return_exceptions=True)
        grace = asyncio.ensure_future(self.clock.sleep(STOP_GRACE))
        first: set[asyncio.Future[Any]] = {flows, grace}
        await asyncio.wait(first, return_when=asyncio.FIRST_COMPLETED)
        grace.cancel()
        for active in actives:
            active.task.cancel()
        await flows
        await self.pending_messages.stop()
        await self.call_log.stop()

    def call(self, call_id: str) -> Call | None:
        """The call in progress with this id (the dialer's ``CallLookup``)."""
        active = self.active.get(call_id)
        return active.call if active is not None else None

    def node_of(self, call_id: str) -> str | None:
        """The node the call is in now."""
        active = self.active.get(call_id)
        return active.progress.last_node if active is not None else None

    def calls(self) -> list[dict[str, Any]]:
        return [{**a.call.info(), "node": a.progress.last_node} for a in self.active.values()]
