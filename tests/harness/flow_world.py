"""The flow engine in a small world on a ManualClock: queues, switches, events, fake sessions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.harness.fakes import FakeSession
from zentrale.core.clock import ManualClock
from zentrale.core.events import Event, EventBus
from zentrale.core.flow import FlowEngine
from zentrale.core.modes import Mode
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl

DEMO_MODE = Path(__file__).resolve().parents[2] / "firmware" / "zentrale" / "demo" / "hotline.yaml"


class World:
    def __init__(self) -> None:
        self.clock = ManualClock()
        self.events = EventBus()
        self.seen: list[Event] = []
        self.events.subscribe(self.seen.append)
        self.queues = QueueBoard(self.clock, self.events)
        self.control = ManualControl(self.clock, self.events)
        self.engine = FlowEngine(self.clock, self.queues, self.control, self.events)

    async def call(self, mode: Mode, **script: object) -> tuple[FakeSession, object]:
        session = FakeSession(self.clock, **script)  # type: ignore[arg-type]
        task = asyncio.ensure_future(self.engine.run(mode, session))
        await self.clock.run_until(task)
        return session, task.result()
