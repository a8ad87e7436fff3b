"""RTP for one call: a UDP socket, packets out on the media clock, packets in
to a sink, RFC 4733 telephone-events both ways.

The send path runs on every 20 ms tick for every call, so it is kept lean:
prompts and music carry their G.711 payloads pre-encoded (``Frame.encoded``)
and a packet costs one ``struct.pack`` and one ``sendto``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import socket
import struct
from collections.abc import Callable

from zentrale.lines.sip import srtp
from zentrale.lines.sip.sdp import Negotiated
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import Codec
from zentrale.media.frames import Frame, FrameSink, FrameSource, bytes_per_frame, silence

log = logging.getLogger(__name__)

_HEADER = struct.Struct("!BBHII")
DTMF_EVENTS = "0123456789*#ABCD"
DTMF_CODES = {d: i for i, d in enumerate(DTMF_EVENTS)}


class PortPool:
    """Even RTP ports from a range, bound on demand."""

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self.low = low + (low % 2)
        self.high = high

    async def bind(
        self, protocol_factory: Callable[[], asyncio.DatagramProtocol]
    ) -> tuple[asyncio.DatagramTransport, int, socket.socket]:
        """A bound non-blocking socket wrapped in a datagram transport (for receiving)."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            port = random.randrange(self.low, self.high, 2)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            transport, _ = await loop.create_datagram_endpoint(protocol_factory, sock=sock)
            return transport, port, sock
        raise OSError(f"no free RTP port in {self.low}-{self.high}")


