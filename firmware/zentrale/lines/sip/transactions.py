"""SIP transactions as explicit state machines (RFC 3261 §17, RFC 6026), without I/O.

Four machines, one per kind: INVITE and non-INVITE, server and client. Each
holds its state as an enum and takes its transitions from one table
(``TABLE``), as h11 does for HTTP: an input that the table does not list for
the current state is a ``TransactionError``. Inputs are method calls
(``respond``, ``retransmitted``, ``acked``, ``received``, ``timer``,
``transport_failed``); outputs are lists of actions (``Send``, ``StartTimer``,
``Deliver``, ``Terminate``) that the driver (``layer.py``) carries out.

Every state except TERMINATED has a timer that ends it. RFC 3261 leaves two
states open-ended, and we close them:

- a server transaction whose transaction user never answers (Trying or
  Proceeding) is answered 500 by timer ``TU`` and completes;
- an INVITE client transaction in Proceeding (the phone rings for ever, or a
  CANCEL got no answer) ends by timer ``C`` (as RFC 3261 §16.6 does for
  proxies) with a synthetic 408.

A server transaction that has sent its final answer drops the request and
keeps only the key, where answers go and the answer's bytes: all it still
needs to absorb retransmissions (``compact``).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar

from zentrale.lines.sip.message import SipRequest, SipResponse, make_response, new_tag
from zentrale.lines.sip.transport import Peer

T1 = 0.5  # RTT estimate (RFC 3261 §17.1.1.1)
T2 = 4.0  # maximum retransmit interval for non-INVITE requests and INVITE responses
T4 = 5.0  # maximum duration a message remains in the network
TU_TIMEOUT = 32.0  # seconds a server transaction waits for its transaction user (then 500)
TIMER_C = 180.0  # seconds an INVITE client transaction may stay in Proceeding (RFC 3261 §16.6: > 3 min)


class TransactionError(RuntimeError):
    """An input the state machine does not allow in its current state."""


class State(enum.Enum):
    CALLING = "calling"  # INVITE client: request sent, nothing heard
    TRYING = "trying"  # non-INVITE client or server: request sent / received, no answer
    PROCEEDING = "proceeding"  # a provisional answer was sent / received
    COMPLETED = "completed"  # a final answer (non-2xx for INVITE); absorbing retransmissions
    ACCEPTED = "accepted"  # RFC 6026: a 2xx to an INVITE; absorbing INVITE / 2xx retransmissions
    CONFIRMED = "confirmed"  # INVITE server: the ACK for a non-2xx arrived; absorbing ACKs
    TERMINATED = "terminated"


class Timer(enum.Enum):
    """RFC 3261 §17 timer names (A-K), RFC 6026's L and M, and our two guards."""

    A = "A"  # INVITE client retransmission (UDP)
    B = "B"  # INVITE client timeout
    C = "C"  # INVITE client in Proceeding: the guard
    D = "D"  # INVITE client Completed: absorb retransmitted non-2xx
    E = "E"  # non-INVITE client retransmission (UDP)
    F = "F"  # non-INVITE client timeout
    G = "G"  # INVITE server: retransmit the non-2xx final (UDP)
    H = "H"  # INVITE server: give up waiting for the ACK
    I = "I"  # INVITE server Confirmed: absorb ACKs  # noqa: E741
    J = "J"  # non-INVITE server Completed: absorb retransmitted requests
    K = "K"  # non-INVITE client Completed: absorb retransmitted answers
    L = "L"  # INVITE server Accepted
    M = "M"  # INVITE client Accepted
    TU = "TU"  # server: the transaction user did not answer in time


class Input(enum.Enum):
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_FINAL = "send 3xx-6xx"
    RETRANSMITTED = "request retransmitted"
    ACK = "ACK"
    RECV_1XX = "received 1xx"
    RECV_2XX = "received 2xx"
    RECV_FINAL = "received 3xx-6xx"
    TRANSPORT_FAILED = "transport failed"
    TIMER_A = "timer A"
    TIMER_B = "timer B"
    TIMER_C = "timer C"
    TIMER_D = "timer D"
    TIMER_E = "timer E"
    TIMER_F = "timer F"
    TIMER_G = "timer G"
    TIMER_H = "timer H"
    TIMER_I = "timer I"
    TIMER_J = "timer J"
    TIMER_K = "timer K"
    TIMER_L = "timer L"
    TIMER_M = "timer M"
    TIMER_TU = "timer TU"


