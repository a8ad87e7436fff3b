"""The flow engine: runs one call over a mode document.

One coroutine per call walks the nodes. Every wait goes through the
injected Clock or through the ``CallSession`` port, so the customer's whole
example runs in milliseconds against a fake session and a ManualClock.
A far-end hang-up surfaces as ``CallGone`` from any session operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

from zentrale.core.callbacks import PROMPT_DONE, CallbackDesk, ask_number
from zentrale.core.callbacks import prompt as spoken
from zentrale.core.callers import CallerFacts, CallerLists, in_language, patterns, rule_matches
from zentrale.core.clock import Clock
from zentrale.core.events import CallEnded, EventBus, MessageStored, NodeEntered, PositionAnnounced
from zentrale.core.handover import HandOver, L
from zentrale.core.modes import (
    AnnouncementNode,
    CallbackNode,
    ConditionNode,
    HangupNode,
    MenuNode,
    Mode,
    Node,
    QueueNode,
    VoicemailNode,
)
from zentrale.core.queues import QueueBoard, QueueEntry
from zentrale.core.switches import ManualControl
from zentrale.core.waits import AnnounceState, ServiceRates, position_prompt, spoken_wait, wait_prompt
from zentrale.errors import CallGone

log = logging.getLogger(__name__)

MAX_STEPS = 500  # a document that passed validation never needs this many

# Spoken when no message can be recorded (the data disk is full or failing). Shipped
# prompts; an admin may replace their wording by uploading prompts of the same names.
NO_MESSAGES_PROMPT = "messages_unavailable"  # "... Bitte rufen Sie später wieder an."
NO_MESSAGES_WAIT_PROMPT = "messages_unavailable_wait"  # "... Bitte bleiben Sie in der Leitung ..."
NO_MESSAGE_PROMPTS = frozenset({NO_MESSAGES_PROMPT, NO_MESSAGES_WAIT_PROMPT})


@dataclass(frozen=True)
class RecordingRequest:
    """What the voicemail node asks the session to record."""

    max_seconds: float
    silence_seconds: float
    end_digits: str
    team: str | None
    mode: str
    node: str
    email: tuple[str, ...] | None = None


@dataclass(frozen=True)
class StoredMessage:
    message_id: str
    duration_ms: int


class RecordingImpossible(Exception):
    """No message can be recorded now (the data disk is full or failing); the text says why."""


L_contra = TypeVar("L_contra", contravariant=True)  # the agent's leg a session can be bridged to


class CallSession(Protocol[L_contra]):
    """What the engine needs from a call; implemented over a line by ``calls/``."""

    call_id: str
    caller: str
    caller_name: str | None

    async def play(self, prompt: str, *, barge_in: bool = False) -> str | None:
        """Play a prompt to its end; with barge_in a digit stops it and is returned."""

    async def play_music(self, music: str, seconds: float, *, barge_in: bool = False) -> str | None:
        """Play looping music for ``seconds``; with barge_in a digit stops it and is returned."""

    async def next_digit(self, timeout: float) -> str | None:
        """The next digit (buffered first), or None after ``timeout`` seconds."""

    def take_digit(self) -> str | None:
        """A digit typed ahead, without waiting."""

    def clear_digits(self) -> None: ...

    async def beep(self) -> None: ...

    def recording_refused(self) -> str | None:
        """Why no message could be recorded right now (disk full, low or failing), or None."""

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        """Record until an end digit, silence, max length or hang-up; store it
        atomically. Returns normally even when the caller hangs up meanwhile;
        raises ``RecordingImpossible`` when the disk refuses the recording and
        nothing of it could be kept."""

    async def bridge(self, handover: HandOver[L_contra]) -> None:
        """Connect the caller with the agent's answered leg until one side ends, or let the
        caller's line hand the call on (then the caller is gone: ``CallGone``)."""

    async def hangup(self) -> None: ...

    @property
    def gone(self) -> bool:
        """The call is gone (``CallGone``): hung up or handed on."""


