"""Every call ends: how long a call may stay in a node, and in the box at all.

The flow's own waits end a call in time when the media behaves: a prompt ends
when its frames are sent, a recording at ``max_seconds`` of received audio.
When the media does not -- a caller on hold sends no audio, so a recording
counting received frames never reaches its maximum; a stalled stream never
finishes a prompt -- nothing else would. So the supervisor also holds each
call to limits measured on the clock, whatever the media does:

- a node's own limit, from the mode document (a voicemail node: its prompt,
  the beep and ``max_seconds``; a queue: ``max_wait``, or its hold sequence,
  or ``call_limits.max_queue_seconds``), plus ``call_limits.grace_seconds``;
  counted from entering the node; none while the caller talks to an agent;
- ``call_limits.max_call_seconds`` for any call, from its answer.

When one passes, the box hangs up: the flow sees the hang-up like a caller's,
so a recording in progress is finished and stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from zentrale.core.callbacks import ASKS, DIGIT_TIMEOUT, MAX_DIGITS, callback_prompts
from zentrale.core.clock import Clock
from zentrale.core.flow import NO_MESSAGES_WAIT_PROMPT
from zentrale.core.modes import (
    AnnouncementNode,
    CallbackNode,
    ConditionNode,
    HangupNode,
    HoldStep,
    MenuNode,
    Mode,
    Node,
    QueueNode,
    VoicemailNode,
)
from zentrale.core.waits import position_prompts, wait_prompts
from zentrale.errors import ZentraleError
from zentrale.media.library import AudioLibrary

BEEP_SECONDS = 0.4  # calls.session.beep_clip


@dataclass(frozen=True)
class CallLimits:
    max_call: float = 4 * 3600.0
    grace: float = 30.0
    max_queue: float = 3600.0


def node_limit(mode: Mode, node_id: str, node: Node, seconds_of: Callable[[str], float], limits: CallLimits) -> float:
    """The longest a call may stay in ``node`` (seconds, grace included)."""
    if isinstance(node, AnnouncementNode):
        replacements = [r.prompt for s in mode.switches for r in s.replaces if r.node == node_id]
        own = seconds_of(node.prompt) + sum(seconds_of(p) for p in replacements)
    elif isinstance(node, MenuNode):
        extra = max(seconds_of(node.invalid_prompt or ""), seconds_of(node.timeout_prompt or ""))
        own = node.retries * (seconds_of(node.prompt) + node.timeout + extra)
    elif isinstance(node, QueueNode):
        candidates = [node.max_wait] if node.max_wait is not None else []
        if not node.repeat_hold:
            candidates.append(sum(_step_seconds(mode, s, seconds_of) for s in node.hold))
        # the no-message branch plays its prompt in the queue and starts the wait over (NodeEntered)
        own = (min(candidates) if candidates else limits.max_queue) + seconds_of(NO_MESSAGES_WAIT_PROMPT)
    elif isinstance(node, VoicemailNode):
        recording = seconds_of(node.prompt or "") + (BEEP_SECONDS if node.beep else 0.0) + node.max_seconds
        own = max(recording, seconds_of(NO_MESSAGES_WAIT_PROMPT))
    elif isinstance(node, HangupNode):
        own = seconds_of(node.prompt or "")
    elif isinstance(node, ConditionNode):
        own = 0.0  # plays nothing: it branches at once
    elif isinstance(node, CallbackNode):
        # every ask: the number read back, the longest number typed digit by digit, a refusal
        spoken = sum(seconds_of(p) for p in callback_prompts(mode.language))
        own = ASKS * (spoken + (MAX_DIGITS + 2) * DIGIT_TIMEOUT)
    else:  # pragma: no cover - the node union is closed
        raise AssertionError(f"unknown node {node!r}")
    return own + limits.grace


def _step_seconds(mode: Mode, step: HoldStep, seconds_of: Callable[[str], float]) -> float:
    """The longest one hold step can take: an announce step, its longest position and wait prompts."""
    if step.announcement is not None:
        return seconds_of(step.announcement)
    if step.announce is not None:
        position = max(seconds_of(n) for n in position_prompts(mode.language))
        wait = max(seconds_of(n) for n in wait_prompts(mode.language))
        return (position if step.announce != "wait" else 0.0) + (wait if step.announce != "position" else 0.0)
    return step.seconds or 0.0


class CallDeadline:
    """The limits of one call on the clock; ``expired`` resolves with the reason when one passes."""

    def __init__(self, clock: Clock, limits: CallLimits, call_id: str) -> None:
        self.clock = clock
        self.limits = limits
        self.call_id = call_id
        self.started = clock.monotonic()
        self._node: tuple[str, float, float] | None = None  # node id, entered at, limit
        self._changed = asyncio.Event()

    def enter(self, node_id: str, limit: float | None) -> None:
        """The call entered a node (again); ``limit`` None: only the call's own cap applies."""
        self._node = None if limit is None else (node_id, self.clock.monotonic(), limit)
        self._changed.set()

    def connected(self) -> None:
        """An agent took the call: a conversation is not bounded by the queue's limits."""
        self.enter("", None)

    def next_deadline(self) -> tuple[float, str]:
        """(monotonic time, why) of the earliest limit."""
        at = self.started + self.limits.max_call
        why = f"longer than {self.limits.max_call:g} s in the box (call_limits.max_call_seconds)"
        if self._node is not None:
            node_id, entered, limit = self._node
            if entered + limit < at:
                at = entered + limit
                why = f"longer than {limit:.0f} s in node {node_id}"
        return at, why

    async def expired(self) -> str:
        """Resolves with the reason once a limit has passed (runs until then)."""
        while True:
            at, why = self.next_deadline()
            left = at - self.clock.monotonic()
            if left <= 0:
                return why
            self._changed.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(left))
            changed = asyncio.ensure_future(self._changed.wait())
            try:
                await asyncio.wait({sleeper, changed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                changed.cancel()


def prompt_seconds(library: AudioLibrary, rate: int = 8000) -> Callable[[str], float]:
    """Seconds of a prompt from the audio library (0 for none or an unknown name)."""

    def seconds_of(name: str) -> float:
        if not name:
            return 0.0
        try:
            return library.clip(name, rate).duration
        except (ZentraleError, OSError):  # an unknown or unreadable prompt plays nothing: 0 s
            return 0.0

    return seconds_of
