"""Session timers (RFC 4028): negotiation as pure functions.

A session timer makes sure a call whose far end vanished ends: one side,
the *refresher*, repeats a re-INVITE or UPDATE every half interval; the
other side ends the call when no refresh came in time (§10). The box
accepts session timers as UAS (answering a caller or the PBX) and asks for
them as UAC (calling an agent), both with ``sip.session_timers``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from zentrale.lines.sip.message import SipMessage, SipParseError, number, parse_params

Refresher = Literal["uac", "uas"]


@dataclass(frozen=True)
class SessionTimer:
    interval: int  # Session-Expires, seconds
    refresher: Refresher
    we_refresh: bool

    def header(self, *, we_are_uac: bool) -> str:
        """Session-Expires in a message of a transaction where the box is UAC or UAS:
        ``refresher`` names a role of *that* transaction (§4)."""
        refresher = "uac" if self.we_refresh == we_are_uac else "uas"
        return f"{self.interval};refresher={refresher}"

    @property
    def refresh_after(self) -> float:
        """When the refresher sends its refresh (§10: half the interval)."""
        return self.interval / 2

    @property
    def expire_after(self) -> float:
        """When the other side gives up (§10: interval minus min(32, interval/3))."""
        return self.interval - min(32.0, self.interval / 3)


@dataclass(frozen=True)
class TooBrief:
    """Answer 422 Session Interval Too Small with this Min-SE (§6)."""

    min_se: int


def supports_timer(message: SipMessage) -> bool:
    return any(v.strip().lower() == "timer" for v in message.values("Supported") + message.values("Require"))


MAX_DELTA = 999_999_999  # delta-seconds beyond nine digits: unreadable, as if absent


def session_expires(message: SipMessage) -> tuple[int, str | None] | None:
    """(delta-seconds, refresher) of Session-Expires, or None when absent or unreadable."""
    value = message.get("Session-Expires")
    if value is None:
        return None
    text, _, params = value.partition(";")
    delta = number(text.strip(), MAX_DELTA)
    if delta is None:
        return None
    try:
        refresher = parse_params(";" + params).get("refresher") if params.strip() else None
    except SipParseError:
        refresher = None
    if refresher not in ("uac", "uas"):
        refresher = None
    return delta, refresher


def min_se(message: SipMessage) -> int | None:
    return number((message.get("Min-SE") or "").split(";")[0].strip(), MAX_DELTA)


def answer_request(request: SipMessage, *, preferred: int, minimum: int) -> SessionTimer | TooBrief | None:
    """The box as UAS: the session timer for an INVITE or UPDATE (§9), a 422, or none.

    When the request has no Session-Expires there is no session timer (the
    box does not impose one on a phone that did not ask); calls on hold are
    then watched by liveness probes instead."""
    uac_supports = supports_timer(request)
    asked = session_expires(request)
    if asked is None:
        if not uac_supports:
            return None
        interval = max(preferred, min_se(request) or 0, minimum)
        return SessionTimer(interval, "uac", we_refresh=False)
    delta, refresher = asked
    if delta < minimum:
        return TooBrief(minimum)
    floor = max(minimum, min_se(request) or 0)
    interval = max(min(delta, preferred), floor)  # §9: the UAS may lower it, never below Min-SE
    chosen: Refresher = "uac" if uac_supports else "uas"
    if refresher == "uas":
        chosen = "uas"
    elif refresher == "uac" and uac_supports:
        chosen = "uac"
    return SessionTimer(interval, chosen, we_refresh=chosen == "uas")


def answer_headers(timer: SessionTimer, request: SipMessage) -> list[tuple[str, str]]:
    headers = [("Session-Expires", timer.header(we_are_uac=False))]
    if supports_timer(request):
        headers.append(("Require", "timer"))  # §9: needed when the UAC refreshes; harmless otherwise
    return headers


def offer_headers(interval: int, minimum: int) -> list[tuple[str, str]]:
    """The box as UAC (§7.1): ask for a session timer, let the UAS choose the refresher."""
    return [("Supported", "timer"), ("Session-Expires", str(interval)), ("Min-SE", str(minimum))]


def from_answer(response: SipMessage) -> SessionTimer | None:
    """The box as UAC: the session timer a 2xx agreed on (§7.2), or none."""
    agreed = session_expires(response)
    if agreed is None:
        return None
    delta, refresher = agreed
    if delta <= 0:
        return None
    role: Refresher = "uas" if refresher == "uas" else "uac"  # §7.2: absent means the UAC (we) refresh
    return SessionTimer(delta, role, we_refresh=role == "uac")


def refreshed_by_peer(request: SipMessage, current: SessionTimer, *, incoming: bool) -> SessionTimer:
    """A refresh (re-INVITE or UPDATE) from the peer with its Session-Expires, if any.

    The peer is the UAC of its own refresh; for our bookkeeping the roles of
    the original INVITE stay, so a refresher named in the refresh is
    translated back: "uac" means the peer when the peer sent it."""
    asked = session_expires(request)
    if asked is None:
        return current
    delta, refresher = asked
    interval = max(delta, 1)
    peer_refreshes = refresher != "uas"  # the sender of this request is its UAC
    # In the roles of the original INVITE: the peer was its UAC when the call came in.
    peer_role: Refresher = "uac" if incoming else "uas"
    our_role: Refresher = "uas" if incoming else "uac"
    role = peer_role if peer_refreshes else our_role
    return SessionTimer(interval, role, we_refresh=not peer_refreshes)
