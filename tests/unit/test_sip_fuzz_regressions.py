"""Minimal reproductions of what the SIP fuzzer (tests/fuzzing) found, one test each,
named by the behaviour that holds since the fix."""

from __future__ import annotations

import asyncio
import logging
import socket

import pytest

from zentrale.lines.sip.message import SipParseError, parse_message
from zentrale.lines.sip.transport import SipTransport


def options_with(header: str) -> bytes:
    return (
        "OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKfuzz1;rport\r\n"
        f"{header}\r\n"
        "From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:100@127.0.0.1>\r\n"
        "Call-ID: fuzz-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    "value",
    ["7" * 5000, "\u00b2", "5\u00b9", "\u0667\u0660", "256", "-1", ""],
    ids=["5000-digits", "superscript-two", "five-superscript-one", "arabic-indic-70", "256", "negative", "empty"],
)  # fmt: skip
def test_a_max_forwards_that_is_not_1_to_3_ascii_digits_up_to_255_is_refused_with_400(value: str) -> None:
    # Found by the fuzzer: int() raised ValueError (more than 4300 digits; "²" passes
    # str.isdigit() but not int()), which escaped the parser as a non-SipParseError.
    with pytest.raises(SipParseError) as err:
        parse_message(options_with(f"Max-Forwards: {value}"))
    assert err.value.status == 400


@pytest.mark.parametrize("value", ["0", "70", "255", "0070", "0" * 5000 + "70"])
def test_a_max_forwards_of_ascii_digits_up_to_255_is_accepted(value: str) -> None:
    assert parse_message(options_with(f"Max-Forwards: {value}")).get("Max-Forwards") == value


async def test_stopping_the_line_while_tcp_peers_are_connected_logs_no_error(caplog: pytest.LogCaptureFixture) -> None:
    # Found by the fuzzer: the daemon stopped while fuzzing TCP connections were open
    # logged "ERROR asyncio: Exception in callback StreamReaderProtocol..." with a
    # CancelledError traceback per connection (Python 3.11's stream server asks a
    # cancelled handler task for its exception).
    transport = SipTransport("127.0.0.1", 0, lambda message, peer: None, udp=True, tcp=True)
    await transport.start()
    peers = []
    for partial in (
        b"",
        b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP",
        b"INVITE x\r\nContent-Length: 9\r\n\r\n",
    ):
        sock = socket.create_connection(("127.0.0.1", transport.port))
        sock.sendall(partial)
        peers.append(sock)
    for _ in range(500):  # the server accepts them on the loop: give it turns (at most 5 s)
        if len(transport.connections) == len(peers):
            break
        await asyncio.sleep(0.01)
    assert len(transport.connections) == len(peers)
    with caplog.at_level(logging.ERROR):
        await transport.stop()
        await asyncio.sleep(0.05)  # the stream server's done-callbacks run after the tasks end
    for sock in peers:
        sock.close()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
