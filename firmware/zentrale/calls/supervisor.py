"""The call supervisor: takes calls from lines, runs the flow engine over them,
keeps the call log, and makes sure no call, task or socket is left behind.

An exception in one call is logged with its call id and that call is hung
up politely; the loop and every other call go on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from zentrale.calls.session import LineSession
from zentrale.core.clock import Clock
from zentrale.core.distribution import CallConnected
from zentrale.core.events import CallStarted, CallWaiting, EventBus, NodeEntered
from zentrale.core.flow import CallOutcome, FlowEngine
from zentrale.errors import CallEnded
from zentrale.hotline import Hotline
from zentrale.lines.base import Call
from zentrale.media.library import AudioLibrary

log = logging.getLogger(__name__)


class CallSupervisor:
    def __init__(
        self,
        *,
        clock: Clock,
        events: EventBus,
        engine: FlowEngine,
        hotline: Hotline,
        library: AudioLibrary,
        silence_dbfs: float,
    ) -> None:
        self.clock = clock
        self.events = events
        self.engine = engine
        self.hotline = hotline
        self.library = library
        self.silence_dbfs = silence_dbfs
        self.active: dict[str, tuple[Call, LineSession, asyncio.Task[None]]] = {}
        self.on_session: list[Any] = []  # hooks for benchmarks/tests: called with each new session
        self.nodes: dict[str, str] = {}  # call id -> the node the call is in
        self.answered: dict[str, tuple[str, Any, float]] = {}  # call id -> (agent, when, monotonic)
        self.entered: dict[str, Any] = {}  # call id -> when it first entered a queue
        self.service: Any = None  # PhonePromptRecording when configured: its number skips the mode
        events.subscribe(self._track)

    def _track(self, event: Any) -> None:
        if isinstance(event, NodeEntered):
            self.nodes[event.call_id] = event.node
        elif isinstance(event, CallWaiting):
            self.entered.setdefault(event.call_id, self.clock.now())
        elif isinstance(event, CallConnected):
            self.answered[event.call_id] = (event.agent_id, self.clock.now(), self.clock.monotonic())

    def incoming(self, call: Call) -> None:
        """A line offers a new call (called on the loop)."""
        session = LineSession(
            call,
            clock=self.clock,
            library=self.library,
            messages=self.hotline.messages,
            silence_dbfs=self.silence_dbfs,
        )
        task = asyncio.ensure_future(self._run(call, session))
        self.active[call.call_id] = (call, session, task)
        for hook in self.on_session:
            hook(session)

    async def _run(self, call: Call, session: LineSession) -> None:
        if self.service is not None and self.service.matches(call):
            await self._supervise(call, functools.partial(self._service_outcome, session), hotline=False)
            return
        mode = self.hotline.mode
        if mode is None:
            log.warning("call %s refused: no active mode", call.call_id)
            self.active.pop(call.call_id, None)
            await call.reject(503, "Service Unavailable")
            return
        await self._supervise(call, functools.partial(self.engine.run, mode, session), hotline=True)

    async def _service_outcome(self, session: LineSession) -> CallOutcome:
        """A call to the service number (recording prompts by phone), not to the hotline."""
        try:
            return CallOutcome(outcome=await self.service.run(session))
        except CallEnded:
            return CallOutcome(outcome="hangup")

    async def _supervise(self, call: Call, work: Callable[[], Awaitable[CallOutcome]], *, hotline: bool) -> None:
        """Answer, run ``work`` (the mode's flow or the service), hang up and log, whatever happens."""
        started = self.clock.now()
        outcome = CallOutcome(outcome="failed")
        try:
            await self.hotline.call_log.started(
                call.call_id, call.line, call.caller, call.caller_name, call.called, started
            )
            if hotline:
                self.events.publish(CallStarted(call.call_id, call.caller, call.caller_name, call.called, call.line))
            log.info("call %s from %s to %s (%s)%s", call.call_id, call.caller, call.called, call.line,
                     "" if hotline else ": recording prompts")  # fmt: skip
            await call.answer()
            outcome = await work()
        except asyncio.CancelledError:
            outcome.outcome = "shutdown"
            raise
        except Exception:
            log.exception("call %s failed; hanging up", call.call_id)
        finally:
            self.active.pop(call.call_id, None)
            self.nodes.pop(call.call_id, None)
            try:
                await call.hangup()
            except Exception:
                log.exception("call %s: hangup failed", call.call_id)
            await self._log_end(call, started, outcome)

    async def _log_end(self, call: Call, started: Any, outcome: CallOutcome) -> None:
        answered = self.answered.pop(call.call_id, None)
        entered = self.entered.pop(call.call_id, None)
        extra: dict[str, Any] = {"entered_queue_at": entered.isoformat()} if entered else {}
        if answered is not None:
            agent, when, since = answered
            extra |= {
                "answered_by": agent,
                "answered_at": when.isoformat(),
                "talk_s": round(self.clock.monotonic() - since, 1),
            }
        try:
            await self.hotline.call_log.ended(
                call.call_id,
                ended_at=self.clock.now().isoformat(),
                team=outcome.team,
                waited_s=round(outcome.waited, 1),
                outcome=outcome.outcome,
                message_id=outcome.message_id,
                **extra,
            )
        except Exception:
            log.exception("call %s: call log not written", call.call_id)

    async def stop(self) -> None:
        for _, _, task in list(self.active.values()):
            task.cancel()
        await asyncio.gather(*(t for _, _, t in self.active.values()), return_exceptions=True)

    def calls(self) -> list[dict[str, Any]]:
        return [{**call.info(), "node": self.nodes.get(call.call_id)} for call, _, _ in self.active.values()]
