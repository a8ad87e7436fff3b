"""SDES offer/answer and SRTP packets (RFC 4568, RFC 3711)."""

from __future__ import annotations

import base64
import struct

import pytest

from zentrale.lines.sip import srtp
from zentrale.lines.sip.sdp import SdpError, build_sdp, negotiate, parse_sdp

KEY = bytes(range(30))
OFFER = (
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 4000 {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n{crypto}"
)


def offer(proto: str, *crypto: str) -> str:
    return OFFER.format(proto=proto, crypto="".join(f"a=crypto:{c}\r\n" for c in crypto))


def test_an_rtp_savp_offer_with_aes_cm_128_hmac_sha1_80_is_answered_with_srtp() -> None:
    line = f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(KEY).decode()}|2^20"
    _, neg = negotiate(parse_sdp(offer("RTP/SAVP", "2 AES_256_CM_HMAC_SHA1_80 inline:xx", line)), ["PCMU"])
    assert neg.proto == "RTP/SAVP"
    assert neg.crypto == srtp.Crypto(1, "AES_CM_128_HMAC_SHA1_80", KEY)
    ours = srtp.new_key()
    answer = build_sdp(
        session_id=1, version=1, host="127.0.0.1", port=5000, formats=[(0, "PCMU", 8000)], dtmf_payload_type=101,
        direction="sendrecv", proto=neg.proto, crypto=srtp.crypto_attribute(1, neg.crypto.suite, ours),
    )  # fmt: skip
    assert "m=audio 5000 RTP/SAVP 0 101" in answer
    parsed = parse_sdp(answer).media[0].crypto
    assert srtp.parse_crypto(parsed[0]) == srtp.Crypto(1, "AES_CM_128_HMAC_SHA1_80", ours)


def test_srtp_without_a_usable_key_is_refused_and_plain_rtp_stays_plain() -> None:
    with pytest.raises(SdpError):
        negotiate(parse_sdp(offer("RTP/SAVP", "1 F8_128_HMAC_SHA1_80 inline:" + "A" * 40)), ["PCMU"])
    plain = offer("RTP/AVP", f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(KEY).decode()}")
    _, neg = negotiate(parse_sdp(plain), ["PCMU"])
    assert neg.crypto is None and neg.proto == "RTP/AVP"
    assert srtp.parse_crypto("1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(KEY).decode() + "|2^20|1:4") is None


def test_a_packet_protected_with_our_key_is_read_by_the_far_end_and_a_forged_one_is_refused() -> None:
    packet = struct.pack("!BBHII", 0x80, 0, 1, 160, 0x1234) + b"\xff" * 160
    sealed = srtp.sender("AES_CM_128_HMAC_SHA1_80", KEY).protect(packet)
    assert len(sealed) == len(packet) + 10 and sealed[12:] != packet[12:]
    assert srtp.receiver("AES_CM_128_HMAC_SHA1_80", KEY).unprotect(sealed) == packet
    with pytest.raises(srtp.SrtpError):
        srtp.receiver("AES_CM_128_HMAC_SHA1_80", bytes(30)).unprotect(sealed)
