"""The SIP user agent core: routes every message to a transaction, a dialog
or a policy answer. It is the ``Line`` the rest of Zentrale sees.

Policy in one place: which numbers are answered, which methods exist.
Unknown methods get 501, known but unsupported ones 405 (RFC 3261 §8.2.1),
unknown required extensions 420 (§8.2.2.3), a non-SDP body 415, an Accept
without SDP 406. Who may talk and how much each source may hold is the
``Admission``'s (``admission.py``); calls the box places are ``outgoing.py``'s.

Security (docs/security.md): a source outside the allowed networks gets one
stateless 403 for every request, whatever method or user part it names, so
a scanner learns nothing about numbers and costs no transaction state.
Refusals, unknown numbers, REGISTER and REFER attempts and malformed
messages count as failures in the ``SourceGuard``, which bans the source.
An exception while handling a request is a bug: the request is answered 500,
the source charged, and the line goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from zentrale.config import Registration, SipConfig
from zentrale.lines.base import Call, IncomingHandler, OriginateFailed
from zentrale.lines.sip.admission import Admission
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.guard import Ban, SourceGuard
from zentrale.lines.sip.incoming import Answerer, invite_id, printable
from zentrale.lines.sip.layer import TransactionLayer
from zentrale.lines.sip.message import (
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    new_tag,
)
from zentrale.lines.sip.outgoing import Dialler
from zentrale.lines.sip.registration import Registrar, split_hostport
from zentrale.lines.sip.rtp import PortPool
from zentrale.lines.sip.sdp import SdpLimits
from zentrale.lines.sip.subscriptions import Subscriptions
from zentrale.lines.sip.transactions import TU_TIMEOUT, ServerTransaction, server_key
from zentrale.lines.sip.transport import Peer, SipTransport, TcpConnection, response_peer
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import CODECS

log = logging.getLogger(__name__)

KNOWN_METHODS = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REGISTER", "SUBSCRIBE", "NOTIFY",
                 "REFER", "MESSAGE", "PRACK", "UPDATE", "PUBLISH"}  # fmt: skip
SUPPORTED_EXTENSIONS = {"timer"}  # RFC 4028


class SipUserAgent:
    ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "UPDATE", "NOTIFY", "SUBSCRIBE")
    name = "sip"

    def __init__(
        self,
        config: SipConfig,
        media_clock: MediaClock,
        *,
        now: Callable[[], float] | None = None,
        on_ban: Callable[[Ban], None] | None = None,
        service_numbers: Iterable[str] = (),
    ) -> None:
        self.config = config
        self.media_clock = media_clock
        self._now = now
        self.codecs: list[str] = list(config.codecs)
        self.user_agent = f"{config.user_agent}"
        self.timers = config.session_timers
        self.sdp_limits = SdpLimits()
        self.guard = SourceGuard(config.security, on_ban=on_ban)
        self.admission = Admission(config, self.guard, self.now)
        self.transport = SipTransport(
            config.bind, config.port, self._on_message, udp=config.udp, tcp=config.tcp, tls=config.tls,
            guard=self.guard, admission=self.admission,
        )  # fmt: skip
        self.transport.in_use = self._carries_a_call
        self.transactions = TransactionLayer(
            self.transport, self.admission.transactions,
            completed_bytes=int(config.limits.completed_memory_mb * 1024 * 1024),
        )  # fmt: skip
        self.transactions.on_abandoned = self._abandoned
        self.ports = PortPool(config.bind, *config.rtp_ports)
        self._calls: dict[tuple[str, str], SipCall] = {}
        self._by_invite: dict[tuple[str, str, int], SipCall] = {}  # incoming calls by their INVITE
        self._limit_warned: set[str] = set()  # sources told once that they reached their share of calls
        self._incoming: IncomingHandler | None = None
        self.registration: Registration | None = config.registration  # live: the web page may change it
        self.registrar: Registrar | None = None
        self.dialler = Dialler(self)
        self.answerer = Answerer(self)
        self.subscriptions = Subscriptions(self)  # message-waiting lamps (RFC 3842)
        self.service_numbers = set(service_numbers)  # answered besides config.numbers (recording prompts by phone)
        self._rtp_watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()
        self.handler_errors = 0  # requests that made a handler fail (answered 500)

    def now(self) -> float:
        """Monotonic seconds (the loop's clock unless injected)."""
        return self._now() if self._now is not None else asyncio.get_running_loop().time()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, keeping a reference and logging its failure."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Future[Any]) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("sip: background task failed", exc_info=t.exception())

        task.add_done_callback(done)

    # --- Line port ---------------------------------------------------------------------

    def on_incoming(self, handler: IncomingHandler) -> None:
        self._incoming = handler

    @property
    def port(self) -> int:
        """The SIP port in use (the configured one, or the one the system chose for 0)."""
        return self.transport.port

    async def start(self) -> None:
        await self.transport.start()
        if self.registration is not None:
            self.registrar = Registrar(self, self.registration)
            self.registrar.start()
        self._rtp_watch = asyncio.ensure_future(self._watch_rtp())
        log.info("SIP listening on %s:%d (%s)%s", self.config.bind, self.transport.port,
                 "+".join(t for t, on in (("udp", self.config.udp), ("tcp", self.config.tcp)) if on),
                 f", TLS on {self.transport.tls_port}" if self.transport.tls_port else "")  # fmt: skip

    async def set_registration(self, registration: Registration | None) -> None:
        """Register with another PBX (or none) from now on; the old registration is removed
        (waiting at most 5 s for the old PBX's answer)."""
        old, self.registrar = self.registrar, None
        if old is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(old.stop(), 5.0)
        self.registration = registration
        if registration is not None:
            self.registrar = Registrar(self, registration)
            self.registrar.start()
        log.info(
            "sip: registration now %s", f"{registration.user} at {registration.registrar}" if registration else "off"
        )

    async def stop(self) -> None:
        for call in list(self._calls.values()):
            await call.hangup()
        if self.registrar is not None:
            await self.registrar.stop()
        if self._rtp_watch is not None:
            self._rtp_watch.cancel()
        await asyncio.sleep(0.05)  # let BYEs leave
        self.subscriptions.close()
        self.transactions.close()
        await self.transport.stop()

    def status(self) -> dict[str, Any]:
        layer = self.transactions
        return {
            "line": "sip",
            "listening": f"{self.config.bind}:{self.transport.port}",
            "transports": [t for t, on in (("udp", self.config.udp), ("tcp", self.config.tcp)) if on]
            + (["tls"] if self.transport.tls_port else []),
            "tls_port": self.transport.tls_port or None,
            "calls": len(self._calls),
            "registration": self.registrar.status() if self.registrar else None,
            "transactions": len(layer.live) + len(layer.client),
            "transaction_table": layer.status(),
            "tables": {**self.admission.status(), "subscriptions": self.subscriptions.status()},
            "tcp": {
                "open": len(self.transport.connections),
                "idle_closed": self.transport.idle_closed,
                "evicted": self.transport.evicted,
            },
            "handler_errors": self.handler_errors,
            "dropped_messages": self.transport.dropped,
            "messages_received": self.transport.received_count,
            "responses": {str(k): v for k, v in sorted(layer.responses_sent.items())},
            "security": self.guard.status(),
        }

    @property
    def ready(self) -> bool:
        return self.registrar is None or self.registrar.registered

    def calls(self) -> list[SipCall]:
        return list(self._calls.values())

    # --- addresses ---------------------------------------------------------------------

    @property
    def own_user(self) -> str:
        """The user part of our Contact: the extension we are registered as."""
        return self.registration.user if self.registration else "zentrale"

    def local_ip(self, peer: Peer) -> str:
        if self.config.public_address:
            return self.config.public_address
        return self.transport.local_ip_for(peer.host)

    def media_address(self, peer: Peer) -> str:
        return self.local_ip(peer)

    def via_base(self, peer: Peer) -> str:
        """Our top Via without its parameters."""
        host = self.local_ip(peer)
        host = f"[{host}]" if ":" in host else host
        port = self.transport.tls_port if peer.transport == "tls" and self.transport.tls_port else self.transport.port
        return f"SIP/2.0/{peer.transport.upper()} {host}:{port}"

    def via(self, peer: Peer, branch: str) -> str:
        return f"{self.via_base(peer)};branch={branch};rport"

    def contact(self, peer: Peer, user: str = "zentrale") -> str:
        host = self.local_ip(peer)
        host = f"[{host}]" if ":" in host else host
        if peer.transport == "tls":  # RFC 3261 §8.1.1.8: a sips Contact over TLS
            return f"<sips:{user}@{host}:{self.transport.tls_port or self.transport.port}>"
        transport = ";transport=tcp" if peer.transport == "tcp" else ""
        return f"<sip:{user}@{host}:{self.transport.port}{transport}>"

    def capability_headers(self) -> list[tuple[str, str]]:
        return [("Allow", ", ".join(self.ALLOW)), ("Supported", "timer"), ("Accept", "application/sdp"),
                ("Server", self.user_agent)]  # fmt: skip

    def dialog_headers(self, peer: Peer) -> list[tuple[str, str]]:
        return [("Contact", self.contact(peer, self.own_user)), *self.capability_headers()]

    def allowed(self, host: str) -> bool:
        return self.admission.allowed(host)

    def transfers_by_refer(self, call: Call) -> bool:
        """A call that came in from the PBX we are registered with, when that PBX is
        configured to take transfers by REFER."""
        reg = self.registration
        if reg is None or reg.transfer != "refer" or self.registrar is None or not isinstance(call, SipCall):
            return False
        return call.direction == "in" and call.peer.host == self.registrar.address

    def refer_uri(self, target: str) -> str:
        """The Refer-To URI for an agent's number (at the PBX's domain) or SIP URI."""
        if target.startswith(("sip:", "sips:")):
            return target
        reg = self.registration
        if reg is None:
            raise OriginateFailed(404, "a phone number needs a PBX registration to be dialled")
        return f"sip:{target}@{reg.domain or split_hostport(reg.registrar)[0]}"

    def failed(self, peer: Peer, reason: str) -> None:
        """A failed attempt from ``peer`` (the guard may ban it)."""
        self.guard.failed(peer.host, reason)

    async def originate(
        self,
        target: str,
        *,
        display: str = "",
        caller: str = "",
        ring_timeout: float = 30.0,
        on_ringing: Callable[[], None] | None = None,
        cancel: asyncio.Future[None] | None = None,
    ) -> Call:
        """Call a SIP URI, or a number through the registrar/PBX (``outgoing.Dialler``)."""
        return await self.dialler.originate(
            target, display=display, caller=caller, ring_timeout=ring_timeout, on_ringing=on_ringing, cancel=cancel
        )

    # --- dispatch ----------------------------------------------------------------------

    def send_response(self, response: SipResponse, peer: Peer) -> None:
        dest = response_peer(response, peer)
        if dest is None:
            return
        try:
            self.transport.send(response, dest)
        except (OSError, ConnectionError) as err:
            log.info("sip: cannot send %d to %s: %s", response.status, dest.addr, err)

    def _stateless(self, request: SipRequest, peer: Peer, status: int, reason: str, **kw: Any) -> None:
        self.transactions.count(status)
        self.send_response(make_response(request, status, reason, to_tag=new_tag(), **kw), peer)

    def _reply(self, txn: ServerTransaction, status: int, reason: str, **kw: Any) -> None:
        self.transactions.reply(txn, status, reason, to_tag=kw.pop("to_tag", None) or new_tag(), **kw)

    def _on_message(self, message: SipMessage | SipParseError, peer: Peer) -> None:
        if isinstance(message, SipParseError):
            self._guarded(self._on_parse_error, message, peer, None)
        elif isinstance(message, SipResponse):
            self._guarded(self._on_response, message, peer, None)
        elif isinstance(message, SipRequest):
            self._guarded(self._on_request, message, peer, message)

    def _guarded(
        self, handler: Callable[[Any, Peer], None], message: Any, peer: Peer, request: SipRequest | None
    ) -> None:
        """Run a handler; an exception is a bug: log it once, answer 500, charge the source."""
        try:
            handler(message, peer)
        except Exception:
            self.handler_errors += 1
            log.exception("sip: error handling a message from %s:%d", peer.host, peer.port)
            self.failed(peer, "a message the box could not handle")
            if request is None or request.method == "ACK":
                return
            with contextlib.suppress(Exception):
                txn = self.transactions.live.get(server_key(request))
                if txn is not None and not txn.final:
                    self._reply(txn, 500, "Server Internal Error")
                elif txn is None:
                    self._stateless(request, peer, 500, "Server Internal Error")
                for call in list(self._calls.values()):
                    if call.invite is request:
                        call._end("error while setting up")

    def _on_parse_error(self, err: SipParseError, peer: Peer) -> None:
        msg = err.message
        if not isinstance(msg, SipRequest) or err.status is None or msg.method == "ACK" or not msg.get("Via"):
            self.failed(peer, f"unparseable message: {err.reason}")
            return
        reasons = {400: "Bad Request", 416: "Unsupported URI Scheme", 505: "Version Not Supported"}
        self.failed(peer, f"malformed {msg.method or 'message'}: {err.reason}")
        log.info("sip: %d to %s from %s: %s", err.status, (msg.method or "?")[:20], peer.host, err.reason[:120])
        resp = SipResponse(status=err.status, reason=reasons.get(err.status, "Bad Request"))
        for via in msg.get_all("Via"):
            resp.add("Via", via)
        for name in ("From", "To", "Call-ID", "CSeq"):
            values = msg.get_all(name)
            if len(values) == 1:
                resp.add(name, values[0] if name != "To" or "tag=" in values[0] else f"{values[0]};tag={new_tag()}")
        resp.add("Warning", f'399 zentrale "{printable(err.reason[:80])}"')
        self.transactions.count(err.status)
        self.send_response(resp, peer)

    def _on_response(self, response: SipResponse, peer: Peer) -> None:
        if self.transactions.match_response(response) is not None:
            return
        # A retransmitted 2xx to an INVITE whose transaction is gone: our ACK got lost (§13.2.2.4)
        if response.cseq[1] == "INVITE" and 200 <= response.status < 300:
            call = self._calls.get((response.call_id, response.from_tag))
            if call is not None and call.direction == "out":
                call._send_ack(response)

    def _on_request(self, request: SipRequest, peer: Peer) -> None:
        method = request.method
        if method == "ACK":
            if self.transactions.ack(request):
                return  # ACK to our non-2xx final answer
            call = self._calls.get((request.call_id, request.to_tag))
            if call is not None:
                call.ack(request)
            return
        if not self.allowed(peer.host) and not self._in_own_dialog(request, peer):
            if method == "INVITE" and self.admission.digest is not None:
                verdict = self.admission.authenticate(request, peer.host)
                if verdict != "ok":
                    self._stateless(request, peer, 401, "Unauthorized", headers=[self.admission.challenge(peer.host)])
                    return
            else:
                # One answer for every method and user part (no enumeration), stateless:
                # a retransmission gets another 403, and a scanner costs no transaction.
                log.info("sip: refused %s from %s (not an allowed peer)", method[:20], peer.host)
                self._stateless(request, peer, 403, "Forbidden")
                self.failed(peer, f"{method[:20]} from a source that is not allowed")
                return
        if method == "CANCEL":
            self._on_cancel(request, peer)
            return
        if method == "INVITE" and not request.to_tag and self._duplicate_invite(request):
            return  # a retransmission whose transaction was forgotten: the call exists
        tu_timeout = TU_TIMEOUT + self.config.answer_after if method == "INVITE" else TU_TIMEOUT
        txn, new, refusal = self.transactions.match_request(request, peer, tu_timeout=tu_timeout)
        if txn is None:
            # The box's own limit (a full table or this source's share): never the source's fault.
            log.info("sip: no room for %s from %s (%s)", method[:20], peer.host, refusal)
            self._stateless(request, peer, 503, "Service Unavailable", headers=[("Retry-After", "5")])
            return
        if not new:
            return
        unsupported = [
            ext for ext in (v.strip() for v in request.values("Require")) if ext and ext not in SUPPORTED_EXTENSIONS
        ]
        if unsupported:
            self._reply(txn, 420, "Bad Extension", headers=[("Unsupported", ", ".join(unsupported)[:200])])
            return
        if method == "SUBSCRIBE":  # new, refreshed or ended: subscriptions.py
            self.subscriptions.handle(request, txn, peer)
            return
        if request.to_tag:
            call = self._calls.get((request.call_id, request.to_tag))
            if call is None:
                self._reply(txn, 481, "Call/Transaction Does Not Exist")
                self.failed(peer, f"{method[:20]} for a dialog that does not exist")
            else:
                call.in_dialog(request, txn)
            return
        if method == "INVITE":
            self.answerer.invite(request, txn, peer)
        elif method == "OPTIONS":
            self._reply(txn, 200, "OK", headers=self.capability_headers())
        elif method == "REFER":
            log.warning("sip: refused REFER from %s to %s", peer.host, (request.get("Refer-To") or "")[:80])
            self._reply(txn, 403, "Forbidden")
            self.failed(peer, "REFER (the box transfers no call on request)")
        elif method == "REGISTER":
            self._reply(txn, 405, "Method Not Allowed", headers=self.capability_headers())
            self.failed(peer, "REGISTER (the box is no registrar)")
        elif method in KNOWN_METHODS:
            self._reply(txn, 405, "Method Not Allowed", headers=self.capability_headers())
        else:
            self._reply(txn, 501, "Not Implemented", headers=self.capability_headers())

    def _duplicate_invite(self, request: SipRequest) -> bool:
        """An INVITE retransmitted after its transaction was forgotten for memory: the call
        it set up is still there (same Call-ID, From tag and CSeq)."""
        return invite_id(request) in self._by_invite

    def _in_own_dialog(self, request: SipRequest, peer: Peer) -> bool:
        """A request in a call (or a CANCEL of an INVITE) that this source itself set up
        after authenticating: ACK, BYE, re-INVITE, CANCEL."""
        if request.to_tag:
            call = self._calls.get((request.call_id, request.to_tag))
            return call is not None and call.peer.host == peer.host
        if request.method == "CANCEL":
            txn = self.transactions.invite_transaction_for(request)
            return txn is not None and txn.source == peer.host
        return False

    def _on_cancel(self, request: SipRequest, peer: Peer) -> None:
        txn, new, _ = self.transactions.match_request(request, peer)
        if txn is None or not new:
            if txn is None:
                self._stateless(request, peer, 503, "Service Unavailable", headers=[("Retry-After", "5")])
            return
        invite_txn = self.transactions.invite_transaction_for(request)
        call = next((c for c in self._calls.values() if c.invite_txn is invite_txn), None) if invite_txn else None
        if invite_txn is None or call is None:
            self._reply(txn, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(txn, 200, "OK", to_tag=call.local_tag)
        call.cancelled()

    def _abandoned(self, txn: ServerTransaction) -> None:
        """The transaction layer answered 500 for a request nobody answered: end its call."""
        for call in list(self._calls.values()):
            if call.invite_txn is txn:
                call._end("not answered in time")

    def register_call(self, call: SipCall) -> None:
        self._calls[(call.call_id, call.local_tag)] = call

    def forget(self, call: SipCall) -> None:
        if call.invite is not None:
            self._by_invite.pop(invite_id(call.invite), None)
        if self._calls.pop((call.call_id, call.local_tag), None) is not None and call.direction == "in":
            self.admission.calls.release(call.peer.host)
            self._limit_warned.discard(call.peer.host)

    def _carries_a_call(self, conn: TcpConnection) -> bool:
        return any(c.peer.conn is conn for c in self._calls.values())

    async def _watch_rtp(self) -> None:
        """Hang up calls whose far end went silent on the network (no BYE ever comes).
        Calls on hold are probed instead (call.py)."""
        timeout = self.config.rtp_timeout
        if not timeout:
            return
        last: dict[tuple[str, str], tuple[int, float]] = {}
        while True:
            await asyncio.sleep(min(5.0, timeout / 2))
            now = self.now()
            for key, call in list(self._calls.items()):
                if not call.answered or call.on_hold:
                    last.pop(key, None)
                    continue
                count, since = last.get(key, (-1, now))
                if call.stream.received != count:
                    last[key] = (call.stream.received, now)
                elif now - since > timeout:
                    log.warning("call %s: no RTP for %.0f s, hanging up", call.call_id, now - since)
                    await call.hangup()
            for key in set(last) - set(self._calls):
                del last[key]


__all__ = ["CODECS", "SipUserAgent"]
