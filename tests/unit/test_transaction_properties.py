"""Properties of the four transaction machines of lines/sip/transactions.py (hypothesis),
driven by random sequences of inputs as the transaction layer would feed them:

- whatever comes in, only ``TransactionError`` is ever raised;
- every state but TERMINATED has a running timer, and firing the running timers (in the
  order they come due, as the layer's heap does) reaches TERMINATED from every state;
- nothing is sent after ``Terminate``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zentrale.lines.sip.message import SipRequest, make_response, parse_message
from zentrale.lines.sip.transactions import (
    Action,
    ClientInvite,
    ClientNonInvite,
    ClientTransaction,
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
    server_key,
)
from zentrale.lines.sip.transport import Peer

STATUSES = [100, 180, 183, 200, 202, 302, 404, 486, 487, 500, 503, 603]
MAX_TIMER_FIRINGS = 200  # G doubles to T2 and H ends it at 64*T1: a few dozen firings at most


def request(method: str) -> SipRequest:
    message = parse_message(
        (
            f"{method} sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKprop1;rport\r\n"
            f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: prop\r\nCSeq: 1 {method}\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SipRequest)
    return message


@dataclass
class Driver:
    """What layer.py does with the actions, on a virtual clock."""

    machine: ServerTransaction | ClientTransaction
    now: float = 0.0
    timers: dict[Timer, float] = field(default_factory=dict)
    terminated: bool = False
    sent_after_terminate: list[Action] = field(default_factory=list)

    def apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send) and self.terminated:
                self.sent_after_terminate.append(action)
            elif isinstance(action, StartTimer):
                if not self.terminated:
                    self.timers[action.timer] = self.now + action.delay
            elif isinstance(action, StopTimers):
                self.timers.clear()
            elif isinstance(action, Terminate):
                self.terminated = True
                self.timers.clear()

    def feed(self, step: tuple[str, int]) -> None:
        """One input; a TransactionError is the machine refusing it (allowed), nothing else is."""
        kind, arg = step
        machine = self.machine
        try:
            if kind == "timer":  # the earliest running timer comes due
                if self.timers:
                    self.fire_next()
                return
            if kind == "stray-timer":  # a timer the layer believes running (e.g. a late heap entry)
                actions = machine.timer(list(Timer)[arg % len(Timer)])
            elif kind == "transport-failed":
                actions = machine.transport_failed()
            elif isinstance(machine, ServerTransaction):
                original = REQUESTS[machine.method]
                if kind == "respond":
                    actions = machine.respond(make_response(original, arg, "X", to_tag="box"))
                elif kind == "retransmitted":
                    actions = machine.retransmitted()
                else:
                    actions = machine.acked()
            else:
                actions = machine.received(make_response(machine.request, arg, "X", to_tag="far"))
        except TransactionError:
            return
        self.apply(actions)

    def fire_next(self) -> None:
        timer = min(self.timers, key=lambda t: self.timers[t])
        self.now = self.timers.pop(timer)
        self.apply(self.machine.timer(timer))


REQUESTS = {"INVITE": request("INVITE"), "OPTIONS": request("OPTIONS")}


def new_driver(kind: str, reliable: bool) -> Driver:
    peer = Peer("tcp" if reliable else "udp", "127.0.0.1", 5999)
    machine: ServerTransaction | ClientTransaction
    if kind == "server-invite":
        machine = ServerInvite(REQUESTS["INVITE"], peer, server_key(REQUESTS["INVITE"]), peer)
    elif kind == "server-non-invite":
        machine = ServerNonInvite(REQUESTS["OPTIONS"], peer, server_key(REQUESTS["OPTIONS"]), peer)
    elif kind == "client-invite":
        machine = ClientInvite(request("INVITE"), peer)
    else:
        machine = ClientNonInvite(request("OPTIONS"), peer)
    driver = Driver(machine)
    driver.apply(machine.start())
    return driver


SERVER_STEPS = st.tuples(st.sampled_from(["respond", "respond", "retransmitted", "ack", "timer", "timer",
                                          "stray-timer", "transport-failed"]), st.sampled_from(STATUSES))  # fmt: skip
CLIENT_STEPS = st.tuples(st.sampled_from(["received", "received", "timer", "timer", "stray-timer", "transport-failed"]),
                         st.sampled_from(STATUSES))  # fmt: skip
KINDS = ["server-invite", "server-non-invite", "client-invite", "client-non-invite"]


@st.composite
def runs(draw: st.DrawFn) -> tuple[str, bool, list[tuple[str, int]]]:
    kind = draw(st.sampled_from(KINDS))
    steps = draw(st.lists(SERVER_STEPS if kind.startswith("server") else CLIENT_STEPS, max_size=40))
    return kind, draw(st.booleans()), steps


@settings(max_examples=1500, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs())
def test_every_state_has_a_running_timer_and_the_timers_end_every_transaction(
    run: tuple[str, bool, list[tuple[str, int]]],
) -> None:
    kind, reliable, steps = run
    driver = new_driver(kind, reliable)
    for step in steps:
        driver.feed(step)
        state = driver.machine.state
        if state is not State.TERMINATED and not driver.terminated:
            assert driver.timers, f"{kind} in {state.value} after {step} has no timer that could end it"
    for _ in range(MAX_TIMER_FIRINGS):
        if driver.terminated:
            break
        assert driver.timers, f"{kind} stuck in {driver.machine.state.value} without a timer"
        driver.fire_next()
    assert driver.terminated and driver.machine.state is State.TERMINATED, (kind, driver.machine.state)


@settings(max_examples=1500, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(run=runs(), after=st.lists(st.one_of(SERVER_STEPS, CLIENT_STEPS), min_size=1, max_size=10))
def test_nothing_is_sent_after_terminate_whatever_comes_in_later(
    run: tuple[str, bool, list[tuple[str, int]]], after: list[tuple[str, int]]
) -> None:
    kind, reliable, steps = run
    driver = new_driver(kind, reliable)
    for step in steps:
        driver.feed(step)
    while not driver.terminated and driver.timers:
        driver.fire_next()
    assert driver.terminated
    for step in after:  # retransmissions, answers, ACKs and stray timers after the end
        driver.feed(step)
    assert driver.sent_after_terminate == []


def test_the_driver_sees_a_send_after_terminate() -> None:
    """The property above can fail: a machine that sent after its end would be caught."""
    driver = new_driver("server-non-invite", reliable=True)
    driver.apply([Terminate()])
    driver.apply([Send(b"late")])
    assert driver.sent_after_terminate == [Send(b"late")]
