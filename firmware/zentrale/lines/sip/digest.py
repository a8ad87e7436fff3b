"""Client side of SIP digest authentication (RFC 3261 §22, RFC 7616).

The arithmetic comes from the pinned ``aiosipua``; this wrapper keeps the
nonce count per nonce so a re-used nonce is answered correctly.
"""

from __future__ import annotations

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
