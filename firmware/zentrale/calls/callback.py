"""Callbacks that keep the caller's place (issue 16, item 3), over the lines.

A caller who asked for a callback (the mode's ``callback`` node, core/callbacks.py) is stored
(``store/callbacks.py``) and waits as a virtual entry on the queue board at their place. An agent
pulls it, or the automatic distribution picks it, exactly as a waiting call: the distribution
rings the agent (``core.distribution``, the same dialer). When the agent answers, the hand-over
comes here instead of to a caller's flow: the agent hears "Rückruf ...", the box calls the
caller, greets them ("Hier ist ..., Sie hatten um Rückruf gebeten") and bridges both.

A caller who does not answer: the agent is let go, the attempt is logged, and after the team's
``callback_interval`` the entry waits again at the same place, up to ``callback_attempts``
calls; then the callback is a task for the agents (``tasks``; failed, until someone marks it
done). Every attempt is a row of the call log. Waiting callbacks survive a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from zentrale.calls.behind import CallLogWriter
from zentrale.calls.session import LineSession
from zentrale.core.agents import Agent
from zentrale.core.callbacks import PROMPT_AGENT, PROMPT_GREETING, PROMPT_HOLD_OVER, CallbackNumbers, RetryPlan, prompt
from zentrale.core.clock import Clock
from zentrale.core.distribution import Dialer, DialResult
from zentrale.core.handover import HandOver, HookFlashTransfer, TransferredByPbx
from zentrale.core.queues import QueueBoard, QueueEntry
from zentrale.errors import CallGone, Conflict, StoreError
from zentrale.lines.base import Call, Line, OriginateFailed
from zentrale.media.library import AudioLibrary
from zentrale.store.callbacks import CallbackRepository
from zentrale.store.messages import MessageRepository
from zentrale.teams import TeamDirectory

log = logging.getLogger(__name__)

HOLD_MUSIC = "music_a"  # caller_first: what the caller hears while the agent's phone rings (shipped)
CALLER_FIRST_HOLD = 300.0  # seconds a caller called back waits on the line for an agent; then a later attempt


@dataclass(frozen=True)
class Pending:
    """A callback waiting for an agent (or for its next attempt)."""

    callback_id: str
    call_id: str  # the caller's call that asked for it
    team: str
    number: str
    caller_name: str | None
    since: datetime  # when the caller entered the queue: their place
    attempts: int = 0


class CallbackService:
    """The ``CallbackDesk`` of the flow, and what answers a callback's hand-over to an agent."""

    def __init__(
        self,
        *,
        clock: Clock,
        queues: QueueBoard[Call],
        teams: TeamDirectory,
        line: Line,
        library: AudioLibrary,
        messages: MessageRepository,
        repo: CallbackRepository,
        call_log: CallLogWriter,
        language: Callable[[], str],
    ) -> None:
        self._clock = clock
        self._queues = queues
        self._teams = teams
        self._line = line
        self._library = library
        self._messages = messages
        self._repo = repo
        self._call_log = call_log
        self._language = language  # the active mode's: what the caller heard when they asked
        self._numbers = CallbackNumbers(lambda team: getattr(teams.get(team), "callback_numbers", None))
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: dict[str, Pending] = {}  # callback id -> the callback on the board now
        # caller_first: callback id -> the caller's answered leg, their hold music, and when they answered
        self._reached: dict[str, tuple[Call, asyncio.Future[Any], datetime]] = {}
        self._held_over: set[str] = set()  # caller_first: let go after CALLER_FIRST_HOLD, to be called again
        self.on_caller_ringing: list[Callable[[str], None]] = []  # hooks (bench): the caller's phone rings

    # --- the flow's CallbackDesk -------------------------------------------------------

    def allows(self, team: str, number: str) -> bool:
        return self._numbers.allows(team, number)

    async def request(self, team: str, number: str, caller_name: str | None, call_id: str, since: datetime) -> str:
        if not self.allows(team, number):  # the flow checked; defence in depth before anything is kept
            raise Conflict(f"team {team} does not call back {number}")
        pending = Pending(f"{self._clock.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}", call_id, team, number,
                          caller_name, since)  # fmt: skip
        try:
            await self._repo.add(pending.callback_id, call_id=call_id, team=team, number=number,
                                 caller_name=caller_name, since=since, created_at=self._clock.now())  # fmt: skip
        except StoreError as err:
            # the caller keeps their place all the same; only a restart would forget it
            log.error("callback %s to %s: the database did not take note: %s", pending.callback_id, number, err)
        self._spawn(self._wait(pending, 0.0))
        return pending.callback_id

    # --- start, stop, tasks --------------------------------------------------------------

    async def load(self) -> int:
        """Put the callbacks that waited before the restart back at their places."""
        rows = await self._repo.waiting()
        now = self._clock.now()
        for row in rows:
            pending = Pending(row["id"], row["call_id"], row["team"], row["number"], row["caller_name"],
                              datetime.fromisoformat(row["since"]), int(row["attempts"]))  # fmt: skip
            delay = (datetime.fromisoformat(row["next_at"]) - now).total_seconds() if row["next_at"] else 0.0
            self._spawn(self._wait(pending, max(0.0, delay)))
        if rows:
            log.info("callbacks: %d waiting again after the start", len(rows))
        return len(rows)

    async def tasks(self) -> list[dict[str, Any]]:
        return await self._repo.tasks()

    async def done(self, callback_id: str, by: str) -> dict[str, Any]:
        """An agent took care of a failed callback: it leaves the task list."""
        row = await self._repo.get(callback_id)
        if row["state"] != "failed":
            raise Conflict(f"callback {callback_id} is {row['state']}, not a task")
        await self._repo.update(callback_id, state="done", done_by=by, done_at=self._clock.now().isoformat())
        return await self._repo.get(callback_id)

    async def stop(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._call_log.stop()

    def _spawn(self, work: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- one callback ----------------------------------------------------------------------

    async def _wait(self, pending: Pending, delay: float) -> None:
        """Wait ``delay`` (between attempts), then on the board until an agent takes it."""
        if delay > 0:
            await self._clock.sleep(delay)
        entry: QueueEntry[Call] = self._queues.enter_callback(
            pending.team, pending.callback_id, pending.number, pending.caller_name, pending.since, pending.attempts
        )
        self._waiting[pending.callback_id] = pending
        waits: set[asyncio.Future[Any]] = {entry.handed_over, entry.left}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._waiting.pop(pending.callback_id, None)
            if not entry.handed_over.done():
                self._queues.leave(entry, "stopped")
        reached = self._reached.pop(pending.callback_id, None)
        if not entry.handed_over.done():
            if reached is not None:  # caller_first: the caller hung up while the agent's phone rang
                await self._caller_gone(pending, reached, entry.waited(self._clock.monotonic()))
            return
        agent = entry.offered_to or "?"
        self._queues.leave(entry, "connected")
        waited = entry.waited(self._clock.monotonic())
        try:
            if reached is not None:
                await self._talk(pending, reached, entry.handed_over.result(), agent, waited)
            else:
                await self._connect(pending, entry.handed_over.result(), agent, waited)
        except Exception:
            log.exception("callback %s failed", pending.callback_id)
            await self._attempt_failed(pending, "failed")

    # --- caller first (the team's callback_order) ---------------------------------------------

    def caller_first(self, team_id: str) -> bool:
        team = self._teams.get(team_id)
        return team is not None and team.callback_order == "caller_first"

    async def reach_caller(self, entry: QueueEntry[Call]) -> bool:
        """caller_first: call the caller before the agent's phone rings (``CallbackDialer``). Once
        answered they hear the greeting, then hold music, and wait on the line like a waiting
        caller until an agent takes the call. Not answered: off the board until the next attempt."""
        pending = self._waiting.get(entry.callback_id or "")
        if pending is None:
            return False
        if pending.callback_id in self._reached:
            return True  # on the line already: the previous agent did not take it
        started = self._clock.now()
        _, ring_timeout = self._plan(pending.team)
        try:
            caller = await self._originate(pending, ring_timeout, _resolved(entry.left))
        except OriginateFailed as err:
            log.info("callback %s: %s did not answer (%s)", pending.callback_id, pending.number, err.why)
            self._log(f"callback-{pending.callback_id}-{pending.attempts + 1}", pending, started,
                      "callback_no_answer", entry.waited(self._clock.monotonic()), agent=None)  # fmt: skip
            self._queues.leave(entry, "callback_no_answer")
            await self._attempt_failed(pending, err.why)
            return False
        session = self._session(caller)
        language = self._language()

        async def greet_then_music() -> None:
            await session.play(prompt(PROMPT_GREETING, language))
            await session.play_music(HOLD_MUSIC, CALLER_FIRST_HOLD)

        async def hold() -> None:
            await self._for_at_most(greet_then_music(), CALLER_FIRST_HOLD)
            if caller.ended.done():
                return
            # nobody took the call: the caller is told and let go, and called again at the next attempt
            # (a caller on the line is not held for ever: every agent may let their phone ring)
            self._held_over.add(pending.callback_id)
            over = prompt(PROMPT_HOLD_OVER, language)
            await self._for_at_most(session.play(over), self._library.clip(over, caller.sample_rate).duration + 1.0)
            await caller.hangup()

        music = asyncio.ensure_future(hold())
        self._reached[pending.callback_id] = (caller, music, self._clock.now())
        caller.ended.add_done_callback(lambda _f: self._queues.leave(entry, "caller_gone"))
        log.info("callback %s: %s answered, waiting for an agent", pending.callback_id, pending.number)
        return True

    async def _for_at_most(self, work: Awaitable[Any], seconds: float) -> None:
        """``work`` until it is done or ``seconds`` passed on the box's clock (limits hold even
        when a call's player is not pulled: a stalled media path must not hold the caller)."""
        task = asyncio.ensure_future(work)
        timer = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({task, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
            await _cancel(task)

    async def _talk(
        self, pending: Pending, reached: tuple[Call, asyncio.Future[Any], datetime], handover: HandOver[Call],
        agent: str, waited: float,
    ) -> None:  # fmt: skip
        """caller_first: the agent answered; the caller was on the line already."""
        self._held_over.discard(pending.callback_id)  # taken while being told that nobody was free
        caller, music, answered = reached
        await _cancel(music)
        if isinstance(handover, TransferredByPbx | HookFlashTransfer):  # pragma: no cover - no caller's line
            raise TypeError(f"callback {pending.callback_id}: no leg to bridge ({handover!r})")
        leg: Call = handover
        started = answered
        talk_from = self._clock.monotonic()
        try:
            await self._session(caller).bridge(leg)
        except CallGone:
            pass
        finally:
            for c in (caller, leg):
                with contextlib.suppress(Exception):
                    await c.hangup()
        talk = round(self._clock.monotonic() - talk_from, 1)
        self._log(f"callback-{pending.callback_id}-{pending.attempts + 1}", pending, started, "callback_answered",
                  waited, agent=agent, answered=self._clock.now(), talk=talk, line=caller.line)  # fmt: skip
        await self._note(pending.callback_id, state="connected", attempts=pending.attempts + 1, next_at=None,
                         outcome="answered", agent=agent)  # fmt: skip

    async def _caller_gone(self, pending: Pending, reached: tuple[Call, asyncio.Future[Any], datetime],
                           waited: float) -> None:  # fmt: skip
        caller, music, answered = reached
        await _cancel(music)
        with contextlib.suppress(Exception):
            await caller.hangup()
        if pending.callback_id in self._held_over:
            self._held_over.discard(pending.callback_id)
            log.info("callback %s: no agent took the call within %g s; %s is called again later",
                     pending.callback_id, CALLER_FIRST_HOLD, pending.number)  # fmt: skip
            self._log(f"callback-{pending.callback_id}-{pending.attempts + 1}", pending, answered,
                      "callback_no_agent", waited, agent=None, line=caller.line)  # fmt: skip
            await self._attempt_failed(pending, "no_agent")
            return
        log.info("callback %s: %s hung up before an agent took the call", pending.callback_id, pending.number)
        self._log(f"callback-{pending.callback_id}-{pending.attempts + 1}", pending, answered, "callback_abandoned",
                  waited, agent=None, line=caller.line)  # fmt: skip
        await self._note(pending.callback_id, state="connected", attempts=pending.attempts + 1, next_at=None,
                         outcome="abandoned")  # fmt: skip

    async def _connect(self, pending: Pending, handover: HandOver[Call], agent: str, waited: float) -> None:
        """The agent answered: call the caller, greet them, bridge both."""
        if isinstance(handover, TransferredByPbx | HookFlashTransfer):  # pragma: no cover - no caller's line
            raise TypeError(f"callback {pending.callback_id}: no leg to bridge ({handover!r})")
        leg: Call = handover
        language = self._language()
        started = self._clock.now()
        call_id = f"callback-{pending.callback_id}-{pending.attempts + 1}"
        told = asyncio.ensure_future(self._session(leg).play(prompt(PROMPT_AGENT, language)))
        gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def agent_gone(_f: asyncio.Future[str]) -> None:
            if not gone.done():
                gone.set_result(None)

        leg.ended.add_done_callback(agent_gone)
        plan = self._plan(pending.team)
        log.info("callback %s: agent %s answered, calling %s", pending.callback_id, agent, pending.number)
        try:
            caller = await self._originate(pending, plan[1], gone)
        except OriginateFailed as err:
            await _cancel(told)
            agent_left = leg.ended.done()
            with contextlib.suppress(Exception):
                await leg.hangup()
            self._log(call_id, pending, started, "callback_no_answer" if not agent_left else "callback_agent_gone",
                      waited, agent=agent)  # fmt: skip
            if agent_left:  # the agent hung up before the caller answered: not the caller's failure
                log.info("callback %s: agent %s hung up before %s answered", pending.callback_id, agent,
                         pending.number)  # fmt: skip
                self._spawn(self._wait(pending, 0.0))
                return
            log.info("callback %s: %s did not answer (%s)", pending.callback_id, pending.number, err.why)
            await self._attempt_failed(pending, err.why)
            return
        await _cancel(told)
        # noted before the talk: a restart in the middle of it must not call the caller again
        await self._note(pending.callback_id, state="connected", attempts=pending.attempts + 1, next_at=None,
                         outcome="answered", agent=agent)  # fmt: skip
        session = self._session(caller)
        answered = self._clock.now()
        talk_from = self._clock.monotonic()
        try:
            await session.play(prompt(PROMPT_GREETING, language))
            await session.bridge(leg)
        except CallGone:
            pass
        finally:
            for c in (caller, leg):
                with contextlib.suppress(Exception):
                    await c.hangup()
        talk = round(self._clock.monotonic() - talk_from, 1)
        self._log(call_id, pending, started, "callback_answered", waited, agent=agent, answered=answered, talk=talk,
                  line=caller.line)  # fmt: skip

    async def _originate(self, pending: Pending, ring_timeout: float, cancel: asyncio.Future[None]) -> Call:
        def ringing() -> None:
            for hook in self.on_caller_ringing:
                hook(pending.callback_id)

        return await self._line.originate(
            pending.number, display=self._teams.name(pending.team), ring_timeout=ring_timeout, cancel=cancel,
            on_ringing=ringing,
        )  # fmt: skip

    async def _attempt_failed(self, pending: Pending, why: str) -> None:
        made = pending.attempts + 1
        retry, _ = self._plan(pending.team)
        again = retry.next_try(made, 0.0)
        if again is None:
            log.warning("callback %s to %s failed %d times (%s): a task for team %s", pending.callback_id,
                        pending.number, made, why, pending.team)  # fmt: skip
            await self._note(pending.callback_id, state="failed", attempts=made, next_at=None, outcome=why)
            return
        next_at = self._clock.now() + timedelta(seconds=again)
        await self._note(pending.callback_id, attempts=made, next_at=next_at.isoformat(), outcome=why)
        self._spawn(self._wait(replace(pending, attempts=made), again))

    def _plan(self, team_id: str) -> tuple[RetryPlan, float]:
        """The team's retry plan and how long the caller's phone rings."""
        team = self._teams.get(team_id)
        if team is None:
            return RetryPlan(), 30.0
        return RetryPlan(team.callback_attempts, team.callback_interval), team.callback_ring_timeout

    def _session(self, call: Call) -> LineSession:
        return LineSession(call, clock=self._clock, library=self._library, messages=self._messages)

    async def _note(self, callback_id: str, **fields: Any) -> None:
        try:
            await self._repo.update(callback_id, **fields)
        except StoreError as err:
            log.error("callback %s: the database did not take note of %s: %s", callback_id, fields, err)

    def _log(
        self, call_id: str, pending: Pending, started: datetime, outcome: str, waited: float, *, agent: str | None,
        answered: datetime | None = None, talk: float | None = None, line: str | None = None,
    ) -> None:  # fmt: skip
        extra: dict[str, Any] = {"answered_at": answered.isoformat(), "talk_s": talk} if answered else {}
        self._call_log.ended(
            call_id, line=line or self._line.name, caller=pending.number,
            caller_name=pending.caller_name, called=pending.number, team=pending.team, started_at=started.isoformat(),
            ended_at=self._clock.now().isoformat(), waited_s=round(waited, 1), outcome=outcome, answered_by=agent,
            entered_queue_at=pending.since.isoformat(), **extra,
        )  # fmt: skip


class CallbackDialer:
    """The distribution's ``Dialer``: waiting calls and agent-first callbacks go to the line's
    dialer as they are; a callback of a ``caller_first`` team reaches the caller first and rings
    the agent only once the caller is on the line."""

    def __init__(self, inner: Dialer[Call], callbacks: CallbackService) -> None:
        self._inner = inner
        self._callbacks = callbacks

    async def dial(
        self, agent: Agent, entry: QueueEntry[Call], ring_timeout: float, cancel: asyncio.Future[Any]
    ) -> DialResult[Call]:
        first = entry.callback_id is not None and self._callbacks.caller_first(entry.team)
        if first and not await self._callbacks.reach_caller(entry):
            return DialResult(None, "caller_no_answer")
        return await self._inner.dial(agent, entry, ring_timeout, cancel)

    async def hang_up(self, handover: HandOver[Call]) -> None:
        await self._inner.hang_up(handover)

    async def wait_ended(self, handover: HandOver[Call]) -> None:
        await self._inner.wait_ended(handover)


def _resolved(future: asyncio.Future[Any]) -> asyncio.Future[None]:
    """A Future[None] done when ``future`` is (a line's ``cancel``)."""
    out: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def done(_f: asyncio.Future[Any]) -> None:
        if not out.done():
            out.set_result(None)

    future.add_done_callback(done)
    return out


async def _cancel(task: asyncio.Future[Any]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, CallGone):
        await task
