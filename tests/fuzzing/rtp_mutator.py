"""RTP and RTCP packets for a live call's media ports, deterministic by seed: random
bytes, RTP headers (RFC 3550 §5.1) with lying CSRC counts, extension lengths and
padding, audio under the negotiated and unknown payload types, and RFC 4733 §2.3
telephone-events with every field wrong (event codes past 16, lengths other than
4, durations that go backwards, end bits, retransmitted ends)."""

from __future__ import annotations

import random
import struct

DTMF_PTS = (101, 121, 96, 127)  # what phones and PBXs announce for telephone-event
AUDIO_PTS = (0, 8, 9)


class RtpMutator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.ssrc = rng.getrandbits(32)
        self.seq = rng.getrandbits(16)
        self.ts = rng.getrandbits(32)

    def _header(self, pt: int, *, marker: bool = False, cc: int = 0, ext: bool = False, pad: bool = False) -> bytes:
        self.seq = (self.seq + self.rng.choice([1, 1, 1, 0, 2, -1, 30000])) & 0xFFFF
        self.ts = (self.ts + self.rng.choice([160, 160, 320, 0, -160, 2**31])) & 0xFFFFFFFF
        first = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | (cc & 0x0F)
        second = (0x80 if marker else 0) | (pt & 0x7F)
        ssrc = self.ssrc if self.rng.random() < 0.8 else self.rng.getrandbits(32)
        return struct.pack("!BBHII", first, second, self.seq, self.ts, ssrc)

    def packet(self) -> bytes:
        kind = self.rng.random()
        if kind < 0.15:
            return self.rng.randbytes(self.rng.choice([0, 1, 11, 12, 13, 40, 172, 1500]))
        if kind < 0.45:
            return self.event()
        if kind < 0.75:
            return self.audio()
        return self.broken_header()

    def audio(self) -> bytes:
        pt = self.rng.choice((*AUDIO_PTS, self.rng.randrange(128)))
        size = self.rng.choice([160, 160, 160, 80, 0, 1, 320, 1400])
        return self._header(pt, marker=self.rng.random() < 0.1) + self.rng.randbytes(size)

    def event(self) -> bytes:
        """A telephone-event packet (RFC 4733 §2.3): event, E|R|volume, duration."""
        pt = self.rng.choice((*DTMF_PTS, self.rng.randrange(96, 128)))
        event = self.rng.choice([1, 5, 11, 15, 16, 17, 100, 255])
        end = self.rng.random() < 0.3
        volume = self.rng.randrange(64)
        duration = self.rng.choice([0, 160, 800, 65535])
        payload = struct.pack("!BBH", event, (0x80 if end else 0) | (0x40 if self.rng.random() < 0.1 else 0) | volume,
                              duration)  # fmt: skip
        shape = self.rng.random()
        if shape < 0.1:
            payload = payload[: self.rng.randrange(4)]
        elif shape < 0.2:
            payload += self.rng.randbytes(self.rng.choice([1, 4, 12]))  # several events in one packet
        return self._header(pt, marker=self.rng.random() < 0.3) + payload

    def broken_header(self) -> bytes:
        """Headers that lie about what follows them."""
        choice = self.rng.randrange(5)
        if choice == 0:  # 15 CSRCs announced, none there
            return self._header(0, cc=15) + self.rng.randbytes(self.rng.choice([0, 4, 20]))
        if choice == 1:  # extension of 65535 words
            return self._header(8, ext=True) + struct.pack("!HH", 0xBEDE, 0xFFFF) + self.rng.randbytes(8)
        if choice == 2:  # padding longer than the payload, or zero
            payload = self.rng.randbytes(self.rng.choice([0, 3, 160]))
            return self._header(0, pad=True) + payload + bytes([self.rng.choice([0, 1, 200, 255])])
        if choice == 3:  # version 0, 1, 3
            data = bytearray(self._header(0) + self.rng.randbytes(160))
            data[0] = (data[0] & 0x3F) | (self.rng.choice([0, 1, 3]) << 6)
            return bytes(data)
        data = bytearray(self._header(self.rng.choice(DTMF_PTS), ext=True, cc=3, pad=True))
        return bytes(data) + self.rng.randbytes(self.rng.randrange(24))

    def rtcp(self) -> bytes:
        """For the port above the RTP port (RFC 3550 §6): garbage and lying compound packets."""
        kind = self.rng.randrange(5)
        if kind == 0:
            return self.rng.randbytes(self.rng.choice([0, 3, 8, 28, 200]))
        if kind == 1:  # SR claiming 31 report blocks
            return struct.pack("!BBHI", 0x80 | 31, 200, 6, self.rng.getrandbits(32)) + self.rng.randbytes(20)
        if kind == 2:  # RR with a length past the end
            return struct.pack("!BBHI", 0x81, 201, 0xFFFF, self.rng.getrandbits(32))
        if kind == 3:  # SDES with a long item
            return struct.pack("!BBHIBB", 0x81, 202, 70, self.rng.getrandbits(32), 1, 255) + b"x" * 255
        return struct.pack("!BBH", 0x80, self.rng.randrange(256), 0) + self.rng.randbytes(self.rng.randrange(64))
