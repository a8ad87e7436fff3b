"""The office with a real domain (zentrale.firma.test): the box gets the page's certificate from
an ACME CA -- pebble, Let's Encrypt's test server -- proving the domain through the office's
DNS server (BIND, RFC 2136 updates signed with a TSIG key) or through its plain-HTTP port.

Everything is real and on loopback: pebble resolves names only through that BIND, checks
every challenge (no "always valid"), and the HTTPS client trusts nothing but pebble's root.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.harness.acme import DOMAIN, Bind, Pebble, running_bind, running_pebble
from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.waits import wait_until


@pytest.fixture(scope="module")
def bind() -> Iterator[Bind]:
    with running_bind() as server:
        yield server


def _acme_config(pebble: Pebble, acme: dict[str, Any], **tls: Any) -> dict[str, Any]:
    return {"http": {"tls": {"port": free_port(socket.SOCK_STREAM), "check_seconds": 1, **tls, "acme": {
        "domain": DOMAIN, "email": "it@firma.test", "directory": pebble.directory,
        "directory_ca": str(pebble.directory_ca), **acme,
    }}}}  # fmt: skip


def _tls_state(daemon: Daemon) -> dict[str, Any]:
    answer = daemon.http.get("/api/tls")
    assert answer.status_code == 200, answer.text
    state: dict[str, Any] = answer.json()
    return state


def _https_port(daemon: Daemon) -> int:
    return int(_tls_state(daemon)["port"])


def _served_certificate(
    port: int, server_name: str, cadata: str | None = None, cafile: Path | None = None
) -> x509.Certificate:
    """The HTTPS page's certificate as a client that trusts only ``cadata``/``cafile`` sees it
    (hostname checked), and the page answers over that connection."""
    context = ssl.create_default_context(cadata=cadata, cafile=str(cafile) if cafile else None)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=server_name) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        tls.sendall(f"GET /health HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode())
        head = tls.recv(64)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert der is not None
    return x509.load_der_x509_certificate(der)


def _dns_names(cert: x509.Certificate) -> list[str]:
    return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)


def _sha256(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def test_a_box_with_an_office_domain_gets_its_certificate_through_the_office_dns(bind: Bind, tmp_path: Path) -> None:
    with running_pebble(tmp_path / "pebble", bind.port, free_port(socket.SOCK_STREAM)) as pebble:
        config = _acme_config(pebble, {"challenge": "dns-01", "dns": bind.dns_config()})
        with running_daemon(tmp_path / "box", config=config) as box:
            state = wait_until(lambda: (s := _tls_state(box))["source"] == "acme" and s, 60,
                               "the box to use its ACME certificate")  # fmt: skip
            cert = _served_certificate(_https_port(box), DOMAIN, cadata=pebble.root_pem())
            assert _dns_names(cert) == [DOMAIN]
            assert state["fingerprint"] == _sha256(cert)
            acme = state["acme"]
            assert acme["in_force"] and acme["error"] is None and acme["error_code"] is None
            assert acme["domain"] == DOMAIN and acme["challenge"] == "dns-01" and acme["renew_at"]
            assert bind.txt(f"_acme-challenge.{DOMAIN}") == []  # the proof is gone from the office's DNS
            assert "Traceback" not in box.log()
        # a restart serves the saved certificate and orders none
        with running_daemon(tmp_path / "again", config=config, data_dir=box.data_dir) as again:
            assert _tls_state(again)["source"] == "acme"
            assert _sha256(_served_certificate(_https_port(again), DOMAIN, cadata=pebble.root_pem())) == _sha256(cert)
            assert "new certificate for" not in again.log()
