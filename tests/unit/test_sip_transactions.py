"""The four transaction machines driven with messages in, actions out: no sockets, no loop."""

from __future__ import annotations

import pytest

from tests.harness.sip_messages import request
from zentrale.lines.sip.message import SipRequest, SipResponse, make_response
from zentrale.lines.sip.transactions import (
    T1,
    T2,
    T4,
    TIMER_C,
    Action,
    ClientInvite,
    ClientNonInvite,
    Deliver,
    Send,
    ServerInvite,
    ServerNonInvite,
    StartTimer,
    State,
    StopTimers,
    Terminate,
    Timer,
    TransactionError,
    server_key,
)
from zentrale.lines.sip.transport import Peer

UDP = Peer("udp", "127.0.0.9", 5060)
TCP = Peer("tcp", "127.0.0.9", 5060)


def response_to(req: SipRequest, status: int) -> SipResponse:
    return make_response(req, status, "X", to_tag="t1")


def sent(actions: list[Action]) -> list[bytes]:
    return [a.data for a in actions if isinstance(a, Send)]


def timers(actions: list[Action]) -> dict[Timer, float]:
    return {a.timer: a.delay for a in actions if isinstance(a, StartTimer)}


def server(method: str = "INVITE", peer: Peer = UDP) -> ServerInvite | ServerNonInvite:
    req = request(method)
    cls = ServerInvite if method == "INVITE" else ServerNonInvite
    return cls(req, peer, server_key(req), peer)


def test_a_server_invite_never_answered_by_its_user_gets_500_and_ends() -> None:
    txn = server("INVITE")
    assert timers(txn.start(tu_timeout=32)) == {Timer.TU: 32}
    txn.respond(response_to(txn.request, 100))  # type: ignore[arg-type]
    assert txn.state is State.PROCEEDING
    actions = txn.timer(Timer.TU)
    assert [b.split(b"\r\n")[0] for b in sent(actions)] == [b"SIP/2.0 500 Server Internal Error"]
    assert txn.state is State.COMPLETED and Timer.H in timers(actions) and Timer.G in timers(actions)
    assert txn.request is None, "an answered transaction keeps only the answer"
    end = txn.timer(Timer.H)
    assert any(isinstance(a, Terminate) for a in end) and txn.state is State.TERMINATED


def test_a_server_non_invite_never_answered_by_its_user_gets_500_and_ends() -> None:
    txn = server("OPTIONS")
    txn.start()
    actions = txn.timer(Timer.TU)
    assert sent(actions)[0].startswith(b"SIP/2.0 500")
    assert txn.state is State.COMPLETED and timers(actions)[Timer.J] == 64 * T1
    assert any(isinstance(a, Terminate) for a in txn.timer(Timer.J))


def test_the_non_2xx_final_is_retransmitted_with_doubling_up_to_t2_until_the_ack() -> None:
    txn = server("INVITE")
    first = txn.respond(response_to(txn.request, 486))  # type: ignore[arg-type]
    assert timers(first) == {Timer.G: T1, Timer.H: 64 * T1}
    intervals = []
    for _ in range(5):
        actions = txn.timer(Timer.G)
        assert sent(actions) == sent(first)
        intervals.append(timers(actions)[Timer.G])
    assert intervals == [1.0, 2.0, 4.0, T2, T2]
    acked = txn.acked()
    assert txn.state is State.CONFIRMED
    assert any(isinstance(a, StopTimers) for a in acked) and timers(acked) == {Timer.I: T4}
    assert txn.acked() == [] and txn.retransmitted() == []  # absorbed
    txn.timer(Timer.I)
    assert txn.state is State.TERMINATED


def test_over_tcp_nothing_is_retransmitted_and_absorbing_ends_at_once() -> None:
    txn = server("INVITE", TCP)
    assert timers(txn.respond(response_to(txn.request, 404))) == {Timer.H: 64 * T1}  # type: ignore[arg-type]
    assert timers(txn.acked()) == {Timer.I: 0}
    options = server("OPTIONS", TCP)
    assert timers(options.respond(response_to(options.request, 200))) == {Timer.J: 0}  # type: ignore[arg-type]


def test_a_2xx_to_an_invite_enters_accepted_which_absorbs_retransmissions_rfc6026() -> None:
    txn = server("INVITE")
    txn.respond(response_to(txn.request, 100))  # type: ignore[arg-type]
    assert sent(txn.retransmitted())[0].startswith(b"SIP/2.0 100")  # Proceeding repeats the provisional
    actions = txn.respond(response_to(txn.request, 200))  # type: ignore[arg-type]
    assert txn.state is State.ACCEPTED and timers(actions) == {Timer.L: 64 * T1}
    assert txn.retransmitted() == []  # the TU retransmits its 2xx itself
    assert txn.acked() == []
    txn.timer(Timer.L)
    assert txn.state is State.TERMINATED


