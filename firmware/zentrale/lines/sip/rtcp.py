"""RTCP for one stream (RFC 3550 §6): what we measure about the audio we receive,
and the estimated call quality (ITU-T G.107 E-model) made of it.

``ReceptionStats`` follows RFC 3550 Appendix A: A.1 sequence numbers
(extended, with wrap-around and a restart after a big jump), A.3 the
expected and lost packets and the fraction lost per report interval, and
A.8 the interarrival jitter in timestamp units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_DROPOUT = 3000  # RFC 3550 A.1
MAX_MISORDER = 100
SEQ_MOD = 1 << 16


@dataclass
class ReceptionStats:
    ssrc: int | None = None
    base_seq: int = 0
    max_seq: int = 0
    cycles: int = 0
    bad_seq: int = SEQ_MOD + 1
    received: int = 0
    expected_prior: int = 0
    received_prior: int = 0
    jitter: float = 0.0  # RFC 3550 A.8, timestamp units
    clock_rate: int = 8000
    _transit: float | None = None

    def update(self, seq: int, ts: int, ssrc: int, arrival: float, clock_rate: int) -> None:
        if ssrc != self.ssrc:
            self._init(seq, ssrc)
            self.clock_rate = clock_rate
        elif not self._update_seq(seq):
            return
        self.received += 1
        # A.8: J += (|D| - J) / 16, D the change of transit time between packets
        transit = arrival * clock_rate - ts
        if self._transit is not None:
            d = transit - self._transit
            if abs(d) < 1 << 31:
                self.jitter += (abs(d) - self.jitter) / 16.0
        self._transit = transit

    def _init(self, seq: int, ssrc: int) -> None:
        self.ssrc = ssrc
        self.base_seq = self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1
        self.cycles = 0
        self.received = self.expected_prior = self.received_prior = 0
        self._transit = None
        self.jitter = 0.0

    def _update_seq(self, seq: int) -> bool:
        delta = (seq - self.max_seq) % SEQ_MOD
        if delta < MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD  # wrapped
            self.max_seq = seq
        elif delta <= SEQ_MOD - MAX_MISORDER:
            # a big jump: two in a row mean the sender restarted (A.1)
            if seq == self.bad_seq:
                self._init(seq, self.ssrc or 0)
            else:
                self.bad_seq = (seq + 1) % SEQ_MOD
                return False
        # else: a duplicate or reordered packet, counted as received
        return True

    @property
    def expected(self) -> int:
        if self.ssrc is None:
            return 0
        return self.cycles + self.max_seq - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (A.3); duplicates can make it negative, clamped."""
        return max(0, self.expected - self.received)

    @property
    def loss_fraction(self) -> float:
        expected = self.expected
        return self.lost / expected if expected else 0.0

    @property
    def jitter_ms(self) -> float:
        return 1000.0 * self.jitter / self.clock_rate

    def interval(self) -> tuple[int, int]:
        """(fraction lost as RFC 3550's 8-bit fixed point, cumulative lost) since the last call."""
        expected, received = self.expected, self.received
        expected_interval = expected - self.expected_prior
        lost_interval = expected_interval - (received - self.received_prior)
        self.expected_prior, self.received_prior = expected, received
        fraction = 0 if expected_interval <= 0 or lost_interval <= 0 else (lost_interval << 8) // expected_interval
        return min(fraction, 255), min(self.lost, 0x7FFFFF)


def estimated_mos(loss: float, one_way_delay_ms: float, *, concealment: bool = True) -> float:
    """ITU-T G.107's E-model for G.711 with default values, turned into MOS (Annex B).

    R = 93.2 - Id - Ie,eff (the default Ro - Is + A); Id from the one-way delay
    (the simplified form of G.107 §7.3 used by G.107 Appendix and ETSI TR
    102 775); Ie,eff = Ie + (95 - Ie) * Ppl / (Ppl + Bpl) with Ie = 0 and the
    packet-loss robustness Bpl of G.113 Appendix I: 25.1 with concealment,
    4.3 without. Loss is random loss (BurstR = 1)."""
    d = max(0.0, one_way_delay_ms)
    delay_impairment = 0.024 * d + (0.11 * (d - 177.3) if d > 177.3 else 0.0)
    ppl = 100.0 * max(0.0, min(1.0, loss))
    bpl = 25.1 if concealment else 4.3
    equipment = 95.0 * ppl / (ppl + bpl)
    r = 93.2 - delay_impairment - equipment
    if r <= 0:
        return 1.0
    if r >= 100:
        return 4.5
    return 1.0 + 0.035 * r + r * (r - 60.0) * (100.0 - r) * 7e-6


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0
