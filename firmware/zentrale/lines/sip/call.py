"""One SIP call: a dialog (``dialog.py``) with one audio stream, incoming or outgoing.

Implements the ``Call`` port of ``lines.base``. The user agent (``ua.py``)
routes requests to it; it answers, hangs up, follows re-INVITEs and UPDATEs
(hold and unhold, new media addresses), takes DTMF from RFC 4733 packets and
SIP INFO, and sends its own BYE, ACK and 2xx retransmissions. Where the PBX is
configured for it, a call is handed to an agent by REFER (RFC 3515): the PBX
reports by NOTIFY (a ``message/sipfrag`` status line) how calling the agent went.

Every call ends (issue 13): each dialog state has a guard (``dialog.GUARDS``);
an answered call is kept honest by session timers (RFC 4028) where the far
end agreed to them, and while on hold by in-dialog OPTIONS probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zentrale.lines.base import OriginateFailed
from zentrale.lines.sip import session_timer as st
from zentrale.lines.sip.dialog import Dialog, DialogError, DialogEvent, DialogState
from zentrale.lines.sip.message import SipParseError, SipRequest, SipResponse, make_response, parse_name_addr, parse_uri
from zentrale.lines.sip.rtp import RtpStream
from zentrale.lines.sip.sdp import MediaLine, Negotiated, SdpError, build_sdp, negotiate, new_session_id, parse_sdp
from zentrale.lines.sip.srtp import crypto_attribute, new_key
from zentrale.lines.sip.transactions import T1, T2, ServerTransaction
from zentrale.lines.sip.transport import Peer, is_ip
from zentrale.media.codecs import CODECS, Codec, codec_for
from zentrale.media.frames import FrameSink, FrameSource

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)

DTMF_INFO_TYPES = ("application/dtmf-relay", "application/dtmf")
OFFERED_SUITE = "AES_CM_128_HMAC_SHA1_80"  # RFC 4568's mandatory suite; every SDES phone has it
OFFERED_DTMF_PT = 101
GONE = (408, 481)  # answers to an in-dialog request that mean the far end lost the call


class SipCall:
    line = "sip"

    def __init__(
        self,
        ua: SipUserAgent,
        *,
        direction: str,
        call_id: str,
        local_tag: str,
        peer: Peer,
        stream: RtpStream,
        caller: str,
        caller_name: str | None,
        called: str,
    ) -> None:
        self.ua = ua
        self.direction = direction
        self.call_id = call_id
        self.dialog = Dialog(call_id, local_tag, incoming=direction == "in")
        self.peer = peer
        self.stream = stream
        self.caller = caller
        self.caller_name = caller_name
        self.called = called
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.invite: SipRequest | None = None
        self.invite_txn: ServerTransaction | None = None
        self.negotiated: Negotiated | None = None
        self.codec: Codec | None = None
        self.offer_index = 0
        self.rejected_media: list[MediaLine] = []
        self.sdp_id = new_session_id()
        self.sdp_version = 1
        self._pending_2xx: SipResponse | None = None
        self._late_offer = False
        self._digit_cb: Callable[[str], None] | None = None
        self.answered_at: float | None = None
        self.on_hold = False
        self.srtp_key: bytes | None = None  # our SRTP master key+salt, once the far end asked for SRTP
        self.offer_srtp = False  # our own call over TLS: the offer is RTP/SAVP with our key
        self._refer: asyncio.Future[tuple[int, str]] | None = None  # the outcome of our REFER, while waited for
        self._refer_late = False  # we stopped waiting for a REFER's outcome; a late success still ends our leg
        self.transferred_to: str | None = None
        self.session_timer: st.SessionTimer | None = None
        self.peer_allows: set[str] = set()  # methods in the far end's Allow
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._reinvite_out = False  # our own re-INVITE is under way (glare: 491)
        self.probes = 0  # liveness probes sent while on hold
        stream.on_dtmf = self._digit

    # --- the dialog's identifiers (kept as attributes of the call for the user agent) --------

    @property
    def local_tag(self) -> str:
        return self.dialog.local_tag

    @property
    def state(self) -> str:
        return self.dialog.state.value

    # --- the Call port -----------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.stream.rate

    @property
    def codec_name(self) -> str:
        return self.codec.name if self.codec else ""

    @property
    def answered(self) -> bool:
        return self.dialog.up

    def set_source(self, source: FrameSource | None) -> None:
        self.stream.source = source

    def set_sink(self, sink: FrameSink | None) -> None:
        self.stream.sink = sink

    def on_digit(self, callback: Callable[[str], None] | None) -> None:
        self._digit_cb = callback

    def send_digit(self, digit: str) -> None:
        self.stream.send_dtmf(digit)

    def info(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "line": self.line,
            "direction": self.direction,
            "caller": self.caller,
            "called": self.called,
            "state": self.state,
            "codec": self.codec_name,
            "remote": f"{self.peer.transport}:{self.peer.host}:{self.peer.port}",
            "on_hold": self.on_hold,
            "rtp_sent": self.stream.sent,
            "rtp_received": self.stream.received,
            "srtp": self.stream.secured,
            "transport": self.peer.transport,
            "session_timer": self.session_timer.interval if self.session_timer else None,
            "quality": self.stream.quality(),
        }

    def _digit(self, digit: str) -> None:
        if self._digit_cb is not None:
            self._digit_cb(digit)

    async def answer(self) -> None:
        if self.dialog.state is not DialogState.OFFERED or self.invite is None or self.invite_txn is None:
            return
        ring = self.ua.config.answer_after
        if ring > 0:  # ring first (sip.answer_after); the caller may give up meanwhile (CANCEL)
            self.ua.transactions.respond(
                self.invite_txn,
                make_response(
                    self.invite, 180, "Ringing", to_tag=self.local_tag, headers=self.ua.dialog_headers(self.peer)
                ),
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.ended), ring)
            if self.dialog.state is not DialogState.OFFERED:
                return
        if self.negotiated is None:
            self._late_offer = True  # INVITE without SDP: our offer goes in the 200 (RFC 3264 §4)
            body = self._offer_sdp()
        else:
            body = self._answer_sdp(self.negotiated)
        headers = self.ua.dialog_headers(self.peer)
        if self.session_timer is not None:
            headers += st.answer_headers(self.session_timer, self.invite)
        response = make_response(
            self.invite, 200, "OK", to_tag=self.local_tag, headers=headers, body=body.encode(),
            content_type="application/sdp",
        )  # fmt: skip
        self.dialog.local_header = response.get("To") or ""
        self.dialog.fire(DialogEvent.ANSWER)
        self.answered_at = self.ua.now()
        self.ua.transactions.respond(self.invite_txn, response)
        if self.negotiated is not None:
            self.stream.start()
        self._retransmit_2xx(response)
        self._start_liveness()

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None:
        if self.dialog.state is DialogState.OFFERED and self.invite_txn is not None:
            self.ua.transactions.reply(self.invite_txn, code, reason, to_tag=self.local_tag)
        self._end(f"rejected {code}")

    async def hangup(self) -> None:
        if self.ended.done():
            return
        if self.dialog.state is DialogState.OFFERED:
            await self.reject(480, "Temporarily Unavailable")
            return
        if self.dialog.up:
            self._send_in_dialog("BYE")
        self._end(f"transferred to {self.transferred_to}" if self.transferred_to else "local hangup")

    async def refer(self, target: str, *, ring_timeout: float, cancel: asyncio.Future[Any] | None = None) -> None:
        """Ask the far end (the PBX the call came from) to call ``target`` itself
        (REFER, RFC 3515) and wait for its NOTIFY saying how that went. Returns
        when the target answered; raises ``OriginateFailed`` otherwise. The caller
        keeps hearing whatever this call sends meanwhile."""
        if not self.dialog.up or self.ended.done():
            raise OriginateFailed(481, "the call is not established")
        if self._refer is not None:
            raise OriginateFailed(491, "a transfer of this call is already under way")
        uri = self.ua.refer_uri(target)
        loop = asyncio.get_running_loop()
        outcome: asyncio.Future[tuple[int, str]] = loop.create_future()
        self._refer = outcome
        self._refer_late = False
        stop: set[asyncio.Future[Any]] = {self.ended} | ({cancel} if cancel is not None else set())
        try:
            request = self.build_request("REFER")
            request.add("Refer-To", f"<{uri}>")
            request.add("Referred-By", f"<{parse_name_addr(self.dialog.local_header).uri}>")
            request.add("Contact", self.ua.contact(self.peer, self.ua.own_user))
            try:
                pending = self.ua.transactions.send_request(request, self.request_peer())
            except (ConnectionError, OSError) as err:
                raise OriginateFailed(503, f"cannot send REFER: {err}") from err
            await asyncio.wait({pending.final, *stop}, return_when=asyncio.FIRST_COMPLETED)
            if not pending.final.done():
                raise OriginateFailed(487, "caller gone or transfer cancelled")
            response = pending.final.result()
            if not 200 <= response.status < 300:
                raise OriginateFailed(
                    response.status,
                    f"the PBX refused the transfer (REFER): {response.status} {response.reason}",
                    "failed",
                )
            log.info("call %s: REFER to %s accepted (%d), waiting for the PBX's report", self.call_id, uri,
                     response.status)  # fmt: skip
            # The PBX rings the agent for as long as it likes; we wait for our ring timeout
            # plus a little for the PBX's own set-up.
            await asyncio.wait({outcome, *stop}, timeout=ring_timeout + 5.0, return_when=asyncio.FIRST_COMPLETED)
            if not outcome.done():
                self._refer_late = not self.ended.done()
                if self.ended.done() or (cancel is not None and cancel.done()):
                    raise OriginateFailed(487, "caller gone or transfer cancelled")
                raise OriginateFailed(408, "the PBX reported no answer in time")
            status, reason = outcome.result()
            if not 200 <= status < 300:
                raise OriginateFailed(status or 500, f"transfer failed: {status} {reason}".strip())
            self.transferred_to = uri
            log.info("call %s: the PBX put it through to %s", self.call_id, uri)
        finally:
            self._refer = None

    # --- incoming requests in the dialog -----------------------------------------------

    def cancelled(self) -> None:
        if self.dialog.state is DialogState.OFFERED and self.invite_txn is not None:
            self.ua.transactions.reply(self.invite_txn, 487, "Request Terminated", to_tag=self.local_tag)
            self._end("cancelled")

    def in_dialog(self, request: SipRequest, txn: ServerTransaction) -> None:
        reply = self.ua.transactions.reply
        if not self.dialog.accept_remote_cseq(request.cseq[0], request.method):
            reply(txn, 500, "Server Internal Error", headers=[("Retry-After", "1")])  # §12.2.2: out of order
            return
        method = request.method
        if method == "BYE":
            reply(txn, 200, "OK")
            self._end("remote hangup")
        elif method == "INVITE":
            self._reinvite(request, txn)
        elif method == "UPDATE":
            self._update(request, txn)
        elif method == "INFO":
            self._info(request, txn)
        elif method == "OPTIONS":
            reply(txn, 200, "OK", headers=self.ua.capability_headers())
        elif method == "NOTIFY":
            self._notify(request, txn)
        elif method == "PRACK":
            reply(txn, 200, "OK")
        elif method == "REFER":
            # Never transfer on the far end's word: a Refer-To could name any number (toll fraud).
            log.warning("call %s: refused REFER to %s", self.call_id, (request.get("Refer-To") or "")[:80])
            reply(txn, 403, "Forbidden")
            self.ua.failed(self.peer, "REFER in a call")
        else:
            reply(txn, 405, "Method Not Allowed", headers=self.ua.capability_headers())

    def ack(self, request: SipRequest) -> None:
        if self.ended.done():
            return
        self._pending_2xx = None
        self._stop("ack")
        if self.dialog.state in (DialogState.ANSWERED, DialogState.CONFIRMED):
            self.dialog.fire(DialogEvent.ACK)
        if self._late_offer and request.body:
            self._late_offer = False
            try:
                session = parse_sdp(request.body.decode(errors="replace"))
                _, neg = negotiate(session, [self.codec_name] if self.codec else self.ua.codecs)
            except SdpError as err:
                log.warning("call %s: bad SDP answer in ACK: %s", self.call_id, err)
                self._send_in_dialog("BYE")
                self._end("bad SDP answer")
                return
            self.apply(neg)
            self.stream.start()

    def _reinvite(self, request: SipRequest, txn: ServerTransaction) -> None:
        reply = self.ua.transactions.reply
        if self.dialog.state is DialogState.ANSWERED:
            reply(txn, 500, "Server Internal Error", headers=[("Retry-After", "1")])  # §14.2: our 2xx not ACKed yet
            return
        if self._reinvite_out:
            reply(txn, 491, "Request Pending")  # §14.2: glare with our own re-INVITE
            return
        if request.body and request.content_type != "application/sdp":
            reply(txn, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        timer = self._peer_refresh(request, txn)
        if timer is False:
            return
        if not request.body:
            self._late_offer = True
            body = self._offer_sdp(version_up=True)
        else:
            answer = self._new_offer(request, txn)
            if answer is None:
                return
            body = answer
        headers = self.ua.dialog_headers(self.peer)
        if self.session_timer is not None:
            headers.append(("Session-Expires", self.session_timer.header(we_are_uac=False)))
        response = make_response(
            request, 200, "OK", to_tag=self.local_tag, headers=headers, body=body.encode(),
            content_type="application/sdp",
        )  # fmt: skip
        self.ua.transactions.respond(txn, response)
        self._retransmit_2xx(response)
        self._start_liveness()

    def _update(self, request: SipRequest, txn: ServerTransaction) -> None:
        """UPDATE (RFC 3311): new media without a re-INVITE's three-way handshake, or a
        session refresh (RFC 4028) without a body."""
        reply = self.ua.transactions.reply
        if request.body and request.content_type != "application/sdp":
            reply(txn, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        if self._peer_refresh(request, txn) is False:
            return
        headers: list[tuple[str, str]] = [("Contact", self.ua.contact(self.peer, self.ua.own_user))]
        if self.session_timer is not None:
            headers.append(("Session-Expires", self.session_timer.header(we_are_uac=False)))
        if request.body:
            answer = self._new_offer(request, txn)
            if answer is None:
                return
            self.ua.transactions.respond(
                txn, make_response(request, 200, "OK", to_tag=self.local_tag, headers=headers,
                                   body=answer.encode(), content_type="application/sdp"),
            )  # fmt: skip
        else:
            reply(txn, 200, "OK", to_tag=self.local_tag, headers=headers)
        self._start_liveness()

    def _new_offer(self, request: SipRequest, txn: ServerTransaction) -> str | None:
        """Apply an offer in a re-INVITE or UPDATE; our answer's SDP, or None after a 488."""
        try:
            session = parse_sdp(request.body.decode(errors="replace"), self.ua.sdp_limits)
            index, neg = negotiate(session, self.ua.codecs)
        except SdpError as err:
            self.ua.transactions.reply(txn, 488, "Not Acceptable Here", headers=[("Warning", f'304 zentrale "{err}"')])
            return None
        self.offer_index = index
        self.rejected_media = [m for i, m in enumerate(session.media) if i != index]
        self.apply(neg)
        return self._answer_sdp(neg, version_up=True)

    def _peer_refresh(self, request: SipRequest, txn: ServerTransaction) -> bool | None:
        """A re-INVITE or UPDATE from the far end refreshes the session timer (RFC 4028 §10).
        False after a 422 (interval too brief)."""
        if self.session_timer is None:
            asked = st.answer_request(request, preferred=self.ua.timers.session_expires, minimum=self.ua.timers.min_se)
            if isinstance(asked, st.TooBrief):
                self.ua.transactions.reply(txn, 422, "Session Interval Too Small",
                                           headers=[("Min-SE", str(asked.min_se))])  # fmt: skip
                return False
            self.session_timer = asked
            return None
        asked_se = st.session_expires(request)
        if asked_se is not None and asked_se[0] < self.ua.timers.min_se:
            self.ua.transactions.reply(txn, 422, "Session Interval Too Small",
                                       headers=[("Min-SE", str(self.ua.timers.min_se))])  # fmt: skip
            return False
        self.session_timer = st.refreshed_by_peer(request, self.session_timer, incoming=self.direction == "in")
        return None

    def _notify(self, request: SipRequest, txn: ServerTransaction) -> None:
        """The PBX's report on our REFER: a sipfrag status line per step (RFC 3515 §2.4.5)."""
        self.ua.transactions.reply(txn, 200, "OK")
        event = (request.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return
        line = request.body.decode(errors="replace").strip().splitlines()[0] if request.body.strip() else ""
        parts = line.split(" ", 2)
        code = parts[1] if len(parts) >= 2 and parts[0].upper().startswith("SIP/") else ""
        status = int(code) if code.isascii() and code.isdigit() else 0  # "①" is isdigit() but not int()
        reason = parts[2].strip() if len(parts) > 2 else ""
        terminated = (request.get("Subscription-State") or "").strip().lower().startswith("terminated")
        if status < 200 and not terminated:
            return  # 100 Trying, 180 Ringing: the agent's phone is being called
        if self._refer is not None and not self._refer.done():
            self._refer.set_result((status, reason or "subscription ended"))
        elif self._refer_late and 200 <= status < 300:
            # We had given up waiting, but the PBX put the caller through after all: leave.
            log.warning("call %s: the PBX reported a late successful transfer; leaving the call", self.call_id)
            self._refer_late = False
            self.transferred_to = "agent (late)"
            self._send_in_dialog("BYE")
            self._end("transferred late")

    def _info(self, request: SipRequest, txn: ServerTransaction) -> None:
        if request.content_type in DTMF_INFO_TYPES:
            text = request.body.decode(errors="replace").strip()
            digit = ""
            for line in text.splitlines():
                key, _, value = line.partition("=")
                if key.strip().lower() == "signal":
                    digit = value.strip()
            if request.content_type == "application/dtmf" and not digit:
                digit = text
            if len(digit) == 1 and digit.upper() in "0123456789*#ABCD":
                self._digit(digit.upper())
        self.ua.transactions.reply(txn, 200, "OK")

    # --- media ---------------------------------------------------------------------

    def apply(self, neg: Negotiated) -> None:
        if self.codec is None or self.codec.name != neg.codec.name:
            self.codec = codec_for(neg.codec.name)
        self.negotiated = neg
        self.stream.configure(neg, self.codec)
        # RFC 4733 events arrive under the payload type of either side's SDP (a PBX doing
        # direct media may announce different numbers to each side); rtp.py also takes
        # unexpected dynamic types carrying event payloads.
        if neg.dtmf_payload_type is not None:
            self.stream.dtmf_pts.add(neg.dtmf_payload_type)
            if self.direction == "out":
                self.stream.dtmf_pts.add(OFFERED_DTMF_PT)  # what our offer announced
        if neg.crypto is not None:
            if self.srtp_key is None:
                self.srtp_key = new_key()
            self.stream.secure(neg.crypto.suite, self.srtp_key, neg.crypto.key)
        else:
            self.stream.secure(None, b"", b"")
        was_on_hold, self.on_hold = self.on_hold, neg.on_hold
        if self.on_hold != was_on_hold and self.dialog.up:
            self._start_liveness()

    def _answer_sdp(self, neg: Negotiated, *, version_up: bool = False) -> str:
        if version_up:
            self.sdp_version += 1
        return build_sdp(
            session_id=self.sdp_id,
            version=self.sdp_version,
            host=self.ua.media_address(self.peer),
            port=self.stream.local_port,
            formats=[(neg.payload_type, neg.codec.name, neg.codec.rtp_clock)],
            dtmf_payload_type=neg.dtmf_payload_type,
            direction=neg.direction,
            rejected=list(self.rejected_media),
            audio_index=self.offer_index,
            proto=neg.proto if neg.crypto is not None else "RTP/AVP",
            crypto=crypto_attribute(neg.crypto.tag, neg.crypto.suite, self.srtp_key)
            if neg.crypto is not None and self.srtp_key is not None
            else None,
        )

    def _offer_sdp(self, *, version_up: bool = False) -> str:
        if version_up:
            self.sdp_version += 1
        names = [self.codec.name] if self.codec else self.ua.codecs
        crypto = None
        if self.offer_srtp:
            if self.srtp_key is None:
                self.srtp_key = new_key()
            crypto = crypto_attribute(1, OFFERED_SUITE, self.srtp_key)
        return build_sdp(
            session_id=self.sdp_id,
            version=self.sdp_version,
            host=self.ua.media_address(self.peer),
            port=self.stream.local_port,
            formats=[(CODECS[n].payload_type, n, CODECS[n].rtp_clock) for n in names],
            dtmf_payload_type=OFFERED_DTMF_PT,
            direction="sendrecv",
            proto="RTP/SAVP" if self.offer_srtp else "RTP/AVP",
            crypto=crypto,
        )

    # --- timers: every state ends ---------------------------------------------------------

    def _start(self, name: str, delay: float, fn: Callable[[], None]) -> None:
        self._stop(name)
        self._timers[name] = asyncio.get_running_loop().call_later(delay, fn)

    def _stop(self, name: str) -> None:
        timer = self._timers.pop(name, None)
        if timer is not None:
            timer.cancel()

    def guard_unanswered(self, delay: float) -> None:
        """OFFERED ends: if nobody answers or rejects within ``delay``, the caller gets 500."""

        def fire() -> None:
            if self.dialog.state is DialogState.OFFERED:
                log.warning("call %s: not answered in %.0f s; refusing it", self.call_id, delay)
                self.ua.spawn(self.reject(500, "Server Internal Error"))

        self._start("answer", delay, fire)

    def _retransmit_2xx(self, response: SipResponse) -> None:
        """Resend the 2xx until the ACK comes (RFC 3261 §13.3.1.4); over TCP only wait.
        ANSWERED ends by the ACK, or after 64*T1 by our BYE."""
        reliable = self.peer.transport != "udp"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 64 * T1
        self._pending_2xx = response

        def fire(interval: float) -> None:
            if self._pending_2xx is not response or self.ended.done():
                return
            if loop.time() >= deadline:
                log.warning("call %s: no ACK for our 200 OK, hanging up", self.call_id)
                self._pending_2xx = None
                self._send_in_dialog("BYE")
                self._end("no ACK")
                return
            if not reliable:
                self.ua.send_response(response, self.peer)
            nxt = min(interval * 2, T2) if not reliable else 64 * T1
            nxt = min(nxt, max(0.0, deadline - loop.time()))  # the deadline itself, not the next resend after it
            self._start("ack", nxt, lambda: fire(nxt))

        first = T1 if not reliable else 64 * T1
        self._start("ack", first, lambda: fire(first))

    def _start_liveness(self) -> None:
        """CONFIRMED ends when the far end is gone: the session timer (refresh or expiry)
        where agreed, and OPTIONS probes while on hold."""
        timer = self.session_timer
        if timer is not None:
            if timer.we_refresh:
                self._stop("expiry")
                self._start("refresh", timer.refresh_after, self._refresh)
            else:
                self._stop("refresh")
                self._start("expiry", timer.expire_after, self._expired)
        if self.on_hold:
            if "probe" not in self._timers:
                self._start("probe", self.ua.timers.hold_probe_interval, self._probe)
        else:
            self._stop("probe")

    def _expired(self) -> None:
        log.warning("call %s: no session refresh within %d s (RFC 4028); hanging up", self.call_id,
                    self.session_timer.interval if self.session_timer else 0)  # fmt: skip
        self._send_in_dialog("BYE")
        self._end("session expired")

    def _refresh(self) -> None:
        self.ua.spawn(self._send_refresh())

    async def _send_refresh(self) -> None:
        """Our session refresh (RFC 4028 §7.4, §8): UPDATE where the far end allows it,
        else a re-INVITE with our unchanged SDP."""
        timer = self.session_timer
        if timer is None or self.ended.done():
            return
        use_update = "UPDATE" in self.peer_allows
        if not use_update and self._reinvite_out:
            self._start("refresh", 2.0, self._refresh)
            return
        request = self.build_request("UPDATE" if use_update else "INVITE")
        request.add("Contact", self.ua.contact(self.peer, self.ua.own_user))
        request.add("Supported", "timer")
        request.add("Session-Expires", timer.header(we_are_uac=True))
        request.add("Min-SE", str(self.ua.timers.min_se))
        if not use_update:
            request.add("Content-Type", "application/sdp")
            request.body = self._offer_sdp().encode()
            self._reinvite_out = True
        try:
            status = await self._send_and_wait(request)
        finally:
            if not use_update:
                self._reinvite_out = False
        if self.ended.done():
            return
        if status in GONE:
            log.warning("call %s: session refresh answered %d; the far end lost the call", self.call_id, status)
            self._send_in_dialog("BYE")
            self._end("session refresh failed")
            return
        self._start_liveness()

    def _probe(self) -> None:
        self.ua.spawn(self._send_probe())

    async def _send_probe(self) -> None:
        """Is the far end of a held call still there? (in-dialog OPTIONS; RFC 3261 §11)"""
        self._timers.pop("probe", None)
        if self.ended.done() or not self.on_hold:
            return
        self.probes += 1
        request = self.build_request("OPTIONS")
        request.add("Accept", "application/sdp")
        status = await self._send_and_wait(request, timeout=self.ua.timers.probe_timeout)
        if self.ended.done():
            return
        if status in GONE or status == 503:
            log.warning("call %s: on hold and the far end does not answer (%d); hanging up", self.call_id, status)
            self._send_in_dialog("BYE")
            self._end("gone while on hold")
            return
        if self.on_hold:
            self._start("probe", self.ua.timers.hold_probe_interval, self._probe)

    async def _send_and_wait(self, request: SipRequest, *, timeout: float = 64 * T1) -> int:
        try:
            pending = self.ua.transactions.send_request(request, self.request_peer(), timeout=timeout,
                                                        ack_builder=self._ack_for_2xx)  # fmt: skip
        except (ConnectionError, OSError) as err:
            log.info("call %s: cannot send %s: %s", self.call_id, request.method, err)
            return 503
        if request.method == "INVITE":
            pending.on_late_2xx = lambda resp: self._send_ack(resp)
        waits: set[asyncio.Future[Any]] = {pending.final, self.ended}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if not pending.final.done():
            return 0
        response = pending.final.result()
        if request.method == "INVITE" and 200 <= response.status < 300:
            self._send_ack(response)
            with contextlib.suppress(SdpError, UnicodeDecodeError):
                if response.body:
                    _, neg = negotiate(parse_sdp(response.body.decode(errors="replace"), self.ua.sdp_limits),
                                       [self.codec_name] if self.codec else self.ua.codecs)  # fmt: skip
                    self.apply(neg)
        return response.status

    def _ack_for_2xx(self, response: SipResponse) -> SipRequest:
        ack = self.build_request("ACK")
        ack.set("CSeq", f"{response.cseq[0]} ACK")
        return ack

    def _send_ack(self, response: SipResponse) -> None:
        """ACK a 2xx to one of our INVITEs (RFC 3261 §13.2.2.4): a request of its own."""
        try:
            self.ua.transport.send(self._ack_for_2xx(response), self.request_peer())
        except (OSError, ConnectionError) as err:
            log.info("call %s: cannot send ACK: %s", self.call_id, err)

    # --- our own requests ------------------------------------------------------------

    def build_request(self, method: str) -> SipRequest:
        return self.dialog.build_request(method, self.ua.via_base(self.peer), self.ua.user_agent)

    def request_peer(self) -> Peer:
        """Where in-dialog requests go: the first route, the remote target, or the
        address the dialog came from when those are names or unreachable (NAT)."""
        route_set = self.dialog.route_set
        uri_text = parse_name_addr(route_set[0]).uri if route_set else self.dialog.remote_target
        with contextlib.suppress(SipParseError):
            uri = parse_uri(uri_text)
            host = uri.host.strip("[]")
            if self.peer.transport != "udp":  # TCP and TLS: the connection the dialog runs on
                return self.peer
            if is_ip(host) and (route_set or self.direction == "out"):
                return Peer("udp", host, uri.port or 5060)
        return self.peer

    def _send_in_dialog(self, method: str) -> None:
        if not self.dialog.remote_target:
            return
        request = self.build_request(method)
        try:
            self.ua.transactions.send_request(request, self.request_peer())
        except (ConnectionError, OSError) as err:
            log.info("call %s: cannot send %s: %s", self.call_id, method, err)

    def _end(self, reason: str) -> None:
        if self.ended.done():
            return
        with contextlib.suppress(DialogError):
            self.dialog.fire(DialogEvent.END)
        for name in list(self._timers):
            self._stop(name)
        self._pending_2xx = None
        self.stream.close()
        self.ended.set_result(reason)
        self.ua.forget(self)
        log.info("call %s ended: %s", self.call_id, reason)
