"""What RTP unit tests share: the negotiated media of a call to a plain UDP peer, that peer
(a far phone: a UDP socket that sends RTP and keeps what it receives), and a running media clock."""

from __future__ import annotations

import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from zentrale.lines.sip.sdp import Negotiated
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import CODECS


def negotiated(port: int, host: str = "127.0.0.1", dtmf: int | None = 101, codec: str = "PCMU") -> Negotiated:
    info = CODECS[codec]
    return Negotiated(info, info.payload_type, dtmf, host, port, "sendrecv")


@pytest.fixture
async def clock() -> AsyncIterator[MediaClock]:
    """The box's 20 ms media clock, running on the test's loop."""
    c = MediaClock()
    c.start()
    yield c
    c.stop()


@dataclass(frozen=True)
class Packet:
    pt: int
    marker: bool
    seq: int
    ts: int
    ssrc: int
    payload: bytes


class Phone:
    """A far phone: a plain UDP socket that sends RTP and keeps what it receives."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.got: list[Packet] = []

    def send(self, to: int, seq: int, ts: int, payload: bytes, pt: int = 0, ssrc: int = 0x1234) -> None:
        self.sock.sendto(struct.pack("!BBHII", 0x80, pt, seq & 0xFFFF, ts, ssrc) + payload, ("127.0.0.1", to))

    def receive(self) -> list[Packet]:
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return self.got
            seq, ts, ssrc = struct.unpack_from("!HII", data, 2)
            self.got.append(Packet(data[1] & 0x7F, bool(data[1] & 0x80), seq, ts, ssrc, data[12:]))

    def audio(self) -> list[Packet]:
        return [p for p in self.receive() if p.pt in (0, 8)]

    def close(self) -> None:
        self.sock.close()
