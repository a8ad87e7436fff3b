"""SIP messages for unit tests of the SIP line."""

from __future__ import annotations

from zentrale.lines.sip.message import SipRequest, parse_message


def request(method: str = "INVITE", branch: str = "z9hG4bKabc123", *, extra: str = "", body: bytes = b"") -> SipRequest:
    """A valid request from 127.0.0.9 to the box; ``extra`` are further header lines (CRLF-terminated)."""
    raw = (
        f"{method} sip:100@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.9:5060;branch={branch}\r\n"
        "From: <sip:alice@127.0.0.9>;tag=a1\r\n"
        "To: <sip:100@127.0.0.1>\r\n"
        "Call-ID: c1@127.0.0.9\r\n"
        f"CSeq: 1 {method}\r\n"
        "Max-Forwards: 70\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    msg = parse_message(raw)
    assert isinstance(msg, SipRequest)
    return msg
