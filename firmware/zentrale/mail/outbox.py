"""The mail outbox at work: queue a message as it is stored, deliver it, retry, report.

``queue_message`` is a ``MessageRepository.on_commit`` hook: it runs on the
database thread inside the transaction that makes the message visible, so
the message and its outbox row appear together or not at all. The sender
task delivers one mail at a time; temporary failures wait ``backoff``
(doubling from ``mail.retry_first`` up to ``mail.retry_max``), permanent
ones are marked ``failed`` with the server's answer. Nothing here ever
deletes a message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, make_msgid
from typing import Any

from zentrale.config import Config, MailConfig, validated
from zentrale.core.addresses import check_addresses
from zentrale.core.clock import Clock
from zentrale.errors import Conflict, Invalid, MailError, NotFound
from zentrale.mail.compose import MailSettings, compose
from zentrale.mail.smtp import SmtpSender, SmtpServer
from zentrale.mail.templates import Language, MessageFacts
from zentrale.store.db import Connection
from zentrale.store.messages import MessageMeta, MessageRepository
from zentrale.store.outbox import OutboxRepository, public_status
from zentrale.store.state import StateRepository
from zentrale.teams import TeamDirectory

log = logging.getLogger(__name__)

SETTINGS_KEY = "mail.smtp"  # JSON: the SMTP fields set in the web page (WEB_FIELDS)
TEAM_LISTS_KEY = "mail.teams"  # JSON: {team id: [addresses]} set in the web page
# What the web page may change; the rest (timeouts, retries, TLS trust, bit rate) stays in the config file.
WEB_FIELDS = ("host", "port", "security", "user", "password", "sender", "sender_name", "max_attachment_kb",
              "viewer_url", "language")  # fmt: skip
TEST_MAIL: dict[str, tuple[str, str]] = {
    "de": ("Zentrale: Test-E-Mail", "Diese E-Mail kommt von der Zentrale: der Versand über {host}:{port} "
           "({security}) funktioniert.\n"),
    "en": ("Zentrale: test e-mail", "This e-mail comes from Zentrale: sending through {host}:{port} "
           "({security}) works.\n"),
}  # fmt: skip


def smtp_server(mail: MailConfig) -> SmtpServer:
    assert mail.host is not None
    return SmtpServer(
        host=mail.host,
        port=mail.smtp_port,
        security=mail.security,
        user=mail.user,
        password=mail.password,
        timeout=mail.timeout,
        ca_file=mail.ca_file,
        verify_tls=mail.verify_tls,
    )


def merged_settings(base: MailConfig, stored: dict[str, Any]) -> MailConfig:
    """The config file's mail section with the web page's fields over it; ``Invalid``
    naming the field and the problem when they do not fit together."""
    fields = {k: v for k, v in stored.items() if k in WEB_FIELDS}
    return validated(MailConfig, {**base.model_dump(), **fields}, "settings")


IDLE_CHECK = 3600.0  # seconds; a wake-up comes earlier whenever something is queued
ERROR_PAUSE = 5.0  # after an unexpected error in the loop itself


def backoff(failures: int, first: float, maximum: float) -> float:
    """Seconds to wait after the ``failures``-th temporary failure in a row: first, 2x, 4x, ... up to maximum.

    No jitter: one appliance talks to one server, there is no herd to spread.
    """
    return float(min(maximum, first * 2 ** min(max(failures, 1) - 1, 30)))


class MailOutbox:
    def __init__(
        self,
        *,
        config: Config,
        teams: TeamDirectory,
        clock: Clock,
        outbox: OutboxRepository,
        messages: MessageRepository,
        sender: SmtpSender | None = None,
        on_change: Callable[[str, str], None] | None = None,
    ) -> None:
        self.config = config
        self.teams = teams
        self.clock = clock
        self.outbox = outbox
        self.messages = messages
        self.sender = sender
        self._own_sender = sender is None  # tests may hand in their own
        self.team_lists: dict[str, list[str]] = {}  # distribution lists set in the web page (over the config's)
        self.source = "config"  # where the SMTP settings in force come from: config | web
        self.on_change = on_change  # (message id, delivery state), for live pages
        self._apply(config.mail)
        messages.on_commit.append(self.queue_message)  # every committed message is offered for delivery
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None

    def _apply(self, mail: MailConfig) -> None:
        self.mail = mail
        if self._own_sender:
            self.sender = SmtpSender(smtp_server(mail)) if mail.host else None
        self.language: Language = mail.language or self.config.language
        self.zone = zoneinfo.ZoneInfo(mail.timezone) if mail.timezone else None

    @property
    def enabled(self) -> bool:
        return self.mail.enabled and self.sender is not None

    # ------------------------------------------------------------ settings from the web page

    async def load_settings(self, state: StateRepository) -> None:
        """At start: the SMTP settings and distribution lists last saved in the web page
        win over the config file's. Stored settings that no longer validate are ignored
        (logged): the config file's stay in force."""
        stored = await state.setting(SETTINGS_KEY)
        if stored:
            try:
                self._apply(merged_settings(self.config.mail, json.loads(stored)))
                self.source = "web"
            except (ValueError, Invalid) as err:
                log.error("mail: the e-mail settings saved in the web page are not valid any more (%s); "
                          "using the config file's", err)  # fmt: skip
        lists = await state.setting(TEAM_LISTS_KEY)
        if lists:
            known = set(self.teams.ids())
            self.team_lists = {team: check_addresses(a) for team, a in json.loads(lists).items() if team in known}

    async def save_settings(self, state: StateRepository, mail: MailConfig, stored: dict[str, Any]) -> None:
        """Keep the web page's settings and put them in force now (the sender task restarts)."""
        await state.set_setting(SETTINGS_KEY, json.dumps(stored))
        await self.stop()
        self._apply(mail)
        self.source = "web"
        await self.start()

    async def save_team_list(self, state: StateRepository, team: str, addresses: list[str]) -> None:
        lists = {**self.team_lists, team: check_addresses(addresses)}
        await state.set_setting(TEAM_LISTS_KEY, json.dumps(lists))
        self.team_lists = lists

    def team_list(self, team: str) -> list[str]:
        if team in self.team_lists:
            return list(self.team_lists[team])
        found = self.teams.get(team)
        return list(found.email) if found else []

    async def send_test(self, to: str) -> str:
        """Send a short test mail now (not through the outbox); the server's refusal as MailError."""
        if not self.enabled or self.sender is None or self.mail.sender is None:
            raise Conflict("e-mail is off: no SMTP server is set")
        to = check_addresses([to])[0]
        text = TEST_MAIL[self.language]
        message = EmailMessage()
        message["Subject"] = text[0]
        message["From"] = formataddr((self.mail.sender_name, self.mail.sender))
        message["To"] = to
        message["Date"] = format_datetime(self.clock.now())
        message["Message-ID"] = make_msgid(domain=self.mail.sender.rsplit("@", 1)[1])
        message.set_content(text[1].format(host=self.mail.host, port=self.mail.smtp_port, security=self.mail.security))
        refused = await self.sender.send(bytes(message), self.mail.sender, [to])
        if refused:
            raise MailError(f"the server refused {to}: {refused[to]}", permanent=True)
        log.info("mail: test mail sent to %s through %s:%d", to, self.mail.host, self.mail.smtp_port)
        return str(message["Message-ID"])

    # ------------------------------------------------------------ queueing

    def recipients_for(self, team: str | None, override: list[str] | None) -> list[str]:
        """The voicemail node's list if it has one, else the team's."""
        if override:
            return check_addresses(override)
        return self.team_list(team) if team else []

    def queue_message(self, conn: Connection, meta: MessageMeta, duration_ms: int) -> None:
        """``on_commit`` hook (database thread, inside the message's transaction)."""
        if not self.enabled:
            return
        try:
            recipients = self.recipients_for(meta.team, meta.email)
        except Exception:  # never let e-mail stop a message from being stored
            log.exception("mail: message %s stored but not queued for e-mail", meta.id)
            return
        if not recipients:
            log.info("mail: message %s has no recipients (team %s has no distribution list)", meta.id, meta.team)
            return
        if self.outbox.queue_in(conn, meta.id, recipients, self.clock.now()):
            log.info("mail: message %s queued for %s", meta.id, ", ".join(recipients))
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._wake.set)

    async def send_again(self, message_id: str, to: list[str] | None = None) -> dict[str, Any]:
        """Queue a new delivery round (after a failure, or to send a message once more)."""
        message = await self.messages.get(message_id)
        if not self.enabled:
            raise Conflict("e-mail is off: mail.host (the SMTP server) is not configured")
        override = json.loads(message["email"]) if message.get("email") else None
        recipients = check_addresses(to) if to else self.recipients_for(message.get("team"), override)
        if not recipients:
            raise Conflict(f"message {message_id} has no recipients: the team has no distribution list; give 'to'")
        await self.outbox.requeue(message_id, recipients, self.clock.now())
        self._changed(message_id, "queued")
        log.info("mail: message %s queued again for %s", message_id, ", ".join(recipients))
        self._wake.set()
        return await self.status(message_id)

    # ------------------------------------------------------------ status

    async def status(self, message_id: str) -> dict[str, Any]:
        await self.messages.get(message_id)  # NotFound for an unknown message
        try:
            return public_status(await self.outbox.get(message_id))
        except NotFound:
            raise NotFound(f"message {message_id} was not queued for e-mail (no recipients, or e-mail off)") from None

    async def with_status(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Message rows with their delivery status under ``mail`` (None: not e-mailed)."""
        statuses = await self.outbox.statuses([str(r["id"]) for r in rows])
        return [{**r, "mail": statuses.get(str(r["id"]))} for r in rows]

    # ------------------------------------------------------------ the sender task

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        if not self.enabled:
            log.info("mail: e-mail is off (no mail.host configured)")
            return
        for message_id in await self.outbox.reset_interrupted():
            log.warning("mail: message %s was being sent when the daemon stopped; a duplicate is possible", message_id)
        self._task = asyncio.create_task(self._run(), name="mail-outbox")
        log.info("mail: outbox running, SMTP %s:%d (%s)", self.mail.host, self.mail.smtp_port, self.mail.security)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _pause(self, seconds: float) -> None:
        waiter = asyncio.ensure_future(self._wake.wait())
        sleeper = asyncio.ensure_future(self.clock.sleep(min(seconds, IDLE_CHECK)))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                row = await self.outbox.next_queued()
                if row is None:
                    await self._pause(IDLE_CHECK)
                    continue
                due = datetime.fromisoformat(row["next_attempt_at"])
                wait = (due - self.clock.now()).total_seconds()
                if wait > 0:
                    await self._pause(wait)
                    continue
                await self._deliver(row)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mail: outbox error; trying again in %.0f s", ERROR_PAUSE)
                await self.clock.sleep(ERROR_PAUSE)

    def facts(self, message: dict[str, Any]) -> MessageFacts:
        team = self.teams.get(message["team"]) if message.get("team") else None
        recorded = datetime.fromisoformat(message["created_at"])
        recorded = recorded.astimezone(self.zone) if self.zone else recorded.astimezone()
        link = f"{self.mail.viewer_url}/#/messages/{message['id']}" if self.mail.viewer_url else None
        return MessageFacts(
            message_id=message["id"],
            caller=message["caller"] or "",
            caller_name=message.get("caller_name"),
            called=message.get("called"),
            team=team.name if team else message.get("team"),
            recorded=recorded,
            duration_ms=int(message["duration_ms"]),
            link=link,
        )

    async def _deliver(self, row: dict[str, Any]) -> None:
        assert self.sender is not None  # _run only runs when enabled
        assert self.mail.sender is not None  # the config requires it with host
        message_id = str(row["message_id"])
        recipients: list[str] = json.loads(row["recipients"])
        attempt = int(row["attempts"]) + 1
        await self.outbox.mark_sending(message_id, self.clock.now())
        self._changed(message_id, "sending")
        log.info("mail: sending message %s to %s (attempt %d)", message_id, ", ".join(recipients), attempt)
        mp3_error: str | None = None
        try:
            message = await self.messages.get(message_id)
            wav = self.messages.file(message)
            settings = MailSettings(
                sender=self.mail.sender,
                sender_name=self.mail.sender_name,
                language=self.language,
                bitrate_kbps=self.mail.bitrate_kbps,
                max_attachment_bytes=self.mail.max_attachment_kb * 1000,
            )
            domain = self.mail.sender.rsplit("@", 1)[1]
            job = functools.partial(
                compose,
                self.facts(message),
                wav=wav,
                mp3=wav.with_suffix(".mp3"),
                settings=settings,
                recipients=recipients,
                message_id_header=f"<{message_id}.{row['round']}@{domain}>",
                date=self.clock.now(),
            )
            mail = await asyncio.get_running_loop().run_in_executor(None, job)
            mp3_error = mail.mp3_error
            refused = await self.sender.send(mail.data, self.mail.sender, recipients)
        except NotFound:
            await self.outbox.mark_failed(message_id, "the message no longer exists", None)
            self._changed(message_id, "failed")
            return
        except MailError as err:
            await self._attempt_failed(row, attempt, err, mp3_error)
            return
        except Exception as err:  # a bug must not stop the outbox; retry like a temporary failure
            log.exception("mail: unexpected error sending message %s", message_id)
            await self._attempt_failed(row, attempt, MailError(f"internal error: {err}", permanent=False), mp3_error)
            return
        await self.outbox.mark_sent(
            message_id, self.clock.now(), refused=refused, attached=mail.attached, mp3_error=mp3_error
        )
        self._changed(message_id, "sent")
        log.info("mail: message %s sent to %s", message_id, ", ".join(r for r in recipients if r not in refused))
        for address, answer in refused.items():
            log.warning("mail: message %s: recipient %s refused: %s", message_id, address, answer)

    async def _attempt_failed(self, row: dict[str, Any], attempt: int, err: MailError, mp3_error: str | None) -> None:
        message_id = str(row["message_id"])
        if err.permanent:
            log.error("mail: message %s failed permanently: %s", message_id, err.reason)
            await self.outbox.mark_failed(message_id, err.reason, mp3_error)
            self._changed(message_id, "failed")
            return
        now = self.clock.now()
        waited = now - datetime.fromisoformat(row["queued_at"])
        if waited > timedelta(hours=self.mail.give_up_hours):
            reason = f"gave up after {attempt} attempts in {self.mail.give_up_hours:g} h; last: {err.reason}"
            log.error("mail: message %s: %s", message_id, reason)
            await self.outbox.mark_failed(message_id, reason, mp3_error)
            self._changed(message_id, "failed")
            return
        delay = backoff(int(row["failures"]) + 1, self.mail.retry_first, self.mail.retry_max)
        log.warning("mail: message %s: %s; retry in %.0f s (attempt %d)", message_id, err.reason, delay, attempt)
        await self.outbox.mark_retry(message_id, now + timedelta(seconds=delay), err.reason, mp3_error)
        self._changed(message_id, "queued")

    def _changed(self, message_id: str, state: str) -> None:
        if self.on_change is not None:
            try:
                self.on_change(message_id, state)
            except Exception:  # a listener must not stop delivery
                log.exception("mail: a delivery-state listener failed")
