"""The composition root: reads the configuration, builds every object, runs the loop.

One place builds everything and passes collaborators to ``__init__``; no
module-level singletons.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from zentrale import __version__
from zentrale.accounts.service import Accounts
from zentrale.calls.dialer import LineDialer
from zentrale.calls.limits import CallLimits
from zentrale.calls.simulation import Simulations
from zentrale.calls.supervisor import CallSupervisor
from zentrale.clock import SystemClock
from zentrale.config import DEMO_DIR, Config
from zentrale.core.agents import AgentBoard
from zentrale.core.distribution import CallDistribution, TeamPolicy
from zentrale.core.events import EventBus, MessageMailChanged
from zentrale.core.flow import FlowEngine
from zentrale.core.numbers import NumberPolicies
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl
from zentrale.errors import ZentraleError
from zentrale.health import (
    ComponentHealth,
    HealthMonitor,
    analog_line_health,
    call_log_health,
    disk_health,
    line_health,
    media_clock_health,
    registration_health,
    store_health,
)
from zentrale.hotline import Hotline, ModeFiles
from zentrale.lines.alsa.line import AlsaLine
from zentrale.lines.base import Call, Line
from zentrale.lines.modem.line import ModemLine
from zentrale.lines.sip.settings import BanKeeper, RegistrationSettings
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.mail.outbox import MailOutbox
from zentrale.media.clock import CollectorWatch, MediaClock
from zentrale.media.library import AudioLibrary
from zentrale.phone_prompts import PhonePromptRecording
from zentrale.prompts import PromptLibrary
from zentrale.scheduling import ModeScheduler
from zentrale.staffing import Staffing
from zentrale.store.agents import AgentRepository
from zentrale.store.db import Database
from zentrale.store.disk import DataDisk
from zentrale.store.messages import MessageRepository
from zentrale.store.modes import ModeVersions
from zentrale.store.outbox import OutboxRepository
from zentrale.store.state import CallLogRepository, StateRepository
from zentrale.store.users import UserRepository
from zentrale.systemd_notify import SystemdNotifier, keep_watchdog_fed
from zentrale.teams import TeamSettings
from zentrale.web.api import create_api

log = logging.getLogger(__name__)

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: "start me again" (systemd Restart=on-failure, scripts/demo's loop)


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon, not uvicorn, owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _analog_line_check(line: Line) -> ComponentHealth:
    return analog_line_health(line.status())


class App:
    def __init__(self, config: Config, config_file: Path | None = None) -> None:
        self.config = config
        self.config_file = config_file  # what a backup from the web page carries as config.yaml
        data = config.data_dir
        self.clock = SystemClock()
        self.events = EventBus()
        self.disk = DataDisk(data, int(config.voicemail.min_free_mb * 1e6))
        self.db = Database(data / "zentrale.db", self.disk)
        self.state = StateRepository(self.db)
        self.messages = MessageRepository(self.db, data)
        self.call_log = CallLogRepository(self.db)
        self.mail = MailOutbox(
            config=config, clock=self.clock, outbox=OutboxRepository(self.db), messages=self.messages
        )
        self.messages.on_commit.append(self.mail.queue_message)
        self.mail.on_change = lambda message_id, state: self.events.publish(MessageMailChanged(message_id, state))
        self.library = AudioLibrary(config.prompt_folders)
        self.media_clock = MediaClock()
        self.gc_watch = CollectorWatch()
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
            versions=ModeVersions(self.db),
        )
        self.prompts = PromptLibrary(self.library, config.prompts_dir, config.music_dir, self.hotline)
        self.scheduler = ModeScheduler(
            clock=self.clock, hotline=self.hotline, state=self.state, language=config.language
        )
        self.simulations = Simulations(self.library)
        self.sip = SipUserAgent(config.sip, self.media_clock)
        self.sip_settings = RegistrationSettings(self.sip, self.state)
        self.ban_keeper = BanKeeper(self.sip.guard, self.state, lambda: self.clock.now().timestamp())
        self.sip.guard.on_ban = lambda ban: self.sip.spawn(
            self.state.audit(self.clock.now(), "sip", "security.ban", f"{ban.host} ({ban.reason})")
        )
        self.agents = AgentBoard(self.clock, self.events)
        self.dialer = LineDialer(
            self.sip,
            {t.id: t.name for t in config.teams},
            caller_call=self._active_call,
            blind=self._blind_transfer,
            numbers=NumberPolicies({t.id: t.allowed_numbers for t in config.teams}),
        )
        self.distribution = CallDistribution(
            self.clock, self.queues, self.agents, self.dialer, self.events, self._team_policies()
        )
        self.staffing = Staffing(
            config=config,
            clock=self.clock,
            board=self.agents,
            distribution=self.distribution,
            repo=AgentRepository(self.db),
            state=self.state,
        )
        self.team_settings = TeamSettings(config, self.state, self.hotline, self.staffing, self._apply_teams)
        self.supervisor = CallSupervisor(
            clock=self.clock,
            events=self.events,
            engine=self.engine,
            hotline=self.hotline,
            library=self.library,
            silence_dbfs=config.voicemail.silence_dbfs,
            limits=CallLimits(
                config.call_limits.max_call_seconds,
                config.call_limits.grace_seconds,
                config.call_limits.max_queue_seconds,
            ),
            disk=self.disk,
        )
        if config.phone_recording is not None:
            self.supervisor.service = PhonePromptRecording(
                config.phone_recording,
                self.prompts,
                audit=lambda action, detail: self.state.audit(self.clock.now(), "phone", action, detail),
                failed=self._call_failed,
            )
            self.sip.service_numbers.add(config.phone_recording.number)
        self.sip.on_incoming(self.supervisor.incoming)
        self.analog_lines: list[Line] = []
        if config.modem is not None:
            self.analog_lines.append(ModemLine(config.modem, self.media_clock))
        if config.alsa_line is not None:
            self.analog_lines.append(AlsaLine(config.alsa_line, self.media_clock))
        for line in self.analog_lines:
            line.on_incoming(self.supervisor.incoming)
        self.accounts = Accounts(clock=self.clock, repo=UserRepository(self.db), state=self.state, data_dir=data)
        self.api = create_api(self)
        self._http: uvicorn.Server | None = None
        self._http_task: asyncio.Task[Any] | None = None
        self.stopping = asyncio.Event()
        self.exit_code = 0  # RESTART_EXIT_CODE: systemd (Restart=on-failure) or scripts/demo start the box again
        self.http_port = config.http.port
        self.notifier = SystemdNotifier()
        self.health = HealthMonitor(config.health.interval)
        self.panel: Any = None  # FrontPanel when enabled (imported late: gpiozero only where needed)
        self._background: list[asyncio.Task[Any]] = []
        self._add_health_checks()

    def _add_health_checks(self) -> None:
        limits = self.config.health
        self.health.add_check("line_sip", lambda: line_health("SIP", self.sip.transport.listening, self.sip.status()))
        self.health.add_check(
            "sip_registration", lambda: registration_health(self.sip.registrar.status() if self.sip.registrar else None)
        )
        for line in self.analog_lines:
            self.health.add_check(f"line_{line.name}", functools.partial(_analog_line_check, line))
        self.health.add_check("media_clock", self._media_clock_health)
        self.health.add_check("mode", self._mode_health)
        self.health.add_check(
            "disk", lambda: disk_health(self.disk.state(), limits.disk_warn_percent, limits.disk_fault_percent)
        )
        self.health.add_check("call_log", lambda: call_log_health(self.supervisor.call_log.status()))
        self.health.add_async_check("store", self._store_health)
        self.health.add_async_check("mail_outbox", self._mail_health)

    def _media_clock_health(self) -> ComponentHealth:
        clock = self.media_clock
        healthy = clock.healthy(asyncio.get_running_loop().time())
        return media_clock_health(healthy, clock.ticks, round(clock.max_late * 1000, 2))

    async def _store_health(self) -> ComponentHealth:
        await self.db.fetch("SELECT 1")  # answers only if the database thread and file work
        if self.db.read_only and self.disk.state().space in ("ok", "low"):
            await self.db.reopen_writable()  # started on a full disk; space is back
        return store_health(self.disk.state(), self.db.read_only)

    def _team_policies(self) -> dict[str, TeamPolicy]:
        return {
            t.id: TeamPolicy(t.id, t.name, t.distribution == "auto", t.strategy, t.ring_timeout, t.wrap_up)
            for t in self.config.teams
        }

    def _apply_teams(self) -> None:
        """``config.teams`` changed (the web page): everything that reads it takes the new list."""
        teams = self.config.teams
        self.distribution.policies = self._team_policies()
        self.dialer.team_names = {t.id: t.name for t in teams}
        # one set of patterns: the login check and the check right before dialling
        self.dialer.numbers = self.staffing.numbers = NumberPolicies({t.id: t.allowed_numbers for t in teams})

    def _call_failed(self, call: Call, reason: str) -> None:
        """A failed attempt on a call (e.g. a wrong PIN): the SIP guard counts it for the source."""
        peer = getattr(call, "peer", None)
        if call.line == "sip" and peer is not None:
            self.sip.failed(peer, reason)

    def _active_call(self, call_id: str) -> Call | None:
        entry = self.supervisor.active.get(call_id)
        return entry[0] if entry else None

    def _blind_transfer(self, call: Call) -> bool:
        """Calls on an analog line configured for hook-flash transfer are handed on blind;
        SIP calls from a PBX configured for REFER are handed on by REFER."""
        flash_lines = {c.name for c in (self.config.modem, self.config.alsa_line) if c and c.transfer == "flash"}
        if call.line == "sip":
            return self.sip.transfers_by_refer(call)
        return call.line in flash_lines

    def status(self) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        health = self.health.report()
        return {
            "overall": health["overall"],
            "components": health["components"],
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
                "gc_max_pause_ms": round(self.gc_watch.max_pause * 1000, 2),
                "gc_collections": self.gc_watch.collections,
            },
            "disk": health["components"]["disk"],
            "switches": [s for s in self.hotline.switch_list() if s["on"]],
            "panel": self.panel.status() if self.panel is not None else None,
            "setup_needed": self.accounts.setup_needed,
        }

    def status_line(self) -> str:
        """One line for systemd's STATUS= (``systemctl status zentrale``)."""
        overall = self.health.report()["overall"]
        problems = "; ".join(self.health.problems())
        return (
            f"{overall}: mode '{self.hotline.mode_name}', {len(self.supervisor.active)} call(s), "
            f"{len(self.queues.entries())} waiting" + (f" | {problems}" if problems else "")
        )

    async def _seed(self) -> None:
        """First start: copy the demo modes into the data folder (unless ``demo_modes`` is off)."""
        if not self.modes.names() and self.config.demo_modes:
            self.modes.folder.mkdir(parents=True, exist_ok=True)
            for name in ("hotline", "closed"):
                (self.modes.folder / f"{name}.yaml").write_text(
                    (DEMO_DIR / f"{name}.yaml").read_text(encoding="utf-8"), encoding="utf-8"
                )
            log.info("seeded the demo modes into %s", self.modes.folder)
        await self.hotline.record_files()

    async def _activate_at_start(self) -> None:
        """The mode active before the restart (else ``active_mode``). A box without that mode --
        an empty box, or one whose modes have other names -- runs without a mode and refuses
        calls until an admin activates one; a broken document stops the start as before."""
        names = self.modes.names()
        name = await self.state.setting("active_mode") or self.config.active_mode
        if name not in names and self.config.active_mode in names:
            name = self.config.active_mode
        if name not in names:
            log.warning(
                "no mode to activate (%s): calls are refused until an admin builds one in the editor and activates it",
                f"modes: {', '.join(names)}" if names else "no modes yet",
            )
            return
        try:
            await self.hotline.activate(name, "start-up")
        except ZentraleError as err:
            log.error("cannot activate mode '%s': %s", name, err)
            if name != self.config.active_mode and self.config.active_mode in names:
                await self.hotline.activate(self.config.active_mode, "start-up")
            else:
                raise

    def _mode_health(self) -> ComponentHealth:
        if self.hotline.mode_name is None:
            return ComponentHealth("degraded", "no active mode: calls are refused")
        return ComponentHealth("ok", f"mode '{self.hotline.mode_name}'")

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.db.open()
        await self.team_settings.load()  # before anything checks a team (mail lists, logins, modes)
        recovered = await self.messages.recover()
        if recovered:
            log.warning("recovered %d message(s) interrupted by a crash", len(recovered))
        self.supervisor.pending_messages.wake()  # recovered ones the full database refused
        await self.mail.load_settings(self.state)
        await self.mail.start()
        await self._seed()
        self.control.restore(await self.state.switch_states())
        await self.staffing.restore()
        await self.accounts.start()
        await self.scheduler.load()
        await self._activate_at_start()
        self.scheduler.start()
        self.gc_watch.install()
        self.media_clock.start()
        await self.sip_settings.load()
        await self.ban_keeper.load()
        await self.sip.start()
        self.ban_keeper.start()
        for line in self.analog_lines:
            await line.start()
        await self._start_http()
        await self.health.refresh()
        self._background.append(asyncio.ensure_future(self._report_status()))
        if self.config.panel.enabled:
            self._start_panel()

    async def _mail_health(self) -> ComponentHealth:
        """E-mail delivery: failed messages make the box 'degraded' (they stay in the viewer)."""
        if not self.mail.enabled:
            return ComponentHealth("ok", "e-mail off")
        counts = await self.mail.outbox.counts()
        failed = counts.get("failed", 0)
        waiting = counts.get("queued", 0) + counts.get("sending", 0)
        detail = f"{waiting} waiting, {failed} failed"
        return ComponentHealth("degraded" if failed else "ok", detail, {"outbox": counts})

    def _start_panel(self) -> None:
        from zentrale.panel.front import FrontPanel

        panel = FrontPanel(
            self.config.panel,
            hotline=self.hotline,
            events=self.events,
            overall_health=lambda: str(self.health.report()["overall"]),
            health_problems=self.health.problems,
            component_states=lambda: {name: c.state for name, c in self.health.components().items()},
            recording_refused=self.disk.recording_refused,
        )
        try:
            panel.start()
        except Exception as err:  # no GPIO here: the hotline runs on, the panel is reported degraded
            reason = f"GPIO unavailable: {err}"
            log.error("front panel: %s; running without the panel", reason)
            self.health.add_check("panel", lambda: ComponentHealth("degraded", reason))
            return
        self.panel = panel
        self.health.add_check("panel", lambda: ComponentHealth("ok", "button and LEDs on GPIO"))

    async def _start_http(self) -> None:
        config = uvicorn.Config(
            self.api, host=self.config.http.bind, port=self.config.http.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=2,  # open event streams (every agent's page) never end by themselves
            # X-Forwarded-For only from configured proxies: uvicorn's default trusts it from loopback, so
            # anything on the box (or a proxy we did not set up) could pick the address logins are throttled by
            proxy_headers=bool(self.config.http.trusted_proxies),
            forwarded_allow_ips=list(self.config.http.trusted_proxies),
        )  # fmt: skip
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
        if self.accounts.setup_token:
            log.warning(
                "first-run set-up: no admin account yet. Open http://<this box>:%d/setup and enter the set-up token"
                " %s (also in %s)",
                self.http_port,
                self.accounts.setup_token,
                self.accounts.setup_token_path,
            )

    def restart_soon(self, delay: float = 0.5) -> None:
        """Stop (after ``delay``, so the answer that asked for it goes out) and exit with
        RESTART_EXIT_CODE, which the service manager answers with a new start."""
        self.exit_code = RESTART_EXIT_CODE
        asyncio.get_running_loop().call_later(delay, self.stopping.set)

    async def stop(self) -> None:
        await self.scheduler.stop()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.panel is not None:
            await self.panel.stop()
        await self.distribution.stop()
        await self.supervisor.stop()
        for line in self.analog_lines:
            await line.stop()
        await self.sip.stop()
        await self.ban_keeper.stop()
        self.media_clock.stop()
        await self.mail.stop()
        if self._http is not None:
            self._http.should_exit = True
            if self._http_task is not None:
                await asyncio.gather(self._http_task, return_exceptions=True)
        self.accounts.close()
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
        self._background.append(asyncio.ensure_future(keep_watchdog_fed(self.notifier, self._watchdog_problem)))
        if os.environ.get("ZENTRALE_FAULT_INJECTION") == "1":
            # tests only: SIGUSR2 stops/restarts the media clock while the loop runs on
            loop.add_signal_handler(signal.SIGUSR2, self._toggle_media_clock_stall)
        await self._wait_for_registration()
        if not self.stopping.is_set():
            self.notifier.ready(self.status_line())
        await self.stopping.wait()
        log.info("stopping")
        self.notifier.stopping()
        await self.stop()
        self.notifier.close()

    def _watchdog_problem(self) -> str | None:
        """What withholds systemd's watchdog ping: only what a restart can cure (a stalled
        loop or media clock), never a PBX that is down or a full disk."""
        if not self.media_clock.healthy(asyncio.get_running_loop().time()):
            return "media clock stalled"
        return None

    async def _wait_for_registration(self) -> None:
        """READY=1 waits for the registration where one is configured, at most
        ``service.registration_wait`` seconds: a box whose PBX is down must still come
        up (degraded, fault LED on) so its web page can fix the account."""
        if self.sip.registrar is None:
            return
        self.notifier.status(f"waiting for the SIP registration at {self.sip.registrar.host}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.service.registration_wait
        while not self.sip.ready and loop.time() < deadline and not self.stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), 0.1)
        if not self.sip.ready:
            log.warning("not registered after %.0f s; reporting ready, degraded", self.config.service.registration_wait)

    async def _report_status(self) -> None:
        """Checks that need I/O (the database) every ``health.interval`` s; STATUS= for systemd."""
        while True:
            await self.health.refresh()
            self.notifier.status(self.status_line())
            await asyncio.sleep(self.config.health.interval)

    def _toggle_media_clock_stall(self) -> None:
        if self.media_clock.healthy(asyncio.get_running_loop().time()):
            log.warning("fault injection: media clock stopped")
            self.media_clock.stop()
        else:
            log.warning("fault injection: media clock started again")
            self.media_clock.start()
