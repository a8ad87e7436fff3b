"""Minimal reproductions of what the SIP fuzzer (tests/fuzzing) found, one test each,
named by the behaviour that holds since the fix."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import SimpleNamespace

import pytest

from tests.harness.waits import until
from zentrale.lines.sip import call as call_module
from zentrale.lines.sip import session_timer as st
from zentrale.lines.sip.admission import Share
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.layer import TransactionLayer
from zentrale.lines.sip.message import SipParseError, SipRequest, SipResponse, make_response, parse_message
from zentrale.lines.sip.rtcp import RtcpSocket, RtcpState
from zentrale.lines.sip.rtp import PortPool, RtpStream
from zentrale.lines.sip.sdp import SdpError, negotiate, parse_sdp
from zentrale.lines.sip.transport import Peer, SipTransport
from zentrale.media.clock import MediaClock


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
    await until(lambda: len(transport.connections) == len(peers), what="the server to accept every connection")
    with caplog.at_level(logging.ERROR):
        await transport.stop()
        await asyncio.sleep(0.05)  # the stream server's done-callbacks run after the tasks end
    for sock in peers:
        sock.close()
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


def response_with(from_: str, to: str = "<sip:100@127.0.0.1>;tag=b") -> bytes:
    return (
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKbox1\r\n"
        f"From: {from_}\r\nTo: {to}\r\n"
        "Call-ID: fuzz-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


@pytest.mark.parametrize(
    ("from_", "to"),
    [
        ("<sip:1@127.0.0.1>, <sip:2@127.0.0.1>", "<sip:100@127.0.0.1>;tag=b"),
        ("sip:user@example.c om", "<sip:100@127.0.0.1>;tag=b"),
        ("<sip:1@127.0.0.1>;ta\U0001f4deg=1", "<sip:100@127.0.0.1>;tag=b"),
        ("<sip:1@127.0.0.1>;tag=a", '"unbalanced <sip:100@127.0.0.1>'),
    ],
    ids=["two-addresses", "space-in-addr-spec", "emoji-in-parameter-name", "unbalanced-quote-in-to"],
)
def test_a_response_whose_from_or_to_cannot_be_read_is_dropped_by_the_parser(from_: str, to: str) -> None:
    # Found by the fuzzer: such a 200 to an INVITE passed the parser, and the user agent,
    # looking for the call of a retransmitted 2xx by its From tag, raised in its handler
    # (ERROR with a traceback, the source charged). A response is matched by its tags:
    # one whose From or To cannot be read is discarded (RFC 3261 §18.1.2).
    with pytest.raises(SipParseError) as err:
        parse_message(response_with(from_, to))
    assert err.value.status is None  # dropped, never answered


# Found by the fuzzer (a digit replaced by one of another kind): str.isdigit() is true for
# "²", "①" and other digits that int() refuses, so numbers checked with isdigit() raised
# ValueError in the handlers of re-INVITEs, UPDATEs and INVITEs with SDP (ERROR with a
# traceback; the caller got a 500 instead of a 488 or a working call).
ODD_DIGITS = ["4\u00b2000", "\u00b9", "1\u24602", "\u0663\u0660"]


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_an_sdp_port_with_odd_digits_is_refused_as_not_acceptable(digits: str) -> None:
    offer = f"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio {digits} RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    with pytest.raises(SdpError):
        parse_sdp(offer)


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_sdp_payload_types_clocks_and_ptime_with_odd_digits_are_ignored(digits: str) -> None:
    offer = (
        f"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 40000 RTP/AVP {digits} 8\r\na=rtpmap:{digits} PCMU/8000\r\n"
        f"a=rtpmap:8 PCMA/{digits}\r\na=rtpmap:8 PCMA/8000\r\na=fmtp:{digits} 0-16\r\na=ptime:{digits}\r\n"
    )
    _, negotiated = negotiate(parse_sdp(offer), ["PCMA"])
    assert (negotiated.codec.name, negotiated.payload_type, negotiated.ptime) == ("PCMA", 8, 20)


@pytest.mark.parametrize("digits", ODD_DIGITS)
def test_session_expires_and_min_se_with_odd_digits_are_taken_as_absent(digits: str) -> None:
    request = parse_message(options_with(f"Session-Expires: {digits};refresher=uac\r\nMin-SE: {digits}"))
    assert st.session_expires(request) is None
    assert st.min_se(request) is None
    assert st.answer_request(request, preferred=1800, minimum=90) is None


async def test_a_request_over_tcp_to_a_peer_that_refuses_the_connection_fails_at_once() -> None:
    # Found by the fuzzer: a call answered over a TCP connection that the caller closed got
    # no ACK; the box's BYE then could not connect, but its transaction waited for Timer F
    # (64*T1) instead of failing at once (RFC 3261 §17.1.4: a transport error ends the
    # transaction and the TU is told 503), so calls and transactions stayed past 64*T1.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]  # nobody listens here once closed
    transport = SipTransport("127.0.0.1", 0, lambda message, peer: None, udp=False, tcp=True)
    await transport.start()
    layer = TransactionLayer(transport, Share("transactions", 64, 8, 8, lambda host: False))
    try:
        bye = parse_message(
            (
                f"BYE sip:caller@127.0.0.1:{closed_port};transport=tcp SIP/2.0\r\n"
                "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKbye1;rport\r\nMax-Forwards: 70\r\n"
                "From: <sip:100@127.0.0.1>;tag=box\r\nTo: <sip:caller@127.0.0.1>;tag=caller\r\n"
                "Call-ID: fuzz-3\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
            ).encode()
        )
        assert isinstance(bye, SipRequest)
        pending = layer.send_request(bye, Peer("tcp", "127.0.0.1", closed_port))
        answer = await asyncio.wait_for(pending.final, 5.0)  # not Timer F's 32 s
        assert answer.status == 503
        assert layer.client == {}
    finally:
        layer.close()
        await transport.stop()


@pytest.mark.parametrize(("status_line", "outcome"), [("SIP/2.0 10\u2460 Trying", None), ("SIP/2.0 2\u00b900 OK", None),
                                                      ("SIP/2.0 200 OK", (200, "OK"))])  # fmt: skip
async def test_a_refer_report_whose_sipfrag_status_has_odd_digits_is_not_taken_for_an_outcome(
    status_line: str, outcome: tuple[int, str] | None
) -> None:
    # Found by the fuzzer: a NOTIFY in the dialog with "SIP/2.0 10① Trying" as its
    # message/sipfrag body raised ValueError in the NOTIFY handler (isdigit() but not int()).
    answered: list[int] = []
    ua = SimpleNamespace(transactions=SimpleNamespace(reply=lambda txn, status, reason, **kw: answered.append(status)))
    stream = SimpleNamespace(on_dtmf=None)
    call = SipCall(ua, direction="in", call_id="fuzz-4", local_tag="box", peer=Peer("udp", "127.0.0.1", 5999),
                   stream=stream, caller="1", caller_name=None, called="100")  # type: ignore[arg-type]  # fmt: skip
    call._refer = asyncio.get_running_loop().create_future()
    notify = parse_message(
        (
            "NOTIFY sip:zentrale@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKn1\r\n"
            "From: <sip:pbx@127.0.0.1>;tag=pbx\r\nTo: <sip:100@127.0.0.1>;tag=box\r\nCall-ID: fuzz-4\r\n"
            "CSeq: 7 NOTIFY\r\nEvent: refer\r\nSubscription-State: active\r\n"
            f"Content-Type: message/sipfrag\r\nContent-Length: {len(status_line) + 2}\r\n\r\n{status_line}\r\n"
        ).encode()
    )
    assert isinstance(notify, SipRequest)
    call._notify(notify, txn=None)  # type: ignore[arg-type]
    assert answered == [200]
    assert (call._refer.result() if call._refer.done() else None) == outcome


async def test_a_stream_closed_while_its_ports_are_being_bound_leaves_no_socket_open() -> None:
    # Found by the fuzzer (the daemon's open files grew by ~180 over 20,000 messages, all of
    # them RTCP ports): a call that ended (CANCEL, BYE, 487) while its RTP/RTCP ports were
    # still being bound was closed twice; the first close forgot the RTCP socket before it
    # existed, the second could no longer reach it.
    clock = MediaClock()
    stream = RtpStream(clock)
    opening = asyncio.ensure_future(stream.open(PortPool("127.0.0.1", 30000, 40000)))
    await asyncio.sleep(0)  # open() is inside the pool now: the sockets bound, RTCP's being made
    assert not opening.done()
    stream.close()  # the call ended meanwhile
    await opening
    stream.close()  # as ua._setup_incoming does when it sees the call ended
    for _ in range(5):  # transports close their sockets on the loop's next turns
        await asyncio.sleep(0)
    port = stream.local_port
    for p in (port, port + 1):  # both ports are free again
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", p))


async def test_a_2xx_never_acked_ends_the_call_at_64_t1_not_up_to_t2_later(monkeypatch: pytest.MonkeyPatch) -> None:
    # Found by the fuzzer's check that calls are gone 64*T1 after the last message: the
    # 2xx retransmissions double up to T2 and the ACK deadline was only looked at when one
    # was due, so a call whose ACK never came ended up to T2 (4 s) after 64*T1 (RFC 3261
    # §13.3.1.4). Here with T1 = 50 ms: 64*T1 = 3.2 s, the retransmission after 3.15 s is
    # due at 6.35 s.
    monkeypatch.setattr(call_module, "T1", 0.05)
    ended: list[float] = []
    ua = SimpleNamespace(send_response=lambda response, peer: None, forget=lambda call: None)
    stream = SimpleNamespace(on_dtmf=None, close=lambda: None)
    call = SipCall(ua, direction="in", call_id="fuzz-5", local_tag="box", peer=Peer("udp", "127.0.0.1", 5999),
                   stream=stream, caller="1", caller_name=None, called="100")  # type: ignore[arg-type]  # fmt: skip
    loop = asyncio.get_running_loop()
    call.ended.add_done_callback(lambda _: ended.append(loop.time()))
    ok = parse_message(response_with("<sip:1@127.0.0.1>;tag=a"))
    assert isinstance(ok, SipResponse)
    started = loop.time()
    call._retransmit_2xx(ok)
    await asyncio.wait_for(asyncio.shield(call.ended), 10.0)
    assert call.ended.result() == "no ACK"
    assert ended[0] - started < 64 * 0.05 + 0.3


@pytest.mark.parametrize(
    "to", ['"tag=me" <sip:100@127.0.0.1>', "<sip:100@127.0.0.1;tag=x>", "<sip:100@127.0.0.1>;xtag=1"]
)
def test_a_2xx_gets_the_boxs_to_tag_when_tag_is_only_text_in_the_requests_to(to: str) -> None:
    # Found by the fuzzer's check of every 2xx to an INVITE: the To tag was added only when
    # "tag=" appeared nowhere in the request's To, so a display name or URI parameter with
    # that text left the 2xx without a tag (RFC 3261 §8.2.6.2) and no ACK could match it.
    invite = parse_message(
        (
            "INVITE sip:100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;branch=z9hG4bKtag\r\n"
            f"From: <sip:a@127.0.0.1>;tag=1\r\nTo: {to}\r\nCall-ID: fuzz-6\r\nCSeq: 1 INVITE\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(invite, SipRequest) and invite.to_tag == ""
    assert make_response(invite, 200, "OK", to_tag="box").to_tag == "box"


def test_a_to_tag_the_request_already_has_is_kept() -> None:
    invite = parse_message(
        response_with("<sip:a@127.0.0.1>;tag=1").replace(b"SIP/2.0 200 OK", b"INVITE sip:100@127.0.0.1 SIP/2.0")
    )
    assert isinstance(invite, SipRequest)
    assert make_response(invite, 200, "OK", to_tag="box").to_tag == "b"


async def test_rtcp_for_an_rtp_port_of_65535_is_not_sent_and_the_rtcp_socket_stays_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Found by the long fuzzing run: an SDP with m=audio 65535 (a valid RTP port) made the
    # box send its RTCP report to port 65536; asyncio took the OverflowError for a fatal
    # error ("ERROR asyncio: Fatal write error", traceback), closed the RTCP socket, and every
    # later report raised AttributeError in RtpStream._report (another traceback).
    loop = asyncio.get_running_loop()
    rtcp = RtcpSocket(RtcpState(ssrc=1))
    transport, _ = await loop.create_datagram_endpoint(lambda: rtcp, local_addr=("127.0.0.1", 0))
    try:
        with caplog.at_level(logging.DEBUG):
            rtcp.send(b"\x80\xc9\x00\x01\x00\x00\x00\x01", ("127.0.0.1", 65535 + 1))
            await asyncio.sleep(0)
            rtcp.send(b"\x80\xc9\x00\x01\x00\x00\x00\x01", ("127.0.0.1", 65535 + 1))
        assert not transport.is_closing()
        assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    finally:
        transport.close()
