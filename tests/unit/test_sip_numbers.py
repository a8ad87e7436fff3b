"""Numbers in headers a hostile peer writes: ASCII digits only, bounded (RFC 3261 §25.1).
"²" and "①" are str.isdigit() but int() refuses them; a Via's rport of 70000 is no port."""

from __future__ import annotations

import pytest

from zentrale.lines.sip.message import SipRequest, number, parse_message
from zentrale.lines.sip.registration import split_hostport
from zentrale.lines.sip.transport import Peer, response_peer


@pytest.mark.parametrize(
    ("text", "largest", "value"),
    [
        ("5060", 65535, 5060),
        ("0005060", 65535, 5060),
        ("0", 65535, 0),
        ("65536", 65535, None),
        ("9" * 5000, 65535, None),  # never int() of thousands of digits
        ("²", 65535, None),
        ("①", 65535, None),
        ("１２", 65535, None),  # full-width digits
        ("-1", 65535, None),
        ("", 65535, None),
        (None, 65535, None),
        ("3600", 2**32 - 1, 3600),
    ],
)
def test_a_header_number_is_ascii_digits_within_its_bound(text: str | None, largest: int, value: int | None) -> None:
    assert number(text, largest) == value


def options(via_params: str) -> SipRequest:
    raw = (
        "OPTIONS sip:box@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.9:5070;branch=z9hG4bK-1{via_params}\r\n"
        "From: <sip:x@127.0.0.9>;tag=1\r\nTo: <sip:box@127.0.0.1>\r\nCall-ID: n@x\r\n"
        "CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    msg = parse_message(raw)
    assert isinstance(msg, SipRequest)
    return msg


@pytest.mark.parametrize("rport", ["²", "70000", "99999999999999999999", "-5", "①"])
def test_a_response_to_a_via_with_a_broken_rport_goes_to_the_vias_port(rport: str) -> None:
    source = Peer("udp", "127.0.0.9", 40000)
    assert response_peer(options(f";rport={rport}"), source) == Peer("udp", "127.0.0.9", 5070)


def test_a_response_with_rport_goes_where_the_request_came_from() -> None:
    source = Peer("udp", "127.0.0.9", 40000)
    assert response_peer(options(";rport=40000"), source) == Peer("udp", "127.0.0.9", 40000)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pbx.example:5080", ("pbx.example", 5080)),
        ("pbx.example:²", ("pbx.example", 5060)),
        ("[::1]:5070", ("::1", 5070)),
        ("[::1]:x", ("::1", 5060)),
        ("pbx.example", ("pbx.example", 5060)),
    ],
)
def test_a_registrar_address_with_a_broken_port_uses_the_default(text: str, expected: tuple[str, int]) -> None:
    assert split_hostport(text) == expected
