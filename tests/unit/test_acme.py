"""ACME pieces without a CA (tests/integration/test_acme.py has pebble and BIND): the
configuration's checks, the http-01 answers on the plain-HTTP listener, the failures a
DNS server or directory that does not answer gives, and when a certificate is renewed."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.harness.daemon import free_port
from zentrale.config import HttpTlsConfig, parse_config
from zentrale.errors import ConfigError
from zentrale.web.acme import CODES, AcmeFailure, ChallengeBoard
from zentrale.web.acme_client import DnsUpdater, obtain
from zentrale.web.server import HttpsRedirect
from zentrale.web.tls import TlsKeeper

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I="
DNS = {"server": "127.0.0.1", "zone": "firma.test", "tsig_name": "k", "tsig_secret": SECRET}


def _tls(**acme: Any) -> HttpTlsConfig:
    return HttpTlsConfig.model_validate({"acme": {"domain": "zentrale.firma.test", **acme}})


@pytest.mark.parametrize(
    ("acme", "said"),
    [
        ({"domain": "zentrale.firma.test"}, "dns-01 needs http.tls.acme.dns"),
        ({"domain": "zentrale", "challenge": "http-01"}, "domain"),
        ({"domain": "zentrale.firma.test", "dns": {**DNS, "tsig_secret": "not base64!"}}, "must be base64"),
        ({"domain": "zentrale.firma.test", "dns": {**DNS, "server": "ns.firma.test"}}, "must be an IP address"),
        ({"domain": "zentrale.firma.test", "directory": "http://ca.test/dir", "challenge": "http-01"}, "directory"),
        ({"domain": "zentrale.firma.test", "challenge": "tls-alpn-01"}, "challenge"),
    ],
)
def test_an_acme_configuration_that_cannot_work_is_refused_at_start_with_the_reason(
    acme: dict[str, Any], said: str
) -> None:
    text = "http:\n  tls:\n    acme: " + repr(acme).replace("'", '"') + "\n"
    with pytest.raises(ConfigError, match=said):
        parse_config(text, "config.yaml")


def test_acme_is_off_unless_configured_and_dns01_with_a_tsig_key_is_the_default_way() -> None:
    assert HttpTlsConfig().acme is None
    acme = _tls(dns=DNS).acme
    assert acme is not None and acme.challenge == "dns-01" and acme.dns is not None
    assert acme.dns.port == 53 and acme.dns.tsig_algorithm == "hmac-sha256"
    assert acme.directory == "https://acme-v02.api.letsencrypt.org/directory"


class _Sent:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.app_called = False

    async def send(self, message: Any) -> None:
        self.messages.append(message)

    async def app(self, scope: Any, receive: Any, send: Any) -> None:
        self.app_called = True

    @property
    def status(self) -> int:
        return int(self.messages[0]["status"])


async def _request(board: ChallengeBoard, path: str, method: str = "GET", client: str = "198.18.0.2") -> _Sent:
    sent = _Sent()
    redirect = HttpsRedirect(sent.app, lambda: 8443, board)
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": [(b"host", b"zentrale.firma.test")], "client": (client, 40000)}  # fmt: skip

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await redirect(scope, receive, sent.send)
    return sent


async def test_the_plain_http_port_answers_a_pending_http01_token_from_anywhere_and_nothing_else() -> None:
    board = ChallengeBoard()
    board.put("tok-EN_1", "tok-EN_1.thumbprint")
    answer = await _request(board, "/.well-known/acme-challenge/tok-EN_1")
    assert answer.status == 200 and answer.messages[1]["body"] == b"tok-EN_1.thumbprint"
    # the CA connects from anywhere: no redirect to HTTPS for it, nor the page behind
    assert not answer.app_called
    for path in (
        "/.well-known/acme-challenge/other",
        "/.well-known/acme-challenge/../api",
        "/.well-known/acme-challenge/",
    ):
        assert (await _request(board, path)).status == 404
    board.drop("tok-EN_1")
    assert (await _request(board, "/.well-known/acme-challenge/tok-EN_1")).status == 404
    # other methods and paths are the page's as before: redirected from the LAN
    assert (await _request(board, "/.well-known/acme-challenge/tok-EN_1", method="POST")).status == 308
    assert (await _request(board, "/api/status")).status == 308


def test_a_dns_server_that_does_not_answer_is_named_and_a_name_outside_the_zone_is_not_sent() -> None:
    port = free_port(socket.SOCK_STREAM)  # nothing listens there
    acme = _tls(dns={**DNS, "port": port}).acme
    assert acme is not None
    updater = DnsUpdater(acme)
    with pytest.raises(AcmeFailure) as failed:
        updater.add_txt("_acme-challenge.zentrale.firma.test", "value")
    assert failed.value.code == "dns_unreachable" and f"127.0.0.1:{port}" in failed.value.detail
    with pytest.raises(AcmeFailure) as outside:
        updater.add_txt("_acme-challenge.zentrale.other.test", "value")
    assert outside.value.code == "dns_refused" and "not in the zone firma.test" in outside.value.detail


def _key_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_a_directory_that_does_not_answer_is_an_acme_failure_not_a_traceback() -> None:
    port = free_port(socket.SOCK_STREAM)
    acme = _tls(directory=f"https://127.0.0.1:{port}/dir", challenge="http-01").acme
    assert acme is not None
    with pytest.raises(AcmeFailure) as failed:
        obtain(acme, _key_pem(), _key_pem(), ChallengeBoard())
    assert failed.value.code == "acme_unreachable" and f"127.0.0.1:{port}" in failed.value.detail


def _self_signed(domain: str, start: datetime, days: int) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM), key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_an_acme_certificate_is_renewed_at_two_thirds_of_its_lifetime_and_used_only_for_its_domain(
    tmp_path: Path,
) -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    now = [start + timedelta(days=10)]
    keeper = TlsKeeper(_tls(dns=DNS), tmp_path, lambda: now[0], addresses=lambda: set())
    assert keeper.acme_renew_at() is None  # none yet: order at once
    cert, key = _self_signed("zentrale.firma.test", start, 90)
    (tmp_path / "acme.crt").write_bytes(cert)
    (tmp_path / "acme.key").write_bytes(key)
    assert keeper.acme_renew_at() == start + timedelta(days=60)
    now[0] = start + timedelta(days=91)  # ended: not used, ordered again
    assert keeper.acme_renew_at() is None
    now[0] = start + timedelta(days=10)
    other, other_key = _self_signed("zentrale.other.test", start, 90)  # the domain was changed in the config
    (tmp_path / "acme.crt").write_bytes(other)
    (tmp_path / "acme.key").write_bytes(other_key)
    assert keeper.acme_renew_at() is None


def test_acme_with_https_off_is_refused_at_start() -> None:
    text = "http:\n  tls:\n    enabled: false\n    acme: {domain: zentrale.firma.test, challenge: http-01}\n"
    with pytest.raises(ConfigError, match=r"http\.tls\.acme needs HTTPS on"):
        parse_config(text, "config.yaml")


async def test_a_damaged_saved_acme_key_leaves_the_box_on_its_local_certificate(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    closed = f"https://127.0.0.1:{free_port(socket.SOCK_STREAM)}/dir"  # its order fails at once, on loopback
    keeper = TlsKeeper(_tls(dns=DNS, directory=closed), tmp_path, lambda: now, addresses=lambda: set())
    cert, _ = _self_signed("zentrale.firma.test", now - timedelta(days=1), 90)
    (tmp_path / "acme.crt").write_bytes(cert)
    (tmp_path / "acme.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    keeper.start()
    try:
        assert keeper.source == "local"
        assert keeper.acme_renew_at() is None  # ordered anew
    finally:
        await keeper.stop()


def test_every_acme_failure_has_a_reason_on_the_card_in_german_and_english() -> None:
    root = Path(__file__).resolve().parents[2] / "webui" / "src" / "i18n"
    for language in ("de", "en"):
        texts = json.loads((root / f"{language}.json").read_text(encoding="utf-8"))
        missing = [code for code in CODES if not texts.get(f"appliance.acme_error_{code}")]
        assert missing == [], (language, missing)
