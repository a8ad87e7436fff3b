"""The composition root: builds every object from the configuration, starts and stops them, runs the loop.

One place builds everything and passes collaborators (and callbacks) to
``__init__``; no module-level singletons, no logic of its own.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

from zentrale import __version__
from zentrale.accounts.service import Accounts
from zentrale.calls.behind import CallLogWriter
from zentrale.calls.callback import CallbackDialer, CallbackService
from zentrale.calls.dialer import LineDialer, TransferPolicy
from zentrale.calls.limits import CallLimits
from zentrale.calls.offers import OfferLog
from zentrale.calls.simulation import Simulations
from zentrale.calls.supervisor import CallSupervisor
from zentrale.clock import SystemClock
from zentrale.config import DEMO_DIR, Config
from zentrale.core.agents import AgentBoard
from zentrale.core.distribution import CallDistribution
from zentrale.core.events import EventBus, MessageDeleted, MessageMailChanged
from zentrale.core.flow import FlowEngine
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl
from zentrale.desk_phone import AgentPins, FeatureCodes, MessageWaiting, ServiceNumbers
from zentrale.health import BoxStatus, ComponentHealth, HealthMonitor, Parts
from zentrale.hotline import Hotline
from zentrale.lifecycle import Background, Lifecycle, Part
from zentrale.lines.alsa.line import AlsaLine
from zentrale.lines.base import Call, Line
from zentrale.lines.modem.line import ModemLine
from zentrale.lines.sip.settings import BanKeeper, RegistrationSettings
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.mail.outbox import MailOutbox
from zentrale.media.clock import CollectorWatch, MediaClock
from zentrale.media.library import AudioLibrary
from zentrale.panel import front_panel
from zentrale.phone_prompts import PhonePromptRecording, count_failed_attempts
from zentrale.phonebook.service import Phonebook
from zentrale.prompts import PromptLibrary
from zentrale.scheduling import ModeScheduler
from zentrale.staffing import Staffing
from zentrale.store.db import Database
from zentrale.store.disk import DataDisk
from zentrale.store.modes import ModeFiles
from zentrale.store.repositories import Repositories
from zentrale.store.retention import RetentionJob
from zentrale.store.statistics import Statistics, warm_later
from zentrale.systemd_notify import Readiness, Service, report_status
from zentrale.teams import TeamDirectory, TeamSettings
from zentrale.web.api import Services, create_api
from zentrale.web.faults import FaultLog
from zentrale.web.server import HttpServer
from zentrale.web.tls import TlsKeeper
from zentrale.web.updates import Updater

STATISTICS_WARM_SECONDS = 120.0  # after the start: the year's days counted before anyone asks
DEMO_MODES = ("hotline", "closed")  # copied into an empty modes folder at the first start (``demo_modes``)


class App:
    def __init__(self, config: Config, config_file: Path | None = None) -> None:
        self.config = config
        self.service = Service()  # the box running: signals, readiness, the watchdog, a restart
        self.background = Background()  # the status report, the statistics' warm-up
        data = config.data_dir
        self.clock = clock = SystemClock()
        self.events = events = EventBus()
        self.disk = DataDisk(data, int(config.voicemail.min_free_mb * 1e6))
        self.db = Database(data / "zentrale.db", self.disk)
        self.repos = repos = Repositories.over(self.db, data, clock)
        self.state, self.messages = repos.state, repos.messages
        self.teams = TeamDirectory(config.teams)
        self.mail = MailOutbox(
            config=config, teams=self.teams, clock=clock, outbox=repos.outbox, messages=self.messages,
            on_change=lambda message_id, state: events.publish(MessageMailChanged(message_id, state)),
        )  # fmt: skip
        self.library = AudioLibrary(config.prompt_folders)
        self.media_clock = MediaClock()
        self.gc_watch = CollectorWatch()
        self.queues: QueueBoard[Call] = QueueBoard(clock, events)
        self.control = ManualControl(clock, events)
        self.agents = AgentBoard(clock, events)
        self.modes = ModeFiles(config.modes_dir)
        self.hotline = Hotline(
            teams=self.teams, clock=clock, events=events, queues=self.queues, control=self.control,
            library=self.library, modes=self.modes, state=self.state, messages=self.messages,
            call_log=repos.call_log, versions=repos.versions,
        )  # fmt: skip
        self.prompts = PromptLibrary(self.library, config.prompts_dir, config.music_dir, self.hotline)
        self.scheduler = ModeScheduler(clock=clock, hotline=self.hotline, state=self.state, language=config.language)
        self.caller_lists = repos.callers
        recording = config.phone_recording
        desk = config.desk_phone
        self.sip = SipUserAgent(
            config.sip, self.media_clock,
            service_numbers=[*([recording.number] if recording else []), *([desk.number] if desk else [])],
            on_ban=lambda ban: self.sip.spawn(
                self.state.audit(clock.now(), "sip", "security.ban", f"{ban.host} ({ban.reason})")
            ),
        )  # fmt: skip
        self.sip_settings = RegistrationSettings(self.sip, self.state)
        self.ban_keeper = BanKeeper(self.sip.guard, self.state, lambda: clock.now().timestamp())
        limits = config.call_limits
        self.callbacks = CallbackService(
            clock=clock, queues=self.queues, teams=self.teams, line=self.sip, library=self.library,
            messages=self.messages, repo=repos.callbacks, call_log=CallLogWriter(self.hotline.call_log),
            language=lambda: self.hotline.mode.language if self.hotline.mode else config.language,
        )  # fmt: skip
        self.supervisor = CallSupervisor(
            clock=clock, events=events, engine=FlowEngine(
                clock, self.queues, self.control, events, callers=self.caller_lists.lists,
                schedule_state=self.scheduler.state_now, callbacks=self.callbacks,
            ),
            active_mode=lambda: self.hotline.mode, messages=self.messages, call_log=self.hotline.call_log,
            library=self.library, silence_dbfs=config.voicemail.silence_dbfs, disk=self.disk,
            limits=CallLimits(limits.max_call_seconds, limits.grace_seconds, limits.max_queue_seconds),
            service=(services := ServiceNumbers(PhonePromptRecording(
                recording, self.prompts, failed=count_failed_attempts(self.sip),
                audit=lambda action, detail: self.state.audit(clock.now(), "phone", action, detail),
            ) if recording else None)),
        )  # fmt: skip
        self.dialer = LineDialer(
            self.sip, self.teams, self.supervisor, TransferPolicy.from_config(config, self.sip.transfers_by_refer)
        )
        self.distribution = CallDistribution(
            clock, self.queues, self.agents, CallbackDialer(self.dialer, self.callbacks), events, self.teams.policy
        )
        self.staffing = Staffing(
            teams=self.teams, clock=clock, board=self.agents, distribution=self.distribution,
            repo=repos.agents, state=self.state,
        )  # fmt: skip
        self.agent_pins = AgentPins(self.state)
        if desk is not None:
            services.services.append(FeatureCodes(
                desk, self.agent_pins, self.staffing, failed=count_failed_attempts(self.sip),
                audit=lambda action, detail: self.state.audit(clock.now(), "desk phone", action, detail),
            ))  # fmt: skip
        self.message_waiting = MessageWaiting(
            events=events, messages=self.messages, staffing=self.staffing, subscriptions=self.sip.subscriptions
        )
        self.team_settings = TeamSettings(
            directory=self.teams, state=self.state, clock=clock, modes=self.modes, agents=self.agents,
            queues=self.queues,
        )  # fmt: skip
        self.analog_lines: list[Line] = [
            *([ModemLine(config.modem, self.media_clock)] if config.modem else []),
            *([AlsaLine(config.alsa_line, self.media_clock)] if config.alsa_line else []),
        ]
        self.phonebook = Phonebook(config.phonebook, repos.phonebook, clock)
        for line in (self.sip, *self.analog_lines):
            line.on_incoming(self.phonebook.naming(self.supervisor.incoming))
        self.accounts = Accounts(clock=clock, repo=repos.users, state=self.state, data_dir=data)
        self.health = HealthMonitor(config.health.interval)
        self.health.add_check("phonebook", lambda: ComponentHealth("ok", self.phonebook.summary()))
        self.panel = front_panel(
            config.panel, hotline=self.hotline, events=events, health=self.health,
            recording_refused=self.disk.recording_refused, setup_pending=lambda: self.accounts.setup_needed,
        )  # fmt: skip
        self.status = BoxStatus(self.health, config.health, Parts(
            sip=self.sip, analog_lines=self.analog_lines, media_clock=self.media_clock, gc_watch=self.gc_watch,
            db=self.db, disk=self.disk, mail=self.mail, calls=self.supervisor, hotline=self.hotline,
            queues=self.queues, agents=self.agents, accounts=self.accounts, panel=self.panel,
        ))  # fmt: skip
        self.faults = FaultLog()
        self.updates = Updater(data / "update")
        self.retention = RetentionJob(
            self.db, data, config.retention, clock,
            on_deleted=lambda message_id: events.publish(MessageDeleted(message_id, "retention")),
        )  # fmt: skip
        self.statistics = Statistics(self.db)  # its own read connection (store/statistics.py)
        self.offers = OfferLog(events, repos.offers, clock)  # each ring of an agent's phone
        self.tls = TlsKeeper(config.http.tls, data / "tls", clock.now) if config.http.tls.enabled else None
        self.api = create_api(Services(
            http=config.http, language=config.language, accounts=self.accounts, clock=clock, events=events,
            hotline=self.hotline, teams=self.teams, team_settings=self.team_settings, staffing=self.staffing,
            scheduler=self.scheduler, prompts=self.prompts,
            simulations=Simulations(self.library, self.caller_lists.lists, self.scheduler.state_now),
            control=self.control, calls=self.supervisor, messages=self.messages, state=self.state, mail=self.mail,
            mail_config=config.mail, sip_settings=self.sip_settings, guard=self.sip.guard, status=self.status,
            health=self.health, data_dir=data, config_file=config_file, restart=self.service.restart_soon, tls=self.tls,
            faults=self.faults, updates=self.updates, agent_pins=self.agent_pins,
            desk_number=desk.number if desk else None, retention=self.retention, phonebook=self.phonebook,
            caller_lists=self.caller_lists, callbacks=self.callbacks,
            statistics=self.statistics, wallboard=repos.wallboard, offers=repos.offers,
        ))  # fmt: skip
        self.http = HttpServer(self.api, config.http, self.accounts, self.tls)
        self.lifecycle = Lifecycle(self._parts())

    def _parts(self) -> list[Part]:
        """Every part in the order it starts (it stops in the reverse order: zentrale/lifecycle.py)."""
        config, sip = self.config, self.sip
        return [
            Part("the fault log", self.faults.install, self.faults.uninstall),
            Part("the data folder", lambda: config.data_dir.mkdir(parents=True, exist_ok=True)),
            Part("the database", self.db.open, self.db.close),
            Part("the updater", stop=self.updates.close),
            Part("the statistics' reader", stop=self.statistics.close),
            Part("the agents' rings", stop=self.offers.stop),  # written before the database closes
            Part("the phonebook's names", self.phonebook.load),  # before the first call comes
            Part("the teams", self.team_settings.load),  # before anything checks a team (mail lists, logins, modes)
            Part("the messages", self.messages.recover),
            Part("the messages the database refused", self.supervisor.pending_messages.wake),
            Part("the mail settings", lambda: self.mail.load_settings(self.state)),
            Part("the mail outbox", self.mail.start, self.mail.stop),
            Part("the demo modes", lambda: config.demo_modes and self.modes.seed(DEMO_DIR, DEMO_MODES)),
            Part("the mode files", self.hotline.record_files),
            Part("the switches", self.hotline.restore_switches),
            Part("the agents", self.staffing.restore),
            Part("the waiting callbacks", self.callbacks.load),  # at their places, before a new call enters a queue
            Part("the desk phones' PINs", self.agent_pins.load),
            Part("the message lamps", self.message_waiting.load),
            Part("the accounts", self.accounts.start, self.accounts.close),
            Part("the schedule", self.scheduler.load),
            Part("the caller lists", self.caller_lists.load),
            Part("the active mode", lambda: self.hotline.activate_at_start(config.active_mode)),
            Part("the mode scheduler", self.scheduler.start, self.scheduler.stop),
            Part("the collector watch", self.gc_watch.install),
            Part("the media clock", self.media_clock.start, self.media_clock.stop),
            Part("the SIP settings", self.sip_settings.load),
            Part("the bans", self.ban_keeper.load),
            Part("the SIP line", sip.start, sip.stop),
            Part("the ban list", self.ban_keeper.start, self.ban_keeper.stop),
            *(Part(f"line {line.name}", line.start, line.stop) for line in self.analog_lines),
            Part("the calls", stop=self.supervisor.stop),  # hung up while their lines still carry the BYE
            Part("the callbacks", stop=self.callbacks.stop),
            Part("the call distribution", stop=self.distribution.stop),
            Part("the message lamps' notices", stop=self.message_waiting.close),  # none to a line that stops
            Part("the web server", self.http.start, self.http.stop),
            Part("the retention settings", self.retention.load),
            Part("the retention job", self.retention.start, self.retention.stop),
            Part("the phonebook", self.phonebook.start, self.phonebook.stop),
            Part("the health checks", self.health.refresh),  # a first answer before the box says it is ready
            self.background.part(
                "the background tasks",
                lambda: warm_later(
                    self.statistics, lambda: self.scheduler.schedule.tz, self.clock, STATISTICS_WARM_SECONDS
                ),
                lambda: report_status(
                    self.service.notifier, self.health.refresh, self.status.line, config.health.interval
                ),
            ),
            *([Part("the front panel", self.panel.start_or_degrade, self.panel.stop)] if self.panel else []),
        ]

    async def start(self) -> None:
        await self.lifecycle.start()

    async def stop(self) -> None:
        await self.lifecycle.stop()

    async def run(self) -> None:
        """Until SIGTERM/SIGINT or a restart the web page asked for (zentrale/lifecycle.py)."""
        fault_injection = os.environ.get("ZENTRALE_FAULT_INJECTION") == "1"  # tests: SIGUSR2 stalls the media clock
        await self.service.run(self.lifecycle.start, self.lifecycle.stop, Readiness(
            ready_line=lambda: f"Zentrale {__version__} ready: SIP {self.config.sip.bind}:{self.sip.transport.port} "
            f"(udp/tcp), web {' '.join(self.http.urls())}, mode '{self.hotline.mode_name}', "
            f"Python {platform.python_version()}",
            status_line=self.status.line, watchdog_problem=self.status.watchdog_problem,
            waits_for=lambda: f"the SIP registration at {r.host}" if (r := self.sip.registrar) else None,
            there=lambda: self.sip.ready,
            wait_seconds=self.config.service.registration_wait,
        ), on_usr2=self.media_clock.toggle_stall if fault_injection else None)  # fmt: skip

    @property
    def exit_code(self) -> int:
        return self.service.exit_code
