"""Who is calling: From, P-Asserted-Identity from a trusted PBX, and a withheld number kept withheld."""

from __future__ import annotations

from types import SimpleNamespace

from zentrale.lines.sip.incoming import Answerer
from zentrale.lines.sip.message import SipRequest, parse_message
from zentrale.lines.sip.transport import Peer

PBX = Peer("udp", "192.168.1.2", 5060)
STRANGER = Peer("udp", "203.0.113.9", 5060)


def answerer() -> Answerer:
    admission = SimpleNamespace(trusted=lambda host: host == PBX.host)
    return Answerer(SimpleNamespace(admission=admission))  # type: ignore[arg-type]


def invite(*headers: str) -> SipRequest:
    lines = [
        "INVITE sip:100@box SIP/2.0", "Via: SIP/2.0/UDP 192.168.1.2;branch=z9hG4bK1", "To: <sip:100@box>",
        "Call-ID: c1", "CSeq: 1 INVITE", "Max-Forwards: 70", *headers, "Content-Length: 0",
    ]  # fmt: skip
    message = parse_message(("\r\n".join(lines) + "\r\n\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


def test_a_trusted_pbxs_asserted_identity_names_the_caller_a_strangers_does_not() -> None:
    request = invite(
        'From: "Trunk" <sip:0301111@pbx>;tag=a', 'P-Asserted-Identity: "Erika Muster" <sip:+49301234567@pbx>'
    )
    assert answerer().caller_of(request, PBX) == ("+49301234567", "Erika Muster")
    assert answerer().caller_of(request, STRANGER) == ("0301111", "Trunk")


def test_a_caller_who_withheld_the_number_stays_anonymous_although_the_pbx_asserts_it() -> None:
    for privacy in ("id", "id;critical", "header;id", "user", "Header"):
        request = invite(
            'From: "Anonymous" <sip:anonymous@anonymous.invalid>;tag=a',
            'P-Asserted-Identity: "Erika Muster" <sip:+49301234567@pbx>',
            f"Privacy: {privacy}",
        )
        assert answerer().caller_of(request, PBX) == ("anonymous", "Anonymous"), privacy


def test_privacy_none_leaves_the_asserted_identity_in_use() -> None:
    request = invite("From: <sip:anonymous@anonymous.invalid>;tag=a", "P-Asserted-Identity: <sip:+49301234567@pbx>",
                     "Privacy: none")  # fmt: skip
    assert answerer().caller_of(request, PBX)[0] == "+49301234567"
