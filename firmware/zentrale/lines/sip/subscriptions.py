"""Message-waiting subscriptions: agents' desk phones ask for the message lamp (RFC 3842).

A phone subscribes to the ``message-summary`` event package (RFC 3842 over the SIP event
framework, RFC 6665) for an account -- the user part of the SUBSCRIBE's request URI,
e.g. ``sip:201@box``, the agent's extension. The box answers 200, sends a NOTIFY at once
(RFC 6665 §4.2.1.2) and another whenever the summary changes, keeps the subscription until
it expires or the phone refreshes it (a SUBSCRIBE in the dialog), and ends it with a
``terminated`` NOTIFY on an ``Expires: 0`` (unsubscribe) or at its expiry.

What the summary is -- are there new messages for this account? -- is the composition
root's (``summary_of``, set by ``app.py``); without it every account is unknown (404).
Each source holds at most its share of the subscription table (``Admission``'s ``Share``):
a phone cannot fill the box's memory with subscriptions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from zentrale.lines.sip.admission import Share
from zentrale.lines.sip.dialog import Dialog, DialogState
from zentrale.lines.sip.message import SipParseError, SipRequest, SipResponse, new_tag, parse_name_addr, parse_uri
from zentrale.lines.sip.transactions import ServerTransaction
from zentrale.lines.sip.transport import Peer

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)

EVENT = "message-summary"  # RFC 3842 §3
CONTENT_TYPE = "application/simple-message-summary"  # RFC 3842 §5
DEFAULT_EXPIRES = 3600  # RFC 3842 §3.2 suggests an hour
MIN_EXPIRES = 60  # shorter: 423 with Min-Expires (RFC 6665 §4.2.1.1)
MAX_EXPIRES = 3600  # longer is shortened in the 200 (RFC 6665 §4.2.1.1)
CAPACITY = 256  # subscriptions the box keeps at all
PER_SOURCE = 8  # ... and from one untrusted address (a phone has one or two accounts)


@dataclass(frozen=True)
class Summary:
    """What the lamp shows: new (unheard) and old messages of the account."""

    waiting: bool
    new: int = 0
    old: int = 0


SummaryOf = Callable[[str], Summary | None]  # account (user part) -> summary; None: no such account


@dataclass(eq=False)
class Subscription:
    account: str
    dialog: Dialog
    peer: Peer  # where the SUBSCRIBE came from (the connection, for TCP)
    expires_at: float
    timer: asyncio.TimerHandle | None = None
    last: Summary | None = None
    notified: int = 0


class Subscriptions:
    """The box's side of message-summary subscriptions (the notifier, RFC 6665 §4.2)."""

    def __init__(self, ua: SipUserAgent) -> None:
        self.ua = ua
        self.summary_of: SummaryOf = lambda _account: None
        self.share = Share("subscriptions", CAPACITY, PER_SOURCE, CAPACITY // 8, ua.guard.is_trusted)
        self._by_dialog: dict[tuple[str, str], Subscription] = {}  # (Call-ID, our tag)

    # --- SUBSCRIBE ---------------------------------------------------------------------------

    def handle(self, request: SipRequest, txn: ServerTransaction, peer: Peer) -> None:
        """A SUBSCRIBE, new or in an existing subscription's dialog (a refresh or an unsubscribe)."""
        event = (request.get("Event") or "").split(";")[0].strip().lower()
        if event != EVENT:
            self._reply(txn, 489, "Bad Event", headers=[("Allow-Events", EVENT)])  # RFC 6665 §8.2.1
            return
        try:
            expires = min(int(request.get("Expires") or DEFAULT_EXPIRES), MAX_EXPIRES)
        except ValueError:
            self._reply(txn, 400, "Bad Request")
            return
        if 0 < expires < MIN_EXPIRES:
            self._reply(txn, 423, "Interval Too Brief", headers=[("Min-Expires", str(MIN_EXPIRES))])
            return
        if request.to_tag:
            self._refresh(request, txn, expires)
        else:
            self._new(request, txn, peer, max(expires, 0))

    def _new(self, request: SipRequest, txn: ServerTransaction, peer: Peer, expires: int) -> None:
        try:
            account = parse_uri(request.uri).user
            remote_target = parse_name_addr(request.get("Contact") or "").uri
        except SipParseError:
            self._reply(txn, 400, "Bad Request")
            return
        summary = self.summary_of(account) if account else None
        if summary is None:
            self._reply(txn, 404, "Not Found")
            self.ua.failed(peer, f"SUBSCRIBE for an unknown account ({account[:32]})")
            return
        refusal = self.share.acquire(peer.host) if expires else None
        if refusal is not None:  # the box's limit: answered, never held against the source
            self._reply(txn, 503, "Service Unavailable", headers=[("Retry-After", "60")])
            return
        tag = new_tag()
        dialog = Dialog(
            call_id=request.call_id, local_tag=tag, incoming=True, remote_tag=request.from_tag,
            remote_cseq=request.cseq[0], local_header=f"{request.get('To')};tag={tag}",
            remote_header=request.get("From") or "", remote_target=remote_target,
            route_set=request.get_all("Record-Route"), state=DialogState.CONFIRMED,
        )  # fmt: skip
        sub = Subscription(account, dialog, peer, self.ua.now() + expires, last=summary)
        self._reply(txn, 200, "OK", to_tag=tag, headers=self._answer_headers(sub, expires))
        if expires == 0:  # a fetch (RFC 6665 §4.4.3): one NOTIFY, no subscription
            self._notify(sub, summary, terminated="timeout")
            return
        self._by_dialog[(dialog.call_id, tag)] = sub
        self._arm(sub, expires)
        log.info("sip: %s subscribed to the message summary of %s for %d s", peer.host, account, expires)
        self._notify(sub, summary)

    def _refresh(self, request: SipRequest, txn: ServerTransaction, expires: int) -> None:
        sub = self._by_dialog.get((request.call_id, request.to_tag))
        if sub is None or not sub.dialog.accept_remote_cseq(request.cseq[0], request.method):
            self._reply(txn, 481, "Subscription Does Not Exist")
            return
        self._reply(txn, 200, "OK", to_tag=sub.dialog.local_tag, headers=self._answer_headers(sub, expires))
        summary = self.summary_of(sub.account) or Summary(False)
        if expires == 0:  # unsubscribed (RFC 6665 §4.2.1.4): the last NOTIFY says so
            self._end(sub)
            self._notify(sub, summary, terminated="timeout")
            return
        sub.expires_at = self.ua.now() + expires
        self._arm(sub, expires)
        sub.last = summary
        self._notify(sub, summary)

    def _answer_headers(self, sub: Subscription, expires: int) -> list[tuple[str, str]]:
        return [("Expires", str(expires)), ("Contact", self.ua.contact(sub.peer, sub.account))]

    def _reply(self, txn: ServerTransaction, status: int, reason: str, **kw: object) -> None:
        to_tag = kw.pop("to_tag", None) or new_tag()
        self.ua.transactions.reply(txn, status, reason, to_tag=to_tag, **kw)

    # --- expiry and changes -----------------------------------------------------------------

    def _arm(self, sub: Subscription, seconds: float) -> None:
        if sub.timer is not None:
            sub.timer.cancel()
        sub.timer = asyncio.get_running_loop().call_later(seconds, self._expired, sub)

    def _expired(self, sub: Subscription) -> None:
        if (sub.dialog.call_id, sub.dialog.local_tag) not in self._by_dialog:
            return
        log.info("sip: the message-summary subscription of %s for %s expired", sub.peer.host, sub.account)
        self._end(sub)
        self._notify(sub, sub.last or Summary(False), terminated="timeout")

    def _end(self, sub: Subscription) -> None:
        if self._by_dialog.pop((sub.dialog.call_id, sub.dialog.local_tag), None) is not None:
            self.share.release(sub.peer.host)
        if sub.timer is not None:
            sub.timer.cancel()
            sub.timer = None

    def changed(self) -> None:
        """The summaries may have changed (a message came, was taken, an agent logged in): a
        NOTIFY to every subscription whose summary differs from the last one sent."""
        for sub in list(self._by_dialog.values()):
            summary = self.summary_of(sub.account) or Summary(False)
            if summary != sub.last:
                sub.last = summary
                self._notify(sub, summary)

    # --- NOTIFY ------------------------------------------------------------------------------

    def _notify(self, sub: Subscription, summary: Summary, terminated: str = "") -> None:
        request = sub.dialog.build_request("NOTIFY", self.ua.via_base(sub.peer), self.ua.user_agent)
        request.add("Event", EVENT)
        if terminated:
            request.add("Subscription-State", f"terminated;reason={terminated}")
        else:
            left = max(0, round(sub.expires_at - self.ua.now()))
            request.add("Subscription-State", f"active;expires={left}")
        request.add("Contact", self.ua.contact(sub.peer, sub.account))
        request.add("Content-Type", CONTENT_TYPE)
        request.body = body(sub, summary).encode()
        sub.notified += 1
        try:
            pending = self.ua.transactions.send_request(request, self._target(sub))
        except (ConnectionError, OSError) as err:
            log.info("sip: cannot send NOTIFY to %s: %s", sub.peer.host, err)
            return
        pending.final.add_done_callback(lambda done: self._answered(sub, done))

    def _answered(self, sub: Subscription, done: asyncio.Future[SipResponse]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        status = done.result().status
        # 481: the phone forgot the subscription; a timeout or a failure: it is gone (RFC 6665 §4.2.2)
        gone = status in (481, 408) or status >= 500
        if gone and (sub.dialog.call_id, sub.dialog.local_tag) in self._by_dialog:
            log.info("sip: NOTIFY to %s answered %d: the subscription ends", sub.peer.host, status)
            self._end(sub)

    def _target(self, sub: Subscription) -> Peer:
        """Where the NOTIFY goes: the subscriber's Contact when it is an address (UDP), else
        the connection or address the SUBSCRIBE came from (RFC 3261 §12.2.1.1, NAT)."""
        if sub.peer.transport != "udp" or sub.dialog.route_set:
            return sub.peer
        with contextlib.suppress(SipParseError, ValueError):
            uri = parse_uri(sub.dialog.remote_target)
            host = uri.host.strip("[]")
            if host == sub.peer.host:
                return Peer("udp", host, uri.port or 5060)
        return sub.peer

    def close(self) -> None:
        for sub in list(self._by_dialog.values()):
            self._end(sub)

    def status(self) -> dict[str, object]:
        return {**self.share.status(), "accounts": sorted({s.account for s in self._by_dialog.values()})}


def body(sub: Subscription, summary: Summary) -> str:
    """An application/simple-message-summary body (RFC 3842 §5.2)."""
    account = parse_name_addr(sub.dialog.local_header).uri
    return (
        f"Messages-Waiting: {'yes' if summary.waiting else 'no'}\r\n"
        f"Message-Account: {account}\r\n"
        f"Voice-Message: {summary.new}/{summary.old}\r\n"
    )
