"""SIP digest authentication (RFC 3261 §22, RFC 2617/7616 with MD5).

Client side: the arithmetic comes from the pinned ``aiosipua``; the wrapper
keeps the nonce count per nonce so a re-used nonce is answered correctly.

Server side (``DigestServer``): a trunk that cannot be recognised by its
address authenticates its INVITEs. Nonces are stateless (a timestamp and an
HMAC over it and the source address), so a flood of unauthenticated INVITEs
costs no memory; a nonce is good for ``NONCE_SECONDS``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, field

from aiosipua.auth import SipDigestAuth, build_credentials
from aiosipua.headers import parse_auth, stringify_auth


@dataclass
class DigestClient:
    user: str
    password: str
    _counts: dict[str, int] = field(default_factory=dict)

    def answer(self, status: int, challenge: str, method: str, uri: str) -> tuple[str, str] | None:
        """(header name, value) answering a 401/407 challenge, or None if we cannot."""
        parsed = parse_auth(challenge)
        nonce = parsed.params.get("nonce", "")
        count = self._counts.get(nonce, 0) + 1
        self._counts = {nonce: count}  # forget older nonces
        creds = build_credentials(SipDigestAuth(self.user, self.password), parsed, method, uri, nonce_count=count)
        if creds is None:
            return None
        return ("Authorization" if status == 401 else "Proxy-Authorization", stringify_auth(creds))


NONCE_SECONDS = 60


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


class DigestServer:
    """Challenges and checks ``Authorization`` headers for one account (user, password, realm)."""

    def __init__(self, user: str, password: str, realm: str) -> None:
        self.user = user
        self.realm = realm
        self._ha1 = _md5(f"{user}:{realm}:{password}")
        self._secret = secrets.token_bytes(32)

    def _nonce(self, host: str, stamp: int) -> str:
        mac = hmac.new(self._secret, f"{stamp:x}:{host}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp:x}{mac}"

    def challenge(self, host: str) -> tuple[str, str]:
        nonce = self._nonce(host, int(time.monotonic()))
        return ("WWW-Authenticate", f'Digest realm="{self.realm}", nonce="{nonce}", algorithm=MD5, qop="auth"')

    def check(self, authorization: str | None, method: str, host: str) -> str:
        """ "ok", "missing" (no credentials for us) or "bad" (wrong user, password, or a forged nonce)."""
        if not authorization:
            return "missing"
        try:
            params = parse_auth(authorization).params
        except (ValueError, IndexError, KeyError):
            return "bad"
        if params.get("realm") != self.realm:
            return "missing"  # credentials for someone else
        nonce = params.get("nonce", "")
        try:
            stamp = int(nonce[:-32], 16)
        except ValueError:
            return "bad"
        if not hmac.compare_digest(nonce, self._nonce(host, stamp)):
            return "bad"
        if time.monotonic() - stamp > NONCE_SECONDS:
            return "missing"  # stale: challenge again, no failure
        ha2 = _md5(f"{method}:{params.get('uri', '')}")
        qop = params.get("qop")
        if qop:
            expected = _md5(f"{self._ha1}:{nonce}:{params.get('nc', '')}:{params.get('cnonce', '')}:{qop}:{ha2}")
        else:
            expected = _md5(f"{self._ha1}:{nonce}:{ha2}")
        ok = params.get("username") == self.user and hmac.compare_digest(expected, params.get("response", ""))
        return "ok" if ok else "bad"