def _timer_input(timer: Timer) -> Input:
    return Input[f"TIMER_{timer.value}"]


# --- actions (what the driver does) ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send these bytes to the transaction's peer."""

    data: bytes


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start ``timer``: it fires once after ``delay`` seconds unless stopped."""

    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class StopTimers:
    """Stop every running timer of the transaction."""


@dataclass(frozen=True, slots=True)
class Deliver:
    """Hand a response to the transaction user (client transactions)."""

    response: SipResponse


@dataclass(frozen=True, slots=True)
class Terminate:
    """The transaction is over: forget it."""

    reason: str = ""


Action = Send | StartTimer | StopTimers | Deliver | Terminate
Table = Mapping[tuple[State, Input], State]


def _apply(table: Table, name: str, state: State, event: Input) -> State:
    try:
        return table[(state, event)]
    except KeyError:
        raise TransactionError(f"{name}: {event.value} is not allowed in state {state.value}") from None


# --- server transactions ---------------------------------------------------------------------


class ServerTransaction:
    """What both server machines share: the key, where answers go, the last answer."""

    TABLE: ClassVar[Table] = {}
    __slots__ = ("g_interval", "key", "last", "method", "peer", "reliable", "reply_to", "request", "source", "state",
                 "timers")  # fmt: skip

    def __init__(self, request: SipRequest, peer: Peer, key: tuple[str, ...], reply_to: Peer | None) -> None:
        self.key = key
        self.method = request.method
        self.request: SipRequest | None = request  # dropped once the final answer is sent
        self.peer = peer  # where the request came from
        self.source = peer.host
        self.reply_to = reply_to  # where answers go (RFC 3261 §18.2.2); None: nowhere we may send
        self.reliable = peer.transport != "udp"
        self.last: bytes | None = None  # the last answer, as sent
        self.g_interval = T1
        self.state = State.PROCEEDING if request.method == "INVITE" else State.TRYING
        self.timers: dict[Timer, int] = {}  # the driver's bookkeeping: running timers and their generation

    def _go(self, event: Input) -> None:
        self.state = _apply(self.TABLE, type(self).__name__, self.state, event)

    @property
    def final(self) -> bool:
        """The final answer has been sent."""
        return self.state in (State.COMPLETED, State.ACCEPTED, State.CONFIRMED, State.TERMINATED)

    def start(self, tu_timeout: float = TU_TIMEOUT) -> list[Action]:
        return [StartTimer(Timer.TU, tu_timeout)]

    def reply(self, status: int, reason: str, **kw: object) -> list[Action]:
        """Answer with a response built from the request (only before the final answer)."""
        if self.request is None:
            raise TransactionError(f"{type(self).__name__}: no request left to answer in state {self.state.value}")
        return self.respond(make_response(self.request, status, reason, **kw))  # type: ignore[arg-type]

    def respond(self, response: SipResponse) -> list[Action]:
        raise NotImplementedError

    def _sent(self, response: SipResponse) -> Send:
        self.last = response.to_bytes()
        return Send(self.last)

    def compact(self) -> None:
        """Keep only what absorbing retransmissions needs."""
        self.request = None

    def retransmitted(self) -> list[Action]:
        raise NotImplementedError

    def acked(self) -> list[Action]:
        raise TransactionError(f"{type(self).__name__}: ACK is not part of this transaction")

    def timer(self, timer: Timer) -> list[Action]:
        raise NotImplementedError

    def transport_failed(self) -> list[Action]:
        self._go(Input.TRANSPORT_FAILED)
        return [StopTimers(), Terminate("transport failed")]

    def _tu_timeout(self) -> list[Action]:
        """The transaction user never answered: 500 (RFC 3261 §21.5.1) and complete."""
        if self.request is None:
            return [Terminate("no answer from the transaction user")]
        response = make_response(self.request, 500, "Server Internal Error", to_tag=new_tag())
        response.add("Retry-After", "5")
        return self.respond(response)


class ServerInvite(ServerTransaction):
    """RFC 3261 §17.2.1 with RFC 6026 §7.1 (Accepted)."""

    TABLE: ClassVar[Table] = {
        (State.PROCEEDING, Input.SEND_1XX): State.PROCEEDING,
        (State.PROCEEDING, Input.SEND_2XX): State.ACCEPTED,
        (State.PROCEEDING, Input.SEND_FINAL): State.COMPLETED,
        (State.PROCEEDING, Input.RETRANSMITTED): State.PROCEEDING,
        (State.PROCEEDING, Input.TIMER_TU): State.PROCEEDING,  # then SEND_FINAL (500)
        (State.PROCEEDING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.ACCEPTED, Input.SEND_2XX): State.ACCEPTED,  # the TU retransmits its 2xx
        (State.ACCEPTED, Input.RETRANSMITTED): State.ACCEPTED,
        (State.ACCEPTED, Input.ACK): State.ACCEPTED,
        (State.ACCEPTED, Input.TIMER_L): State.TERMINATED,
        (State.ACCEPTED, Input.TRANSPORT_FAILED): State.ACCEPTED,  # the TU's 2xx retransmission; not ours
        (State.COMPLETED, Input.RETRANSMITTED): State.COMPLETED,
        (State.COMPLETED, Input.TIMER_G): State.COMPLETED,
        (State.COMPLETED, Input.ACK): State.CONFIRMED,
        (State.COMPLETED, Input.TIMER_H): State.TERMINATED,
        (State.COMPLETED, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.CONFIRMED, Input.ACK): State.CONFIRMED,
        (State.CONFIRMED, Input.RETRANSMITTED): State.CONFIRMED,
        (State.CONFIRMED, Input.TIMER_I): State.TERMINATED,
    }
    __slots__ = ()

    def respond(self, response: SipResponse) -> list[Action]:
        status = response.status
        event = Input.SEND_1XX if status < 200 else Input.SEND_2XX if status < 300 else Input.SEND_FINAL
        before = self.state
        self._go(event)
        actions: list[Action] = [self._sent(response)]
        if event is Input.SEND_1XX or before is State.ACCEPTED:
            return actions
        actions.append(StopTimers())
        if event is Input.SEND_2XX:
            actions.append(StartTimer(Timer.L, 64 * T1))  # RFC 6026 §7.1
        else:
            if not self.reliable:
                self.g_interval = T1
                actions.append(StartTimer(Timer.G, T1))
            actions.append(StartTimer(Timer.H, 64 * T1))
        self.compact()
        return actions

    def retransmitted(self) -> list[Action]:
        before = self.state
        self._go(Input.RETRANSMITTED)
        # Proceeding: repeat the last provisional; Completed: the final (§17.2.1).
        # Accepted: absorbed, the TU retransmits its 2xx itself (RFC 6026 §7.1).
        if before in (State.PROCEEDING, State.COMPLETED) and self.last is not None:
            return [Send(self.last)]
        return []

    def acked(self) -> list[Action]:
        before = self.state
        self._go(Input.ACK)
        if before is State.COMPLETED:
            return [StopTimers(), StartTimer(Timer.I, 0 if self.reliable else T4)]
        return []

    def timer(self, timer: Timer) -> list[Action]:
        self._go(_timer_input(timer))
        if timer is Timer.TU:
            return self._tu_timeout()
        if timer is Timer.G:
            self.g_interval = min(2 * self.g_interval, T2)
            return [Send(self.last), StartTimer(Timer.G, self.g_interval)] if self.last else []
        if timer is Timer.H:
            return [StopTimers(), Terminate("no ACK for the final answer")]
        return [StopTimers(), Terminate()]  # I, L

    def transport_failed(self) -> list[Action]:
        if self.state is State.ACCEPTED:
            self._go(Input.TRANSPORT_FAILED)
            return []
        return super().transport_failed()


class ServerNonInvite(ServerTransaction):
    """RFC 3261 §17.2.2."""

    TABLE: ClassVar[Table] = {
        (State.TRYING, Input.SEND_1XX): State.PROCEEDING,
        (State.TRYING, Input.SEND_2XX): State.COMPLETED,
        (State.TRYING, Input.SEND_FINAL): State.COMPLETED,
        (State.TRYING, Input.RETRANSMITTED): State.TRYING,
        (State.TRYING, Input.TIMER_TU): State.TRYING,  # then SEND_FINAL (500)
        (State.TRYING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.PROCEEDING, Input.SEND_1XX): State.PROCEEDING,
        (State.PROCEEDING, Input.SEND_2XX): State.COMPLETED,
        (State.PROCEEDING, Input.SEND_FINAL): State.COMPLETED,
        (State.PROCEEDING, Input.RETRANSMITTED): State.PROCEEDING,
        (State.PROCEEDING, Input.TIMER_TU): State.PROCEEDING,
        (State.PROCEEDING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.COMPLETED, Input.RETRANSMITTED): State.COMPLETED,
        (State.COMPLETED, Input.TIMER_J): State.TERMINATED,
        (State.COMPLETED, Input.TRANSPORT_FAILED): State.TERMINATED,
    }
    __slots__ = ()

    def respond(self, response: SipResponse) -> list[Action]:
        status = response.status
        event = Input.SEND_1XX if status < 200 else Input.SEND_2XX if status < 300 else Input.SEND_FINAL
        self._go(event)
        actions: list[Action] = [self._sent(response)]
        if event is Input.SEND_1XX:
            return actions
        self.compact()
        actions += [StopTimers(), StartTimer(Timer.J, 0 if self.reliable else 64 * T1)]
        return actions

    def retransmitted(self) -> list[Action]:
        before = self.state
        self._go(Input.RETRANSMITTED)
        if before is not State.TRYING and self.last is not None:
            return [Send(self.last)]
        return []  # Trying: discard (§17.2.2)

    def timer(self, timer: Timer) -> list[Action]:
        self._go(_timer_input(timer))
        if timer is Timer.TU:
            return self._tu_timeout()
        return [StopTimers(), Terminate()]  # J


# --- client transactions ---------------------------------------------------------------------


class ClientTransaction:
    TABLE: ClassVar[Table] = {}
    __slots__ = ("_timeout", "ack_builder", "data", "interval", "key", "method", "peer", "reliable", "request", "state",
                 "timer_c", "timers")  # fmt: skip

    def __init__(self, request: SipRequest, peer: Peer, *, timeout: float = 64 * T1, timer_c: float = TIMER_C) -> None:
        self.request = request
        self.method = request.method
        self.peer = peer
        self.reliable = peer.transport != "udp"
        self.data = request.to_bytes()
        self.interval = T1
        self.timer_c = timer_c
        self.state = State.CALLING if request.method == "INVITE" else State.TRYING
        self._timeout = timeout
        self.ack_builder: Callable[[SipResponse], SipRequest] | None = None
        self.key = (request.top_via.branch, self.method)
        self.timers: dict[Timer, int] = {}  # the driver's bookkeeping: running timers and their generation

    def _go(self, event: Input) -> None:
        self.state = _apply(self.TABLE, type(self).__name__, self.state, event)

    def synthetic(self, status: int, reason: str) -> SipResponse:
        return make_response(self.request, status, reason)

    def transport_failed(self) -> list[Action]:
        before = self.state
        self._go(Input.TRANSPORT_FAILED)
        if before in (State.COMPLETED, State.ACCEPTED):
            return [StopTimers(), Terminate("transport failed")]
        return [StopTimers(), Deliver(self.synthetic(503, "Service Unavailable")), Terminate("transport failed")]

    def start(self) -> list[Action]:
        raise NotImplementedError

    def received(self, response: SipResponse) -> list[Action]:
        raise NotImplementedError

    def timer(self, timer: Timer) -> list[Action]:
        raise NotImplementedError


class ClientInvite(ClientTransaction):
    """RFC 3261 §17.1.1 with RFC 6026 §7.2 (Accepted)."""

    TABLE: ClassVar[Table] = {
        (State.CALLING, Input.TIMER_A): State.CALLING,
        (State.CALLING, Input.TIMER_B): State.TERMINATED,
        (State.CALLING, Input.RECV_1XX): State.PROCEEDING,
        (State.CALLING, Input.RECV_2XX): State.ACCEPTED,
        (State.CALLING, Input.RECV_FINAL): State.COMPLETED,
        (State.CALLING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.PROCEEDING, Input.RECV_1XX): State.PROCEEDING,
        (State.PROCEEDING, Input.RECV_2XX): State.ACCEPTED,
        (State.PROCEEDING, Input.RECV_FINAL): State.COMPLETED,
        (State.PROCEEDING, Input.TIMER_C): State.TERMINATED,
        (State.PROCEEDING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.COMPLETED, Input.RECV_FINAL): State.COMPLETED,
        (State.COMPLETED, Input.RECV_1XX): State.COMPLETED,
        (State.COMPLETED, Input.TIMER_D): State.TERMINATED,
        (State.COMPLETED, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.ACCEPTED, Input.RECV_2XX): State.ACCEPTED,
        (State.ACCEPTED, Input.RECV_1XX): State.ACCEPTED,
        (State.ACCEPTED, Input.RECV_FINAL): State.ACCEPTED,
        (State.ACCEPTED, Input.TIMER_M): State.TERMINATED,
        (State.ACCEPTED, Input.TRANSPORT_FAILED): State.TERMINATED,
    }
    __slots__ = ()

    def start(self) -> list[Action]:
        actions: list[Action] = [Send(self.data), StartTimer(Timer.B, self._timeout)]
        if not self.reliable:
            actions.append(StartTimer(Timer.A, T1))
        return actions

    def received(self, response: SipResponse) -> list[Action]:
        status = response.status
        event = Input.RECV_1XX if status < 200 else Input.RECV_2XX if status < 300 else Input.RECV_FINAL
        before = self.state
        self._go(event)
        if before is State.ACCEPTED:
            # RFC 6026 §7.2: 2xx retransmissions (and other forks' 2xx) go to the TU, which ACKs them
            return [Deliver(response)] if event is Input.RECV_2XX else []
        if before is State.COMPLETED:
            return [Send(self._ack(response))] if event is Input.RECV_FINAL else []
        if event is Input.RECV_1XX:
            if before is State.CALLING:
                return [StopTimers(), StartTimer(Timer.C, self.timer_c), Deliver(response)]
            return [StartTimer(Timer.C, self.timer_c), Deliver(response)]  # any provisional restarts C
        if event is Input.RECV_2XX:
            return [StopTimers(), StartTimer(Timer.M, 64 * T1), Deliver(response)]
        # 300-699: ACK in the transaction, same branch (§17.1.1.3)
        return [Send(self._ack(response)), StopTimers(), StartTimer(Timer.D, 0 if self.reliable else 32.0),
                Deliver(response)]  # fmt: skip

    def _ack(self, response: SipResponse) -> bytes:
        if self.ack_builder is not None:
            return self.ack_builder(response).to_bytes()
        return ack_for(self.request, response).to_bytes()

    def timer(self, timer: Timer) -> list[Action]:
        self._go(_timer_input(timer))
        if timer is Timer.A:
            self.interval *= 2
            return [Send(self.data), StartTimer(Timer.A, self.interval)]
        if timer in (Timer.B, Timer.C):
            return [StopTimers(), Deliver(self.synthetic(408, "Request Timeout")), Terminate("timeout")]
        return [StopTimers(), Terminate()]  # D, M


class ClientNonInvite(ClientTransaction):
    """RFC 3261 §17.1.2."""

    TABLE: ClassVar[Table] = {
        (State.TRYING, Input.TIMER_E): State.TRYING,
        (State.TRYING, Input.TIMER_F): State.TERMINATED,
        (State.TRYING, Input.RECV_1XX): State.PROCEEDING,
        (State.TRYING, Input.RECV_2XX): State.COMPLETED,
        (State.TRYING, Input.RECV_FINAL): State.COMPLETED,
        (State.TRYING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.PROCEEDING, Input.TIMER_E): State.PROCEEDING,
        (State.PROCEEDING, Input.TIMER_F): State.TERMINATED,
        (State.PROCEEDING, Input.RECV_1XX): State.PROCEEDING,
        (State.PROCEEDING, Input.RECV_2XX): State.COMPLETED,
        (State.PROCEEDING, Input.RECV_FINAL): State.COMPLETED,
        (State.PROCEEDING, Input.TRANSPORT_FAILED): State.TERMINATED,
        (State.COMPLETED, Input.RECV_1XX): State.COMPLETED,
        (State.COMPLETED, Input.RECV_2XX): State.COMPLETED,
        (State.COMPLETED, Input.RECV_FINAL): State.COMPLETED,
        (State.COMPLETED, Input.TIMER_K): State.TERMINATED,
        (State.COMPLETED, Input.TRANSPORT_FAILED): State.TERMINATED,
    }
    __slots__ = ()

    def start(self) -> list[Action]:
        actions: list[Action] = [Send(self.data), StartTimer(Timer.F, self._timeout)]
        if not self.reliable:
            actions.append(StartTimer(Timer.E, T1))
        return actions

    def received(self, response: SipResponse) -> list[Action]:
        status = response.status
        event = Input.RECV_1XX if status < 200 else Input.RECV_2XX if status < 300 else Input.RECV_FINAL
        before = self.state
        self._go(event)
        if before is State.COMPLETED:
            return []  # absorbed
        if event is Input.RECV_1XX:
            return [Deliver(response)]
        return [StopTimers(), StartTimer(Timer.K, 0 if self.reliable else T4), Deliver(response)]

    def timer(self, timer: Timer) -> list[Action]:
        before = self.state
        self._go(_timer_input(timer))
        if timer is Timer.E:
            self.interval = T2 if before is State.PROCEEDING else min(2 * self.interval, T2)
            return [Send(self.data), StartTimer(Timer.E, self.interval)]
        if timer is Timer.F:
            return [StopTimers(), Deliver(self.synthetic(408, "Request Timeout")), Terminate("timeout")]
        return [StopTimers(), Terminate()]  # K


def ack_for(request: SipRequest, response: SipResponse) -> SipRequest:
    """The ACK for a non-2xx final answer to ``request`` (RFC 3261 §17.1.1.3): same branch."""
    ack = SipRequest(method="ACK", uri=request.uri)
    ack.add("Via", request.get_all("Via")[0])
    for route in request.get_all("Route"):
        ack.add("Route", route)
    ack.add("From", request.get("From") or "")
    ack.add("To", response.get("To") or "")
    ack.add("Call-ID", request.call_id)
    ack.add("CSeq", f"{request.cseq[0]} ACK")
    ack.add("Max-Forwards", "70")
    return ack


def server_key(request: SipRequest) -> tuple[str, ...]:
    """The key that matches a request to its server transaction (RFC 3261 §17.2.3).

    ACK to a non-2xx and CANCEL are matched to their INVITE by ``invite_key``."""
    via = request.top_via
    return _key(request, via.branch, via.host, via.port, request.method)


def invite_key(request: SipRequest) -> tuple[str, ...]:
    """The key of the INVITE transaction that an ACK (to a non-2xx) or a CANCEL belongs to."""
    via = request.top_via
    return _key(request, via.branch, via.host, via.port, "INVITE")


def _key(request: SipRequest, branch: str, host: str, port: int | None, method: str) -> tuple[str, ...]:
    if branch.startswith("z9hG4bK") and len(branch) > 7:
        return ("3261", branch, f"{host}:{port or 5060}", method)
    # RFC 2543 peers: no magic cookie, match on dialog-ish fields (§17.2.3)
    via = request.get_all("Via")[0] if request.get_all("Via") else ""
    return ("2543", request.call_id, request.from_tag, str(request.cseq[0]), method, via.split(",")[0].strip())
