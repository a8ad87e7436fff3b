"""The call supervisor over line calls whose media does nothing, on a ManualClock: the real
supervisor, session, recorder and message store (unit tests of limits and a full disk)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from zentrale.calls.limits import CallLimits
from zentrale.calls.supervisor import CallSupervisor
from zentrale.config import DEMO_DIR, Config
from zentrale.core.clock import ManualClock
from zentrale.core.events import EventBus
from zentrale.core.flow import FlowEngine
from zentrale.core.modes import Mode
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
        return {r["call_id"]: r for r in await self.hotline.call_log.page()}


def one_node_mode(node: dict[str, Any]) -> Mode:
    return Mode.model_validate({"name": "t", "start": "only", "nodes": {"only": node}})


def tone(seconds: float, level: float = 0.3) -> list[Frame]:
    t = np.arange(int(seconds * 8000)) / 8000
    pcm = (level * 32767 * np.sin(2 * np.pi * 600 * t)).astype("<i2").tobytes()
    return [Frame(pcm[i : i + 320], 8000) for i in range(0, len(pcm), 320)]
