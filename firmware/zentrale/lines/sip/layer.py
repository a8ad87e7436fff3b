"""The transaction layer: drives the state machines of ``transactions.py`` with
real timers and the transport.

Tables (docs/security.md):

- ``live`` server transactions (not answered finally yet) are bounded by the
  ``Admission.transactions`` share: a source gets a 503 when its share or the
  table is full, and is not charged for it;
- answered ones move to ``completed``, which keeps only the answer's bytes
  and is bounded by memory (``limits.completed_memory_mb``): when it is full
  the oldest is forgotten, so an answered transaction never refuses a request;
- client transactions (the box's own requests) are bounded by their count.

Every timer of every transaction lives in one heap served by one loop
handle, instead of a loop handle per timer per transaction.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from zentrale.lines.sip.admission import Share
from zentrale.lines.sip.message import SipParseError, SipRequest, SipResponse
from zentrale.lines.sip.transactions import (
    T1,
    TIMER_C,
    TU_TIMEOUT,
    Action,
    ClientInvite,
    ClientNonInvite,
    ClientTransaction,
    Deliver,
    Send,
    ServerInvite,
    ServerNonInvite,
    ServerTransaction,
    StartTimer,
    State,
    StopTimers,
    Terminate,
    Timer,
    TransactionError,
    invite_key,
    server_key,
)
from zentrale.lines.sip.transport import Peer, SipTransport, response_peer

log = logging.getLogger(__name__)

MAX_CLIENT_TRANSACTIONS = 4096
_ENTRY_OVERHEAD = 400  # bytes a completed transaction costs besides its answer

Machine = ServerTransaction | ClientTransaction


@dataclass(eq=False)
class OutgoingRequest:
    """A request the box sent: its machine, and where its answers go."""

    machine: ClientTransaction
    final: asyncio.Future[SipResponse]
    on_provisional: Callable[[SipResponse], None] | None = None
    on_late_2xx: Callable[[SipResponse], None] | None = None  # 2xx retransmissions (RFC 6026 Accepted)

    @property
    def request(self) -> SipRequest:
        return self.machine.request


@dataclass
class TimerHeap:
    """Due times of every transaction timer; cancelled timers are skipped when they come due."""

    heap: list[tuple[float, int, Machine, Timer, int]] = field(default_factory=list)
    seq: itertools.count[int] = field(default_factory=itertools.count)

    def push(self, when: float, machine: Machine, timer: Timer) -> None:
        generation = next(self.seq)
        machine.timers[timer] = generation
        heapq.heappush(self.heap, (when, generation, machine, timer, generation))

    def due(self, now: float) -> list[tuple[Machine, Timer]]:
        out: list[tuple[Machine, Timer]] = []
        heap = self.heap
        while heap and heap[0][0] <= now:
            _, _, machine, timer, generation = heapq.heappop(heap)
            if machine.timers.get(timer) == generation:
                del machine.timers[timer]
                out.append((machine, timer))
        return out

    def next_due(self) -> float | None:
        return self.heap[0][0] if self.heap else None


class TransactionLayer:
    def __init__(
        self,
        transport: SipTransport,
        shares: Share,
        *,
        completed_bytes: int = 32 * 1024 * 1024,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.transport = transport
        self.shares = shares
        self.completed_bytes = completed_bytes
        self.live: dict[tuple[str, ...], ServerTransaction] = {}
        self.completed: OrderedDict[tuple[str, ...], ServerTransaction] = OrderedDict()
        self._completed_size = 0
        self.client: dict[tuple[str, str], OutgoingRequest] = {}
        self.responses_sent: dict[int, int] = {}  # status -> answers given (not retransmissions)
        self.evicted = 0  # completed transactions forgotten early for memory
        self.abandoned = 0  # server transactions the transaction user never answered (500 by timer TU)
        self.on_abandoned: Callable[[ServerTransaction], None] | None = None
        self._timers = TimerHeap()
        self._handle: asyncio.TimerHandle | None = None
        self._handle_when = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._now = now

    # --- time -----------------------------------------------------------------------------

    def _time(self) -> float:
        if self._now is not None:
            return self._now()
        return self._get_loop().time()

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _arm(self) -> None:
        when = self._timers.next_due()
        if when is None or self._now is not None:
            return
        if self._handle is not None:
            if self._handle_when <= when:
                return
            self._handle.cancel()
        self._handle_when = when
        self._handle = self._get_loop().call_at(when, self._fire)

    def _fire(self) -> None:
        self._handle = None
        self.run_timers()
        self._arm()

    def run_timers(self) -> None:
        """Fire every timer that is due (the loop calls this; tests with an injected clock too)."""
        for machine, timer in self._timers.due(self._time()):
            try:
                actions = machine.timer(timer)
            except TransactionError as err:
                log.debug("sip: %s", err)
                continue
            self._execute(machine, actions)
            if timer is Timer.TU and isinstance(machine, ServerTransaction):
                # The transaction user never answered: the machine sent 500; the call behind it ends.
                self.abandoned += 1
                self.count(500)
                log.warning("sip: %s from %s not answered in time by the box; answered 500", machine.method,
                            machine.source)  # fmt: skip
                if self.on_abandoned is not None:
                    self.on_abandoned(machine)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    # --- carrying out actions -------------------------------------------------------------

    def _execute(self, machine: Machine, actions: list[Action]) -> None:
        now = None
        for action in actions:
            if isinstance(action, Send):
                self._send(machine, action.data)
            elif isinstance(action, StartTimer):
                if now is None:
                    now = self._time()
                self._timers.push(now + action.delay, machine, action.timer)
            elif isinstance(action, StopTimers):
                machine.timers.clear()
            elif isinstance(action, Deliver):
                self._deliver(machine, action.response)
            elif isinstance(action, Terminate):
                self._forget(machine, action.reason)
        if isinstance(machine, ServerTransaction):
            self._file(machine)
        self._arm()

    def _send(self, machine: Machine, data: bytes) -> None:
        peer = machine.reply_to if isinstance(machine, ServerTransaction) else machine.peer
        if peer is None:
            return
        try:
            self.transport.send_bytes(data, peer, on_error=lambda err: self._send_failed(machine, peer, err))
        except (OSError, ConnectionError) as err:
            self._send_failed(machine, peer, err)

    def _send_failed(self, machine: Machine, peer: Peer, err: BaseException) -> None:
        """A transport error (now, or later when a connection could not be opened) ends the
        transaction (RFC 3261 §17.1.4, §17.2.4)."""
        log.info("sip: cannot send to %s:%d: %s", peer.host, peer.port, err)
        if machine.state is State.TERMINATED:
            return
        try:
            actions = machine.transport_failed()
        except TransactionError as terr:  # a state that no longer sends (it moved on meanwhile)
            log.debug("sip: %s", terr)
            return
        self._execute(machine, actions)

    def _deliver(self, machine: Machine, response: SipResponse) -> None:
        pending = self.client.get(machine.key) if isinstance(machine, ClientTransaction) else None
        if pending is None or pending.machine is not machine:
            return
        if response.status < 200:
            if pending.on_provisional is not None and not pending.final.done():
                pending.on_provisional(response)
        elif not pending.final.done():
            pending.final.set_result(response)
        elif 200 <= response.status < 300 and pending.on_late_2xx is not None:
            pending.on_late_2xx(response)

    def _file(self, txn: ServerTransaction) -> None:
        """Move a server transaction to the table its state belongs in."""
        key = txn.key
        if txn.state is State.TERMINATED:
            return
        if txn.final and self.live.get(key) is txn:
            del self.live[key]
            self.shares.release(txn.source)
            if txn.timers:  # something left to absorb
                self._remember_completed(txn)

    def _remember_completed(self, txn: ServerTransaction) -> None:
        self.completed[txn.key] = txn
        self._completed_size += len(txn.last or b"") + _ENTRY_OVERHEAD
        while self._completed_size > self.completed_bytes and self.completed:
            _, old = self.completed.popitem(last=False)
            old.timers.clear()
            self._completed_size -= len(old.last or b"") + _ENTRY_OVERHEAD
            self.evicted += 1

    def _forget(self, machine: Machine, reason: str) -> None:
        machine.timers.clear()
        if isinstance(machine, ClientTransaction):
            pending = self.client.get(machine.key)
            if pending is not None and pending.machine is machine:
                del self.client[machine.key]
                if not pending.final.done():
                    pending.final.set_result(machine.synthetic(408, "Request Timeout"))
            return
        key = machine.key
        if self.live.get(key) is machine:
            del self.live[key]
            self.shares.release(machine.source)
        elif self.completed.get(key) is machine:
            del self.completed[key]
            self._completed_size -= len(machine.last or b"") + _ENTRY_OVERHEAD

    # --- server side ------------------------------------------------------------------------

    def match_request(
        self, request: SipRequest, peer: Peer, *, tu_timeout: float = TU_TIMEOUT
    ) -> tuple[ServerTransaction | None, bool, str | None]:
        """(transaction, is_new, refusal). A retransmission is answered here and reported
        as not new; ``refusal`` ("full" or "share") when no transaction could be made."""
        key = server_key(request)
        existing = self.live.get(key) or self.completed.get(key)
        if existing is not None:
            try:
                actions = existing.retransmitted()
            except TransactionError as err:
                log.debug("sip: %s", err)
                return existing, False, None
            self._execute(existing, actions)
            return existing, False, None
        refusal = self.shares.acquire(peer.host)
        if refusal is not None:
            return None, False, refusal
        txn: ServerTransaction
        if request.method == "INVITE":
            txn = ServerInvite(request, peer, key, response_peer(request, peer))
        else:
            txn = ServerNonInvite(request, peer, key, response_peer(request, peer))
        self.live[key] = txn
        self._execute(txn, txn.start(tu_timeout))
        return txn, True, None

    def respond(self, txn: ServerTransaction, response: SipResponse) -> None:
        try:
            actions = txn.respond(response)
        except TransactionError as err:
            log.debug("sip: %d not sent: %s", response.status, err)
            return
        if txn.last is not None:
            self.count(response.status)
        self._execute(txn, actions)

    def reply(self, txn: ServerTransaction, status: int, reason: str, **kw: object) -> None:
        try:
            actions = txn.reply(status, reason, **kw)
        except TransactionError as err:
            log.debug("sip: %d not sent: %s", status, err)
            return
        self.count(status)
        self._execute(txn, actions)

    def count(self, status: int) -> None:
        self.responses_sent[status] = self.responses_sent.get(status, 0) + 1

    def invite_transaction_for(self, request: SipRequest) -> ServerTransaction | None:
        """The INVITE transaction a CANCEL or a non-2xx ACK belongs to (same branch)."""
        try:
            key = invite_key(request)
        except SipParseError:
            return None
        return self.live.get(key) or self.completed.get(key)

    def ack(self, request: SipRequest) -> bool:
        """An ACK for one of our non-2xx answers: absorbed by its transaction (True)."""
        txn = self.invite_transaction_for(request)
        if txn is None or txn.state not in (State.COMPLETED, State.CONFIRMED):
            return False
        self._execute(txn, txn.acked())
        return True

    # --- client side --------------------------------------------------------------------------

    def send_request(
        self,
        request: SipRequest,
        peer: Peer,
        *,
        timeout: float = 64 * T1,
        timer_c: float = TIMER_C,
        ack_builder: Callable[[SipResponse], SipRequest] | None = None,
    ) -> OutgoingRequest:
        """Send a request in a new client transaction; its final answer arrives in ``.final``
        (a synthetic 408 on timeout, 503 when it cannot be sent)."""
        if len(self.client) >= MAX_CLIENT_TRANSACTIONS:
            raise ConnectionError("too many outgoing transactions")
        machine: ClientTransaction
        if request.method == "INVITE":
            machine = ClientInvite(request, peer, timeout=timeout, timer_c=timer_c)
            machine.ack_builder = ack_builder
        else:
            machine = ClientNonInvite(request, peer, timeout=timeout)
        pending = OutgoingRequest(machine, self._get_loop().create_future())
        self.client[machine.key] = pending
        self._execute(machine, machine.start())
        return pending

    def match_response(self, response: SipResponse) -> OutgoingRequest | None:
        try:
            branch = response.top_via.branch
            method = response.cseq[1]
        except SipParseError:
            return None
        pending = self.client.get((branch, method))
        if pending is None:
            return None
        try:
            actions = pending.machine.received(response)
        except TransactionError as err:
            log.debug("sip: %s", err)
            return pending
        self._execute(pending.machine, actions)
        return pending

    # --- figures ------------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return {
            "live": len(self.live),
            "completed": len(self.completed),
            "completed_kib": round(self._completed_size / 1024),
            "client": len(self.client),
            "evicted": self.evicted,
            "abandoned": self.abandoned,
            "timers": len(self._timers.heap),
        }


__all__ = ["TIMER_C", "TU_TIMEOUT", "OutgoingRequest", "TransactionLayer"]
