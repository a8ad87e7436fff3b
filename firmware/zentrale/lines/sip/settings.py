"""What the SIP line keeps in the database: the PBX registration set in the web page
(over the config file's), and the temporary bans (so a restart does not forgive a scanner).

What an admin saves is validated like the config file (``Registration``),
stored as JSON under ``SETTINGS_KEY`` (``{"off": true}`` for "no
registration") and put in force at once: the box unregisters from the old
PBX and registers with the new one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from zentrale.config import Registration, validated
from zentrale.errors import Invalid

if TYPE_CHECKING:
    from zentrale.lines.sip.guard import SourceGuard
    from zentrale.lines.sip.ua import SipUserAgent


class SettingsStore(Protocol):
    """The key/value settings of the store (``store.state.StateRepository``)."""

    async def setting(self, key: str) -> str | None: ...

    async def set_setting(self, key: str, value: str) -> None: ...


log = logging.getLogger(__name__)

SETTINGS_KEY = "sip.registration"
BANS_KEY = "sip.bans"
BAN_SAVE_DELAY = 2.0  # seconds: a flood banning many sources is written once, not per ban
FIELDS = ("registrar", "user", "password", "auth_user", "domain", "expires", "transport", "outbound_proxy", "transfer")


def registration_from(fields: dict[str, Any]) -> Registration | None:
    """``Registration`` from stored or submitted fields (None: off); ``Invalid`` names the field."""
    if fields.get("off") or not fields.get("registrar"):
        return None
    return validated(Registration, {k: v for k, v in fields.items() if k in FIELDS}, "registration")


class RegistrationSettings:
    def __init__(self, ua: SipUserAgent, state: SettingsStore) -> None:
        self.ua = ua
        self.state = state
        self.source = "config"  # where the registration in force comes from: config | web

    async def load(self) -> None:
        """Before the SIP line starts: the web page's registration wins over the config file's."""
        stored = await self.state.setting(SETTINGS_KEY)
        if stored is None:
            return
        try:
            self.ua.registration = registration_from(json.loads(stored))
            self.source = "web"
        except (Invalid, ValueError) as err:
            log.error("sip: the registration saved in the web page is not valid any more (%s); "
                      "using the config file's", err)  # fmt: skip

    def current(self) -> dict[str, Any]:
        reg = self.ua.registration
        fields = {k: (getattr(reg, k) if reg else None) for k in FIELDS if k != "password"}
        return {
            **fields,
            "enabled": reg is not None,
            "password_set": bool(reg and reg.password),
            "source": self.source,
            "status": self.ua.registrar.status() if self.ua.registrar else None,
        }

    async def change(self, fields: dict[str, Any]) -> Registration | None:
        """Validate, keep and put in force; the password in force stays when none is given."""
        old = self.ua.registration
        if fields.get("password") is None:
            fields = {**fields, "password": old.password if old else ""}
        registration = registration_from(fields)
        stored = {k: fields.get(k) for k in FIELDS} if registration else {"off": True}
        await self.state.set_setting(SETTINGS_KEY, json.dumps(stored))
        self.source = "web"
        await self.ua.set_registration(registration)
        return registration


class BanKeeper:
    """Keeps the guard's bans in the database: written shortly after a change, read at start."""

    def __init__(self, guard: SourceGuard, state: SettingsStore, wall: Callable[[], float]) -> None:
        self.guard = guard
        self.state = state
        self.wall = wall  # seconds since the epoch: bans end at wall-clock times over a restart
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        guard.on_change = self._dirty.set

    async def load(self) -> None:
        stored = await self.state.setting(BANS_KEY)
        if not stored:
            return
        try:
            restored = self.guard.restore(json.loads(stored), self.wall())
        except (ValueError, KeyError, TypeError) as err:
            log.error("sip: the kept bans are unreadable (%s); starting without them", err)
            return
        if restored:
            log.warning("sip: %d ban(s) from before the restart still in force", restored)

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(BAN_SAVE_DELAY)
            self._dirty.clear()
            await self.save()

    async def save(self) -> None:
        try:
            await self.state.set_setting(BANS_KEY, json.dumps(self.guard.snapshot(self.wall())))
        except Exception as err:  # a full disk must not stop the SIP line; the bans stay in memory
            log.warning("sip: could not keep the bans (%s); they stay in force until a restart", err)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.save()
