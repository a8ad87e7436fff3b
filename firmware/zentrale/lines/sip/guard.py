"""Per-source rate limits, failure counting and temporary bans (the box's own
Kamailio ``pike`` + fail2ban).

``admit(host)`` runs for every packet *before* it is parsed: a banned source
costs one dict lookup, a flooding one a token-bucket update and then a ban.
Failures (refused requests, unknown numbers, bad authentication, malformed
messages) are reported by the user agent through ``failed``; too many in the
window ban the source, each further ban of the same source longer.

All state is bounded: sources are kept in an LRU of ``max_sources``; bans and
the escalation history are bounded the same way. Trusted sources (the PBX or
trunk) are never limited or banned.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from zentrale.config import SecurityConfig

log = logging.getLogger(__name__)


@dataclass
class Ban:
    host: str
    reason: str
    since: float
    until: float
    strike: int
    admitted: int = 0  # packets let through from the source before the ban
    first_seen: float = 0.0
    dropped: int = 0  # packets dropped while banned

    def info(self, now: float) -> dict[str, Any]:
        return {
            "address": self.host,
            "reason": self.reason,
            "strike": self.strike,
            "seconds_left": round(max(0.0, self.until - now), 1),
            "banned_for": round(self.until - self.since, 1),
            "admitted_before_ban": self.admitted,
            "seconds_from_first_packet_to_ban": round(self.since - self.first_seen, 3),
            "dropped_packets": self.dropped,
        }


@dataclass
class _Source:
    tokens: float
    last: float
    trusted: bool
    first: float
    seen: int = 0
    failures: deque[float] = field(default_factory=deque)


class SourceGuard:
    def __init__(
        self,
        config: SecurityConfig,
        now: Callable[[], float] = time.monotonic,
        on_ban: Callable[[Ban], None] | None = None,
    ) -> None:
        self.config = config
        self.now = now
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.trusted]
        self._trusted_hosts: set[str] = set()
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._bans: dict[str, Ban] = {}
        self._strikes: OrderedDict[str, tuple[int, float]] = OrderedDict()  # host -> (bans so far, last ban end)
        self.dropped = 0  # packets dropped by bans and rate limits
        self.bans_total = 0
        self.on_ban = on_ban  # e.g. the audit log
        self.on_change: Callable[[], None] | None = None  # a ban began or was lifted (to keep them over a restart)

    # --- trust -----------------------------------------------------------------------

    def trust(self, host: str) -> None:
        """The registrar, outbound proxy: never limited, never banned."""
        self._trusted_hosts.add(host)
        self._bans.pop(host, None)
        state = self._sources.get(host)
        if state is not None:
            state.trusted = True

    def is_trusted(self, host: str) -> bool:
        if host in self._trusted_hosts:
            return True
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in net for net in self._networks)

    # --- the per-packet check ------------------------------------------------------------

    def admit(self, host: str) -> bool:
        """May a packet from ``host`` be looked at? False: drop it unread."""
        ban = self._bans.get(host)
        now = self.now()
        if ban is not None:
            if now < ban.until:
                ban.dropped += 1
                self.dropped += 1
                return False
            del self._bans[host]
            log.info("sip: ban of %s ended", host)
        state = self._sources.get(host)
        if state is None:
            state = self._remember(host, now)
        else:
            self._sources.move_to_end(host)
        if state.trusted:
            return True
        state.seen += 1
        cfg = self.config
        state.tokens = min(float(cfg.burst), state.tokens + (now - state.last) * cfg.requests_per_second)
        state.last = now
        if state.tokens < 1.0:
            self.dropped += 1
            state.seen -= 1  # this one is not let through
            self.ban(host, f"flood: more than {cfg.burst} messages at once or {cfg.requests_per_second:g}/s")
            return False
        state.tokens -= 1.0
        return True

    def _remember(self, host: str, now: float) -> _Source:
        state = _Source(tokens=float(self.config.burst), last=now, trusted=self.is_trusted(host), first=now)
        self._sources[host] = state
        if len(self._sources) > self.config.max_sources:
            self._sources.popitem(last=False)  # forget the source seen least recently
        return state

    # --- failures and bans ----------------------------------------------------------------

    def failed(self, host: str, reason: str) -> None:
        """A failed attempt from ``host``; enough of them in the window ban it."""
        state = self._sources.get(host)
        now = self.now()
        if state is None:
            state = self._remember(host, now)
        if state.trusted:
            return
        window = self.config.failure_window
        failures = state.failures
        failures.append(now)
        while failures and failures[0] <= now - window:
            failures.popleft()
        if len(failures) >= self.config.max_failures:
            failures.clear()
            self.ban(host, f"{self.config.max_failures} failed attempts in {window:g} s, the last: {reason}")

    def ban(self, host: str, reason: str, seconds: float | None = None) -> Ban | None:
        if self.is_trusted(host):
            return None
        now = self.now()
        cfg = self.config
        strikes, last_end = self._strikes.pop(host, (0, 0.0))
        if now - last_end > cfg.max_ban_seconds:
            strikes = 0  # well behaved for a long time: start over
        duration = seconds or min(cfg.max_ban_seconds, cfg.ban_seconds * cfg.ban_escalation**strikes)
        source = self._sources.get(host)
        ban = Ban(host, reason, now, now + duration, strikes + 1)
        if source is not None:
            ban.admitted, ban.first_seen = source.seen, source.first
        else:
            ban.first_seen = now
        self._bans[host] = ban
        self._strikes[host] = (strikes + 1, ban.until)
        while len(self._strikes) > cfg.max_sources:
            self._strikes.popitem(last=False)
        if len(self._bans) > cfg.max_sources:
            self._expire(now)
            if len(self._bans) > cfg.max_sources:  # still full: drop the ban ending soonest
                del self._bans[min(self._bans.values(), key=lambda b: b.until).host]
        self._sources.pop(host, None)
        self.bans_total += 1
        log.warning("sip: banned %s for %.0f s (ban %d): %s", host, duration, ban.strike, reason)
        if self.on_ban is not None:
            self.on_ban(ban)
        if self.on_change is not None:
            self.on_change()
        return ban

    def lift(self, host: str) -> bool:
        """An admin lifts a ban; the source starts with a clean slate (but its history stays)."""
        ban = self._bans.pop(host, None)
        self._sources.pop(host, None)
        if ban is not None:
            log.warning("sip: ban of %s lifted by an admin", host)
            if self.on_change is not None:
                self.on_change()
        return ban is not None

    # --- over a restart ----------------------------------------------------------------------

    def snapshot(self, wall_now: float) -> list[dict[str, Any]]:
        """The bans in force, with their ends as wall-clock times (the monotonic clock restarts)."""
        now = self.now()
        self._expire(now)
        return [
            {"host": b.host, "reason": b.reason, "strike": b.strike, "until": wall_now + (b.until - now),
             "length": b.until - b.since}
            for b in self._bans.values()
        ]  # fmt: skip

    def restore(self, bans: list[dict[str, Any]], wall_now: float) -> int:
        """Bans kept from before a restart that have not ended yet; their strikes count on."""
        now = self.now()
        restored = 0
        for item in bans[: self.config.max_sources]:
            host, left = str(item["host"]), float(item["until"]) - wall_now
            if left <= 0 or self.is_trusted(host):
                continue
            ban = Ban(host, str(item["reason"]), now - max(0.0, float(item["length"]) - left), now + left,
                      int(item["strike"]), first_seen=now)  # fmt: skip
            self._bans[host] = ban
            self._strikes[host] = (ban.strike, ban.until)
            restored += 1
        return restored

    def _expire(self, now: float) -> None:
        for host in [h for h, b in self._bans.items() if b.until <= now]:
            del self._bans[host]

    def banned(self, host: str) -> bool:
        ban = self._bans.get(host)
        return ban is not None and self.now() < ban.until

    def bans(self) -> list[dict[str, Any]]:
        now = self.now()
        self._expire(now)
        return [b.info(now) for b in sorted(self._bans.values(), key=lambda b: b.since)]

    def status(self) -> dict[str, Any]:
        return {
            "bans": self.bans(),
            "bans_total": self.bans_total,
            "dropped_packets": self.dropped,
            "sources": len(self._sources),
        }
