"""What agents expect from their desk phone, as on every PBX (issue 17).

**Feature codes.** An agent dials the service number (``desk_phone.number``), enters the PIN
an admin gave the agent on the web page and ``#``, then 1 to log in (with the number the
call comes from: the desk phone's extension, checked against the teams' allowed numbers
like a login on the web page), 2 to log out, 3 to pause, 4 to end the pause or the
wrap-up. A spoken confirmation says what happened. Three wrong PINs end the call and count
as a failed attempt of the source (the SIP guard bans a source that keeps trying).

**Message waiting.** A phone that subscribes to the message summary of its extension
(RFC 3842, ``lines/sip/subscriptions.py``) gets ``Messages-Waiting: yes`` while a team of
the agent working at that extension (logged in with it, or with it as default number) has
new messages, and ``no`` once they are taken or done.

PINs are kept hashed (PBKDF2) in the database, one per agent and different for each: the
PIN says who is calling.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from zentrale.calls.session import LineSession
from zentrale.config import DeskPhoneConfig
from zentrale.core.agents import AgentStateChanged
from zentrale.core.events import Event, EventBus, MessageDeleted, MessageStored, MessageUpdated
from zentrale.errors import CallGone, Conflict, NotFound, Refused, ZentraleError
from zentrale.lines.base import Call
from zentrale.lines.sip.subscriptions import Subscriptions, Summary
from zentrale.staffing import Staffing
from zentrale.store.messages import MessageRepository
from zentrale.store.state import StateRepository

log = logging.getLogger(__name__)

PIN_TRIES = 3
DIGIT_TIMEOUT = 8.0  # seconds for each digit
PINS_KEY = "desk_phone.pins"  # settings row: {agent id: "salt$hash"}
PIN_ROUNDS = 20_000  # PBKDF2-SHA256: a 4-digit PIN cannot be made strong, but it is not kept readable
# The service's own prompts (shipped, German, made by tools/make_demo_audio.py).
PROMPTS = ("desk_enter_pin", "desk_menu", "desk_logged_in", "desk_logged_out", "desk_paused", "desk_resumed",
           "desk_refused", "rec_wrong_pin", "invalid_choice", "goodbye")  # fmt: skip
ACTIONS = {
    "1": ("login", "desk_logged_in"),
    "2": ("logout", "desk_logged_out"),
    "3": ("pause", "desk_paused"),
    "4": ("resume", "desk_resumed"),
}


def _hash(pin: str, salt: str) -> str:
    return hashlib.pbkdf2_hmac("sha256", pin.encode(), bytes.fromhex(salt), PIN_ROUNDS).hex()


class AgentPins:
    """Each agent's PIN for the feature codes, hashed, in the settings table."""

    def __init__(self, state: StateRepository) -> None:
        self.state = state
        self._pins: dict[str, str] = {}

    async def load(self) -> None:
        text = await self.state.setting(PINS_KEY)
        self._pins = json.loads(text) if text else {}

    def has_pin(self, agent_id: str) -> bool:
        return agent_id in self._pins

    def agents_with_pin(self) -> list[str]:
        return sorted(self._pins)

    def agent_of(self, pin: str) -> str | None:
        for agent_id, stored in self._pins.items():
            salt, digest = stored.split("$", 1)
            if hmac.compare_digest(_hash(pin, salt), digest):
                return agent_id
        return None

    async def set(self, agent_id: str, pin: str) -> None:
        if not (pin.isdigit() and 4 <= len(pin) <= 12):
            raise Refused("a PIN has 4 to 12 digits")
        owner = self.agent_of(pin)
        if owner is not None and owner != agent_id:
            raise Conflict("another agent has this PIN")
        salt = secrets.token_hex(16)
        self._pins[agent_id] = f"{salt}${_hash(pin, salt)}"
        await self.state.set_setting(PINS_KEY, json.dumps(self._pins))

    async def remove(self, agent_id: str) -> None:
        if self._pins.pop(agent_id, None) is None:
            raise NotFound(f"agent {agent_id} has no PIN")
        await self.state.set_setting(PINS_KEY, json.dumps(self._pins))