class RtpStream(asyncio.DatagramProtocol):
    def __init__(self, clock: MediaClock, *, symmetric: bool = True) -> None:
        self._clock = clock
        self._symmetric = symmetric
        self.transport: asyncio.DatagramTransport | None = None
        # The send path writes to the socket directly: asyncio's sendto adds
        # checks and buffering we do not need for one datagram every 20 ms.
        self._sock: socket.socket | None = None
        self.local_port = 0
        self.remote: tuple[str, int] | None = None
        self.codec: Codec | None = None
        self.payload_type = 0
        self.dtmf_pt: int | None = None  # the telephone-event type we send with
        self.dtmf_pts: set[int] = set()  # types we take events under (both sides' SDP; call.py fills it)
        self.sending = False
        self.rate = 8000
        self.source: FrameSource | None = None
        self.sink: FrameSink | None = None
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_first_packet: Callable[[], None] | None = None
        self._ssrc = secrets.randbits(32)
        self._seq = secrets.randbits(16)
        self._ts = secrets.randbits(32)
        self._marker = True
        self._tick_key: int | None = None
        self._latched = False
        self._last_dtmf_ts: int | None = None
        self._rx_buffer = bytearray()
        self._dtmf_out: list[bytes] = []
        self._dtmf_ts = 0
        self._dtmf_first = False
        self._dtmf_len = 0
        self._ts_step = 160
        self.sent = 0
        self.received = 0
        # SRTP (RFC 3711) when the far end asked for it; None keeps the plain path as it was.
        self._srtp_tx: srtp.Session | None = None
        self._srtp_rx: srtp.Session | None = None
        self._srtp_keys: tuple[str, bytes, bytes] | None = None
        self.srtp_failures = 0

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
        self.transport, self.local_port, self._sock = await ports.bind(lambda: self)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def configure(self, neg: Negotiated, codec: Codec) -> None:
        """Apply (re-)negotiated media; keeps SSRC, sequence and timestamp running."""
        self.codec = codec
        self.payload_type = neg.payload_type
        self.dtmf_pt = neg.dtmf_payload_type
        self.rate = neg.codec.sample_rate
        self._ts_step = neg.codec.rtp_clock // 50  # we always send 20 ms packets
        new_remote = (neg.remote_host, neg.remote_port)
        if self.remote is None or (new_remote != self.remote and not self._latched):
            self.remote = new_remote
        elif new_remote[0] != self.remote[0] and neg.remote_port:
            self.remote = new_remote  # moved by a re-INVITE
            self._latched = False
        self.sending = neg.sends
        if not self.sending:
            self._marker = True

    def start(self) -> None:
        if self._tick_key is None:
            self._tick_key = self._clock.add(self.tick)

    def close(self) -> None:
        if self._tick_key is not None:
            self._clock.remove(self._tick_key)
            self._tick_key = None
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self._sock = None
        self.source = None
        self.sink = None

    # --- sending (every tick) ----------------------------------------------------

    def tick(self) -> None:
        source = self.source
        frame = source.read() if source is not None else None
        if self._dtmf_out:
            payload = self._dtmf_out.pop(0)
            self._send(payload, self.dtmf_pt or 101, self._dtmf_ts, marker=self._dtmf_first)
            self._dtmf_first = False
            if not self._dtmf_out:
                self._ts += self._ts_step * self._dtmf_len
            return
        if not self.sending or self.codec is None:
            self._ts += self._ts_step
            return
        if frame is None or frame.rate != self.rate:
            frame = silence(self.rate)
        self._send(frame.encoded(self.codec), self.payload_type, self._ts, marker=self._marker)
        self._marker = False
        self._ts += self._ts_step

    def _send(self, payload: bytes, pt: int, ts: int, *, marker: bool) -> None:
        if self._sock is None or self.remote is None:
            return
        packet = _HEADER.pack(0x80, pt | (0x80 if marker else 0), self._seq, ts & 0xFFFFFFFF, self._ssrc) + payload
        self._seq = (self._seq + 1) & 0xFFFF
        tx = self._srtp_tx
        if tx is not None:
            try:
                packet = tx.protect(packet)
            except srtp.SrtpError as err:
                log.debug("srtp: cannot protect: %s", err)
                return
        try:
            self._sock.sendto(packet, self.remote)
        except (BlockingIOError, InterruptedError):
            return  # socket buffer full: drop this packet, as RTP would
        except OSError as err:
            log.debug("rtp: send to %s failed: %s", self.remote, err)
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
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        rx = self._srtp_rx
        if rx is not None:
            try:
                data = rx.unprotect(data)
            except srtp.SrtpError:
                self.srtp_failures += 1  # forged, replayed or keyed wrong: dropped
                return
        self.received += 1
        if self.received == 1 and self.on_first_packet is not None:
            self.on_first_packet()
        pt = data[1] & 0x7F
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10 and len(data) >= offset + 4:  # header extension
            offset += 4 + 4 * struct.unpack_from("!H", data, offset + 2)[0]
        payload = data[offset:]
        if data[0] & 0x20 and payload:  # padding
            payload = payload[: -payload[-1]]
        if self._symmetric and not self._latched and pt == self.payload_type:
            self._latched = True
            src = (addr[0], addr[1])
            if src != self.remote:
                log.debug("rtp: latching to %s:%d", *src)
                self.remote = src
        if (pt == self.dtmf_pt and self.dtmf_pt is not None) or pt in self.dtmf_pts:
            self._telephone_event(payload, struct.unpack_from("!I", data, 4)[0])
        elif pt == self.payload_type and self.codec is not None and self.sink is not None:
            codec = self.codec
            if codec.stateless and len(payload) == self._ts_step and not self._rx_buffer:
                # G.711, one 20 ms packet: keep it encoded; a bridged G.711 leg sends it on
                # as it came, anyone who needs samples decodes it (Frame.pcm)
                self.sink.write(Frame.from_payload(payload, codec, self.rate))
            else:
                self._audio(codec.decode(payload))

    def _audio(self, pcm: bytes) -> None:
        size = bytes_per_frame(self.rate)
        if len(pcm) == size and not self._rx_buffer:
            if self.sink is not None:
                self.sink.write(Frame(pcm, self.rate))
            return
        self._rx_buffer += pcm  # other packet times: re-cut into 20 ms frames
        while len(self._rx_buffer) >= size and self.sink is not None:
            self.sink.write(Frame(bytes(self._rx_buffer[:size]), self.rate))
            del self._rx_buffer[:size]

    def _telephone_event(self, payload: bytes, ts: int) -> None:
        # RFC 4733 §2.5.2.1: a new timestamp starts a new event; report it at once
        # (not at its end) so a prompt stops quickly; ignore retransmitted packets.
        if len(payload) < 4 or ts == self._last_dtmf_ts:
            return
        self._last_dtmf_ts = ts
        code = payload[0]
        if code < len(DTMF_EVENTS) and self.on_dtmf is not None:
            self.on_dtmf(DTMF_EVENTS[code])
