"""Who may talk to the SIP line, and how much of the box each source may hold.

Split out of the user agent so that one place decides, for every bounded
table of the line (live transactions, calls, TCP connections), whether a
source may take one more slot:

- every table has a capacity, and a *share* per source: an untrusted source
  (a phone on the LAN, an authenticated trunk) holds at most its share; a
  trusted source (the PBX or trunk, ``security.trusted`` and the registrar)
  may use the whole table, less a reserve kept for everybody else;
- a refusal for a full table or an exhausted share is the box's own limit:
  it is answered (503 with Retry-After) but never counted as a failure of
  the source, so a legitimate peer is not banned because somebody else
  filled a table (issue 13, fault 6).

Failures that are the source's own doing (refused, unknown number, bad
credentials, malformed, idle TCP connections that never said anything) are
counted by the ``SourceGuard``, which bans.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from zentrale.config import SipConfig, SipLimits
from zentrale.lines.sip.digest import DigestServer
from zentrale.lines.sip.guard import SourceGuard
from zentrale.lines.sip.message import SipRequest

log = logging.getLogger(__name__)

Refusal = Literal["full", "share"]


@dataclass
class Share:
    """One bounded table shared by sources."""

    name: str
    capacity: int
    per_source: int  # what one untrusted source may hold
    reserve: int  # slots a trusted source leaves for the others
    trusted: Callable[[str], bool]

    def __post_init__(self) -> None:
        self.held: dict[str, int] = {}
        self.total = 0
        self.refused = {"full": 0, "share": 0}

    def acquire(self, source: str) -> Refusal | None:
        """Take one slot for ``source``; None when granted, else why not."""
        held = self.held.get(source, 0)
        if self.trusted(source):
            limit = self.capacity - self.reserve
            if self.total >= self.capacity or held >= limit:
                return self._refuse("full")
        else:
            if self.total >= self.capacity:
                return self._refuse("full")
            if held >= self.per_source:
                return self._refuse("share")
        self.held[source] = held + 1
        self.total += 1
        return None

    def _refuse(self, why: Refusal) -> Refusal:
        self.refused[why] += 1
        return why

    def release(self, source: str) -> None:
        held = self.held.get(source, 0)
        if held <= 0:
            return
        self.total -= 1
        if held == 1:
            del self.held[source]
        else:
            self.held[source] = held - 1

    def count(self, source: str) -> int:
        return self.held.get(source, 0)

    def status(self) -> dict[str, object]:
        return {
            "in_use": self.total,
            "capacity": self.capacity,
            "per_source": self.per_source,
            "sources": len(self.held),
            "refused_full": self.refused["full"],
            "refused_share": self.refused["share"],
        }


class Admission:
    """Allowed networks, digest authentication of trunks, and the shares of every table."""

    def __init__(self, config: SipConfig, guard: SourceGuard, now: Callable[[], float]) -> None:
        self.guard = guard
        self.now = now
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allowed_peers]
        auth = config.inbound_auth
        self.digest = DigestServer(auth.user, auth.password, auth.realm) if auth else None
        self._authenticated: OrderedDict[str, float] = OrderedDict()  # source -> when it last authenticated
        limits: SipLimits = config.limits
        trusted = guard.is_trusted
        self.transactions = Share(
            "transactions", limits.transactions, limits.transactions_per_source, limits.transactions // 8, trusted
        )
        self.calls = Share(
            "calls", limits.calls, config.security.max_calls_per_source, max(1, limits.calls // 8), trusted
        )
        self.connections = Share(
            "tcp_connections", limits.tcp_connections, limits.tcp_connections_per_source,
            max(1, limits.tcp_connections // 8), trusted,
        )  # fmt: skip
        self.tcp_idle_seconds = limits.tcp_idle_seconds
        self.tcp_idle_seconds_untrusted = limits.tcp_idle_seconds_untrusted

    # --- who may talk --------------------------------------------------------------------

    def allowed(self, host: str) -> bool:
        """May ``host`` call and send requests (allowed networks, or trusted)?"""
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return self.guard.is_trusted(host) or any(ip in net for net in self._networks)

    def trusted(self, host: str) -> bool:
        return self.guard.is_trusted(host)

    def recently_authenticated(self, host: str) -> bool:
        return self.now() - self._authenticated.get(host, -1e9) < 3600

    def authenticate(self, request: SipRequest, host: str) -> Literal["ok", "challenge", "bad"]:
        """Digest authentication of an INVITE from outside the allowed networks (RFC 3261 §22.4).
        Counts the failures that are the source's doing."""
        if self.digest is None:
            return "bad"
        verdict = self.digest.check(request.get("Authorization"), "INVITE", host)
        if verdict == "ok":
            self._authenticated[host] = self.now()
            self._authenticated.move_to_end(host)
            while len(self._authenticated) > 256:
                self._authenticated.popitem(last=False)
            return "ok"
        if verdict == "bad":
            log.warning("sip: bad authentication of INVITE from %s", host)
            self.guard.failed(host, "bad authentication")
            return "bad"
        if not self.recently_authenticated(host):  # a trunk that authenticated lately is challenged for free
            self.guard.failed(host, "INVITE without credentials from a source that is not allowed")
        return "challenge"

    def challenge(self, host: str) -> tuple[str, str]:
        assert self.digest is not None
        return self.digest.challenge(host)

    # --- TCP ---------------------------------------------------------------------------------

    def idle_timeout(self, host: str) -> float:
        """How long a TCP connection without a call on it may stay silent."""
        if self.guard.is_trusted(host) or self.recently_authenticated(host):
            return self.tcp_idle_seconds
        return self.tcp_idle_seconds_untrusted

    def status(self) -> dict[str, object]:
        return {s.name: s.status() for s in (self.transactions, self.calls, self.connections)}
