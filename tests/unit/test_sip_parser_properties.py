"""Properties of the SIP parser (hypothesis): whatever bytes arrive, ``parse_message``
raises nothing but ``SipParseError``; and a message it accepts is written back by
``to_bytes`` as one that parses to the same start line, headers and body."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.fuzzing.seeds import Party, SeedBook
from tests.fuzzing.sip_mutator import SipMutator
from zentrale.lines.sip.message import SipParseError, SipRequest, SipResponse, parse_message

METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO", "UPDATE", "NOTIFY", "REFER", "REGISTER", "FOO"]
NAMES = ["Via", "v", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Contact", "m", "Max-Forwards", "Content-Length",
         "l", "Content-Type", "c", "Route", "Record-Route", "Require", "Supported", "k", "Session-Expires", "x",
         "Min-SE", "Accept", "Allow", "Event", "o", "Expires", "X-Custom", "P-Asserted-Identity"]  # fmt: skip
EXTRA_NAMES = ["X-Custom", "Require", "Supported", "Allow", "Accept", "Event", "Expires", "Session-Expires", "Min-SE",
               "Route", "Record-Route", "Contact", "P-Asserted-Identity", "Subject", "User-Agent"]  # fmt: skip
# characters that matter to the parser: separators, quotes, brackets, digits of every kind, controls
ODD = ' \t;:,=<>"\\@/?%[]*\x00\r\u00b2\u2460\u0663\ufffd\u00e4'
VALUE_CHARS = st.characters(codec="utf-8", exclude_characters="\n") | st.sampled_from(ODD)


def header_lines() -> st.SearchStrategy[list[str]]:
    """The headers a request needs, each mostly there, and odd extra ones."""
    needed = [
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKprop;rport",
        "From: <sip:a@127.0.0.1>;tag=1",
        "To: <sip:100@127.0.0.1>",
        "Call-ID: prop@127.0.0.1",
        "Max-Forwards: 70",
    ]
    names = st.sampled_from(EXTRA_NAMES) | st.sampled_from(NAMES)
    odd = st.builds(lambda name, value: f"{name}:{value}", names, st.text(VALUE_CHARS, max_size=60))
    return st.builds(
        lambda keep, extra: [line for line, k in zip(needed, keep, strict=True) if k] + extra,
        st.lists(st.integers(0, 9).map(bool), min_size=len(needed), max_size=len(needed)),
        st.lists(odd, max_size=6),
    )


@st.composite
def sip_shaped(draw: st.DrawFn) -> bytes:
    """Bytes that look like SIP: a start line, header lines from the real names with good and
    odd values, a CSeq mostly matching, a separator, a body."""
    if draw(st.booleans()):
        method = draw(st.sampled_from(METHODS))
        start = f"{method} {draw(st.sampled_from(['sip:100@127.0.0.1', 'sips:x@[::1]:5061', 'tel:+4930', 'sip:']))} "
        start += draw(st.sampled_from(["SIP/2.0", "SIP/2.0", "SIP/3.0", "sip/2.0", "HTTP/1.1"]))
    else:
        method = draw(st.sampled_from(METHODS))
        start = f"SIP/2.0 {draw(st.integers(0, 999))} {draw(st.text(VALUE_CHARS, max_size=20))}"
    lines = draw(header_lines())
    lines.append(f"CSeq: {draw(st.integers(-1, 2**32))} {draw(st.sampled_from([method, *METHODS]))}")
    body = draw(st.binary(max_size=200) | st.sampled_from([b"", b"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"]))
    if draw(st.booleans()):
        lines.append(f"Content-Length: {draw(st.sampled_from([len(body), len(body) + 1, 0, -1]))}")
    eol = draw(st.sampled_from(["\r\n", "\r\n", "\n"]))
    draw(st.randoms()).shuffle(lines) if draw(st.booleans()) else None
    return (eol.join([start, *lines]) + eol + eol).encode("utf-8", errors="surrogateescape") + body


def mutant(seed: int) -> bytes:
    """A mutant of a real seed message, as the fuzzer sends them."""
    rng = random.Random(seed)
    book = SeedBook(rng, "127.0.0.1", 5060)
    party = Party("127.0.1.1", 40000)
    return SipMutator(rng).mutate(book.torture() if seed % 5 == 0 else book.out_of_dialog(party, 40002))


def parses(data: bytes, stream: bool) -> SipRequest | SipResponse | None:
    try:
        return parse_message(data, stream=stream)
    except SipParseError:
        return None


@settings(max_examples=500, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=3000), stream=st.booleans())
@example(data=b"OPTIONS sip:1@127.0.0.1 SIP/2.0\r\nMax-Forwards: \xc2\xb2\r\n\r\n", stream=False)
def test_any_bytes_parse_or_raise_sip_parse_error_only(data: bytes, stream: bool) -> None:
    parses(data, stream)


@settings(max_examples=800, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=sip_shaped(), stream=st.booleans())
def test_sip_shaped_bytes_parse_or_raise_sip_parse_error_only(data: bytes, stream: bool) -> None:
    parses(data, stream)


@settings(max_examples=800, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), stream=st.booleans())
def test_mutants_of_real_messages_parse_or_raise_sip_parse_error_only(seed: int, stream: bool) -> None:
    parses(mutant(seed), stream)


def assert_round_trip(data: bytes, stream: bool) -> None:
    first = parses(data, stream)
    if first is None:
        return
    again = parse_message(first.to_bytes(), stream=stream)  # must parse: no SipParseError either
    assert type(again) is type(first)
    assert again.start_line() == first.start_line()
    without_length = [(n, v) for n, v in first.headers if n.lower() != "content-length"]
    assert [(n, v) for n, v in again.headers if n.lower() != "content-length"] == without_length
    assert again.body == first.body


@settings(max_examples=800, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=sip_shaped(), stream=st.booleans())
def test_a_parsed_sip_shaped_message_survives_a_round_trip_through_to_bytes(data: bytes, stream: bool) -> None:
    assert_round_trip(data, stream)


@settings(max_examples=800, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32), stream=st.booleans())
def test_a_parsed_mutant_survives_a_round_trip_through_to_bytes(seed: int, stream: bool) -> None:
    assert_round_trip(mutant(seed), stream)
