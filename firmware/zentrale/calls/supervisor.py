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
from typing import Any, Protocol

from zentrale.calls.behind import CallLogWriter, PendingMessages
from zentrale.calls.limits import CallDeadline, CallLimits, node_limit, prompt_seconds
from zentrale.calls.session import LineSession
from zentrale.core.clock import Clock
from zentrale.core.distribution import CallConnected
from zentrale.core.events import CallStarted, CallWaiting, EventBus, NodeEntered
from zentrale.core.flow import CallOutcome, FlowEngine
from zentrale.core.modes import Mode
from zentrale.errors import CallEnded
from zentrale.lines.base import Call
from zentrale.media.library import AudioLibrary
from zentrale.store.disk import DataDisk
from zentrale.store.messages import MessageRepository
from zentrale.store.state import CallLogRepository

log = logging.getLogger(__name__)

HANGUP_GRACE = 5.0  # seconds the flow has to wind up after the box hung up on a limit


class ServiceNumber(Protocol):
    """A number answered by a service instead of the hotline's mode (recording prompts by phone)."""

    def matches(self, call: Call) -> bool: ...

    async def run(self, session: LineSession) -> str:
        """The whole service call; returns the call-log outcome."""
        ...


class CallSupervisor:
    def __init__(
        self,
        *,
        clock: Clock,
        events: EventBus,
        engine: FlowEngine,
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
        self.active: dict[str, tuple[Call, LineSession, asyncio.Task[None]]] = {}
        self.on_session: list[Any] = []  # hooks for benchmarks/tests: called with each new session
        self.nodes: dict[str, str] = {}  # call id -> the node the call is in
        self.answered: dict[str, tuple[str, Any, float]] = {}  # call id -> (agent, when, monotonic)
        self.entered: dict[str, Any] = {}  # call id -> when it first entered a queue
        self.deadlines: dict[str, tuple[CallDeadline, Mode | None]] = {}
        self.ended_by_limit = 0
        self._seconds_of = prompt_seconds(library)
        events.subscribe(self._track)

    def _track(self, event: Any) -> None:
        if isinstance(event, NodeEntered):
            self.nodes[event.call_id] = event.node
            self._enter_node(event.call_id, event.node)
        elif isinstance(event, CallWaiting):
            self.entered.setdefault(event.call_id, self.clock.now())
        elif isinstance(event, CallConnected):
            self.answered[event.call_id] = (event.agent_id, self.clock.now(), self.clock.monotonic())
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
        task = asyncio.ensure_future(self._run(call, session))
        self.active[call.call_id] = (call, session, task)
        for hook in self.on_session:
            hook(session)

    async def _run(self, call: Call, session: LineSession) -> None:
        if self.service is not None and self.service.matches(call):
            await self._supervise(call, functools.partial(self._service_outcome, session), None, hotline=False)
            return
        mode = self.active_mode()
        if mode is None:
            log.warning("call %s refused: no active mode", call.call_id)
            self.active.pop(call.call_id, None)
            await call.reject(503, "Service Unavailable")
            return
        await self._supervise(call, functools.partial(self.engine.run, mode, session), mode, hotline=True)

    async def _service_outcome(self, session: LineSession) -> CallOutcome:
        """A call to the service number (recording prompts by phone), not to the hotline."""
        assert self.service is not None
        try:
            return CallOutcome(outcome=await self.service.run(session))
        except CallEnded:
            return CallOutcome(outcome="hangup")

    async def _supervise(
        self, call: Call, work: Callable[[], Awaitable[CallOutcome]], mode: Mode | None, *, hotline: bool
    ) -> None:
        """Answer, run ``work`` (the mode's flow or the service) within the call's limits,
        hang up and log, whatever happens."""
        started = self.clock.now()
        outcome = CallOutcome(outcome="failed")
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
            outcome = await self._within_limits(call, work, mode)
        except asyncio.CancelledError:
            outcome.outcome = "shutdown"
            raise
        except Exception:
            log.exception("call %s failed; hanging up", call.call_id)
        finally:
            self.active.pop(call.call_id, None)
            self.nodes.pop(call.call_id, None)
            self.deadlines.pop(call.call_id, None)
            try:
                await call.hangup()
            except Exception:
                log.exception("call %s: hangup failed", call.call_id)
            self._log_end(call, started, outcome)
            self.pending_messages.wake()

    async def _within_limits(
        self, call: Call, work: Callable[[], Awaitable[CallOutcome]], mode: Mode | None
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
                return CallOutcome(outcome="time_limit")
            outcome = task.result()
            if outcome.outcome in ("abandoned", "hangup"):
                outcome.outcome = "time_limit"
            return outcome
        finally:
            watch.cancel()
            if not task.done():  # cancelled from outside (shutdown)
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)

    def _log_end(self, call: Call, started: Any, outcome: CallOutcome) -> None:
        answered = self.answered.pop(call.call_id, None)
        entered = self.entered.pop(call.call_id, None)
        extra: dict[str, Any] = {"entered_queue_at": entered.isoformat()} if entered else {}
        quality = call.info().get("quality")
        if quality:
            extra["quality"] = json.dumps(quality, separators=(",", ":"))
        if answered is not None:
            agent, when, since = answered
            extra |= {
                "answered_by": agent,
                "answered_at": when.isoformat(),
                "talk_s": round(self.clock.monotonic() - since, 1),
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
        for _, _, task in list(self.active.values()):
            task.cancel()
        await asyncio.gather(*(t for _, _, t in self.active.values()), return_exceptions=True)
        await self.pending_messages.stop()
        await self.call_log.stop()

    def call(self, call_id: str) -> Call | None:
        """The call in progress with this id (the dialer's ``CallLookup``)."""
        held = self.active.get(call_id)
        return held[0] if held is not None else None

    def calls(self) -> list[dict[str, Any]]:
        return [{**call.info(), "node": self.nodes.get(call.call_id)} for call, _, _ in self.active.values()]