@dataclass
class CallOutcome:
    """How a call goes, then how it ended, for the call log (filled in while the call runs)."""

    outcome: str = "hangup"  # hangup | abandoned | voicemail | no_message | answered | overflow | callback | failed
    # | blocked (a condition node's block-list rule held)
    last_node: str | None = None  # the node the call is in, then the last one
    last_queue: str | None = None  # the queue node the caller last waited in
    team: str | None = None
    message_id: str | None = None
    waited: float = 0.0
    entered_queue_at: datetime | None = None  # when the caller first entered a queue
    answered_by: str | None = None  # the agent who took the call
    answered_at: datetime | None = None
    talk_from: float | None = None  # monotonic seconds when the agent took it (talk time)
    left_queue: str | None = None  # why the caller last left a queue unanswered: "key *", overflow, after_hold


class FlowEngine(Generic[L]):
    """Walks mode documents for calls. Holds no per-call state itself."""

    def __init__(
        self,
        clock: Clock,
        queues: QueueBoard[L],
        control: ManualControl,
        events: EventBus,
        rates: ServiceRates | None = None,
        callers: CallerLists | None = None,
        schedule_state: Callable[[], str] | None = None,
        callbacks: CallbackDesk | None = None,
    ) -> None:
        self._clock = clock
        # the block and VIP lists and the schedule's state (open | closed | holiday | closed_day),
        # for condition nodes; without them no caller is on a list and the office is open
        self.callers = callers if callers is not None else CallerLists()
        self._schedule_state = schedule_state or (lambda: "open")
        self._callbacks = callbacks  # none (the editor's simulator): a callback node goes on to on_failure
        self._queues = queues
        self._control = control
        self._events = events
        # the measured service rates behind the expected wait (fed by the same bus)
        self.rates = rates if rates is not None else ServiceRates(clock, events)

    async def run(self, mode: Mode, session: CallSession[L], outcome: CallOutcome | None = None) -> CallOutcome:
        """Walk ``mode`` for the call; ``outcome`` (if given) is filled in as the call goes."""
        outcome = outcome if outcome is not None else CallOutcome()
        node_id: str | None = mode.start
        try:
            for _ in range(MAX_STEPS):
                if node_id is None:
                    break
                node = mode.nodes[node_id]
                outcome.last_node = node_id
                self._events.publish(NodeEntered(session.call_id, node_id, node.type))
                node_id = await self._step(mode, node_id, node, session, outcome)
            else:
                log.error("call %s: mode %r did not end after %d steps", session.call_id, mode.name, MAX_STEPS)
                outcome.outcome = "failed"
            await session.hangup()
        except CallGone:
            if outcome.outcome == "hangup":
                outcome.outcome = "abandoned"
        self._events.publish(CallEnded(session.call_id, outcome.outcome))
        return outcome

    async def _step(
        self, mode: Mode, node_id: str, node: Node, session: CallSession[L], outcome: CallOutcome
    ) -> str | None:
        if isinstance(node, AnnouncementNode):
            return await self._announcement(mode, node_id, node, session)
        if isinstance(node, MenuNode):
            return await self._menu(node, session)
        if isinstance(node, QueueNode):
            return await self._queue(mode, node_id, node, session, outcome)
        if isinstance(node, VoicemailNode):
            return await self._voicemail(mode, node_id, node, session, outcome)
        if isinstance(node, ConditionNode):
            return self._condition(node_id, node, session, outcome)
        if isinstance(node, CallbackNode):
            return await self._callback(mode, node_id, node, session, outcome)
        if isinstance(node, HangupNode):
            if node.prompt:
                await session.play(in_language(node.prompt, mode.language))
            return None
        raise AssertionError(f"unknown node {node!r}")

    async def _announcement(
        self, mode: Mode, node_id: str, node: AnnouncementNode, session: CallSession[L]
    ) -> str | None:
        replacements = self._control.active_replacements(mode, node_id)
        if not replacements:
            await session.play(node.prompt, barge_in=node.barge_in)
            return node.next
        for repl in replacements:
            await session.play(repl.prompt, barge_in=False)
        return next((r.next for r in replacements if r.next), node.next)

    def caller_facts(self, caller: str) -> CallerFacts:
        return CallerFacts(
            caller=caller,
            blocked=self.callers.contains("block", caller),
            vip=self.callers.contains("vip", caller),
            schedule=self._schedule_state(),
            country=self.callers.country,
        )

    def _condition(self, node_id: str, node: ConditionNode, session: CallSession[L], outcome: CallOutcome) -> str:
        facts = self.caller_facts(session.caller)
        for i, rule in enumerate(node.rules):
            numbers = patterns(rule.numbers, self.callers.country) if rule.numbers else None
            if rule_matches(rule.test, facts, numbers=numbers, schedule=rule.schedule):
                if rule.test == "blocked":
                    # the call log says so ("Gesperrt"); a later queue or message overwrites it
                    outcome.outcome = "blocked"
                log.info("call %s: condition %s rule %d (%s) holds -> %s", session.call_id, node_id, i + 1,
                         rule.test, rule.next)  # fmt: skip
                return rule.next
        log.info("call %s: condition %s: no rule holds -> %s", session.call_id, node_id, node.otherwise)
        return node.otherwise

    async def _menu(self, node: MenuNode, session: CallSession[L]) -> str | None:
        for attempt in range(node.retries):
            last = attempt == node.retries - 1
            digit = session.take_digit()
            if digit is None:
                digit = await session.play(node.prompt, barge_in=True)
            if digit is None:
                digit = await session.next_digit(node.timeout)
            if digit is None:
                if node.timeout_prompt and not last:
                    await session.play(node.timeout_prompt, barge_in=True)
                continue
            target = node.choices.get(digit)
            if target is not None:
                return target
            session.clear_digits()
            if node.invalid_prompt:
                await session.play(node.invalid_prompt, barge_in=True)
        return node.on_failure

    async def _queue(
        self, mode: Mode, node_id: str, node: QueueNode, session: CallSession[L], outcome: CallOutcome
    ) -> str | None:
        outcome.team = node.team
        outcome.last_queue = node_id
        vip = self.callers.contains("vip", session.caller)
        entry = self._queues.enter(node.team, session.call_id, session.caller, session.caller_name, vip=vip)
        if outcome.entered_queue_at is None:
            outcome.entered_queue_at = entry.entered_wall
        started = self._clock.monotonic()
        told = AnnounceState()
        hold = asyncio.ensure_future(self._hold_sequence(mode, node, entry, session, told))
        limit: asyncio.Future[Any] | None = None
        if node.max_wait is not None:
            limit = asyncio.ensure_future(self._clock.sleep(node.max_wait))
        reason = "hangup"
        try:
            while True:
                waits: set[asyncio.Future[Any]] = {hold, entry.handed_over}
                if limit is not None:
                    waits.add(limit)
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                outcome.waited = self._clock.monotonic() - started
                if entry.handed_over.done():
                    reason = "connected"
                    handover = entry.handed_over.result()
                    await _cancel(hold)
                    self._queues.leave(entry, reason)
                    outcome.outcome = "answered"
                    outcome.answered_by = entry.offered_to
                    outcome.answered_at = self._clock.now()
                    outcome.talk_from = self._clock.monotonic()
                    await session.bridge(handover)
                    return None
                if hold.done():
                    key = hold.result()  # re-raises CallGone when the caller hung up
                    if key is not None:
                        # the caller chose to leave (barge-in): at once, wherever the hold sequence was
                        chosen = (node.keys or {})[key]
                        log.info("call %s: key %s in queue %s, leaving to %s", session.call_id, key, node_id, chosen)
                        reason = f"key {key}"
                        outcome.left_queue = reason
                        return chosen
                    target, why = node.after_hold, "after_hold"
                else:
                    target, why = node.on_max_wait, "overflow"
                refused = self._messages_refused(mode, target, session)
                if refused is None:
                    reason = why
                    outcome.left_queue = why
                    if why == "overflow":
                        outcome.outcome = "overflow"
                    return target
                # The caller would be offered to leave a message nobody could record: they keep
                # their place in the queue instead, told so, and the wait starts over (the
                # call limits count it anew: NodeEntered).
                log.warning("call %s: no message possible (%s); the caller keeps waiting in %s",
                            session.call_id, refused, node_id)  # fmt: skip
                self._events.publish(NodeEntered(session.call_id, node_id, node.type))
                await _cancel(hold)
                hold = asyncio.ensure_future(
                    self._hold_sequence(mode, node, entry, session, told, first=NO_MESSAGES_WAIT_PROMPT)
                )
                if limit is not None and limit.done():
                    limit = asyncio.ensure_future(self._clock.sleep(node.max_wait or 0))
        finally:
            await _cancel(hold)
            if limit is not None:
                await _cancel(limit)
            self._queues.leave(entry, reason)

    def _messages_refused(self, mode: Mode, target: str | None, session: CallSession[L]) -> str | None:
        """Why the voicemail node ``target`` could not record now (None: it can, or it is no voicemail)."""
        if target is None or not isinstance(mode.nodes.get(target), VoicemailNode):
            return None
        return session.recording_refused()

    async def _hold_sequence(
        self,
        mode: Mode,
        node: QueueNode,
        entry: QueueEntry[L],
        session: CallSession[L],
        told: AnnounceState,
        first: str | None = None,
    ) -> str | None:
        """Play the hold sequence; returns the key of ``node.keys`` the caller pressed, if any
        (a key stops any step at once), or None when the sequence ended."""
        keys = node.keys or {}
        if keys and first is None:
            session.clear_digits()  # digits typed ahead for a menu do not leave the queue
        if first is not None:
            await session.play(first)
        while True:
            for index, step in enumerate(node.hold):
                self._queues.set_hold_step(entry, index, f"{step.kind}:{step.name}")
                if step.announce is not None:
                    prompts = self._announcement_prompts(mode, node, entry, step.announce, told)
                else:
                    prompts = [step.announcement] if step.announcement is not None else []
                for prompt in prompts:
                    key = await self._hold_play(session, keys, prompt, None)
                    if key is not None:
                        return key
                if step.music is not None and step.seconds is not None:
                    key = await self._hold_play(session, keys, step.music, step.seconds)
                    if key is not None:
                        return key
            if not node.repeat_hold:
                return None

    async def _hold_play(
        self, session: CallSession[L], keys: dict[str, str], name: str, music_seconds: float | None
    ) -> str | None:
        """One prompt, or music for ``music_seconds``; a key of ``keys`` stops it and is returned.
        Any other digit is dropped: music plays on for the rest of its time, a prompt is cut
        (as in the menu, where a digit always stops the prompt)."""
        if music_seconds is None:
            digit = await session.play(name, barge_in=bool(keys))
            return digit if digit in keys else None
        end = self._clock.monotonic() + music_seconds
        while (left := end - self._clock.monotonic()) > 0:
            digit = await session.play_music(name, left, barge_in=bool(keys))
            if digit is None:
                return None
            if digit in keys:
                return digit
        return None

    def _announcement_prompts(
        self, mode: Mode, node: QueueNode, entry: QueueEntry[L], what: str, told: AnnounceState
    ) -> list[str]:
        """What an announce step says now: nothing unless the position changed since the caller
        was last told and ``announce_every`` seconds have passed (the first time: always)."""
        position = self._queues.position(entry)
        now = self._clock.monotonic()
        if position < 1 or not told.due(position, now, node.announce_every):
            return []
        told.spoken(position, now)
        prompts = []
        if what in ("position", "both"):
            prompts.append(position_prompt(position, mode.language))
        figure, observations, why = None, 0, ""
        if what in ("wait", "both"):
            estimate = self.rates.estimate(node.team, position, node.wait_min_observations)
            prompts.append(wait_prompt(estimate, mode.language))
            figure = spoken_wait(estimate.seconds) if estimate.seconds is not None else "none"
            observations, why = estimate.observations, estimate.why
        log.info("call %s: told position %d in %s, wait %s (%d hand-overs%s)", entry.call_id, position, node.team,
                 figure or "-", observations, f"; {why}" if why else "")  # fmt: skip
        self._events.publish(PositionAnnounced(entry.call_id, node.team, position, figure, observations, why))
        return prompts

    async def _callback(
        self, mode: Mode, node_id: str, node: CallbackNode, session: CallSession[L], outcome: CallOutcome
    ) -> str | None:
        """The caller gives a number to be called back at and hangs up; their place in the queue
        is kept from when they entered it (core/callbacks.py)."""
        team = node.team or outcome.team
        if self._callbacks is None or team is None:
            log.warning("call %s: no callback possible in %s (%s)", session.call_id, node_id,
                        "no team" if team is None else "no callback service")  # fmt: skip
            return node.on_failure
        desk = self._callbacks
        number = await ask_number(session, session.caller, mode.language, lambda n: desk.allows(team, n))
        if number is None:
            log.info("call %s: no number to call back in %s", session.call_id, node_id)
            return node.on_failure
        since = outcome.entered_queue_at or self._clock.now()
        callback_id = await desk.request(team, number, session.caller_name, session.call_id, since)
        outcome.team = team
        outcome.outcome = "callback"
        outcome.left_queue = outcome.left_queue or "callback"
        log.info("call %s: callback %s to %s kept in team %s", session.call_id, callback_id, number, team)
        await session.play(spoken(PROMPT_DONE, mode.language))
        return None

    async def _voicemail(
        self, mode: Mode, node_id: str, node: VoicemailNode, session: CallSession[L], outcome: CallOutcome
    ) -> str | None:
        refused = session.recording_refused()
        if refused is not None:
            return await self._no_message(node_id, session, outcome, refused)
        if node.prompt:
            await session.play(node.prompt)
        session.clear_digits()
        if node.beep:
            await session.beep()
        request = RecordingRequest(
            max_seconds=node.max_seconds,
            silence_seconds=node.silence_seconds,
            end_digits=node.end_digits,
            team=node.team or outcome.team,
            mode=mode.name,
            node=node_id,
            email=tuple(node.email) if node.email else None,
        )
        try:
            message = await session.record_message(request)
        except RecordingImpossible as err:
            return await self._no_message(node_id, session, outcome, str(err))
        if message is not None:
            outcome.outcome = "voicemail"
            outcome.message_id = message.message_id
            self._events.publish(MessageStored(message.message_id, request.team, session.caller, message.duration_ms))
        if session.gone:
            raise CallGone(session.call_id)
        return node.next

    async def _no_message(self, node_id: str, session: CallSession[L], outcome: CallOutcome, why: str) -> str | None:
        """No message can be recorded: the caller is told, never left in silence nor thanked
        for a message that was not kept. One who came from a queue goes back to it (at its end)
        to keep waiting; anyone else is asked to call again later and the call ends."""
        log.warning("call %s: no message possible in %s (%s)", session.call_id, node_id, why)
        outcome.outcome = "no_message"
        if outcome.last_queue is not None:
            await session.play(NO_MESSAGES_WAIT_PROMPT)
            return outcome.last_queue
        await session.play(NO_MESSAGES_PROMPT)
        return None


async def _cancel(task: asyncio.Future[Any]) -> None:
    if task.done():
        if not task.cancelled():
            task.exception()  # mark retrieved; the caller has dealt with the outcome
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, CallGone):
        await task
