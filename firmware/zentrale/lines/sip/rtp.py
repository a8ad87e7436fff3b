"""RTP for one call: a UDP socket, packets out on the media clock, packets in
through a jitter buffer to a sink, RFC 4733 telephone-events both ways.

The send path runs on every 20 ms tick for every call, so it is kept lean:
prompts and music carry their G.711 payloads pre-encoded (``Frame.encoded``)
and a packet costs one ``struct.pack`` and one ``sendto``.

Received audio is not handed on as it arrives: it goes into the stream's
jitter buffer (``media/playout.py``) and comes out one frame per tick, in
order, with losses concealed, for recordings, bridges and the in-band DTMF
detector alike. The clock runs every stream's receive side before any send
side, so a bridged frame goes out in the tick it was played.

Between two bridged legs with the same codec, packets are relayed as they
come while the caller's line is steady: the other leg sends each at once
under its own SSRC, with the sequence numbers and timestamps shifted but
their gaps and order kept, so the far phone's jitter buffer sees the
network as it is and nothing in the box adds delay. When the line is
jittery the box re-clocks instead (our buffer reorders and conceals; the
PESQ figures that decided this are in bench/RESULTS.md, docs/audio.md).

A stream that cannot send (an address that is not an IP literal, a port
out of range, a send error) says so once in the log and stops sending
until a re-INVITE gives it a new address; nothing of it reaches the clock.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import random
import secrets
import socket
import struct
import time
from collections.abc import Callable

from zentrale.config import SipConfig
from zentrale.lines.sip import srtp
from zentrale.lines.sip.rtcp import ReceptionStats, RtcpSocket, RtcpState, build_report, estimated_mos
from zentrale.lines.sip.rtp_socket import PortPool as PortPool  # where the lines take it from
from zentrale.lines.sip.rtp_socket import read_all, stamp_arrivals
from zentrale.lines.sip.rtp_source import RtpSource
from zentrale.lines.sip.sdp import Negotiated
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import Codec
from zentrale.media.dtmf import DtmfDetector
from zentrale.media.frames import Frame, FrameSink, FrameSource, PacketRelay, silence
from zentrale.media.players import FrameQueue
from zentrale.media.playout import Playout
from zentrale.media.rate import RateConverter

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!BBHII")
DTMF_EVENTS = "0123456789*#ABCD"
DTMF_CODES = {d: i for i, d in enumerate(DTMF_EVENTS)}
DYNAMIC_PTS = range(96, 128)  # RFC 3551 §3
RTCP_INTERVAL = 5.0  # RFC 3550 §6.2: the minimum; randomised 0.5-1.5 times
INBAND_MODES = ("auto", "always", "off")  # auto: only when no telephone-event was negotiated
RELAY_MODES = ("auto", "always", "never")  # sip.jitter_buffer.relay
# A bridged leg with our codec gets our packets as they come while the line is this
# steady (90th percentile of the transit spread), and re-clocked through our jitter
# buffer above the second figure: hysteresis, so a line near one bound does not flap.
RELAY_ENTER_MS = 10.0
RELAY_LEAVE_MS = 20.0
RELAY_JUDGED_AFTER = 25  # packets (half a second) before a line is judged steady
RELAY_STALE_S = 0.04  # a packet that waited longer in our socket (a stall of the box) is not relayed


def relay_wanted(mode: str, relaying: bool | None, spread_ms: float) -> bool:
    """Whether a bridged leg with our codec should get our packets as they come: on a steady
    line yes (its phone's jitter buffer and concealment see the network as it is); on a
    jittery one no (ours re-clock and conceal; measured in bench/RESULTS.md). ``relaying``:
    what we do now (None: a new bridge); the gap between the two bounds keeps a line near
    one of them from flapping."""
    if mode != "auto":
        return mode == "always"
    if relaying:
        return spread_ms <= RELAY_LEAVE_MS
    return spread_ms <= RELAY_ENTER_MS


class RtpStream(asyncio.DatagramProtocol):
    def __init__(
        self,
        clock: MediaClock,
        *,
        symmetric: bool = True,
        jitter_ms: tuple[float, float] = (20.0, 120.0),
        inband_dtmf: str = "auto",
        relay: str = "auto",
    ) -> None:
        if inband_dtmf not in INBAND_MODES:
            raise ValueError(f"inband_dtmf must be one of {', '.join(INBAND_MODES)}, not {inband_dtmf!r}")
        if relay not in RELAY_MODES:
            raise ValueError(f"relay must be one of {', '.join(RELAY_MODES)}, not {relay!r}")
        self._clock = clock
        self._symmetric = symmetric
        self.jitter_ms = jitter_ms  # bounds of the jitter buffer's depth
        self.relay_mode = relay  # RELAY_MODES: when a bridged leg with our codec gets our packets as they come
        self.transport: asyncio.DatagramTransport | None = None
        # The send path writes to the socket directly: asyncio's sendto adds
        # checks and buffering we do not need for one datagram every 20 ms.
        self._sock: socket.socket | None = None
        self._reader_loop: asyncio.AbstractEventLoop | None = None  # reading the socket itself (rtp_socket.py)
        self.local_port = 0
        self.remote: tuple[str, int] | None = None
        self._announced: tuple[str, int] | None = None  # the address the SDP gave us last
        self.codec: Codec | None = None
        self.payload_type = 0
        self.dtmf_pt: int | None = None  # what we send RFC 4733 events with
        # RFC 4733 events are accepted under every PT announced as telephone-event
        # in either direction's SDP (a PBX doing direct media may announce
        # different ones to each side); the signalling adds them here.
        self.dtmf_pts: set[int] = set()
        self.inband_dtmf = inband_dtmf  # INBAND_MODES
        self.sending = False
        self.rate = 8000
        self._source: FrameSource | None = None
        self.sink: FrameSink | None = None
        # relaying (a bridge to a leg with our codec): whether we do, the far leg's SSRC
        # we follow, and what we add to its sequence numbers and timestamps
        self._relaying = False
        self._relay_ssrc: int | None = None
        self._relay_seq = 0
        self._relay_ts = 0
        # the receiving side of it: the leg we hand our packets to, whether we do now, the newest handed on
        self._relay_peer: object | None = None
        self._relay_on = False
        self._relayed_end: int | None = None
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_first_packet: Callable[[], None] | None = None
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._marker = True
        self._tick_key: int | None = None
        self._skips_seen = clock.skipped  # ticks the clock skipped after a stall, as far as we followed
        self._pull_key: int | None = None
        self.source_guard = RtpSource()  # whose packets are the far end's (rtp_source.py)
        self._last_dtmf_ts: int | None = None
        self._last_event_at = -10.0  # monotonic time of the last RFC 4733 event
        self._dtmf_out: list[bytes] = []
        self._dtmf_ts = 0
        self._dtmf_first = False
        self._dtmf_len = 0
        self._ts_step = 160
        self.playout: Playout | None = None
        self._detector: DtmfDetector | None = None
        self._detector_rate: RateConverter | None = None
        self.reception = ReceptionStats()
        self.rtcp = RtcpState(self._ssrc)
        self._rtcp_socket: RtcpSocket | None = None
        self._rtcp_timer: asyncio.TimerHandle | None = None
        self.octets_sent = 0
        self._cannot_send: str | None = None  # why this stream stopped sending
        self.sent = 0
        self.received = 0
        # SRTP (RFC 3711) when the far end asked for it; None keeps the plain path as it was.
        self._srtp_tx: srtp.Session | None = None
        self._srtp_rx: srtp.Session | None = None
        self._srtp_keys: tuple[str, bytes, bytes] | None = None
        self.srtp_failures = 0

    @classmethod
    def configured(cls, clock: MediaClock, config: SipConfig) -> RtpStream:
        """A stream with the line's settings (``sip.symmetric_rtp``, ``jitter_buffer``, ``inband_dtmf``)."""
        jb = config.jitter_buffer
        return cls(clock, symmetric=config.symmetric_rtp, jitter_ms=(jb.min_ms, jb.max_ms),
                   inband_dtmf=config.inband_dtmf, relay=jb.relay)  # fmt: skip

    @property
    def source(self) -> FrameSource | None:
        return self._source

    @source.setter
    def source(self, value: FrameSource | None) -> None:
        old = self._source
        if isinstance(old, FrameQueue) and old.relay_to is self:
            old.relay_to = None
        self._source = value
        self.end_relay()
        if isinstance(value, FrameQueue):
            value.relay_to = self  # a leg with our codec may hand us its packets as they come

    @property
    def secured(self) -> bool:
        return self._srtp_tx is not None

    def secure(self, suite: str | None, local_key: bytes, remote_key: bytes) -> None:
        """Switch SRTP on (suite and keys), re-key on a change, or off (suite None)."""
        if suite is None:
            self._srtp_tx = self._srtp_rx = None
            self._srtp_keys = None
            return
        keys = (suite, local_key, remote_key)
        if keys == self._srtp_keys:
            return
        old = self._srtp_keys
        if old is None or old[:2] != keys[:2]:
            self._srtp_tx = srtp.sender(suite, local_key)
        if old is None or (old[0], old[2]) != (suite, remote_key):
            self._srtp_rx = srtp.receiver(suite, remote_key)
        self._srtp_keys = keys

    # --- set-up ------------------------------------------------------------------

    async def open(self, ports: PortPool) -> None:
        self._rtcp_socket = RtcpSocket(self.rtcp)
        rtcp = self._rtcp_socket
        sock, self.local_port, _ = await ports.bind_sockets(lambda: rtcp)
        if self._rtcp_socket is not rtcp:
            # close() ran while the ports were being bound (the call ended): it could not
            # reach these sockets, which did not exist yet
            if rtcp.transport is not None:
                rtcp.transport.close()
            sock.close()
            return
        self._sock = sock
        loop = asyncio.get_running_loop()
        if stamp_arrivals(sock):
            # all that waits at once, with the kernel's arrival times (rtp_socket.py)
            loop.add_reader(sock.fileno(), read_all, sock, self._received)
            self._reader_loop = loop
        else:
            self.transport, _ = await loop.create_datagram_endpoint(lambda: self, sock=sock)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def configure(self, neg: Negotiated, codec: Codec) -> None:
        """Apply (re-)negotiated media; keeps SSRC, sequence and timestamp running."""
        if self.codec is not codec or self.playout is None:
            self.playout = Playout(codec, min_ms=self.jitter_ms[0], max_ms=self.jitter_ms[1])
        self.codec = codec
        self.payload_type = neg.payload_type
        self.dtmf_pt = neg.dtmf_payload_type
        if neg.dtmf_payload_type is not None:
            self.dtmf_pts.add(neg.dtmf_payload_type)
        self.rate = neg.codec.sample_rate
        self._ts_step = neg.codec.rtp_clock // 50  # we always send 20 ms packets
        announced = (neg.remote_host, neg.remote_port)
        if announced != self._announced:
            # a new address or port in the SDP (a re-INVITE: a media relay, a phone that
            # moved) wins over what we latched on; RFC 3264 §8.3.1
            self._announced = announced
            self.source_guard.reset(announced if neg.remote_port else None)
            self._cannot_send = None
            self.remote = self._checked(announced) if neg.remote_port else None
        self.sending = neg.sends
        if not self.sending:
            self._marker = True
        self._setup_detector()

    def _checked(self, remote: tuple[str, int]) -> tuple[str, int] | None:
        """The address as given if we can send to it; else one log line and None.

        Only IP literals: ``sendto`` would resolve a host name synchronously on
        every packet, on the loop (issue 13)."""
        host, port = remote
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            self._stop_sending(f"the media address {host!r} is not an IP address")
            return None
        if not 0 < port < 65536:
            self._stop_sending(f"the media port {port} is out of range")
            return None
        return (str(ip), port)

    def _stop_sending(self, why: str) -> None:
        if self._cannot_send is None:
            log.warning("rtp: port %d stops sending: %s", self.local_port, why)
        self._cannot_send = why

    def _setup_detector(self) -> None:
        """In-band DTMF: always, never, or (auto) while no telephone-event PT is known."""
        want = self.inband_dtmf == "always" or (self.inband_dtmf == "auto" and not self.dtmf_pts)
        if not want:
            self._detector = None
            self._detector_rate = None
            return
        if self._detector is None:
            self._detector = DtmfDetector()
        if self.rate != 8000:
            if self._detector_rate is None or self._detector_rate.src != self.rate:
                self._detector_rate = RateConverter(self.rate, 8000)
        else:
            self._detector_rate = None

    def start(self) -> None:
        if self._tick_key is None:
            self._tick_key = self._clock.add(self.tick)
        if self._pull_key is None:
            self._pull_key = self._clock.add(self.pull, receive=True)
        if self._rtcp_timer is None and self._rtcp_socket is not None:
            self._schedule_report()

    # --- RTCP (RFC 3550 §6): a report every ~5 s on port + 1 ----------------------------

    def _schedule_report(self) -> None:
        delay = RTCP_INTERVAL * random.uniform(0.5, 1.5)
        self._rtcp_timer = asyncio.get_running_loop().call_later(delay, self._report)

    def _report(self) -> None:
        self._rtcp_timer = None
        if self._rtcp_socket is None:
            return
        # no SRTCP: on SRTP calls the box sends no RTCP (docs/security.md)
        if self.remote is not None and self._srtp_tx is None:
            self.rtcp.clock_rate = self._ts_step * 50
            lsr, dlsr = self.rtcp.lsr_dlsr(time.monotonic())
            sender = (self.sent, self.octets_sent, self._ts) if self.sent else None
            packet = build_report(self._ssrc, sender=sender, source=self.reception, lsr=lsr, dlsr=dlsr)
            self._rtcp_socket.send(packet, (self.remote[0], self.remote[1] + 1))
        self._schedule_report()

    def quality(self) -> dict[str, float | int | None]:
        """Per-call audio figures for the call log and /status: what we receive
        (RFC 3550 loss and jitter, the jitter buffer's work), what the far end
        reports about what we send, and an E-model MOS estimate (G.107)."""
        jb = self.playout.buffer.stats if self.playout is not None else None
        far = self.rtcp.far
        rtt = far.rtt_ms if far is not None else None
        delay = (rtt / 2 if rtt is not None else 0.0) + (jb.delay_ms if jb is not None else 0.0)
        loss = self.reception.loss_fraction
        if jb is not None and jb.played + jb.lost:
            # what the listener missed: lost on the way or too late for the buffer, each frame
            # once (a late packet's frame is already counted lost; counting it again overstated it)
            loss = max(loss, jb.lost / (jb.played + jb.lost))
        return {
            "packets_received": self.reception.received,
            "packets_lost": self.reception.lost,
            "loss_pct": round(100 * loss, 2),
            "jitter_ms": round(self.reception.jitter_ms, 1),
            "late": jb.late if jb is not None else 0,
            "concealed": self.playout.concealer.concealed if self.playout is not None else 0,
            "dropped": jb.dropped if jb is not None else 0,  # frames left out to shrink or catch up: slips
            "buffer_ms": round(jb.target_ms, 1) if jb is not None else None,
            "rtt_ms": round(rtt, 1) if rtt is not None else None,
            "far_loss_pct": round(100 * far.fraction_lost, 2) if far is not None else None,
            "far_jitter_ms": round(far.jitter_ms, 1) if far is not None else None,
            "mos": round(estimated_mos(loss, delay), 2),
        }

    def close(self) -> None:
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None
        if self._rtcp_socket is not None and self._rtcp_socket.transport is not None:
            self._rtcp_socket.transport.close()
        self._rtcp_socket = None
        for key in (self._tick_key, self._pull_key):
            if key is not None:
                self._clock.remove(key)
        self._tick_key = self._pull_key = None
        if self.transport is not None:
            self.transport.close()  # the socket with it
            self.transport = None
        elif self._sock is not None:
            if self._reader_loop is not None and not self._reader_loop.is_closed():
                self._reader_loop.remove_reader(self._sock.fileno())
            self._reader_loop = None
            self._sock.close()
        self._sock = None
        self.source = None
        self.sink = None

    # --- receiving, played out on the clock (every tick, before any sending) --------

    def pull(self) -> None:
        playout = self.playout
        if playout is None:
            return
        if self._detector is not None and self.inband_dtmf == "auto" and self.dtmf_pts:
            self._setup_detector()  # the signalling learnt a telephone-event PT meanwhile
        # the time this tick was due: after a stall of the loop the clock runs the late ticks back
        # to back, and each plays its own frame (a skip of more than five shows as a jump here)
        now = self._clock.scheduled or time.monotonic()
        if self.sink is None and self._detector is None:
            playout.keep_time(now)  # nobody needs the samples (G.722's decoder still follows the sender)
            return
        frame = playout.pop(now)
        if frame is None:
            return
        if self._detector is not None:
            self._detect(frame)
        if self.sink is not None:
            self.sink.write(frame)

    def _detect(self, frame: Frame) -> None:
        assert self._detector is not None
        if self._detector_rate is not None:
            frame = self._detector_rate.convert(frame)
        for digit in self._detector.feed(frame.pcm):
            if time.monotonic() - self._last_event_at < 1.0:
                continue  # the same key, already reported as an RFC 4733 event
            log.info("rtp: in-band DTMF %s on port %d", digit, self.local_port)
            if self.on_dtmf is not None:
                self.on_dtmf(digit)

    # --- sending (every tick) ----------------------------------------------------

    def tick(self) -> None:
        source = self._source
        frame = source.read() if source is not None else None
        if self._clock.skipped != self._skips_seen:
            self._skipped(self._clock.skipped - self._skips_seen)
        if self._dtmf_out:
            payload = self._dtmf_out.pop(0)
            self._send(payload, self.dtmf_pt or 101, self._dtmf_ts, marker=self._dtmf_first)
            self._dtmf_first = False
            if not self._dtmf_out:
                self._ts += self._ts_step * self._dtmf_len
            return
        if self._relaying:
            return  # the far leg's packets go out as they come (``relay``)
        if not self.sending or self.codec is None:
            self._ts += self._ts_step
            return
        if frame is None or frame.rate != self.rate:
            frame = silence(self.rate)
        self._send(frame.encoded(self.codec), self.payload_type, self._ts, marker=self._marker)
        self._marker = False
        self._ts += self._ts_step

    def relay(self, codec: str, payload: bytes, seq: int, ts: int, ssrc: int, marker: bool) -> bool:
        """Send a packet of the bridged leg on at once, its timing, order and gaps kept
        (only shifted onto our SSRC, sequence and timestamp), so the far phone's own
        jitter buffer and concealment see the network as it is. False: not our codec."""
        if self.relay_mode == "never" or self.codec is None or codec != self.codec.name or not self.sending:
            self.end_relay()  # e.g. a re-INVITE gave us another codec: frames on the clock again
            return False
        self._relaying = True
        if self._dtmf_out:
            self._relay_ssrc = None  # the event goes out instead; re-anchored after it
            return True
        if ssrc != self._relay_ssrc:
            # a new source (or the first packet): continue our own numbering from here (RFC 3550 §5.1)
            self._relay_ssrc = ssrc
            self._relay_seq = (self._seq - seq) & 0xFFFF
            self._relay_ts = (self._ts - ts) & 0xFFFFFFFF
            marker = True
        out_seq = (seq + self._relay_seq) & 0xFFFF
        out_ts = (ts + self._relay_ts) & 0xFFFFFFFF
        self._send(payload, self.payload_type, out_ts, marker=marker, seq=out_seq)
        if (out_seq - self._seq) & 0xFFFF < 0x8000:  # the newest so far: our own continue after it
            self._seq = (out_seq + 1) & 0xFFFF
        if (out_ts - self._ts) & 0xFFFFFFFF < 0x80000000:
            self._ts = (out_ts + len(payload)) & 0xFFFFFFFF  # one payload byte per timestamp unit
        self._marker = False
        return True

    def end_relay(self) -> None:
        """Back to sending frames on the media clock (from the source), numbered on from the relayed ones."""
        if self._relaying:
            self._relaying = False
            self._relay_ssrc = None
            self._marker = True

    def _skipped(self, ticks: int) -> None:
        """The box stalled and the clock skipped ``ticks``: our timeline jumps with the time, as
        if those packets were lost (the far phone conceals them), rather than every later packet
        coming that much late (its jitter buffer would slip for seconds to take it back)."""
        self._skips_seen += ticks
        if not self._relaying and not self._dtmf_out:
            self._ts = (self._ts + ticks * self._ts_step) & 0xFFFFFFFF
            self._seq = (self._seq + ticks) & 0xFFFF

    def _send(self, payload: bytes, pt: int, ts: int, *, marker: bool, seq: int | None = None) -> None:
        if self._sock is None or self.remote is None or self._cannot_send is not None:
            return
        if seq is None:
            seq = self._seq
            self._seq = (seq + 1) & 0xFFFF
        packet = _HEADER.pack(0x80, pt | (0x80 if marker else 0), seq, ts & 0xFFFFFFFF, self._ssrc) + payload
        tx = self._srtp_tx
        if tx is not None:
            try:
                packet = tx.protect(packet)
            except srtp.SrtpError as err:
                log.debug("srtp: cannot protect: %s", err)
                return
        try:
            self._sock.sendto(packet, self.remote)
            self.octets_sent += len(payload)
        except (BlockingIOError, InterruptedError):
            return  # socket buffer full: drop this packet, as RTP would
        except (OSError, ValueError, OverflowError, TypeError) as err:
            # EINVAL, EAFNOSUPPORT, unreachable...: once in the log, not 50 times a second
            self._stop_sending(f"sending to {self.remote[0]}:{self.remote[1]} failed: {err}")
            return
        self.sent += 1

    def send_dtmf(self, digit: str, duration_ms: int = 100) -> None:
        """Queue one RFC 4733 event: packets every 20 ms, the end packet three times."""
        if self.dtmf_pt is None or digit.upper() not in DTMF_CODES or self._dtmf_out:
            return
        code = DTMF_CODES[digit.upper()]
        steps = max(1, duration_ms // 20)
        packets = []
        for i in range(1, steps + 1):
            end = i == steps
            dur = i * self._ts_step
            packets.extend([struct.pack("!BBH", code, (0x80 if end else 0) | 10, dur)] * (3 if end else 1))
        self._dtmf_out = packets
        self._dtmf_ts = self._ts
        self._dtmf_first = True
        self._dtmf_len = steps

    # --- receiving ---------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        self._received(data, addr, time.monotonic())

    def _received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int], arrival: float) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        rx = self._srtp_rx
        if rx is not None:
            try:
                data = rx.unprotect(data)
            except srtp.SrtpError:
                self.srtp_failures += 1  # forged, replayed or keyed wrong: dropped
                return
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
            offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
        payload = data[offset:]
        if data[0] & 0x20 and payload:  # padding
            if payload[-1] > len(payload):
                return
            payload = payload[: -payload[-1]]
        marker_pt = data[1]
        pt = marker_pt & 0x7F
        seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
        if self._symmetric:
            guard = self.source_guard
            if not guard.accept((addr[0], addr[1]), seq, arrival):
                return  # not (yet) the far end's: never played, recorded or answered to
            if guard.latched is not None and guard.latched != self.remote:
                self._latch(guard.latched)
        self.received += 1
        if self.received == 1 and self.on_first_packet is not None:
            self.on_first_packet()
        if pt == self.payload_type and self.codec is not None:
            self.reception.update(seq, ts, ssrc, arrival, self._ts_step * 50)
            relay_to = getattr(self.sink, "relay_to", None)
            if relay_to is not None:
                age = time.monotonic() - arrival
                self._hand_on(relay_to, payload, seq, ts, ssrc, bool(marker_pt & 0x80), age)
            if self.playout is not None:
                self.playout.put(ts, payload, arrival, ssrc=ssrc, marker=bool(marker_pt & 0x80))
        elif pt in self.dtmf_pts or (pt in DYNAMIC_PTS and len(payload) == 4 and payload[0] <= 16):
            # RFC 4733 §2.3: 4 bytes per event; under any PT the SDP of either direction
            # announced, or an unexpected dynamic one that can only be an event
            self._telephone_event(payload, ts)

    def _hand_on(
        self, peer: PacketRelay, payload: bytes, seq: int, ts: int, ssrc: int, marker: bool, age: float
    ) -> None:
        """Relay a packet to the bridged leg while the line is steady; else leave it to our jitter buffer."""
        assert self.codec is not None
        jb = self.playout.buffer if self.playout is not None else None
        # a line we know too little of yet (a new stream, a new SSRC) counts as jittery until we do
        spread = jb.stats.spread_ms if jb is not None and jb.measured >= RELAY_JUDGED_AFTER else math.inf
        if peer is not self._relay_peer:  # a new bridge
            self._relay_peer = peer
            self._relay_on = relay_wanted(self.relay_mode, None, spread)
            self._relayed_end = None
        elif self._relay_on != relay_wanted(self.relay_mode, self._relay_on, spread) and self.codec.stateless:
            # (G.722 stays as it began: a switch is a step in the delay, and the far phone's ADPCM
            # decoder, following one encoder, is garbled for ~100 ms where frames are left out or
            # inserted (tests/unit/test_playout_g722.py). Clean G.722 bridges scored 2.97 switching
            # on a loaded machine; re-clocked throughout they are byte for byte what the phones
            # send each other without the box: bench/RESULTS.md)
            self._relay_on = not self._relay_on
            if self._relay_on:
                log.info("rtp: port %d: steady line (%.0f ms), bridged audio relayed", self.local_port, spread)
            else:
                peer.end_relay()
                if self.playout is not None and self._relayed_end is not None:
                    # the far phone has heard up to here: our buffer plays on from there, growing
                    # to its depth by concealment rather than repeating what was heard
                    self.playout.buffer.skip_to(self._relayed_end)
                log.info("rtp: port %d: jittery line (%.0f ms), bridged audio re-clocked", self.local_port, spread)
        if self._relay_on and age > RELAY_STALE_S:
            # it waited in our socket while the box stalled: sent on now, the far phone would get it
            # that much late (and slip for seconds to take the delay back); missing, it conceals it
            return
        if self._relay_on and peer.relay(self.codec.name, payload, seq, ts, ssrc, marker):
            end = (ts + len(payload)) & 0xFFFFFFFF
            if self._relayed_end is None or (end - self._relayed_end) & 0xFFFFFFFF < 0x80000000:
                self._relayed_end = end

    def _latch(self, src: tuple[str, int]) -> None:
        log.debug("rtp: latching to %s:%d", *src)
        self.remote = src
        self._cannot_send = None

    def _telephone_event(self, payload: bytes, ts: int) -> None:
        # RFC 4733 §2.5.2.1: a new timestamp starts a new event; report it at once
        # (not at its end) so a prompt stops quickly; ignore retransmitted packets.
        if len(payload) < 4 or ts == self._last_dtmf_ts:
            return
        self._last_dtmf_ts = ts
        self._last_event_at = time.monotonic()
        code = payload[0]
        if code < len(DTMF_EVENTS) and self.on_dtmf is not None:
            self.on_dtmf(DTMF_EVENTS[code])