class FeatureCodes:
    """The service number's call: PIN, then log in, log out, pause or end the pause."""

    def __init__(
        self,
        config: DeskPhoneConfig,
        pins: AgentPins,
        staffing: Staffing,
        audit: Callable[[str, str], Awaitable[None]],
        failed: Callable[[Call, str], None],
    ) -> None:
        self.config = config
        self.pins = pins
        self.staffing = staffing
        self.audit = audit  # (action, detail)
        self.failed = failed  # three wrong PINs: one failed attempt of the caller's source

    def matches(self, call: Call) -> bool:
        return call.direction == "in" and call.called == self.config.number

    async def run(self, session: LineSession) -> str:
        """The whole service call; returns the call-log outcome."""
        try:
            agent_id = await self._pin(session)
            if agent_id is None:
                await session.play("goodbye")
                return "refused"
            choice = await session.collect_digits("desk_menu", max_len=1, timeout=DIGIT_TIMEOUT)
            if choice not in ACTIONS:
                await session.play("invalid_choice")
                await session.play("goodbye")
                return "hangup"
            action, confirmation = ACTIONS[choice]
            try:
                await self._do(action, agent_id, session.caller)
            except ZentraleError as err:
                log.info("call %s: desk phone %s of %s refused: %s", session.call_id, action, agent_id, err)
                await self.audit("agent.desk_phone_refused", f"{agent_id} {action} from {session.caller}: {err}")
                await session.play("desk_refused")
                await session.play("goodbye")
                return "refused"
            log.info("call %s: agent %s %s by desk phone (%s)", session.call_id, agent_id, action, session.caller)
            await self.audit(f"agent.desk_phone_{action}", f"{agent_id} from {session.caller}")
            await session.play(confirmation)
            await session.play("goodbye")
            return f"agent_{action}"
        except CallGone:
            return "hangup"

    async def _do(self, action: str, agent_id: str, number: str) -> dict[str, Any]:
        if action == "login":  # with the desk phone's own number, to all of the agent's teams
            return await self.staffing.login(agent_id, number, None)
        if action == "logout":
            return await self.staffing.logout(agent_id)
        return await self.staffing.pause(agent_id, action == "pause")

    async def _pin(self, session: LineSession) -> str | None:
        for attempt in range(1, PIN_TRIES + 1):
            entered = await session.collect_digits("desk_enter_pin", max_len=16, timeout=DIGIT_TIMEOUT)
            agent_id = self.pins.agent_of(entered) if entered else None
            if agent_id is not None:
                return agent_id
            log.warning("call %s: wrong agent PIN from %s (try %d)", session.call_id, session.caller, attempt)
            await session.play("rec_wrong_pin")
        self.failed(session.call, "wrong agent PIN at the desk phone service")
        await self.audit("agent.desk_phone_refused", f"{session.caller}: {PIN_TRIES} wrong PINs")
        return None


class ServiceNumbers:
    """Several services on numbers of their own (recording prompts, the feature codes): the
    call goes to the first that takes its number."""

    def __init__(self, *services: Any) -> None:
        self.services = [s for s in services if s is not None]
        self._chosen: dict[str, Any] = {}

    def matches(self, call: Call) -> bool:
        service = next((s for s in self.services if s.matches(call)), None)
        if service is not None:
            self._chosen[call.call_id] = service
        return service is not None

    async def run(self, session: LineSession) -> str:
        service = self._chosen.pop(session.call_id)
        outcome: str = await service.run(session)
        return outcome


class MessageWaiting:
    """The message summary of an extension for its phone's lamp: new messages of the teams of
    the agents working at that number (logged in with it, or with it as default number)."""

    def __init__(
        self, *, events: EventBus, messages: MessageRepository, staffing: Staffing, subscriptions: Subscriptions
    ) -> None:
        self.messages = messages
        self.staffing = staffing
        self.subscriptions = subscriptions
        self._tasks: set[asyncio.Task[None]] = set()
        self.new: dict[str | None, int] = {}  # team -> new messages
        self.old: dict[str | None, int] = {}  # team -> taken, not done
        subscriptions.summary_of = self.summary
        self._unsubscribe = events.subscribe(self._event)
        self._pending = False  # a reload is on its way (one for a burst of changes)

    async def load(self) -> None:
        rows = await self.messages.list(None, 10_000)
        self.new, self.old = {}, {}
        for row in rows:
            if row["status"] == "new":
                self.new[row["team"]] = self.new.get(row["team"], 0) + 1
            elif row["status"] == "in_progress":
                self.old[row["team"]] = self.old.get(row["team"], 0) + 1
        self.subscriptions.changed()

    def _event(self, event: Event) -> None:
        if isinstance(event, (MessageStored, MessageUpdated, MessageDeleted)):
            if not self._pending:
                self._pending = True
                task = asyncio.ensure_future(self._reload())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
        elif isinstance(event, AgentStateChanged):
            self.subscriptions.changed()

    async def _reload(self) -> None:
        self._pending = False
        try:
            await self.load()
        except ZentraleError as err:  # the database is unwell: the lamps stay as they are
            log.warning("message waiting: cannot count the messages: %s", err)

    def summary(self, account: str) -> Summary | None:
        agents = [a for a in self.staffing.agents() if account in (a.get("number"), a.get("default_number"))]
        if not agents:
            return None  # nobody works at this number: 404 to a new subscription
        teams = {t for a in agents for t in a["teams"]}
        new = sum(self.new.get(t, 0) for t in teams)
        old = sum(self.old.get(t, 0) for t in teams)
        return Summary(waiting=new > 0, new=new, old=old)

    def close(self) -> None:
        self._unsubscribe()
        for task in self._tasks:
            task.cancel()
