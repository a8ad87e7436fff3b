"""The transaction layer's tables: live ones bounded per source, answered ones by memory;
timers fired on an injected clock (a fake transport collects what would be sent)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.harness.sip_messages import request
from zentrale.lines.sip.admission import Share
from zentrale.lines.sip.layer import TransactionLayer
from zentrale.lines.sip.transactions import T1, ServerTransaction
from zentrale.lines.sip.transport import Peer


class FakeTransport:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, Peer]] = []

    def send_bytes(self, data: bytes, peer: Peer, on_error: Callable[[BaseException], None] | None = None) -> None:
        self.sent.append((data, peer))


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def layer(
    capacity: int = 64, per_source: int = 8, trusted: tuple[str, ...] = (), **kw: Any
) -> tuple[TransactionLayer, FakeTransport, Clock]:
    transport, clock = FakeTransport(), Clock()
    share = Share("transactions", capacity, per_source, capacity // 8, lambda host: host in trusted)
    return TransactionLayer(transport, share, now=clock, **kw), transport, clock  # type: ignore[arg-type]


def options_from(host: str, n: int) -> Any:
    req = request("OPTIONS", branch=f"z9hG4bK{host.replace('.', '')}x{n}")
    return req, Peer("udp", host, 5060)


def test_answered_transactions_do_not_hold_live_slots() -> None:
    tl, _transport, _ = layer(capacity=64, per_source=8)
    for n in range(500):  # far more than the live table and the share, all answered at once
        req, peer = options_from("127.0.0.5", n)
        txn, new, refusal = tl.match_request(req, peer)
        assert txn is not None and new and refusal is None
        tl.reply(txn, 200, "OK")
    assert len(tl.live) == 0 and len(tl.completed) == 500
    assert tl.shares.total == 0


def test_a_source_is_refused_beyond_its_share_and_others_are_still_served() -> None:
    tl, _, _ = layer(capacity=64, per_source=8)
    held = []
    for n in range(8):
        req, peer = options_from("127.0.0.5", n)
        txn, _, _ = tl.match_request(req, peer)
        held.append(txn)
    req, peer = options_from("127.0.0.5", 99)
    assert tl.match_request(req, peer) == (None, False, "share")
    other, other_peer = options_from("127.0.0.6", 1)
    assert tl.match_request(other, other_peer)[0] is not None


def test_a_trusted_pbx_may_use_all_but_a_reserve_kept_for_others() -> None:
    tl, _, _ = layer(capacity=64, per_source=8, trusted=("127.0.0.2",))
    granted = sum(1 for n in range(100) if tl.match_request(*options_from("127.0.0.2", n))[0] is not None)
    assert granted == 64 - 8
    assert tl.match_request(*options_from("127.0.0.7", 1))[0] is not None


def test_a_retransmission_is_answered_from_the_completed_table_and_not_a_new_transaction() -> None:
    tl, transport, _ = layer()
    req, peer = options_from("127.0.0.5", 1)
    txn, _, _ = tl.match_request(req, peer)
    assert txn is not None
    tl.reply(txn, 200, "OK")
    again, new, _ = tl.match_request(req, peer)
    assert again is txn and not new
    assert [d.split(b"\r\n")[0] for d, _ in transport.sent] == [b"SIP/2.0 200 OK"] * 2


def test_completed_transactions_are_forgotten_oldest_first_when_their_memory_is_full() -> None:
    tl, _, _ = layer(completed_bytes=20_000)
    for n in range(100):
        txn, _, _ = tl.match_request(*options_from("127.0.0.5", n))
        assert txn is not None
        tl.reply(txn, 200, "OK")
    assert 0 < len(tl.completed) < 100 and tl.evicted == 100 - len(tl.completed)
    first_left = next(iter(tl.completed.values()))
    assert first_left.key[1].endswith(f"x{tl.evicted}")


def test_every_transaction_is_gone_after_64_t1_and_the_unanswered_one_got_500() -> None:
    tl, transport, clock = layer()
    abandoned: list[ServerTransaction] = []
    tl.on_abandoned = abandoned.append
    invite = request("INVITE", branch="z9hG4bKinv1")
    txn, _, _ = tl.match_request(invite, Peer("udp", "127.0.0.5", 5060), tu_timeout=32)
    assert txn is not None
    tl.reply(txn, 100, "Trying")  # and the transaction user never answers
    for n in range(5):
        done, _, _ = tl.match_request(*options_from("127.0.0.5", n))
        assert done is not None
        tl.reply(done, 200, "OK")
    for _ in range(200):  # 100 s in steps of T1
        clock.t += T1
        tl.run_timers()
    assert abandoned == [txn] and tl.abandoned == 1
    assert tl.live == {} and len(tl.completed) == 0
    assert tl.responses_sent[500] == 1
    finals = [d for d, _ in transport.sent if d.startswith(b"SIP/2.0 500")]
    assert len(finals) > 1  # retransmitted (Timer G) until Timer H, no ACK came
    assert all(not m.timers for _, _, m, _, _ in tl._timers.heap)  # nothing left running
