"""Try a mode without a phone: the real flow engine over a simulated call.

Each simulation has its own ManualClock, queues and switch states (copied
from the box), so nothing it does reaches real callers or agents. The
browser sees a transcript of what the caller would hear, sends digits from
an on-screen keypad and skips waits (the clock jumps to the next deadline).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zentrale.core.callers import CallerLists
from zentrale.core.clock import ManualClock
from zentrale.core.events import Event, EventBus, PositionAnnounced
from zentrale.core.flow import CallOutcome, FlowEngine, RecordingRequest, StoredMessage
from zentrale.core.handover import HandOver
from zentrale.core.modes import Mode
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl, SwitchState
from zentrale.errors import CallGone, Conflict, NotFound
from zentrale.media.library import AudioLibrary

MAX_SIMULATIONS = 20


def _two_seconds(_name: str) -> float:
    return 2.0


@dataclass
class SimulatedSession:
    """What the engine plays goes into a transcript; waits run on the ManualClock.

    ``seconds_of`` gives a prompt's length (the library's in the editor, a table in tests).
    """

    clock: ManualClock
    seconds_of: Callable[[str], float] = _two_seconds
    call_id: str = "simulation"
    caller: str = "+49301234567"
    caller_name: str | None = "Simulation"
    transcript: list[dict[str, Any]] = field(default_factory=list)
    activity: dict[str, Any] = field(default_factory=dict)
    recording_refusal: str | None = None  # e.g. "disk full": what the flow does then
    _digits: list[str] = field(default_factory=list)
    _ended: bool = False
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._wakeup = asyncio.Event()

    @property
    def gone(self) -> bool:
        return self._ended

    def press(self, digit: str) -> None:
        self._digits.append(digit)
        self.transcript.append({"t": self.clock.monotonic(), "kind": "digit", "name": digit})
        self._wakeup.set()

    def end(self) -> None:
        self._ended = True
        self._wakeup.set()

    def _note(self, kind: str, name: str, seconds: float | None, **extra: Any) -> None:
        start = self.clock.monotonic()
        self.activity = {"kind": kind, "name": name, "start": start, "seconds": seconds, **extra}
        self.transcript.append({"t": start, "kind": kind, "name": name, "seconds": seconds, **extra})

    async def _wait(self, seconds: float, *, stop_on_digit: bool) -> str | None:
        deadline = self.clock.monotonic() + seconds
        while True:
            if self._ended:
                raise CallGone(self.call_id)
            if stop_on_digit and self._digits:
                return self._digits.pop(0)
            left = deadline - self.clock.monotonic()
            if left <= 0:
                return None
            self._wakeup.clear()
            sleeper = asyncio.ensure_future(self.clock.sleep(left))
            waker = asyncio.ensure_future(self._wakeup.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:  # also when this wait is cancelled: no sleeper may outlive it
                sleeper.cancel()
                waker.cancel()

    async def play(self, prompt: str, *, barge_in: bool = False) -> str | None:
        if barge_in and self._digits:
            return self._digits.pop(0)
        seconds = self.seconds_of(prompt)
        self._note("prompt", prompt, seconds, barge_in=barge_in)
        return await self._wait(seconds, stop_on_digit=barge_in)

    async def play_music(self, music: str, seconds: float, *, barge_in: bool = False) -> str | None:
        if barge_in and self._digits:
            return self._digits.pop(0)
        self._note("music", music, seconds, barge_in=barge_in)
        return await self._wait(seconds, stop_on_digit=barge_in)

    async def next_digit(self, timeout: float) -> str | None:
        if self._digits:
            return self._digits.pop(0)
        self._note("wait_digit", "", timeout)
        return await self._wait(timeout, stop_on_digit=True)

    def take_digit(self) -> str | None:
        return self._digits.pop(0) if self._digits else None

    def clear_digits(self) -> None:
        self._digits.clear()

    async def beep(self) -> None:
        self._note("beep", "beep", 0.4)
        await self._wait(0.4, stop_on_digit=False)

    def recording_refused(self) -> str | None:
        return self.recording_refusal

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        self._note("recording", request.team or "", request.max_seconds, end_digits=request.end_digits)
        start = self.clock.monotonic()
        while True:
            try:
                digit = await self._wait(request.max_seconds - (self.clock.monotonic() - start), stop_on_digit=True)
            except CallGone:
                break
            if digit is None or digit in request.end_digits:
                break
        return StoredMessage(f"simulated-{next(self._ids)}", int((self.clock.monotonic() - start) * 1000))

    async def bridge(self, handover: HandOver[str]) -> None:
        self._note("agent", str(handover), None)
        await self._wait(24 * 3600, stop_on_digit=False)

    async def hangup(self) -> None:
        self._note("hangup", "", None)
        self._ended = True


class Simulation:
    def __init__(
        self,
        mode: Mode,
        library: AudioLibrary,
        switches: list[SwitchState],
        *,
        caller: str = "+49301234567",
        callers: CallerLists | None = None,
        schedule_state: Callable[[], str] | None = None,
    ) -> None:
        self.id = secrets.token_hex(6)
        self.mode = mode
        self.clock = ManualClock()
        self.events = EventBus()
        self.queues: QueueBoard[str] = QueueBoard(self.clock, self.events)  # the agent: a name
        self.control = ManualControl(self.clock, self.events)
        self.control.restore(switches)
        # the box's block and VIP lists and the schedule's state now: a condition node branches
        # as it would for a real call from ``caller``
        self.engine: FlowEngine[str] = FlowEngine(
            self.clock, self.queues, self.control, self.events, callers=callers, schedule_state=schedule_state
        )
        self.call = SimulatedSession(self.clock, lambda name: library.clip(name, 8000).duration, caller=caller)
        self.nodes: list[str] = []
        self.events.subscribe(lambda e: self.nodes.append(e.node) if hasattr(e, "node") else None)
        self.events.subscribe(self._announced)
        self.task: asyncio.Task[CallOutcome] = asyncio.ensure_future(self.engine.run(mode, self.call))

    def _announced(self, event: Event) -> None:
        """What an announce step told the caller, for the transcript (the prompts follow it)."""
        if isinstance(event, PositionAnnounced):
            self.call.transcript.append({
                "t": self.clock.monotonic(), "kind": "announce", "name": str(event.position), "wait": event.wait,
                "observations": event.observations, "why": event.why,
            })  # fmt: skip

    async def settle(self) -> None:
        await self.clock.settle()

    async def press(self, digit: str) -> None:
        self.call.press(digit)
        await self.settle()

    async def skip(self) -> None:
        """Jump to the next thing that happens (the end of a prompt, a timeout, ...)."""
        deadline = self.clock.next_deadline()
        if deadline is not None and not self.task.done():
            await self.clock.advance(max(0.0, deadline - self.clock.monotonic()))
        await self.settle()

    async def agent_answers(self) -> None:
        waiting = self.queues.entries()
        if not waiting:
            raise Conflict("the simulated caller is not waiting in a queue")
        self.queues.connect(waiting[0].entry_id, "an agent")
        await self.settle()

    async def hang_up(self) -> None:
        self.call.end()
        await self.settle()

    def snapshot(self) -> dict[str, Any]:
        waiting = self.queues.entries()
        outcome = self.task.result() if self.task.done() and not self.task.cancelled() else None
        return {
            "id": self.id,
            "mode": self.mode.name,
            "time": round(self.clock.monotonic(), 2),
            "node": self.nodes[-1] if self.nodes else None,
            "activity": self.call.activity,
            "transcript": self.call.transcript,
            "waiting": [self.queues.snapshot(e) for e in waiting],
            "ended": self.task.done(),
            "outcome": outcome.outcome if outcome else None,
        }


class Simulations:
    def __init__(
        self,
        library: AudioLibrary,
        callers: CallerLists | None = None,
        schedule_state: Callable[[], str] | None = None,
    ) -> None:
        self.library = library
        self.callers = callers
        self.schedule_state = schedule_state
        self._sims: dict[str, Simulation] = {}

    async def start(self, mode: Mode, switches: list[SwitchState], caller: str | None = None) -> Simulation:
        if len(self._sims) >= MAX_SIMULATIONS:
            oldest = next(iter(self._sims))
            await self.stop(oldest)
        sim = Simulation(mode, self.library, switches, caller=caller or "+49301234567", callers=self.callers,
                         schedule_state=self.schedule_state)  # fmt: skip
        self._sims[sim.id] = sim
        await sim.settle()
        return sim

    def get(self, sim_id: str) -> Simulation:
        try:
            return self._sims[sim_id]
        except KeyError:
            raise NotFound(f"no simulation {sim_id}") from None

    async def stop(self, sim_id: str) -> None:
        sim = self._sims.pop(sim_id, None)
        if sim is not None and not sim.task.done():
            sim.call.end()
            await sim.settle()
            sim.task.cancel()
