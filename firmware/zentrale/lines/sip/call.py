"""One SIP call (a dialog with one audio stream), incoming or outgoing.

Implements the ``Call`` port of ``lines.base``. The user agent (``ua.py``)
routes requests to it; it answers, hangs up, follows re-INVITEs (hold and
unhold), takes DTMF from RFC 4733 packets and SIP INFO, and sends its own
BYE, ACK and 2xx retransmissions. Where the PBX is configured for it, a call
is handed to an agent by REFER (RFC 3515): the PBX reports by NOTIFY (a
``message/sipfrag`` status line) how calling the agent went.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zentrale.lines.base import OriginateFailed
from zentrale.lines.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    new_branch,
    parse_name_addr,
    parse_uri,
)
from zentrale.lines.sip.rtp import RtpStream
from zentrale.lines.sip.sdp import Negotiated, SdpError, build_sdp, negotiate, new_session_id, parse_sdp
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
        self.local_tag = local_tag
        self.remote_tag = ""
        self.peer = peer
        self.stream = stream
        self.caller = caller
        self.caller_name = caller_name
        self.called = called
        self.ended: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.state = "offered" if direction == "in" else "calling"
        self.local_cseq = 1
        self.remote_cseq = -1
        self.local_header = ""  # our From (outgoing) / To (incoming) header value, with tag
        self.remote_header = ""
        self.remote_target = ""
        self.route_set: list[str] = []
        self.invite: SipRequest | None = None
        self.invite_txn: ServerTransaction | None = None
        self.negotiated: Negotiated | None = None
        self.codec: Codec | None = None
        self.offer_index = 0
        self.rejected_media: list[Any] = []
        self.sdp_id = new_session_id()
        self.sdp_version = 1
        self._pending_2xx: tuple[SipResponse, asyncio.TimerHandle | None] | None = None
        self._late_offer = False
        self._digit_cb: Callable[[str], None] | None = None
        self.answered_at: float | None = None
        self.on_hold = False
        self.srtp_key: bytes | None = None  # our SRTP master key+salt, once the far end asked for SRTP
        self.offer_srtp = False  # our own call over TLS: the offer is RTP/SAVP with our key
        self._refer: asyncio.Future[tuple[int, str]] | None = None  # the outcome of our REFER, while waited for
        self._refer_late = False  # we stopped waiting for a REFER's outcome; a late success still ends our leg
        self.transferred_to: str | None = None
        stream.on_dtmf = self._digit

    # --- the Call port -----------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.stream.rate

    @property
    def codec_name(self) -> str:
        return self.codec.name if self.codec else ""

    @property
    def answered(self) -> bool:
        return self.state in ("answered", "confirmed")

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
        }

    def _digit(self, digit: str) -> None:
        if self._digit_cb is not None:
            self._digit_cb(digit)

    async def answer(self) -> None:
        if self.state != "offered" or self.invite is None or self.invite_txn is None:
            return
        ring = self.ua.config.answer_after
        if ring > 0:  # ring first (sip.answer_after); the caller may give up meanwhile (CANCEL)
            self.invite_txn.respond(
                make_response(
                    self.invite, 180, "Ringing", to_tag=self.local_tag, headers=self.ua.dialog_headers(self.peer)
                )
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.ended), ring)
            if self.state != "offered":
                return
        if self.negotiated is None:
            self._late_offer = True  # INVITE without SDP: our offer goes in the 200 (RFC 3264 §4)
            body = self._offer_sdp()
        else:
            body = self._answer_sdp(self.negotiated)
        response = make_response(
            self.invite,
            200,
            "OK",
            to_tag=self.local_tag,
            headers=self.ua.dialog_headers(self.peer),
            body=body.encode(),
            content_type="application/sdp",
        )
        self.local_header = response.get("To") or ""
        self.state = "answered"
        self.answered_at = asyncio.get_running_loop().time()
        self.invite_txn.respond(response)
        if self.negotiated is not None:
            self.stream.start()
        self._retransmit_2xx(response)

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None:
        if self.state == "offered" and self.invite_txn is not None:
            self.invite_txn.reply(code, reason, to_tag=self.local_tag)
        self._end(f"rejected {code}")

    async def hangup(self) -> None:
        if self.ended.done():
            return
        if self.state == "offered":
            await self.reject(480, "Temporarily Unavailable")
            return
        if self.state in ("answered", "confirmed"):
            self._send_in_dialog("BYE")
        self._end(f"transferred to {self.transferred_to}" if self.transferred_to else "local hangup")

    async def refer(self, target: str, *, ring_timeout: float, cancel: asyncio.Future[Any] | None = None) -> None:
        """Ask the far end (the PBX the call came from) to call ``target`` itself
        (REFER, RFC 3515) and wait for its NOTIFY saying how that went. Returns
        when the target answered; raises ``OriginateFailed`` otherwise. The caller
        keeps hearing whatever this call sends meanwhile."""
        if self.state not in ("answered", "confirmed") or self.ended.done():
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
            request.add("Referred-By", f"<{parse_name_addr(self.local_header).uri}>")
            user = self.ua.config.registration.user if self.ua.config.registration else "zentrale"
            request.add("Contact", self.ua.contact(self.peer, user))
            try:
                txn = self.ua.transactions.send_request(request, self.request_peer())
            except (ConnectionError, OSError) as err:
                raise OriginateFailed(503, f"cannot send REFER: {err}") from err
            await asyncio.wait({txn.final, *stop}, return_when=asyncio.FIRST_COMPLETED)
            if not txn.final.done():
                raise OriginateFailed(487, "caller gone or transfer cancelled")
            response = txn.final.result()
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
        if self.state == "offered" and self.invite_txn is not None:
            self.invite_txn.reply(487, "Request Terminated", to_tag=self.local_tag)
            self._end("cancelled")

    def in_dialog(self, request: SipRequest, txn: ServerTransaction) -> None:
        cseq = request.cseq[0]
        if request.method != "ACK" and cseq <= self.remote_cseq:
            txn.reply(500, "Server Internal Error", headers=[("Retry-After", "1")])
            return
        self.remote_cseq = max(self.remote_cseq, cseq)
        method = request.method
        if method == "BYE":
            txn.reply(200, "OK")
            self._end("remote hangup")
        elif method == "INVITE":
            self._reinvite(request, txn)
        elif method == "INFO":
            self._info(request, txn)
        elif method == "OPTIONS":
            txn.reply(200, "OK", headers=self.ua.capability_headers())
        elif method == "NOTIFY":
            self._notify(request, txn)
        elif method in ("UPDATE", "PRACK"):
            txn.reply(200, "OK")
        elif method == "REFER":
            # Never transfer on the far end's word: a Refer-To could name any number (toll fraud).
            log.warning("call %s: refused REFER to %s", self.call_id, request.get("Refer-To"))
            txn.reply(403, "Forbidden")
            self.ua.failed(self.peer, "REFER in a call")
        else:
            txn.reply(405, "Method Not Allowed", headers=self.ua.capability_headers())

    def ack(self, request: SipRequest) -> None:
        if self._pending_2xx is not None:
            _, timer = self._pending_2xx
            if timer is not None:
                timer.cancel()
            self._pending_2xx = None
        if self.state == "answered":
            self.state = "confirmed"
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
        if request.body and request.content_type != "application/sdp":
            txn.reply(415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        if not request.body:
            self._late_offer = True
            body = self._offer_sdp(version_up=True)
        else:
            try:
                session = parse_sdp(request.body.decode(errors="replace"))
                index, neg = negotiate(session, self.ua.codecs)
            except SdpError as err:
                txn.reply(488, "Not Acceptable Here", headers=[("Warning", f'304 zentrale "{err}"')])
                return
            self.offer_index = index
            self.rejected_media = [m for i, m in enumerate(session.media) if i != index]
            self.apply(neg)
            body = self._answer_sdp(neg, version_up=True)
        response = make_response(
            request,
            200,
            "OK",
            to_tag=self.local_tag,
            headers=self.ua.dialog_headers(self.peer),
            body=body.encode(),
            content_type="application/sdp",
        )
        txn.respond(response)
        self._retransmit_2xx(response)

    def _notify(self, request: SipRequest, txn: ServerTransaction) -> None:
        """The PBX's report on our REFER: a sipfrag status line per step (RFC 3515 §2.4.5)."""
        txn.reply(200, "OK")
        event = (request.get("Event") or "").split(";")[0].strip().lower()
        if event != "refer":
            return
        line = request.body.decode(errors="replace").strip().splitlines()[0] if request.body.strip() else ""
        parts = line.split(" ", 2)
        status = int(parts[1]) if len(parts) >= 2 and parts[0].upper().startswith("SIP/") and parts[1].isdigit() else 0
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
        txn.reply(200, "OK")

    # --- media ---------------------------------------------------------------------

    def apply(self, neg: Negotiated) -> None:
        if self.codec is None or self.codec.name != neg.codec.name:
            self.codec = codec_for(neg.codec.name)
        self.negotiated = neg
        self.stream.configure(neg, self.codec)
        if neg.crypto is not None:
            if self.srtp_key is None:
                self.srtp_key = new_key()
            self.stream.secure(neg.crypto.suite, self.srtp_key, neg.crypto.key)
        else:
            self.stream.secure(None, b"", b"")
        self.on_hold = neg.on_hold

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
            dtmf_payload_type=101,
            direction="sendrecv",
            proto="RTP/SAVP" if self.offer_srtp else "RTP/AVP",
            crypto=crypto,
        )

    # --- our own requests ------------------------------------------------------------

    def _retransmit_2xx(self, response: SipResponse) -> None:
        """Resend the 2xx until the ACK comes (RFC 3261 §13.3.1.4); over TCP only wait."""
        reliable = self.peer.transport != "udp"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 64 * T1

        def fire(interval: float) -> None:
            if self._pending_2xx is None or self.ended.done():
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
            self._pending_2xx = (response, loop.call_later(nxt, fire, nxt))

        first = T1 if not reliable else 64 * T1
        self._pending_2xx = (response, loop.call_later(first, fire, first))

    def build_request(self, method: str) -> SipRequest:
        req = SipRequest(method=method, uri=self.remote_target)
        req.add("Via", self.ua.via(self.peer, new_branch()))
        for route in self.route_set:
            req.add("Route", route)
        req.add("Max-Forwards", "70")
        req.add("From", self.local_header)
        req.add("To", self.remote_header)
        req.add("Call-ID", self.call_id)
        if method != "ACK":
            self.local_cseq += 1
        req.add("CSeq", f"{self.local_cseq} {method}")
        req.add("User-Agent", self.ua.user_agent)
        return req

    def request_peer(self) -> Peer:
        """Where in-dialog requests go: the first route, the remote target, or the
        address the dialog came from when those are names or unreachable (NAT)."""
        uri_text = parse_name_addr(self.route_set[0]).uri if self.route_set else self.remote_target
        with contextlib.suppress(SipParseError):
            uri = parse_uri(uri_text)
            host = uri.host.strip("[]")
            if self.peer.transport != "udp":  # TCP and TLS: the connection the dialog runs on
                return self.peer
            if is_ip(host) and (self.route_set or self.direction == "out"):
                return Peer("udp", host, uri.port or 5060)
        return self.peer

    def _send_in_dialog(self, method: str) -> None:
        if not self.remote_target:
            return
        request = self.build_request(method)
        try:
            self.ua.transactions.send_request(request, self.request_peer())
        except (ConnectionError, OSError) as err:
            log.info("call %s: cannot send %s: %s", self.call_id, method, err)

    def _end(self, reason: str) -> None:
        if self.ended.done():
            return
        self.state = "ended"
        if self._pending_2xx is not None:
            _, timer = self._pending_2xx
            if timer is not None:
                timer.cancel()
            self._pending_2xx = None
        self.stream.close()
        self.ended.set_result(reason)
        self.ua.forget(self)
        log.info("call %s ended: %s", self.call_id, reason)
