"""SIP transactions (RFC 3261 §17, with RFC 6026's Accepted state).

Server transactions absorb retransmitted requests and retransmit their
last response; client transactions retransmit requests over UDP and time
out (Timer B/F) with a synthetic 408. The tables are bounded: when full,
new requests are refused with 503 instead of growing memory.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from zentrale.lines.sip.message import SipRequest, SipResponse, make_response
from zentrale.lines.sip.transport import Peer, SipTransport, response_peer

log = logging.getLogger(__name__)

T1 = 0.5
T2 = 4.0
T4 = 5.0
MAX_SERVER_TRANSACTIONS = 4096
MAX_CLIENT_TRANSACTIONS = 4096


def server_key(request: SipRequest) -> tuple[str, ...]:
    via = request.top_via
    method = request.method
    if via.branch.startswith("z9hG4bK") and len(via.branch) > 7:
        return ("3261", via.branch, f"{via.host}:{via.port or 5060}", method)
    # RFC 2543 peers: no magic cookie, match on dialog-ish fields (§17.2.3)
    return ("2543", request.call_id, request.from_tag, str(request.cseq[0]), method, str(via))


class ServerTransaction:
    def __init__(self, layer: TransactionLayer, request: SipRequest, peer: Peer, key: tuple[str, ...]) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.key = key
        self.last: SipResponse | None = None
        self.state = "trying"
        self._timers: list[asyncio.TimerHandle] = []
        self._reply_to = response_peer(request, peer)

    @property
    def reliable(self) -> bool:
        return self.peer.transport != "udp"

    def respond(self, response: SipResponse) -> None:
        if self.state in ("completed", "accepted", "confirmed", "terminated"):
            log.debug("sip: response %d after final on %s ignored", response.status, self.key)
            return
        self.last = response
        self.layer.count(response.status)
        self._send(response)
        if response.status < 200:
            self.state = "proceeding"
            return
        if self.request.method != "INVITE":
            self.state = "completed"
            self._later(0 if self.reliable else 64 * T1, self.terminate)  # Timer J
        elif response.status < 300:
            self.state = "accepted"  # RFC 6026 §7.1: absorb INVITE retransmissions
            self._later(64 * T1, self.terminate)  # Timer L
        else:
            self.state = "completed"
            if not self.reliable:
                self._retransmit_final(T1)  # Timer G
            self._later(64 * T1, self.terminate)  # Timer H

    def reply(self, status: int, reason: str, **kw: object) -> SipResponse:
        response = make_response(self.request, status, reason, **kw)  # type: ignore[arg-type]
        self.respond(response)
        return response

    def _retransmit_final(self, interval: float) -> None:
        def fire() -> None:
            if self.state == "completed" and self.last is not None:
                self._send(self.last)
                self._retransmit_final(min(interval * 2, T2))

        self._later(interval, fire)

    def retransmission(self) -> None:
        """The same request came again: repeat the last response (§17.2.1, §17.2.2)."""
        if self.last is not None and self.state != "accepted":
            self._send(self.last)

    def acked(self) -> None:
        if self.state == "completed":
            self.state = "confirmed"
            self._cancel_timers()
            self._later(0 if self.reliable else T4, self.terminate)  # Timer I

    def _send(self, response: SipResponse) -> None:
        if self._reply_to is None:
            return
        try:
            self.layer.transport.send(response, self._reply_to)
        except OSError as err:
            log.info("sip: cannot send %d to %s: %s", response.status, self._reply_to.addr, err)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def _cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def terminate(self) -> None:
        self.state = "terminated"
        self._cancel_timers()
        self.layer.server.pop(self.key, None)


class ClientTransaction:
    def __init__(self, layer: TransactionLayer, request: SipRequest, peer: Peer) -> None:
        self.layer = layer
        self.request = request
        self.peer = peer
        self.branch = request.top_via.branch
        self.method = request.method
        self.final: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()
        self.on_provisional: Callable[[SipResponse], None] | None = None
        self.state = "calling"
        self._timers: list[asyncio.TimerHandle] = []

    @property
    def key(self) -> tuple[str, str]:
        return (self.branch, self.method)

    def start(self) -> None:
        self._send(self.request)
        if self.peer.transport == "udp":
            self._retransmit(T1)
        self._later(64 * T1, self._timeout)  # Timer B / F

    def _retransmit(self, interval: float) -> None:
        def fire() -> None:
            if self.state == "calling" or (self.state == "proceeding" and self.method != "INVITE"):
                self._send(self.request)
                nxt = T2 if self.state == "proceeding" else min(interval * 2, T2)
                self._retransmit(nxt if self.method != "INVITE" else interval * 2)

        self._later(interval, fire)

    def _timeout(self) -> None:
        if not self.final.done():
            self.final.set_result(make_response(self.request, 408, "Request Timeout"))
        self.terminate()

    def handle(self, response: SipResponse) -> None:
        if response.status < 200:
            if self.state == "calling":
                self.state = "proceeding"
            if self.on_provisional is not None and not self.final.done():
                self.on_provisional(response)
            return
        if self.method == "INVITE" and response.status >= 300:
            self._send(self._ack_for(response))  # §17.1.1.3: ACK for non-2xx, same branch
            if self.state == "completed":
                return
        if self.state == "completed":
            return
        self.state = "completed"
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if not self.final.done():
            self.final.set_result(response)
        if self.method == "INVITE" and response.status < 300:
            self.terminate()  # 2xx retransmissions go to the dialog (TU)
        else:
            self._later(
                0 if self.peer.transport != "udp" else (32.0 if self.method == "INVITE" else T4), self.terminate
            )

    def _ack_for(self, response: SipResponse) -> SipRequest:
        ack = SipRequest(method="ACK", uri=self.request.uri)
        ack.add("Via", self.request.get_all("Via")[0])
        for route in self.request.get_all("Route"):
            ack.add("Route", route)
        ack.add("From", self.request.get("From") or "")
        ack.add("To", response.get("To") or "")
        ack.add("Call-ID", self.request.call_id)
        ack.add("CSeq", f"{self.request.cseq[0]} ACK")
        ack.add("Max-Forwards", "70")
        return ack

    def cancel_timers(self) -> None:
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()

    def _send(self, msg: SipRequest) -> None:
        try:
            self.layer.transport.send(msg, self.peer)
        except OSError as err:
            log.info("sip: cannot send %s to %s: %s", msg.method, self.peer.addr, err)
            if not self.final.done():
                self.final.set_result(make_response(self.request, 503, "Service Unavailable"))
            self.terminate()

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        self._timers.append(asyncio.get_running_loop().call_later(delay, fn))

    def terminate(self) -> None:
        self.state = "terminated"
        self.cancel_timers()
        self.layer.client.pop(self.key, None)


class TransactionLayer:
    def __init__(self, transport: SipTransport) -> None:
        self.transport = transport
        self.server: dict[tuple[str, ...], ServerTransaction] = {}
        self.client: dict[tuple[str, str], ClientTransaction] = {}
        self.responses_sent: dict[int, int] = {}  # status -> answers given (not retransmissions)

    def count(self, status: int) -> None:
        self.responses_sent[status] = self.responses_sent.get(status, 0) + 1

    def match_request(self, request: SipRequest, peer: Peer) -> tuple[ServerTransaction | None, bool]:
        """(transaction, is_new). ACK and CANCEL are matched to their INVITE's transaction
        elsewhere; here a retransmission is answered and reported as not new."""
        key = server_key(request)
        existing = self.server.get(key)
        if existing is not None:
            existing.retransmission()
            return existing, False
        if len(self.server) >= MAX_SERVER_TRANSACTIONS:
            log.warning("sip: transaction table full, refusing %s from %s", request.method, peer.host)
            return None, False
        txn = ServerTransaction(self, request, peer, key)
        self.server[key] = txn
        return txn, True

    def invite_transaction_for(self, request: SipRequest) -> ServerTransaction | None:
        """The INVITE transaction a CANCEL or a non-2xx ACK belongs to (same branch)."""
        try:
            via = request.top_via
        except ValueError:
            return None
        key: tuple[str, ...]
        if via.branch.startswith("z9hG4bK") and len(via.branch) > 7:
            key = ("3261", via.branch, f"{via.host}:{via.port or 5060}", "INVITE")
        else:
            key = ("2543", request.call_id, request.from_tag, str(request.cseq[0]), "INVITE", str(via))
        return self.server.get(key)

    def send_request(self, request: SipRequest, peer: Peer) -> ClientTransaction:
        if len(self.client) >= MAX_CLIENT_TRANSACTIONS:
            raise ConnectionError("too many outgoing transactions")
        txn = ClientTransaction(self, request, peer)
        self.client[txn.key] = txn
        txn.start()
        return txn

    def match_response(self, response: SipResponse) -> ClientTransaction | None:
        try:
            branch = response.top_via.branch
        except ValueError:
            return None
        txn = self.client.get((branch, response.cseq[1]))
        if txn is not None:
            txn.handle(response)
        return txn
