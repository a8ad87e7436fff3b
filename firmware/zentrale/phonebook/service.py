"""The phonebook service: caller names by number, from the sources the office has.

Looking up a name is one dictionary look-up in memory (no database, no network on the
call path): the entries of every source are loaded from the SQLite cache at the start
and replaced whenever a source was read completely. The FRITZ!Box and the CardDAV
server are read every ``refresh_minutes`` in a worker thread; a source that fails keeps
its cached entries, shows why in the status, and is logged once per new reason (not
every refresh). A CSV file is uploaded in the web page and replaces the previous one.

When one number is in several sources, the CSV upload wins over CardDAV and CardDAV over
the FRITZ!Box: the file is what an admin put there on purpose, the FRITZ!Box phonebook is
often filled from call lists on the fly.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from zentrale.config import CardDavConfig, FritzboxPhonebookConfig, PhonebookConfig
from zentrale.core.clock import Clock
from zentrale.core.numbers import lookup_key
from zentrale.lines.base import Call
from zentrale.phonebook.csvfile import parse_csv
from zentrale.phonebook.sources import Listing, SourceFailed
from zentrale.store.phonebook import CachedEntry, PhonebookRepository

log = logging.getLogger(__name__)

PRECEDENCE = ("csv", "carddav", "fritzbox")  # the first source naming a number wins
C = TypeVar("C", bound=Call)


@dataclass
class SourceState:
    source: str
    configured: bool
    entries: int = 0
    refreshed_at: str | None = None  # when its entries were last stored
    origin: str = ""  # the file name or the address read
    checked_at: str | None = None  # the last attempt, successful or not
    error: str | None = None  # why the last attempt failed (the cached entries are kept)

    def public(self) -> dict[str, Any]:
        return {
            "source": self.source, "configured": self.configured, "entries": self.entries,
            "refreshed_at": self.refreshed_at, "origin": self.origin, "checked_at": self.checked_at,
            "error": self.error, "ok": self.error is None,
        }  # fmt: skip


class Phonebook:
    def __init__(
        self,
        config: PhonebookConfig,
        repo: PhonebookRepository,
        clock: Clock,
        readers: dict[str, Callable[[], Sequence[Listing]]] | None = None,
    ) -> None:
        self.config = config
        self.repo = repo
        self.clock = clock
        self.states = {s: SourceState(s, configured=s == "csv") for s in PRECEDENCE}
        self._fixed_readers = readers is not None  # tests give their own
        self.readers: dict[str, Callable[[], Sequence[Listing]]] = readers or {}
        self.fritzbox: FritzboxPhonebookConfig | None = None
        self.carddav: CardDavConfig | None = None
        self.settings_from = "config"  # or "web": saved in Verwaltung -> Telefonbuch
        self._apply(config.fritzbox, config.carddav)
        self._by_source: dict[str, dict[str, str]] = {s: {} for s in PRECEDENCE}
        self._names: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def _apply(self, fritzbox: FritzboxPhonebookConfig | None, carddav: CardDavConfig | None) -> None:
        """Put these sources in force: who is read, and what the status names them by."""
        self.fritzbox, self.carddav = fritzbox, carddav
        if not self._fixed_readers:
            readers: dict[str, Callable[[], Sequence[Listing]]] = {}
            if fritzbox is not None:
                readers["fritzbox"] = lambda: _read_fritzbox(fritzbox)
            if carddav is not None:
                readers["carddav"] = lambda: _read_carddav(carddav)
            self.readers = readers
        origins = {"fritzbox": fritzbox.address if fritzbox else "", "carddav": carddav.url if carddav else ""}
        for source in ("fritzbox", "carddav"):
            state = self.states[source]
            state.configured, state.origin = source in self.readers, origins[source]
            if not state.configured:
                state.error = None

    def settings(self) -> dict[str, Any]:
        """The sources in force, without their passwords (for the page's form)."""

        def shown(section: FritzboxPhonebookConfig | CardDavConfig | None) -> dict[str, Any] | None:
            if section is None:
                return None
            return section.model_dump(mode="json", exclude={"password"}) | {"password_set": bool(section.password)}

        return {"from": self.settings_from, "fritzbox": shown(self.fritzbox), "carddav": shown(self.carddav)}

    async def _load_settings(self) -> None:
        """At start: sources saved in the web page win over the config file's; saved settings
        that no longer validate are ignored (logged) and the config file's stay in force."""
        stored = await self.repo.saved_settings()
        if stored is None:
            return
        try:
            data = json.loads(stored)
            fritzbox = FritzboxPhonebookConfig.model_validate(data["fritzbox"]) if data.get("fritzbox") else None
            carddav = CardDavConfig.model_validate(data["carddav"]) if data.get("carddav") else None
        except (ValueError, KeyError, TypeError) as err:
            log.error("phonebook: the sources saved in the web page are not valid any more (%s); using the "
                      "config file's", " ".join(str(err).split())[:200])  # fmt: skip
            return
        self._apply(fritzbox, carddav)
        self.settings_from = "web"

    async def save_settings(
        self, fritzbox: FritzboxPhonebookConfig | None, carddav: CardDavConfig | None
    ) -> dict[str, Any]:
        """Put the sources set in the web page in force, keep them over restarts, and read them
        now. An empty password keeps the one in force for the same address and user."""
        if fritzbox and not fritzbox.password and self.fritzbox and (fritzbox.address, fritzbox.user) == (
            self.fritzbox.address, self.fritzbox.user,
        ):  # fmt: skip
            fritzbox = fritzbox.model_copy(update={"password": self.fritzbox.password})
        if carddav and not carddav.password and self.carddav and (carddav.url, carddav.user) == (
            self.carddav.url, self.carddav.user,
        ):  # fmt: skip
            carddav = carddav.model_copy(update={"password": self.carddav.password})
        stored = {"fritzbox": fritzbox.model_dump(mode="json") if fritzbox else None,
                  "carddav": carddav.model_dump(mode="json") if carddav else None}  # fmt: skip
        async with self._lock:
            await self.repo.save_settings(json.dumps(stored))
            self._apply(fritzbox, carddav)
            self.settings_from = "web"
            await self._drop_unconfigured()
        self.start()
        return await self.refresh()

    async def _drop_unconfigured(self) -> None:
        """A source no longer read loses its cached names (they would never be refreshed)."""
        dropped = False
        for source in ("fritzbox", "carddav"):
            if source not in self.readers and self._by_source.get(source):
                await self.repo.remove(source)
                self._by_source[source] = {}
                self.states[source].refreshed_at = None
                dropped = True
                log.info("phonebook: %s is no longer configured; its cached names are deleted", source)
        if dropped:
            await self._rebuild()

    def key(self, number: str) -> str:
        return lookup_key(number, self.config.country_code, self.config.area_code)

    def lookup(self, number: str) -> str | None:
        """The name for a caller's number, or None (fast: one dictionary look-up)."""
        return self._names.get(self.key(number))

    def name_call(self, call: C) -> C:
        """Give an incoming call the phonebook's name for its number.

        The phonebook wins over the SIP display name: the office wrote the phonebook, while
        the display name is whatever the caller's phone or carrier put in From (often just
        the number again, or a PBX's trunk name); without an entry the display name stays.
        """
        name = self.lookup(call.caller)
        if name:
            call.caller_name = name
        return call

    def naming(self, incoming: Callable[[C], None]) -> Callable[[C], None]:
        """``incoming`` wrapped so every call is named first (wired in ``app.py``)."""
        return lambda call: incoming(self.name_call(call))

    async def load(self) -> None:
        """The cached entries, from the database (at the start)."""
        await self._load_settings()
        by_source = await self.repo.names_by_source()  # built on the database thread, not the loop
        self._by_source = {s: by_source.get(s, {}) for s in PRECEDENCE}
        for source, info in (await self.repo.sources()).items():
            state = self.states.get(source)
            if state is not None:
                state.refreshed_at = info["refreshed_at"]
                state.origin = info["origin"] or state.origin
        await self._rebuild()
        await self._drop_unconfigured()  # taken out of the configuration since the last start

    async def _rebuild(self) -> None:
        """The merged look-up table, made in a worker thread (100,000 entries take tens of
        milliseconds: not on the loop that runs the media clock) and swapped in at once."""
        by_source = dict(self._by_source)

        def merged() -> dict[str, str]:
            names: dict[str, str] = {}
            for source in reversed(PRECEDENCE):
                names.update(by_source.get(source, {}))
            return names

        self._names = await asyncio.to_thread(merged)
        for source, state in self.states.items():
            state.entries = len(by_source.get(source, {}))

    def _cached(self, source: str, listings: Sequence[Listing]) -> tuple[list[CachedEntry], dict[str, str]]:
        entries: dict[str, CachedEntry] = {}
        for number, name in listings:
            key = self.key(number)
            if key and key not in entries:  # the first entry for a number wins within a source
                entries[key] = (source, key, number, name)
        return list(entries.values()), {key: e[3] for key, e in entries.items()}

    async def _store(self, source: str, listings: Sequence[Listing], origin: str) -> int:
        entries, names = await asyncio.to_thread(self._cached, source, listings)
        now = self.clock.now()
        await self.repo.replace(source, entries, now, origin)
        self._by_source[source] = names
        state = self.states[source]
        state.refreshed_at, state.origin = now.isoformat(), origin
        await self._rebuild()
        return len(entries)

    async def refresh(self) -> dict[str, Any]:
        """Read every configured source now (side by side); a failing one keeps its entries.
        Returns the status. The reading holds no lock: a FRITZ!Box that takes its whole timeout
        holds up neither a CSV upload nor the page's settings."""
        await asyncio.gather(*(self._refresh_one(source, reader) for source, reader in list(self.readers.items())))
        return self.status()

    async def _refresh_one(self, source: str, reader: Callable[[], Sequence[Listing]]) -> None:
        state = self.states[source]
        started = self.clock.monotonic()
        try:
            listings = await asyncio.to_thread(reader)
            async with self._lock:
                if self.readers.get(source) is not reader:
                    return  # the source was changed or taken out while it was read: this reading is stale
                count = await self._store(source, listings, state.origin)
        except SourceFailed as err:
            self._failed(state, str(err))
        except Exception as err:  # an unexpected answer must not stop the refreshes; say what, no traceback
            self._failed(state, f"reading the {source} phonebook failed: {type(err).__name__}: {err}")
        else:
            if state.error is not None:
                log.info("phonebook: %s readable again", source)
            state.error = None
            log.info("phonebook: %d numbers from %s in %.1f s", count, source, self.clock.monotonic() - started)
        state.checked_at = self.clock.now().isoformat()

    def _failed(self, state: SourceState, reason: str) -> None:
        if reason != state.error:  # once per new reason, not every refresh
            log.warning("phonebook: %s; keeping the %d cached numbers", reason, state.entries)
        state.error = reason

    async def upload_csv(self, data: bytes, filename: str) -> dict[str, Any]:
        """Replace the CSV source with an uploaded file; a broken file changes nothing."""
        limit = self.config.max_csv_kb * 1000
        listings = await asyncio.to_thread(parse_csv, data, limit)
        async with self._lock:
            await self._store("csv", listings, filename)
            self.states["csv"].checked_at = self.clock.now().isoformat()
        return self.status()

    async def remove_csv(self) -> dict[str, Any]:
        async with self._lock:
            await self.repo.remove("csv")
            self._by_source["csv"] = {}
            state = self.states["csv"]
            state.refreshed_at, state.origin = None, ""
            await self._rebuild()
        return self.status()

    def summary(self) -> str:
        """One line for the box's status (``GET /status``): the numbers known and each failing source.
        Never more than "ok": without names calls go on, with the SIP display name."""
        failing = [f"{s.source}: {s.error}" for s in self.states.values() if s.configured and s.error]
        return "; ".join([f"{len(self._names)} numbers with names", *failing])

    def status(self) -> dict[str, Any]:
        return {
            "numbers": len(self._names),
            "refresh_minutes": self.config.refresh_minutes,
            "country_code": self.config.country_code,
            "area_code": self.config.area_code,
            "max_csv_kb": self.config.max_csv_kb,
            "sources": [state.public() for state in self.states.values()],
        }

    def start(self) -> None:
        if self.readers and self._task is None:
            self._task = asyncio.ensure_future(self._refresh_forever())

    async def _refresh_forever(self) -> None:
        while True:
            await self.refresh()
            await self.clock.sleep(self.config.refresh_minutes * 60)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None


# The sources' clients (fritzconnection on requests, httpx) are imported by the worker thread
# that reads them, the first time: most boxes have neither, and importing them took ~100 ms at
# every start natively (seconds on an emulated appliance), on the event loop.
def _read_fritzbox(config: FritzboxPhonebookConfig) -> Sequence[Listing]:
    from zentrale.phonebook.fritzbox import read_fritzbox

    return read_fritzbox(config)


def _read_carddav(config: CardDavConfig) -> Sequence[Listing]:
    from zentrale.phonebook.carddav import read_carddav

    return read_carddav(config)
