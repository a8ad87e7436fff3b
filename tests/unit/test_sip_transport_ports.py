"""Port 0 (any free port): UDP picks it, TCP must get the same one -- and another program may
hold that TCP port. The transport then lets UDP pick again instead of failing its start (a
clash seen in CI: a unit test's user agent could not start). A fixed port's clash stays an error."""

from __future__ import annotations

import asyncio
import errno
import socket
from typing import Any

import pytest

from zentrale.lines.sip.transport import SipTransport


def _ignore(*args: Any) -> None:
    return None


async def test_a_free_udp_port_whose_tcp_twin_is_taken_is_picked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    real_start_server = asyncio.start_server
    occupants: list[socket.socket] = []

    async def start_server_after_another_program_took_the_port(*args: Any, **kwargs: Any) -> asyncio.Server:
        if not occupants:  # another program listens on the TCP port UDP has just picked
            other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            other.bind(("127.0.0.1", args[2]))
            other.listen()
            occupants.append(other)
        return await real_start_server(*args, **kwargs)

    monkeypatch.setattr(asyncio, "start_server", start_server_after_another_program_took_the_port)
    transport = SipTransport("127.0.0.1", 0, _ignore)
    try:
        await transport.start()
        taken = occupants[0].getsockname()[1]
        assert transport.listening and transport.port != taken
        assert transport._server is not None and transport._server.sockets[0].getsockname()[1] == transport.port
        # the first UDP socket was given back: its port is free for UDP again
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.bind(("127.0.0.1", taken))
        probe.close()
    finally:
        await transport.stop()
        for other in occupants:
            other.close()


async def test_a_fixed_port_taken_by_another_program_is_an_error() -> None:
    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    other.bind(("127.0.0.1", 0))
    other.listen()
    transport = SipTransport("127.0.0.1", other.getsockname()[1], _ignore, udp=False)
    try:
        with pytest.raises(OSError) as raised:
            await transport.start()
        assert raised.value.errno == errno.EADDRINUSE
    finally:
        await transport.stop()
        other.close()
