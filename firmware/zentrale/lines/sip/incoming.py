"""Calls that come in: the UAS side of the SIP line.

An INVITE that passed the user agent's dispatch (allowed source, a new
transaction, no unsupported extension) is checked here in RFC 3261 §8.2's
order -- content (415, 406), the number (404) -- then its session timer
(RFC 4028, 422), its offer (488), the calls table's share for its source
(503); then a ``SipCall`` is made, 100 Trying sent and the call handed to
the rest of the box once its RTP socket is open.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from zentrale.lines.sip import session_timer as st
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.message import SipParseError, SipRequest, new_tag, parse_name_addr, parse_uri, split_commas
from zentrale.lines.sip.rtp import RtpStream
from zentrale.lines.sip.sdp import Negotiated, SdpError, negotiate, parse_sdp
from zentrale.lines.sip.transactions import TU_TIMEOUT, ServerTransaction
from zentrale.lines.sip.transport import Peer

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)


class Answerer:
    def __init__(self, ua: SipUserAgent) -> None:
        self.ua = ua

    def served(self, request: SipRequest) -> bool:
        numbers = self.ua.config.numbers
        if "*" in numbers:
            return True
        user = uri_user(request.uri)
        return bool(user) and (user in numbers or user in self.ua.service_numbers)

    def invite(self, request: SipRequest, txn: ServerTransaction, peer: Peer) -> None:
        # RFC 3261 §8.2: content processing (415, 406) comes before the application (404)
        if request.body and request.content_type != "application/sdp":
            self.ua._reply(txn, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        accept = [a.split(";")[0].strip().lower() for a in request.values("Accept")]
        if accept and not {"application/sdp", "application/*", "*/*"} & set(accept):
            self.ua._reply(txn, 406, "Not Acceptable", headers=[("Accept", "application/sdp")])
            return
        if not self.served(request):
            self.ua._reply(txn, 404, "Not Found")
            self.ua.failed(peer, f"INVITE to a number not served ({uri_user(request.uri)[:32]})")
            return
        timer = st.answer_request(request, preferred=self.ua.timers.session_expires, minimum=self.ua.timers.min_se)
        if isinstance(timer, st.TooBrief):
            self.ua._reply(txn, 422, "Session Interval Too Small", headers=[("Min-SE", str(timer.min_se))])
            return
        neg: Negotiated | None = None
        index = 0
        rejected: list[Any] = []
        if request.body:
            try:
                session = parse_sdp(request.body.decode(errors="replace"), self.ua.sdp_limits)
                index, neg = negotiate(session, self.ua.codecs)
                rejected = [m for i, m in enumerate(session.media) if i != index]
            except SdpError as err:
                self.ua._reply(
                    txn, 488, "Not Acceptable Here", headers=[("Warning", f'304 zentrale "{printable(str(err))}"')]
                )
                return
        refusal = self.ua.admission.calls.acquire(peer.host)
        if refusal is not None:
            if refusal == "share" and peer.host not in self.ua._limit_warned:
                self.ua._limit_warned.add(peer.host)
                log.warning("sip: %s has %d calls, refusing more (if it is your PBX, add it to "
                            "sip.security.trusted)", peer.host, self.ua.admission.calls.count(peer.host))  # fmt: skip
            self.ua._reply(txn, 503, "Service Unavailable", headers=[("Retry-After", "30")])
            return
        caller, caller_name = self.caller_of(request, peer)
        call = SipCall(
            self.ua,
            direction="in",
            call_id=request.call_id,
            local_tag=new_tag(),
            peer=peer,
            stream=RtpStream.configured(self.ua.media_clock, self.ua.config),
            caller=caller,
            caller_name=caller_name,
            called=uri_user(request.uri),
        )
        self.ua.transactions.reply(txn, 100, "Trying")
        dialog = call.dialog
        call.invite = request
        call.invite_txn = txn
        call.session_timer = timer
        call.peer_allows = {m.strip().upper() for m in request.values("Allow")}
        dialog.remote_tag = request.from_tag
        dialog.remote_cseq = request.cseq[0]
        dialog.remote_header = request.get("From") or ""
        contact = request.values("Contact")
        dialog.remote_target = contact_uri(contact[0]) if contact else parse_name_addr(dialog.remote_header).uri
        dialog.route_set = list(request.get_all("Record-Route"))
        call.offer_index = index
        call.rejected_media = rejected
        self.ua._calls[(call.call_id, call.local_tag)] = call
        self.ua._by_invite[invite_id(request)] = call
        call.guard_unanswered(TU_TIMEOUT + self.ua.config.answer_after + 1.0)
        self.ua.spawn(self._set_up(call, neg))

    def caller_of(self, request: SipRequest, peer: Peer) -> tuple[str, str | None]:
        """The caller's number and name: From, or P-Asserted-Identity from a trusted PBX (RFC 3325 §4).
        Diversion and History-Info are never used for anything.

        A caller who withheld their number (``Privacy: id``, RFC 3325 §9.3; or ``user``/``header``,
        RFC 3323 §4.2) keeps it withheld: the asserted identity is for the network, and the box
        would show it to people (agents, the viewer, e-mail), so only From counts -- which such a
        caller's side makes anonymous."""
        from_ = parse_name_addr(request.get("From") or "")
        user = uri_user(from_.uri)
        display = from_.display or None
        privacy = {p.strip().lower() for p in (request.get("Privacy") or "").split(";")}
        withheld = bool(privacy & {"id", "user", "header"})
        pai = request.get("P-Asserted-Identity") if self.ua.admission.trusted(peer.host) and not withheld else None
        if pai:
            with contextlib.suppress(SipParseError):
                asserted = parse_name_addr(split_commas(pai)[0])
                user = uri_user(asserted.uri) or user
                display = asserted.display or display
        return user or "anonymous", display

    async def _set_up(self, call: SipCall, neg: Negotiated | None) -> None:
        try:
            await call.stream.open(self.ua.ports)
        except OSError as err:
            log.error("call %s: %s", call.call_id, err)
            await call.reject(503, "Service Unavailable")
            return
        if neg is not None:
            call.apply(neg)
        if call.ended.done():
            call.stream.close()
            return
        if self.ua._incoming is None:
            await call.reject(480, "Temporarily Unavailable")
            return
        self.ua._incoming(call)


def invite_id(request: SipRequest) -> tuple[str, str, int]:
    """What tells an INVITE's retransmissions apart from a new INVITE (Call-ID, From tag, CSeq)."""
    return (request.call_id, request.from_tag, request.cseq[0])


def contact_uri(value: str) -> str:
    try:
        return parse_name_addr(value).uri
    except SipParseError:
        return ""


def uri_user(uri: str) -> str:
    try:
        return parse_uri(uri).user
    except SipParseError:
        return ""


def printable(text: str) -> str:
    """Text safe inside a quoted header value."""
    return "".join(c if c.isprintable() and c not in '"\\' else "?" for c in text)
