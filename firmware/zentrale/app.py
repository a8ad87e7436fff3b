"""The composition root: reads the configuration, builds every object, runs the loop.

One place builds everything and passes collaborators to ``__init__``; no
module-level singletons.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator
from typing import Any

import uvicorn

from zentrale import __version__
from zentrale.calls.dialer import LineDialer
from zentrale.calls.supervisor import CallSupervisor
from zentrale.clock import SystemClock
from zentrale.config import DEMO_DIR, Config
from zentrale.core.agents import AgentBoard
from zentrale.core.distribution import CallDistribution, TeamPolicy
from zentrale.core.events import EventBus, SwitchChanged
from zentrale.core.flow import FlowEngine
from zentrale.core.numbers import NumberPolicies
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl
from zentrale.errors import ZentraleError
from zentrale.hotline import Hotline, ModeFiles
from zentrale.lines.alsa.line import AlsaLine
from zentrale.lines.base import Call, Line
from zentrale.lines.modem.line import ModemLine
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.media.clock import MediaClock
from zentrale.media.library import AudioLibrary
from zentrale.staffing import Staffing
from zentrale.store.agents import AgentRepository
from zentrale.store.db import Database
from zentrale.store.messages import MessageRepository
from zentrale.store.state import CallLogRepository, StateRepository
from zentrale.web.api import create_api, disk_status

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon, not uvicorn, owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class App:
    def __init__(self, config: Config) -> None:
        self.config = config
        data = config.data_dir
        self.clock = SystemClock()
        self.events = EventBus()
        self.db = Database(data / "zentrale.db")
        self.state = StateRepository(self.db)
        self.messages = MessageRepository(self.db, data)
        self.call_log = CallLogRepository(self.db)
        self.library = AudioLibrary(config.prompt_folders)
        self.media_clock = MediaClock()
        self.queues = QueueBoard(self.clock, self.events)
        self.control = ManualControl(self.clock, self.events)
        self.engine = FlowEngine(self.clock, self.queues, self.control, self.events)
        self.modes = ModeFiles(config.modes_dir)
        self.hotline = Hotline(
            config=config,
            clock=self.clock,
            events=self.events,
            queues=self.queues,
            control=self.control,
            library=self.library,
            modes=self.modes,
            state=self.state,
            messages=self.messages,
            call_log=self.call_log,
        )
        self.sip = SipUserAgent(config.sip, self.media_clock)
        self.sip.guard.on_ban = lambda ban: self.sip.spawn(
            self.state.audit(self.clock.now(), "sip", "security.ban", f"{ban.host} ({ban.reason})")
        )
        self.agents = AgentBoard(self.clock, self.events)
        policies = {
            t.id: TeamPolicy(t.id, t.name, t.distribution == "auto", t.strategy, t.ring_timeout, t.wrap_up)
            for t in config.teams
        }
        self.distribution = CallDistribution(
            self.clock,
            self.queues,
            self.agents,
            LineDialer(
                self.sip,
                {t.id: t.name for t in config.teams},
                caller_call=self._active_call,
                blind=self._blind_transfer,
                numbers=NumberPolicies({t.id: t.allowed_numbers for t in config.teams}),
            ),
            self.events,
            policies,
        )
        self.staffing = Staffing(
            config=config,
            clock=self.clock,
            board=self.agents,
            distribution=self.distribution,
            repo=AgentRepository(self.db),
            state=self.state,
        )
        self.supervisor = CallSupervisor(
            clock=self.clock,
            events=self.events,
            engine=self.engine,
            hotline=self.hotline,
            library=self.library,
            silence_dbfs=config.voicemail.silence_dbfs,
        )
        self.sip.on_incoming(self.supervisor.incoming)
        self.analog_lines: list[Line] = []
        if config.modem is not None:
            self.analog_lines.append(ModemLine(config.modem, self.media_clock))
        if config.alsa_line is not None:
            self.analog_lines.append(AlsaLine(config.alsa_line, self.media_clock))
        for line in self.analog_lines:
            line.on_incoming(self.supervisor.incoming)
        self.api = create_api(self)
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[Any] | None = None
        self.stopping = asyncio.Event()
        self.http_port = config.http.port

    def _active_call(self, call_id: str) -> Call | None:
        entry = self.supervisor.active.get(call_id)
        return entry[0] if entry else None

    def _blind_transfer(self, call: Call) -> bool:
        """Calls on an analog line configured for hook-flash transfer are handed on blind."""
        flash_lines = {c.name for c in (self.config.modem, self.config.alsa_line) if c and c.transfer == "flash"}
        return call.line in flash_lines

    def status(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        return {
            "version": __version__,
            "mode": self.hotline.mode_name,
            "lines": [self.sip.status(), *(line.status() for line in self.analog_lines)],
            "calls": len(self.supervisor.active),
            "tasks": len(asyncio.all_tasks()),
            "waiting": len(self.queues.entries()),
            "agents": {
                state: sum(1 for a in self.agents.all() if a.state.value == state)
                for state in ("available", "paused", "ringing", "on_call", "wrap_up")
            },
            "media_clock": {
                "healthy": self.media_clock.healthy(loop.time()),
                "streams": self.media_clock.streams,
                "ticks": self.media_clock.ticks,
                "max_late_ms": round(self.media_clock.max_late * 1000, 2),
                "recent_late_ms": round(self.media_clock.take_recent() * 1000, 2),
                "max_tick_cost_ms": round(self.media_clock.max_cost * 1000, 2),
                "skipped": self.media_clock.skipped,
            },
            "disk": disk_status(self.config.data_dir),
            "switches": [s for s in self.hotline.switch_list() if s["on"]],
        }

    async def _seed(self) -> None:
        """First start: copy the demo mode into the data folder."""
        if not self.modes.names():
            self.modes.folder.mkdir(parents=True, exist_ok=True)
            (self.modes.folder / "hotline.yaml").write_text(
                (DEMO_DIR / "hotline.yaml").read_text(encoding="utf-8"), encoding="utf-8"
            )
            log.info("seeded the demo mode into %s", self.modes.folder)

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.open()
        recovered = await self.messages.recover()
        if recovered:
            log.warning("recovered %d message(s) interrupted by a crash", len(recovered))
        await self._seed()
        self.control.restore(await self.state.switch_states())
        await self.staffing.restore()
        self.events.subscribe(self._persist_switches)
        name = await self.state.setting("active_mode") or self.config.active_mode
        try:
            await self.hotline.activate(name, "start-up")
        except ZentraleError as err:
            log.error("cannot activate mode '%s': %s", name, err)
            if name != self.config.active_mode:
                await self.hotline.activate(self.config.active_mode, "start-up")
            else:
                raise
        self.media_clock.start()
        await self.sip.start()
        for line in self.analog_lines:
            await line.start()
        await self._start_http()

    def _persist_switches(self, event: Any) -> None:
        if isinstance(event, SwitchChanged):
            pass  # Hotline.set_switch persists; the panel goes through it as well

    async def _start_http(self) -> None:
        config = uvicorn.Config(
            self.api, host=self.config.http.bind, port=self.config.http.port, log_level="warning", lifespan="off"
        )
        server = _EmbeddedServer(config)
        self._http = server
        self._http_task = asyncio.ensure_future(server.serve())
        while not server.started:
            if self._http_task.done():
                self._http_task.result()
                raise ZentraleError("web server did not start")
            await asyncio.sleep(0.01)
        if server.servers and server.servers[0].sockets:
            self.http_port = server.servers[0].sockets[0].getsockname()[1]
        log.info("HTTP API on http://%s:%d (docs: /docs, spec: /openapi.json)", self.config.http.bind, self.http_port)

    async def stop(self) -> None:
        await self.distribution.stop()
        await self.supervisor.stop()
        for line in self.analog_lines:
            await line.stop()
        await self.sip.stop()
        self.media_clock.stop()
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                await asyncio.gather(self._http_task, return_exceptions=True)
        await self.db.close()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await self.start()
        print(  # noqa: T201 - the one line a person starting the daemon wants to see
            f"Zentrale {__version__} ready: SIP {self.config.sip.bind}:{self.sip.transport.port} (udp/tcp), "
            f"web http://{self.config.http.bind}:{self.http_port}/, mode '{self.hotline.mode_name}'",
            flush=True,
        )
        await self.stopping.wait()
        log.info("stopping")
        await self.stop()
