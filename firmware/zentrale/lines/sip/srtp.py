"""SRTP keyed by SDES (RFC 4568 a=crypto, RFC 3711) through pylibsrtp.

Only what the box needs: the AES_CM_128_HMAC_SHA1_80 suite (and its _32
sibling), one master key per direction, no MKI, lifetime ignored. The key
travels in the SDP, so it is only as secret as the signalling: SIP over TLS.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from dataclasses import dataclass

import pylibsrtp

SUITES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
KEY_LENGTH = 30  # 16-byte master key + 14-byte master salt
_CRYPTO_RE = re.compile(r"^(\d{1,9})\s+([A-Za-z0-9_]+)\s+inline:([A-Za-z0-9+/=]+)(\|[^\s]*)?(?:\s+.*)?$")

SrtpError = pylibsrtp.Error
Session = pylibsrtp.Session


@dataclass(frozen=True)
class Crypto:
    """One a=crypto line of the far end that we can use."""

    tag: int
    suite: str
    key: bytes  # master key || salt


def parse_crypto(value: str) -> Crypto | None:
    """``1 AES_CM_128_HMAC_SHA1_80 inline:KEY|2^20|1:4`` -> Crypto; None if we cannot use it."""
    m = _CRYPTO_RE.match(value.strip())
    if m is None or m.group(2) not in SUITES:
        return None
    extra = m.group(4) or ""
    if any(":" in part for part in extra.split("|")):
        return None  # an MKI: not supported
    try:
        key = base64.b64decode(m.group(3), validate=True)
    except (binascii.Error, ValueError):
        return None
    if len(key) != KEY_LENGTH:
        return None
    return Crypto(int(m.group(1)), m.group(2), key)


def choose_crypto(lines: list[str]) -> Crypto | None:
    """The first usable offer (the offerer's preference, RFC 4568 §7.1.1)."""
    for line in lines:
        crypto = parse_crypto(line)
        if crypto is not None:
            return crypto
    return None


def new_key() -> bytes:
    return secrets.token_bytes(KEY_LENGTH)


def crypto_attribute(tag: int, suite: str, key: bytes) -> str:
    return f"{tag} {suite} inline:{base64.b64encode(key).decode()}"


def sender(suite: str, key: bytes) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=SUITES[suite])
    policy.allow_repeat_tx = True  # a resent packet (same sequence number) is not an error on our side
    return pylibsrtp.Session(policy=policy)


def receiver(suite: str, key: bytes) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=SUITES[suite])
    return pylibsrtp.Session(policy=policy)