def test_a_second_final_answer_is_an_error_of_the_machine() -> None:
    txn = server("OPTIONS")
    txn.respond(response_to(txn.request, 200))  # type: ignore[arg-type]
    with pytest.raises(TransactionError):
        txn.respond(SipResponse(status=500, reason="late"))
    with pytest.raises(TransactionError):
        txn.acked()


def test_a_retransmitted_non_invite_is_discarded_while_trying_and_answered_once_completed() -> None:
    txn = server("BYE")
    assert txn.retransmitted() == []
    final = txn.respond(response_to(txn.request, 200))  # type: ignore[arg-type]
    assert sent(txn.retransmitted()) == sent(final)


def test_client_invite_retransmits_on_timer_a_and_times_out_with_408_on_b() -> None:
    req = request("INVITE")
    txn = ClientInvite(req, UDP)
    start = txn.start()
    assert sent(start) == [req.to_bytes()] and timers(start) == {Timer.A: T1, Timer.B: 64 * T1}
    assert timers(txn.timer(Timer.A)) == {Timer.A: 2 * T1}
    assert timers(txn.timer(Timer.A)) == {Timer.A: 4 * T1}
    actions = txn.timer(Timer.B)
    delivered = [a.response.status for a in actions if isinstance(a, Deliver)]
    assert delivered == [408] and txn.state is State.TERMINATED


def test_client_invite_in_proceeding_ends_by_timer_c() -> None:
    req = request("INVITE")
    txn = ClientInvite(req, UDP, timer_c=40)
    txn.start()
    actions = txn.received(response_to(req, 180))
    assert timers(actions) == {Timer.C: 40} and any(isinstance(a, StopTimers) for a in actions)
    assert timers(txn.received(response_to(req, 183))) == {Timer.C: 40}  # any provisional restarts C
    end = txn.timer(Timer.C)
    assert [a.response.status for a in end if isinstance(a, Deliver)] == [408]
    assert ClientInvite(req, UDP).timer_c == TIMER_C


def test_client_invite_acks_a_non_2xx_in_the_transaction_and_absorbs_its_retransmission() -> None:
    req = request("INVITE")
    txn = ClientInvite(req, UDP)
    txn.start()
    busy = response_to(req, 486)
    actions = txn.received(busy)
    acks = sent(actions)
    assert len(acks) == 1 and acks[0].startswith(b"ACK sip:100@127.0.0.1 SIP/2.0")
    assert b"branch=z9hG4bKabc123" in acks[0]  # §17.1.1.3: the INVITE's branch
    assert [a.response.status for a in actions if isinstance(a, Deliver)] == [486]
    assert sent(txn.received(busy)) == acks  # retransmitted 486: ACK again, not delivered again
    assert timers(actions)[Timer.D] == 32.0


def test_client_invite_passes_2xx_retransmissions_to_its_user_while_accepted() -> None:
    req = request("INVITE")
    txn = ClientInvite(req, UDP)
    txn.start()
    ok = response_to(req, 200)
    first = txn.received(ok)
    assert txn.state is State.ACCEPTED and timers(first) == {Timer.M: 64 * T1}
    again = txn.received(ok)
    assert [a.response.status for a in again if isinstance(a, Deliver)] == [200]
    txn.timer(Timer.M)
    assert txn.state is State.TERMINATED


def test_client_non_invite_retransmits_up_to_t2_then_t2_in_proceeding() -> None:
    req = request("OPTIONS")
    txn = ClientNonInvite(req, UDP, timeout=8.0)
    assert timers(txn.start()) == {Timer.E: T1, Timer.F: 8.0}
    assert [timers(txn.timer(Timer.E))[Timer.E] for _ in range(4)] == [1.0, 2.0, 4.0, 4.0]
    txn.received(response_to(req, 100))
    assert timers(txn.timer(Timer.E)) == {Timer.E: T2}
    final = txn.received(response_to(req, 200))
    assert timers(final) == {Timer.K: T4}
    assert txn.received(response_to(req, 200)) == []  # absorbed
    txn.timer(Timer.K)
    assert txn.state is State.TERMINATED


def test_a_transport_failure_ends_a_client_transaction_with_503() -> None:
    req = request("OPTIONS")
    txn = ClientNonInvite(req, UDP)
    txn.start()
    actions = txn.transport_failed()
    assert [a.response.status for a in actions if isinstance(a, Deliver)] == [503]
    assert txn.state is State.TERMINATED


@pytest.mark.parametrize("machine", [ServerInvite, ServerNonInvite, ClientInvite, ClientNonInvite])
def test_every_non_terminal_state_of_every_machine_has_a_timer_input_that_leaves_it(machine: type) -> None:
    table = machine.TABLE
    states = {state for state, _ in table} | set(table.values())
    for state in states - {State.TERMINATED}:
        timer_exits = [event for (s, event) in table if s is state and event.name.startswith("TIMER")]
        assert timer_exits, f"{machine.__name__}: {state.value} has no timer"
