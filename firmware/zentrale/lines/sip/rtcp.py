"""RTCP for one stream (RFC 3550 §6): what we measure about the audio we receive,
and the estimated call quality (ITU-T G.107 E-model) made of it.

``ReceptionStats`` follows RFC 3550 Appendix A: A.1 sequence numbers
(extended, with wrap-around and a restart after a big jump), A.3 the
expected and lost packets and the fraction lost per report interval, and
A.8 the interarrival jitter in timestamp units.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

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


# --- packets (RFC 3550 §6.4, §6.5) ------------------------------------------------------

NTP_OFFSET = 2208988800  # 1900 -> 1970


def ntp_now() -> tuple[int, int]:
    now = time.time() + NTP_OFFSET  # noqa: TID251 - RTCP carries wall-clock NTP time (RFC 3550 §4)
    return int(now), int((now % 1) * (1 << 32))


def report_block(source: ReceptionStats, lsr: int, dlsr: int) -> bytes:
    fraction, lost = source.interval()
    return struct.pack(
        "!IB3sIIII",
        source.ssrc or 0,
        fraction,
        lost.to_bytes(3, "big"),
        (source.cycles + source.max_seq) & 0xFFFFFFFF,
        int(source.jitter) & 0xFFFFFFFF,
        lsr,
        dlsr,
    )


def build_report(
    ssrc: int,
    *,
    sender: tuple[int, int, int] | None,
    source: ReceptionStats,
    lsr: int = 0,
    dlsr: int = 0,
    cname: str = "zentrale",
) -> bytes:
    """A compound packet (§6.1): SR (we sent: packets, octets, RTP timestamp) or RR,
    with one report block about what we receive, then SDES with our CNAME."""
    blocks = report_block(source, lsr, dlsr) if source.ssrc is not None else b""
    count = 1 if blocks else 0
    if sender is not None:
        packets, octets, rtp_ts = sender
        sec, frac = ntp_now()
        body = struct.pack("!IIIIII", ssrc, sec, frac, rtp_ts & 0xFFFFFFFF, packets, octets) + blocks
        first = struct.pack("!BBH", 0x80 | count, 200, (len(body) + 4) // 4 - 1) + body
    else:
        body = struct.pack("!I", ssrc) + blocks
        first = struct.pack("!BBH", 0x80 | count, 201, (len(body) + 4) // 4 - 1) + body
    item = bytes([1, len(cname)]) + cname.encode()
    chunk = struct.pack("!I", ssrc) + item + b"\x00"
    chunk += bytes(-len(chunk) % 4)
    sdes = struct.pack("!BBH", 0x81, 202, (len(chunk) + 4) // 4 - 1) + chunk
    return first + sdes


@dataclass
class FarReport:
    """What the far end's last report said about the audio we send it."""

    fraction_lost: float = 0.0
    cumulative_lost: int = 0
    jitter_ms: float = 0.0
    rtt_ms: float | None = None
    received_at: float = 0.0


@dataclass
class RtcpState:
    """Our side of the RTCP conversation for one stream."""

    ssrc: int
    clock_rate: int = 8000
    far: FarReport | None = None
    last_sr: int = 0  # middle 32 bits of the NTP time of the far end's last SR
    last_sr_at: float = 0.0  # monotonic time it arrived
    received_reports: int = 0
    errors: int = 0
    _sent_ntp: dict[int, float] = field(default_factory=dict)

    def lsr_dlsr(self, now: float) -> tuple[int, int]:
        if not self.last_sr:
            return 0, 0
        return self.last_sr, int((now - self.last_sr_at) * 65536) & 0xFFFFFFFF

    def take(self, data: bytes, now: float) -> None:
        """Read a compound RTCP packet; anything malformed is counted and dropped."""
        pos = 0
        while pos + 4 <= len(data):
            first, pt, length = struct.unpack_from("!BBH", data, pos)
            end = pos + 4 * (length + 1)
            if first >> 6 != 2 or end > len(data):
                self.errors += 1
                return
            count = first & 0x1F
            if pt == 200 and end - pos >= 28:  # SR: remember its NTP time for our LSR/DLSR
                sec, frac = struct.unpack_from("!II", data, pos + 8)
                self.last_sr = ((sec & 0xFFFF) << 16) | (frac >> 16)
                self.last_sr_at = now
                self._blocks(data, pos + 28, end, count, now)
            elif pt == 201:
                self._blocks(data, pos + 8, end, count, now)
            pos = end
        self.received_reports += 1

    def _blocks(self, data: bytes, at: int, end: int, count: int, now: float) -> None:
        for _ in range(count):
            if at + 24 > end:
                return
            ssrc, fraction = struct.unpack_from("!IB", data, at)
            lost = int.from_bytes(data[at + 5 : at + 8], "big")
            jitter, lsr, dlsr = struct.unpack_from("!III", data, at + 12)
            at += 24
            if ssrc != self.ssrc:
                continue
            rtt = None
            if lsr:
                sec, frac = ntp_now()
                mid = ((sec & 0xFFFF) << 16) | (frac >> 16)
                delta = (mid - lsr - dlsr) & 0xFFFFFFFF
                if delta < 0x80000000:  # RFC 3550 §6.4.1: RTT = A - LSR - DLSR
                    rtt = 1000.0 * delta / 65536
            self.far = FarReport(fraction / 256, lost, 1000.0 * jitter / self.clock_rate, rtt, now)


class RtcpSocket(asyncio.DatagramProtocol):
    """The RTCP port (RTP port + 1, RFC 3550 §11) of one stream."""

    def __init__(self, state: RtcpState) -> None:
        self.state = state
        self.transport: asyncio.DatagramTransport | None = None
        self.source: tuple[str, int] | None = None  # where the far end's RTCP comes from

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        self.source = (addr[0], addr[1])
        self.state.take(data, time.monotonic())

    def send(self, packet: bytes, remote: tuple[str, int]) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        address = self.source or remote
        if not 0 < address[1] < 65536:
            return  # an RTP port of 65535 has no RTCP port above it (RFC 3550 §11)
        try:
            self.transport.sendto(packet, address)
        except (OSError, ValueError) as err:
            log.debug("rtcp: cannot send to %s: %s", remote, err)
