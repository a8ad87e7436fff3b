"""A certificate for the office's real domain from an ACME CA (RFC 8555: Let's Encrypt and others).

Blocking (certbot's ``acme`` library on ``requests``, dnspython's queries): web/tls.py calls
:func:`acme_client.obtain` in a worker thread, never on the event loop the media clock runs on.
Those libraries live in web/acme_client.py, which web/tls.py imports only when a box orders: importing them
took 74 ms at every start natively, ~2 s of an emulated appliance's boot, for a feature most
boxes leave off; this module (the failures, the http-01 board) is what the rest imports.

Two ways to prove the domain (RFC 8555 §8):

- **dns-01** (§8.4): a TXT record ``_acme-challenge.<domain>`` with the key authorization's
  SHA-256, written into the office's DNS with an RFC 2136 dynamic update signed with a TSIG
  key (RFC 8945) -- the way for a box inside a LAN, which the CA cannot reach. BIND,
  PowerDNS, Knot and Windows DNS take such updates. The record is removed afterwards.
- **http-01** (§8.3): the CA fetches ``http://<domain>/.well-known/acme-challenge/<token>``;
  the plain-HTTP listener (web/server.py) answers it from :class:`ChallengeBoard`, for an
  office that forwards port 80 to the box.

Every failure becomes an :class:`AcmeFailure` with a code (the page translates it) and the
peer's own words (an ACME problem document, RFC 8555 §6.7, or the DNS server's RCODE).
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_SECONDS = 120  # how long the CA may take to validate and issue before we give up this try
REQUEST_SECONDS = 10  # one HTTP request to the CA, one DNS update: bounds how long a stopping box waits
POLL_SECONDS = 2  # the order is polled in slices this long, to see between them that the box stops
TXT_TTL = 60  # short: a retry's new value must not be hidden behind a cached old one


class AcmeFailure(Exception):
    """Why no certificate came; ``code`` is one of CODES (the page says it in German and English)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


CODES = (
    "acme_unreachable",  # the directory did not answer (network, TLS trust)
    "acme_refused",  # the CA refused a request (problem document)
    "validation_failed",  # the CA could not see the challenge (wrong record, port 80 not forwarded)
    "dns_refused",  # the DNS server refused the update (TSIG key, zone, update policy)
    "dns_unreachable",  # the DNS server did not answer
    "timeout",  # the order did not finish in time
    "storage",  # the box could not keep its ACME account key (data disk full?)
)


class ChallengeBoard:
    """http-01 tokens and their key authorizations (RFC 8555 §8.3), read by the plain-HTTP
    listener on the event loop while the worker thread writes them: single dict operations,
    atomic in CPython, so no lock."""

    def __init__(self) -> None:
        self._answers: dict[str, str] = {}

    def put(self, token: str, key_authorization: str) -> None:
        self._answers[token] = key_authorization

    def drop(self, token: str) -> None:
        self._answers.pop(token, None)

    def get(self, token: str) -> str | None:
        return self._answers.get(token)


@dataclass(frozen=True)
class Issued:
    chain_pem: bytes  # the certificate first, then the CA's chain
