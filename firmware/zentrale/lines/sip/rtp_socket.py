"""RTP sockets: even ports from the configured range (RTCP on the odd one above, RFC 3550
§11), and reading them with the kernel's arrival time of every datagram.

The arrival time is what the jitter buffer measures the line by. Taken when the
event loop gets round to a packet, it would include this process's own delays:
on a loaded box the loop stalls now and then for 100-500 ms (bench/RESULTS.md),
and the packets of that time would look like network jitter, the buffer would
grow to its maximum, and a steady line would be judged jittery. The kernel
stamps each datagram as it arrives (``SO_TIMESTAMP``), and everything waiting
is read in one go, not one datagram per loop iteration as asyncio's datagram
transport does.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

# Linux (asm-generic, so x86-64 and arm64 alike): SO_TIMESTAMP / SCM_TIMESTAMP carry a
# struct timeval of CLOCK_REALTIME; Python's socket module does not name them.
SO_TIMESTAMP = 29
_TIMEVAL = struct.Struct("@ll")
READ_BATCH = 64  # datagrams per wake-up at most: one socket must not keep the loop to itself

Arrived = Callable[[bytes, Any, float], None]  # data, the sender's address, arrival (monotonic)


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp every datagram's arrival; False where it cannot."""
    if sys.platform != "linux":
        return False
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
    except OSError:
        return False
    return True


def read_all(sock: socket.socket, arrived: Arrived) -> None:
    """Every datagram waiting (up to ``READ_BATCH``), each with its arrival on the monotonic clock."""
    for _ in range(READ_BATCH):
        try:
            data, ancillary, _flags, addr = sock.recvmsg(4096, 64)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return  # e.g. ECONNREFUSED from an ICMP error about something we sent: nothing to read
        now = time.monotonic()
        arrival = now
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(value) >= _TIMEVAL.size:
                sec, usec = _TIMEVAL.unpack_from(value)
                age = time.time() - (sec + usec / 1e6)  # noqa: TID251 - the kernel stamps CLOCK_REALTIME
                if 0.0 <= age < 10.0:  # a wall clock that was just set: take our own time
                    arrival = now - age
        arrived(data, addr, arrival)


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
        transport, port, sock, _ = await self.bind_pair(protocol_factory, None)
        return transport, port, sock

    async def bind_pair(
        self,
        protocol_factory: Callable[[], asyncio.DatagramProtocol],
        rtcp_factory: Callable[[], asyncio.DatagramProtocol] | None,
    ) -> tuple[asyncio.DatagramTransport, int, socket.socket, asyncio.DatagramTransport | None]:
        """An even RTP port and, with ``rtcp_factory``, the odd one above it for RTCP (RFC 3550 §11)."""
        sock, port, rtcp_transport = await self.bind_sockets(rtcp_factory)
        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(protocol_factory, sock=sock)
        return transport, port, sock, rtcp_transport

    async def bind_sockets(
        self, rtcp_factory: Callable[[], asyncio.DatagramProtocol] | None
    ) -> tuple[socket.socket, int, asyncio.DatagramTransport | None]:
        """The RTP socket itself (non-blocking, for its owner to read) on an even port, and RTCP's above it."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(50):
            port = random.randrange(self.low, self.high, 2)
            sock = socket.socket(family, socket.SOCK_DGRAM)
            odd = socket.socket(family, socket.SOCK_DGRAM) if rtcp_factory is not None else None
            try:
                sock.bind((self.host, port))
                if odd is not None:
                    odd.bind((self.host, port + 1))
            except OSError:
                sock.close()
                if odd is not None:
                    odd.close()
                continue
            sock.setblocking(False)
            rtcp_transport = None
            if odd is not None and rtcp_factory is not None:
                odd.setblocking(False)
                rtcp_transport, _ = await loop.create_datagram_endpoint(rtcp_factory, sock=odd)
            return sock, port, rtcp_transport
        raise OSError(f"no free RTP port pair in {self.low}-{self.high}")
