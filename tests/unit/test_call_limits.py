"""Every call ends: the limits per node type and for the whole call, on a ManualClock,
with the real supervisor, session, recorder and message store over a line call whose
media does whatever it does (here: nothing at all)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fakes import PROMPT_SECONDS
from zentrale.calls.limits import BEEP_SECONDS, CallDeadline, CallLimits, node_limit
from zentrale.calls.supervisor import CallSupervisor
from zentrale.config import DEMO_DIR, Config
from zentrale.core.clock import ManualClock
from zentrale.core.events import EventBus
from zentrale.core.flow import NO_MESSAGES_WAIT_PROMPT, FlowEngine
from zentrale.core.modes import Mode, parse_mode
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl
from zentrale.hotline import Hotline
from zentrale.media.frames import Frame, FrameSink, FrameSource
from zentrale.media.library import AudioLibrary
from zentrale.store.db import Database
from zentrale.store.messages import MessageRepository
from zentrale.store.modes import ModeFiles, ModeVersions
from zentrale.store.state import CallLogRepository, StateRepository
from zentrale.teams import TeamDirectory

DEMO = DEMO_DIR / "hotline.yaml"
LIMITS = CallLimits(max_call=4 * 3600, grace=30, max_queue=3600)


def seconds_of(name: str) -> float:
    return PROMPT_SECONDS.get(name, 2.0) if name else 0.0


@pytest.fixture
def mode() -> Mode:
    return parse_mode(DEMO.read_text(encoding="utf-8"), str(DEMO))


def test_each_node_type_gets_its_own_length_plus_the_grace(mode: Mode) -> None:
    nodes = mode.nodes
    # voicemail: its prompt, the beep and max_seconds
    assert node_limit(mode, "voicemail_lvs", nodes["voicemail_lvs"], seconds_of, LIMITS) == pytest.approx(
        9.0 + BEEP_SECONDS + 120 + 30
    )
    # a queue with max_wait: that (team C's five minutes), and the no-message prompt it may play
    assert node_limit(mode, "queue_pc", nodes["queue_pc"], seconds_of, LIMITS) == pytest.approx(300 + 2 + 30)
    # a queue whose hold sequence ends: the sequence (notice 5 + music 20 + notice 5 + music 60)
    assert node_limit(mode, "queue_lvs", nodes["queue_lvs"], seconds_of, LIMITS) == pytest.approx(90 + 2 + 30)
    # a menu: each try's prompt, timeout and the longer of its retry prompts
    assert node_limit(mode, "main_menu", nodes["main_menu"], seconds_of, LIMITS) == pytest.approx(3 * (8 + 6 + 2) + 30)
    # an announcement: its prompt and every switch prompt that may replace it
    assert node_limit(mode, "greeting", nodes["greeting"], seconds_of, LIMITS) == pytest.approx(3 + 7 + 6 + 30)
    assert node_limit(mode, "goodbye", nodes["goodbye"], seconds_of, LIMITS) == pytest.approx(1 + 30)


def test_a_queue_that_repeats_forever_is_bounded_by_max_queue_seconds(mode: Mode) -> None:
    doc = mode.model_dump()
    doc["nodes"]["queue_pc"]["max_wait"] = None
    doc["nodes"]["queue_pc"]["on_max_wait"] = None
    endless = Mode.model_validate(doc)
    limit = node_limit(endless, "queue_pc", endless.nodes["queue_pc"], seconds_of, LIMITS)
    assert limit == pytest.approx(3600 + seconds_of(NO_MESSAGES_WAIT_PROMPT) + 30)


async def test_a_deadline_follows_the_node_and_the_call_cap_and_an_agent_lifts_the_node_limit() -> None:
    clock = ManualClock()
    deadline = CallDeadline(clock, CallLimits(max_call=100, grace=0), "c1")
    deadline.enter("voicemail", 10)
    expired = asyncio.ensure_future(deadline.expired())
    await clock.advance(5)
    deadline.enter("queue", 20)  # a new node: its own limit from now
    await clock.advance(10)
    assert not expired.done()
    deadline.connected()  # talking to an agent: only the call's cap
    await clock.advance(50)
    assert not expired.done()
    await clock.advance(35.1)
    assert expired.done() and "max_call_seconds" in expired.result()


# --- the supervisor over a line call whose media never moves -----------------------------


class StalledCall:
    """A line call (our Call port) whose media does nothing: nobody sends what the box
    plays (a prompt never ends), or the caller sends only ``frames`` and then falls silent
    for good (on hold, or gone)."""

    def __init__(self, call_id: str, frames: list[Frame] | None = None) -> None:
        self.call_id = call_id
        self.line = "sip"
        self.direction = "in"
        self.caller = "+49301234567"
        self.caller_name: str | None = None
        self.called = "100"
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.frames = frames or []
        self.hangups = 0
        self.source: FrameSource | None = None
        self._digit: Callable[[str], None] | None = None

    @property
    def sample_rate(self) -> int:
        return 8000

    @property
    def codec_name(self) -> str:
        return "PCMU"

    @property
    def answered(self) -> bool:
        return True

    def set_source(self, source: FrameSource | None) -> None:
        self.source = source

    def set_sink(self, sink: FrameSink | None) -> None:
        if sink is not None:
            for frame in self.frames:  # what the caller said before falling silent
                sink.write(frame)
            self.frames = []

    def on_digit(self, callback: Callable[[str], None] | None) -> None:
        self._digit = callback

    def press(self, digit: str) -> None:
        assert self._digit is not None
        self._digit(digit)

    def send_digit(self, digit: str) -> None:
        pass

    async def answer(self) -> None:
        pass

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None:
        pass

    async def hangup(self) -> None:
        self.hangups += 1
        if not self.ended.done():
            self.ended.set_result("hangup")

    def info(self) -> dict[str, Any]:
        return {"call_id": self.call_id}


class Box:
    def __init__(self, tmp_path: Path, limits: CallLimits) -> None:
        self.clock = ManualClock()
        self.events = EventBus()
        self.db = Database(tmp_path / "zentrale.db")
        self.messages = MessageRepository(self.db, tmp_path)
        self.messages.prepare()
        self.library = AudioLibrary([DEMO_DIR / "prompts", DEMO_DIR / "music"])
        queues = QueueBoard(self.clock, self.events)
        control = ManualControl(self.clock, self.events)
        self.hotline = Hotline(
            teams=TeamDirectory(Config(data_dir=tmp_path).teams),
            clock=self.clock,
            events=self.events,
            queues=queues,
            control=control,
            library=self.library,
            modes=ModeFiles(tmp_path / "modes"),
            state=StateRepository(self.db),
            messages=self.messages,
            call_log=CallLogRepository(self.db),
            versions=ModeVersions(self.db),
        )
        self.supervisor = CallSupervisor(
            clock=self.clock,
            events=self.events,
            engine=FlowEngine(self.clock, queues, control, self.events),
            active_mode=lambda: self.hotline.mode,
            messages=self.messages,
            call_log=self.hotline.call_log,
            library=self.library,
            silence_dbfs=-45,
            limits=limits,
        )

    def use(self, mode: Mode) -> None:
        self.hotline.mode, self.hotline.mode_name = mode, "test"

    async def run(self, call: StalledCall, until: float) -> None:
        """Offer the call and move the clock, deadline by deadline, until it is over."""
        self.supervisor.incoming(call)
        task = self.supervisor.active[call.call_id][2]
        await self.clock.run_until(task, limit=until)

    async def wind_up(self, task: asyncio.Task[None]) -> None:
        """Let the flow finish: storing a message runs in worker threads, which a
        ManualClock cannot wait for."""
        await asyncio.wait_for(asyncio.shield(task), 10)

    async def call_log(self) -> dict[str, dict[str, Any]]:
        await self.supervisor.call_log.drain()
        return {r["call_id"]: r for r in await self.hotline.call_log.recent()}


@pytest.fixture
async def box(tmp_path: Path) -> AsyncIterator[Box]:
    b = Box(tmp_path, CallLimits(max_call=600, grace=5, max_queue=3600))
    await b.db.open()
    yield b
    await b.supervisor.stop()
    await b.db.close()


def one_node_mode(node: dict[str, Any]) -> Mode:
    return Mode.model_validate({"name": "t", "start": "only", "nodes": {"only": node}})


async def test_a_greeting_whose_audio_never_goes_out_is_ended_after_its_length_plus_the_grace(box: Box) -> None:
    box.use(one_node_mode({"type": "announcement", "prompt": "greeting"}))
    call = StalledCall("c-greeting")
    started = box.clock.monotonic()
    await box.run(call, until=3600)
    greeting = box.library.clip("greeting", 8000).duration
    assert call.ended.done() and call.hangups >= 1
    assert box.clock.monotonic() - started == pytest.approx(greeting + 5, abs=0.01)
    assert box.supervisor.active == {} and box.supervisor.deadlines == {}
    assert box.supervisor.ended_by_limit == 1
    assert (await box.call_log())["c-greeting"]["outcome"] == "time_limit"


def tone(seconds: float, level: float = 0.3) -> list[Frame]:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (level * 32767 * np.sin(2 * np.pi * 600 * t)).astype("<i2").tobytes()
    return [Frame(pcm[i : i + 320], 8000) for i in range(0, len(pcm), 320)]


async def test_a_caller_who_speaks_then_sends_no_audio_is_ended_at_max_seconds_plus_grace_and_the_message_kept(
    box: Box,
) -> None:
    # no prompt, no beep (nothing to send out): the recording starts at once; the caller
    # speaks for 2 s and then sends nothing more -- a recorder counting received audio
    # would wait for ever
    box.use(one_node_mode({"type": "voicemail", "beep": False, "max_seconds": 60, "silence_seconds": 5}))
    call = StalledCall("c-vm", frames=tone(2.0))
    box.supervisor.incoming(call)
    task = box.supervisor.active[call.call_id][2]
    await box.clock.advance(64.9)
    assert not call.ended.done()  # still recording, nothing arrives
    await box.clock.advance(0.1)
    assert call.ended.done() and box.supervisor.ended_by_limit == 1
    await box.wind_up(task)
    stored = await box.messages.list()
    assert len(stored) == 1 and stored[0]["duration_ms"] == 2000
    assert box.messages.file(stored[0]).is_file()
    row = (await box.call_log())["c-vm"]
    assert row["outcome"] == "voicemail" and row["message_id"] == stored[0]["id"]


async def test_a_call_talking_to_nobody_in_an_endless_queue_ends_at_the_queue_limit(box: Box, mode: Mode) -> None:
    doc = mode.model_dump()
    queue = doc["nodes"]["queue_pc"] | {"max_wait": None, "on_max_wait": None}
    endless = one_node_mode(queue)
    box.use(endless)
    limit = node_limit(endless, "only", endless.nodes["only"], box.supervisor._seconds_of, box.supervisor.limits)
    call = StalledCall("c-queue")
    started = box.clock.monotonic()
    await box.run(call, until=7200)
    # the call cap (600 s) comes before the queue's own limit (3600 s + grace)
    assert limit > 600
    assert box.clock.monotonic() - started == pytest.approx(600, abs=0.01)
    assert (await box.call_log())["c-queue"]["outcome"] == "time_limit"
