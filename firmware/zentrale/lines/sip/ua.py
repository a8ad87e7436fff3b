"""The SIP user agent core: routes every message to a transaction, a dialog
or a policy answer. It is the ``Line`` the rest of Zentrale sees.

Policy in one place: who may call (allowed networks, the registrar), which
numbers are answered, which methods exist. Unknown methods get 501,
known but unsupported ones 405 (RFC 3261 §8.2.1), unknown required
extensions 420 (§8.2.2.3), a non-SDP body 415, an Accept without SDP 406.

Security (docs/security.md): a source outside the allowed networks gets one
stateless 403 for every request, whatever method or user part it names, so
a scanner learns nothing about numbers and costs no transaction state.
Refusals, unknown numbers, REGISTER and REFER attempts and malformed
messages count as failures in the ``SourceGuard``, which bans the source.
REFER gets 403: the box never transfers a call where a request tells it to.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from zentrale.config import Registration, SipConfig
from zentrale.lines.base import Call, IncomingHandler, OriginateFailed
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.digest import DigestClient, DigestServer
from zentrale.lines.sip.guard import SourceGuard
from zentrale.lines.sip.message import (
    SipMessage,
    SipParseError,
    SipRequest,
    SipResponse,
    make_response,
    new_call_id,
    new_tag,
    parse_name_addr,
    parse_uri,
    split_commas,
)
from zentrale.lines.sip.registration import Registrar, split_hostport
from zentrale.lines.sip.rtp import PortPool, RtpStream
from zentrale.lines.sip.sdp import SdpError, negotiate, parse_sdp
from zentrale.lines.sip.transactions import ServerTransaction, TransactionLayer
from zentrale.lines.sip.transport import Peer, SipTransport, response_peer
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import CODECS

log = logging.getLogger(__name__)

KNOWN_METHODS = {"INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO", "REGISTER", "SUBSCRIBE", "NOTIFY",
                 "REFER", "MESSAGE", "PRACK", "UPDATE", "PUBLISH"}  # fmt: skip
SUPPORTED_EXTENSIONS: set[str] = set()
MAX_CALLS = 1000


class SipUserAgent:
    ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "INFO")
    name = "sip"

    def __init__(self, config: SipConfig, media_clock: MediaClock) -> None:
        self.config = config
        self.media_clock = media_clock
        self.codecs: list[str] = list(config.codecs)
        self.user_agent = f"{config.user_agent}"
        self.guard = SourceGuard(config.security)
        self.transport = SipTransport(
            config.bind, config.port, self._on_message, udp=config.udp, tcp=config.tcp, tls=config.tls,
            guard=self.guard,
        )  # fmt: skip
        self.transactions = TransactionLayer(self.transport)
        self.ports = PortPool(config.bind, *config.rtp_ports)
        self._networks = [ipaddress.ip_network(n, strict=False) for n in config.allowed_peers]
        self._calls: dict[tuple[str, str], SipCall] = {}
        self._calls_from: dict[str, int] = {}  # incoming calls per source address
        auth = config.inbound_auth
        self.inbound_auth = DigestServer(auth.user, auth.password, auth.realm) if auth else None
        self._authenticated: OrderedDict[str, float] = OrderedDict()  # source -> when it last authenticated
        self._limit_warned: set[str] = set()  # sources told once that they reached max_calls_per_source
        self._incoming: IncomingHandler | None = None
        self.registrar: Registrar | None = None
        self.service_numbers: set[str] = set()  # answered besides config.numbers (recording prompts by phone)
        self._rtp_watch: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Any) -> None:
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

    async def start(self) -> None:
        await self.transport.start()
        self.config.port = self.transport.port
        if self.config.registration is not None:
            self.registrar = Registrar(self, self.config.registration)
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
        self.config.registration = registration
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
        await self.transport.stop()

    def status(self) -> dict[str, Any]:
        return {
            "line": "sip",
            "listening": f"{self.config.bind}:{self.transport.port}",
            "transports": [t for t, on in (("udp", self.config.udp), ("tcp", self.config.tcp)) if on]
            + (["tls"] if self.transport.tls_port else []),
            "tls_port": self.transport.tls_port or None,
            "calls": len(self._calls),
            "registration": self.registrar.status() if self.registrar else None,
            "transactions": len(self.transactions.server) + len(self.transactions.client),
            "dropped_messages": self.transport.dropped,
            "messages_received": self.transport.received_count,
            "responses": {str(k): v for k, v in sorted(self.transactions.responses_sent.items())},
            "security": self.guard.status(),
        }

    @property
    def ready(self) -> bool:
        return self.registrar is None or self.registrar.registered

    def calls(self) -> list[SipCall]:
        return list(self._calls.values())

    # --- addresses ---------------------------------------------------------------------

    def local_ip(self, peer: Peer) -> str:
        if self.config.public_address:
            return self.config.public_address
        return self.transport.local_ip_for(peer.host)

    def media_address(self, peer: Peer) -> str:
        return self.local_ip(peer)

    def via(self, peer: Peer, branch: str) -> str:
        host = self.local_ip(peer)
        host = f"[{host}]" if ":" in host else host
        port = self.transport.tls_port if peer.transport == "tls" and self.transport.tls_port else self.transport.port
        return f"SIP/2.0/{peer.transport.upper()} {host}:{port};branch={branch};rport"

    def contact(self, peer: Peer, user: str = "zentrale") -> str:
        host = self.local_ip(peer)
        host = f"[{host}]" if ":" in host else host
        if peer.transport == "tls":  # RFC 3261 §8.1.1.8: a sips Contact over TLS
            return f"<sips:{user}@{host}:{self.transport.tls_port or self.transport.port}>"
        transport = ";transport=tcp" if peer.transport == "tcp" else ""
        return f"<sip:{user}@{host}:{self.transport.port}{transport}>"

    def capability_headers(self) -> list[tuple[str, str]]:
        return [("Allow", ", ".join(self.ALLOW)), ("Accept", "application/sdp"), ("Server", self.user_agent)]

    def dialog_headers(self, peer: Peer) -> list[tuple[str, str]]:
        user = self.config.registration.user if self.config.registration else "zentrale"
        return [("Contact", self.contact(peer, user)), *self.capability_headers()]

    def allowed(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        if self.registrar is not None and self.registrar.address == host:
            return True
        return any(ip in net for net in self._networks) or self.guard.is_trusted(host)

    def transfers_by_refer(self, call: Call) -> bool:
        """A call that came in from the PBX we are registered with, when that PBX is
        configured to take transfers by REFER."""
        reg = self.config.registration
        if reg is None or reg.transfer != "refer" or self.registrar is None or not isinstance(call, SipCall):
            return False
        return call.direction == "in" and call.peer.host == self.registrar.address

    def refer_uri(self, target: str) -> str:
        """The Refer-To URI for an agent's number (at the PBX's domain) or SIP URI."""
        if target.startswith(("sip:", "sips:")):
            return target
        reg = self.config.registration
        if reg is None:
            raise OriginateFailed(404, "a phone number needs a PBX registration to be dialled")
        return f"sip:{target}@{reg.domain or split_hostport(reg.registrar)[0]}"

    def failed(self, peer: Peer, reason: str) -> None:
        """A failed attempt from ``peer`` (the guard may ban it)."""
        self.guard.failed(peer.host, reason)

    # --- dispatch ----------------------------------------------------------------------

    def send_response(self, response: SipResponse, peer: Peer) -> None:
        dest = response_peer(response, peer)
        if dest is None:
            return
        try:
            self.transport.send(response, dest)
        except OSError as err:
            log.info("sip: cannot send %d to %s: %s", response.status, dest.addr, err)

    def _stateless(self, request: SipRequest, peer: Peer, status: int, reason: str, **kw: Any) -> None:
        self.transactions.count(status)
        self.send_response(make_response(request, status, reason, to_tag=new_tag(), **kw), peer)

    def _reply(self, txn: ServerTransaction, status: int, reason: str, **kw: Any) -> None:
        txn.reply(status, reason, to_tag=kw.pop("to_tag", None) or new_tag(), **kw)

    def _on_message(self, message: SipMessage | SipParseError, peer: Peer) -> None:
        try:
            if isinstance(message, SipParseError):
                self._on_parse_error(message, peer)
            elif isinstance(message, SipResponse):
                self._on_response(message, peer)
            elif isinstance(message, SipRequest):
                self._on_request(message, peer)
        except Exception:
            log.exception("sip: error handling message from %s:%d", peer.host, peer.port)

    def _on_parse_error(self, err: SipParseError, peer: Peer) -> None:
        msg = err.message
        if not isinstance(msg, SipRequest) or err.status is None or msg.method == "ACK" or not msg.get("Via"):
            self.failed(peer, f"unparseable message: {err.reason}")
            return
        reasons = {400: "Bad Request", 416: "Unsupported URI Scheme", 505: "Version Not Supported"}
        self.failed(peer, f"malformed {msg.method or 'message'}: {err.reason}")
        log.info("sip: %d to %s from %s: %s", err.status, msg.method or "?", peer.host, err.reason)
        resp = SipResponse(status=err.status, reason=reasons.get(err.status, "Bad Request"))
        for via in msg.get_all("Via"):
            resp.add("Via", via)
        for name in ("From", "To", "Call-ID", "CSeq"):
            values = msg.get_all(name)
            if len(values) == 1:
                resp.add(name, values[0] if name != "To" or "tag=" in values[0] else f"{values[0]};tag={new_tag()}")
        resp.add("Warning", f'399 zentrale "{err.reason[:80]}"')
        self.transactions.count(err.status)
        self.send_response(resp, peer)

    def _on_response(self, response: SipResponse, peer: Peer) -> None:
        if self.transactions.match_response(response) is not None:
            return
        # A retransmitted 2xx to an INVITE we sent: our ACK got lost (RFC 3261 §13.2.2.4)
        if response.cseq[1] == "INVITE" and 200 <= response.status < 300:
            call = self._calls.get((response.call_id, response.from_tag))
            if call is not None and call.direction == "out":
                ack = call.build_request("ACK")
                ack.set("CSeq", f"{response.cseq[0]} ACK")
                self.transport.send(ack, call.request_peer())

    def _on_request(self, request: SipRequest, peer: Peer) -> None:
        method = request.method
        if method == "ACK":
            txn = self.transactions.invite_transaction_for(request)
            if txn is not None and txn.state in ("completed", "confirmed"):
                txn.acked()  # ACK to our non-2xx final answer
                return
            call = self._calls.get((request.call_id, request.to_tag))
            if call is not None:
                call.ack(request)
            return
        if not self.allowed(peer.host) and not self._in_own_dialog(request, peer):
            if method == "INVITE" and self.inbound_auth is not None:
                if not self._authenticate(request, peer):
                    return
            else:
                # One answer for every method and user part (no enumeration), stateless:
                # a retransmission gets another 403, and a scanner costs no transaction.
                log.info("sip: refused %s from %s (not an allowed peer)", method, peer.host)
                self._stateless(request, peer, 403, "Forbidden")
                self.failed(peer, f"{method} from a source that is not allowed")
                return
        if method == "CANCEL":
            self._on_cancel(request, peer)
            return
        txn, new = self.transactions.match_request(request, peer)
        if txn is None:
            self._stateless(request, peer, 503, "Service Unavailable", headers=[("Retry-After", "5")])
            return
        if not new:
            return
        unsupported = [
            ext for ext in (v.strip() for v in request.values("Require")) if ext and ext not in SUPPORTED_EXTENSIONS
        ]
        if unsupported:
            self._reply(txn, 420, "Bad Extension", headers=[("Unsupported", ", ".join(unsupported))])
            return
        if request.to_tag:
            call = self._calls.get((request.call_id, request.to_tag))
            if call is None:
                self._reply(txn, 481, "Call/Transaction Does Not Exist")
                self.failed(peer, f"{method} for a dialog that does not exist")
            else:
                call.in_dialog(request, txn)
            return
        if method == "INVITE":
            self._on_invite(request, txn, peer)
        elif method == "OPTIONS":
            self._reply(txn, 200, "OK", headers=self.capability_headers())
        elif method == "REFER":
            log.warning("sip: refused REFER from %s to %s", peer.host, request.get("Refer-To"))
            self._reply(txn, 403, "Forbidden")
            self.failed(peer, "REFER (the box transfers no call on request)")
        elif method == "REGISTER":
            self._reply(txn, 405, "Method Not Allowed", headers=self.capability_headers())
            self.failed(peer, "REGISTER (the box is no registrar)")
        elif method in KNOWN_METHODS:
            self._reply(txn, 405, "Method Not Allowed", headers=self.capability_headers())
        else:
            self._reply(txn, 501, "Not Implemented", headers=self.capability_headers())

    def _in_own_dialog(self, request: SipRequest, peer: Peer) -> bool:
        """A request in a call (or a CANCEL of an INVITE) that this source itself set up
        after authenticating: ACK, BYE, re-INVITE, CANCEL."""
        if request.to_tag:
            call = self._calls.get((request.call_id, request.to_tag))
            return call is not None and call.peer.host == peer.host
        if request.method == "CANCEL":
            txn = self.transactions.invite_transaction_for(request)
            return txn is not None and txn.peer.host == peer.host
        return False

    def _authenticate(self, request: SipRequest, peer: Peer) -> bool:
        """Digest authentication of an INVITE from outside allowed_peers (RFC 3261 §22.4).
        The challenge is the same for every user part, and stateless."""
        assert self.inbound_auth is not None
        verdict = self.inbound_auth.check(request.get("Authorization"), "INVITE", peer.host)
        now = asyncio.get_running_loop().time()
        if verdict == "ok":
            self._authenticated[peer.host] = now
            self._authenticated.move_to_end(peer.host)
            while len(self._authenticated) > 256:
                self._authenticated.popitem(last=False)
            return True
        known = now - self._authenticated.get(peer.host, -1e9) < 3600
        if verdict == "bad":
            log.warning("sip: bad authentication of INVITE from %s", peer.host)
            self.failed(peer, "bad authentication")
        elif not known:  # a trunk that authenticated lately is challenged for free
            self.failed(peer, "INVITE without credentials from a source that is not allowed")
        self._stateless(request, peer, 401, "Unauthorized", headers=[self.inbound_auth.challenge(peer.host)])
        return False

    def _on_cancel(self, request: SipRequest, peer: Peer) -> None:
        txn, new = self.transactions.match_request(request, peer)
        if txn is None or not new:
            return
        invite_txn = self.transactions.invite_transaction_for(request)
        call = next((c for c in self._calls.values() if c.invite_txn is invite_txn), None) if invite_txn else None
        if invite_txn is None or call is None:
            self._reply(txn, 481, "Call/Transaction Does Not Exist")
            return
        self._reply(txn, 200, "OK", to_tag=call.local_tag)
        call.cancelled()

    def _served(self, request: SipRequest) -> bool:
        numbers = self.config.numbers
        if "*" in numbers:
            return True
        try:
            user = parse_uri(request.uri).user
        except SipParseError:
            return False
        return user in numbers or user in self.service_numbers

    def _on_invite(self, request: SipRequest, txn: ServerTransaction, peer: Peer) -> None:
        limit = self.config.security.max_calls_per_source
        per_source = self._calls_from.get(peer.host, 0) >= limit and not self.guard.is_trusted(peer.host)
        if len(self._calls) >= MAX_CALLS or per_source:
            if per_source and peer.host not in self._limit_warned:
                self._limit_warned.add(peer.host)
                log.warning("sip: %s has %d calls, refusing more (if it is your PBX, add it to "
                            "sip.security.trusted)", peer.host, limit)  # fmt: skip
            self._reply(txn, 503, "Service Unavailable", headers=[("Retry-After", "30")])
            return
        # RFC 3261 §8.2: content processing (415, 406) comes before the application (404)
        if request.body and request.content_type != "application/sdp":
            self._reply(txn, 415, "Unsupported Media Type", headers=[("Accept", "application/sdp")])
            return
        accept = [a.split(";")[0].strip().lower() for a in request.values("Accept")]
        if accept and not {"application/sdp", "application/*", "*/*"} & set(accept):
            self._reply(txn, 406, "Not Acceptable", headers=[("Accept", "application/sdp")])
            return
        if not self._served(request):
            self._reply(txn, 404, "Not Found")
            self.failed(peer, f"INVITE to a number not served ({_uri_user(request.uri)[:32]})")
            return
        neg = None
        index = 0
        rejected: list[Any] = []
        if request.body:
            try:
                session = parse_sdp(request.body.decode(errors="replace"))
                index, neg = negotiate(session, self.codecs)
                rejected = [m for i, m in enumerate(session.media) if i != index]
            except SdpError as err:
                self._reply(txn, 488, "Not Acceptable Here", headers=[("Warning", f'304 zentrale "{err}"')])
                return
        local_tag = new_tag()
        txn.reply(100, "Trying")
        from_ = parse_name_addr(request.get("From") or "")
        caller_uri = parse_uri(from_.uri) if from_.uri.startswith(("sip:", "sips:", "tel:")) else None
        # P-Asserted-Identity is believed only from the trusted PBX/trunk (RFC 3325 §4);
        # Diversion and History-Info are never used for anything.
        pai = request.get("P-Asserted-Identity") if self.guard.is_trusted(peer.host) else None
        if pai:
            try:
                asserted = parse_name_addr(split_first(pai))
                caller_uri = parse_uri(asserted.uri)
                from_ = asserted if asserted.display else from_
            except SipParseError:
                pass
        caller = caller_uri.user if caller_uri and caller_uri.user else "anonymous"
        stream = RtpStream(self.media_clock, symmetric=self.config.symmetric_rtp)
        call = SipCall(
            self,
            direction="in",
            call_id=request.call_id,
            local_tag=local_tag,
            peer=peer,
            stream=stream,
            caller=caller,
            caller_name=from_.display or None,
            called=_uri_user(request.uri),
        )
        call.invite = request
        call.invite_txn = txn
        call.remote_tag = request.from_tag
        call.remote_cseq = request.cseq[0]
        call.remote_header = request.get("From") or ""
        contact = request.values("Contact")
        call.remote_target = parse_name_addr(contact[0]).uri if contact else from_.uri
        call.route_set = list(request.get_all("Record-Route"))
        call.offer_index = index
        call.rejected_media = rejected
        self._calls[(call.call_id, local_tag)] = call
        self._calls_from[peer.host] = self._calls_from.get(peer.host, 0) + 1
        self.spawn(self._setup_incoming(call, neg))

    async def _setup_incoming(self, call: SipCall, neg: Any) -> None:
        try:
            await call.stream.open(self.ports)
        except OSError as err:
            log.error("call %s: %s", call.call_id, err)
            await call.reject(503, "Service Unavailable")
            return
        if neg is not None:
            call.apply(neg)
        if call.ended.done():
            call.stream.close()
            return
        if self._incoming is None:
            await call.reject(480, "Temporarily Unavailable")
            return
        self._incoming(call)

    def forget(self, call: SipCall) -> None:
        if self._calls.pop((call.call_id, call.local_tag), None) is not None and call.direction == "in":
            left = self._calls_from.get(call.peer.host, 1) - 1
            self._limit_warned.discard(call.peer.host)
            if left > 0:
                self._calls_from[call.peer.host] = left
            else:
                self._calls_from.pop(call.peer.host, None)

    async def _watch_rtp(self) -> None:
        """Hang up calls whose far end went silent on the network (no BYE ever comes)."""
        timeout = self.config.rtp_timeout
        if not timeout:
            return
        last: dict[tuple[str, str], tuple[int, float]] = {}
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(5.0, timeout / 2))
            now = loop.time()
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

    # --- outgoing calls ------------------------------------------------------------------

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
        """Call a SIP URI, or a number through the registrar/PBX. A sips: URI (or
        ;transport=tls, or a registration over TLS) goes over TLS with the
        peer's certificate verified against the name in the URI or config."""
        reg = self.config.registration
        if target.startswith(("sip:", "sips:")):
            uri = parse_uri(target)
            transport = str(uri.params.get("transport") or ("tls" if uri.scheme == "sips" else "udp")).lower()
            host, port = uri.host.strip("[]"), uri.port or (5061 if transport == "tls" else 5060)
        elif reg is not None:
            default_port = 5061 if reg.transport == "tls" else 5060
            host, port = split_hostport(reg.registrar, default_port)
            domain = reg.domain or host
            target = f"sip:{target}@{domain}"
            transport = reg.transport
            if reg.outbound_proxy:
                host, port = split_hostport(reg.outbound_proxy, default_port)
        else:
            raise OriginateFailed(404, "a phone number needs a PBX registration to be dialled")
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as err:
            raise OriginateFailed(404, f"cannot resolve {host}: {err}") from err
        address = str(infos[0][4][0])
        peer = Peer(transport if transport in ("tcp", "tls") else "udp", address, port)
        if transport == "tls":
            self.transport.server_name(address, host)
            try:
                await self.transport.connect(address, port, tls=True, server_name=host)
            except (OSError, TimeoutError) as err:  # ssl.SSLError included: a certificate that does not verify
                log.warning("sip: no TLS connection to %s (%s:%d): %s", host, address, port, err)
                raise OriginateFailed(503, f"TLS to {host}: {err}") from err
        call_id = new_call_id(self.local_ip(peer))
        stream = RtpStream(self.media_clock, symmetric=self.config.symmetric_rtp)
        await stream.open(self.ports)
        call = SipCall(self, direction="out", call_id=call_id, local_tag=new_tag(), peer=peer, stream=stream,
                       caller=caller, caller_name=display or None, called=target)  # fmt: skip
        user = reg.user if reg else (caller or "zentrale")
        from_host = (reg.domain or split_hostport(reg.registrar)[0]) if reg else self.local_ip(peer)
        name = f'"{_quote(display)}" ' if display else ""
        call.offer_srtp = transport == "tls" and (self.config.tls.srtp if self.config.tls else True)
        call.local_header = f"{name}<sip:{user}@{from_host}>;tag={call.local_tag}"
        call.remote_header = f"<{target}>"
        call.remote_target = target
        if reg is not None and reg.outbound_proxy and host == split_hostport(reg.outbound_proxy)[0]:
            call.route_set = [f"<sip:{reg.outbound_proxy};lr>"]
        self._calls[(call_id, call.local_tag)] = call
        try:
            return await self._invite(call, peer, ring_timeout, on_ringing, cancel)
        except BaseException:
            call._end("not answered")
            raise

    async def _invite(
        self,
        call: SipCall,
        peer: Peer,
        ring_timeout: float,
        on_ringing: Callable[[], None] | None,
        cancel: asyncio.Future[None] | None,
    ) -> SipCall:
        reg = self.config.registration
        digest = DigestClient(reg.auth_user or reg.user, reg.password) if reg else None
        auth: tuple[str, str] | None = None
        body = call._offer_sdp().encode()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_timeout
        for _attempt in range(3):
            request = call.build_request("INVITE")
            request.add("Contact", self.contact(peer, reg.user if reg else "zentrale"))
            for name, value in self.capability_headers()[:1]:
                request.add(name, value)
            request.add("Content-Type", "application/sdp")
            if auth is not None:
                request.add(*auth)
            request.body = body
            txn = self.transactions.send_request(request, peer)

            def provisional(resp: SipResponse) -> None:
                if resp.status in (180, 183) and on_ringing is not None:
                    on_ringing()

            txn.on_provisional = provisional
            waits: set[asyncio.Future[Any]] = {txn.final}
            if cancel is not None:
                waits.add(cancel)
            done, _ = await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if txn.final not in done:
                why = (487, "Cancelled") if cancel is not None and cancel.done() else (408, "No Answer")
                await self._cancel_invite(call, request, txn.final, peer)
                raise OriginateFailed(*why)
            response = txn.final.result()
            if response.status in (401, 407) and digest is not None and auth is None:
                challenge = response.get("WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate")
                auth = digest.answer(response.status, challenge or "", "INVITE", request.uri) if challenge else None
                if auth is not None:
                    continue
            if not 200 <= response.status < 300:
                # A 3xx is a failure like any other: its Contact is never dialled, so a
                # redirect cannot send the box to a number nobody allowed (toll fraud).
                if 300 <= response.status < 400:
                    log.warning("call %s: %d redirect to %s ignored", call.call_id, response.status,
                                (response.get("Contact") or "")[:80])  # fmt: skip
                raise OriginateFailed(response.status, response.reason)
            self._confirm(call, response, peer)
            return call
        raise OriginateFailed(401, "authentication failed")

    def _confirm(self, call: SipCall, response: SipResponse, peer: Peer) -> None:
        call.remote_tag = response.to_tag
        call.remote_header = response.get("To") or call.remote_header
        contact = response.values("Contact")
        if contact:
            call.remote_target = parse_name_addr(contact[0]).uri
        call.route_set = list(reversed(response.values("Record-Route")))
        ack = call.build_request("ACK")
        ack.set("CSeq", f"{response.cseq[0]} ACK")
        self.transport.send(ack, call.request_peer())
        call.state = "confirmed"
        call.answered_at = asyncio.get_running_loop().time()
        try:
            session = parse_sdp(response.body.decode(errors="replace"))
            _, neg = negotiate(session, self.codecs)
        except SdpError as err:
            log.warning("call %s: unusable SDP answer: %s", call.call_id, err)
            self.spawn(call.hangup())
            raise OriginateFailed(488, f"unusable SDP answer: {err}") from err
        if call.offer_srtp and neg.crypto is None:
            log.warning("call %s: answered without SRTP although only SRTP was offered; hanging up", call.call_id)
            self.spawn(call.hangup())
            raise OriginateFailed(488, "the phone answered without SRTP (RTP/SAVP was offered)")
        call.apply(neg)
        call.stream.start()

    async def _cancel_invite(
        self, call: SipCall, invite: SipRequest, final: asyncio.Future[SipResponse], peer: Peer
    ) -> None:
        cancel = SipRequest(method="CANCEL", uri=invite.uri)
        cancel.add("Via", invite.get_all("Via")[0])
        for route in invite.get_all("Route"):
            cancel.add("Route", route)
        cancel.add("Max-Forwards", "70")
        cancel.add("From", invite.get("From") or "")
        cancel.add("To", invite.get("To") or "")
        cancel.add("Call-ID", invite.call_id)
        cancel.add("CSeq", f"{invite.cseq[0]} CANCEL")
        try:
            self.transactions.send_request(cancel, peer)
        except ConnectionError:
            return
        try:
            response = await asyncio.wait_for(asyncio.shield(final), 5)
        except TimeoutError:
            return
        if 200 <= response.status < 300:  # answered at the same moment: ACK, then BYE
            self._confirm_then_bye(call, response, peer)

    def _confirm_then_bye(self, call: SipCall, response: SipResponse, peer: Peer) -> None:
        try:
            self._confirm(call, response, peer)
        except OriginateFailed:
            return
        self.spawn(call.hangup())


def split_first(value: str) -> str:
    return split_commas(value)[0]


def _uri_user(uri: str) -> str:
    try:
        return parse_uri(uri).user
    except SipParseError:
        return ""


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


__all__ = ["CODECS", "SipUserAgent"]
