"""The office with a real domain (zentrale.firma.test): the box gets the page's certificate from
an ACME CA -- pebble, Let's Encrypt's test server -- proving the domain through the office's
DNS server (BIND, RFC 2136 updates signed with a TSIG key) or through its plain-HTTP port.

Everything is real and on loopback: pebble resolves names only through that BIND, checks
every challenge (no "always valid"), and the HTTPS client trusts nothing but pebble's root.
"""

from __future__ import annotations

import base64
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from playwright.sync_api import expect

from tests.harness.acme import DOMAIN, Bind, Pebble, running_bind, running_pebble
from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.waits import wait_until
from tests.harness.webclient import ADMIN, first_admin


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
        # without the saved certificate the box orders again, with its account (one per box)
        (box.data_dir / "tls" / "acme.crt").unlink()
        with running_daemon(tmp_path / "third", config=config, data_dir=box.data_dir) as third:
            wait_until(lambda: _tls_state(third)["source"] == "acme", 60, "a new ACME certificate")
            assert _sha256(_served_certificate(_https_port(third), DOMAIN, cadata=pebble.root_pem())) != _sha256(cert)
            assert "Traceback" not in third.log()
        assert "There are now 1 accounts in memory" in pebble.log()
        assert "There are now 2 accounts" not in pebble.log()


def test_a_wrong_tsig_secret_is_named_on_the_card_and_the_local_certificate_stays(bind: Bind, tmp_path: Path) -> None:
    wrong = base64.b64encode(b"not the office's TSIG secret....").decode()
    with running_pebble(tmp_path / "pebble", bind.port, free_port(socket.SOCK_STREAM)) as pebble:
        config = _acme_config(pebble, {"dns": bind.dns_config(wrong), "retry_seconds": 600})
        with running_daemon(tmp_path / "box", config=config) as box:
            state = wait_until(lambda: (s := _tls_state(box))["acme"]["error_code"] and s, 30,
                               "the card to name the ACME failure")  # fmt: skip
            acme = state["acme"]
            assert acme["error_code"] == "dns_refused"
            assert f"127.0.0.1:{bind.port} refuses the TSIG key zentrale-acme: BadSignature" in acme["error"]
            assert acme["next_try"] and acme["last_try"] and not acme["in_force"]
            assert state["source"] == "local"
            cert = _served_certificate(_https_port(box), "localhost", cafile=box.data_dir / "tls" / "ca.crt")
            assert "localhost" in _dns_names(cert) and DOMAIN not in _dns_names(cert)
            assert bind.txt(f"_acme-challenge.{DOMAIN}") == []
            _the_card_says_why(box)
            log = box.log()
            assert "no certificate for zentrale.firma.test" in log and "dns_refused" in log
            assert "Traceback" not in log


def _the_card_says_why(box: Daemon) -> None:
    """Verwaltung → Zertifikat in chromium, German and English: the source, the domain and why."""
    first_admin(box)
    with chromium("--lang=de-DE") as browser:
        context, page = logged_in(browser, box, *ADMIN, hash_="#/admin")
        expect(page.locator("#tls-state")).to_have_attribute("data-source", "local")
        expect(page.locator("#acme-state")).to_have_attribute("data-error", "dns_refused")
        expect(page.locator("#acme-state")).to_contain_text(DOMAIN)
        error = page.locator("#acme-error")
        expect(error).to_contain_text("Der DNS-Server lehnt die Aktualisierung ab (TSIG-Schlüssel")
        expect(error).to_contain_text("BadSignature")
        page.click("button[data-lang=en]")
        expect(error).to_contain_text("The DNS server refuses the update (check the TSIG key")
        expect(page.locator("#acme-state")).to_contain_text("Next try")
        page.locator("#tls").screenshot(path=str(SHOTS / "admin-tls-acme-error.png"))
        assert page.__dict__["js_errors"] == []
        context.close()


def test_a_box_the_office_forwards_port_80_to_gets_its_certificate_by_http01(bind: Bind, tmp_path: Path) -> None:
    http_port = free_port(socket.SOCK_STREAM)
    with running_pebble(tmp_path / "pebble", bind.port, http_port) as pebble:
        config = _acme_config(pebble, {"challenge": "http-01"})
        with running_daemon(tmp_path / "box", config=config, http_port=http_port) as box:
            state = wait_until(lambda: (s := _tls_state(box))["source"] == "acme" and s, 60,
                               "the box to use its ACME certificate")  # fmt: skip
            assert state["acme"]["challenge"] == "http-01"
            cert = _served_certificate(_https_port(box), DOMAIN, cadata=pebble.root_pem())
            assert _dns_names(cert) == [DOMAIN]
            # the token was answered while the order ran, and is no longer
            assert f"validate w/ HTTP: http://{DOMAIN}:{http_port}/.well-known/acme-challenge/" in pebble.log()
            assert bind.txt(f"_acme-challenge.{DOMAIN}") == []
            for token in ("unknown-token", "../../etc/passwd", "a" * 300):
                answer = httpx.get(f"http://127.0.0.1:{http_port}/.well-known/acme-challenge/{token}")
                assert answer.status_code == 404
            assert "Traceback" not in box.log()


def test_the_certificate_is_renewed_at_two_thirds_of_its_lifetime_and_a_failed_renewal_keeps_it(
    bind: Bind, tmp_path: Path
) -> None:
    lifetime = 24  # pebble's certificateValidityPeriod: renewal due after 16 s
    with running_pebble(tmp_path / "pebble", bind.port, free_port(socket.SOCK_STREAM), lifetime) as pebble:
        config = _acme_config(pebble, {"dns": bind.dns_config(), "retry_seconds": 1})
        with running_daemon(tmp_path / "box", config=config) as box:
            port = _https_port(box)
            root = pebble.root_pem()
            wait_until(lambda: _tls_state(box)["source"] == "acme", 60, "the first ACME certificate")
            first = _served_certificate(port, DOMAIN, cadata=root)
            renewed = wait_until(
                lambda: (c := _served_certificate(port, DOMAIN, cadata=root)) != first and c, 40, "the renewal"
            )
            lived = (renewed.not_valid_before_utc - first.not_valid_before_utc).total_seconds()
            assert lifetime * 2 / 3 - 2 <= lived < lifetime, lived
            # the CA goes away: the renewal fails, is retried, and the certificate in force stays
            pebble.proc.terminate()
            pebble.proc.wait(10)
            state = wait_until(lambda: (s := _tls_state(box))["acme"]["error_code"] and s, 30, "a failed renewal")
            assert state["acme"]["error_code"] == "acme_unreachable"
            assert state["source"] == "acme"
            assert _served_certificate(port, DOMAIN, cadata=root) == renewed
            # ... until it ends: then the local CA's certificate, never an expired one
            wait_until(lambda: _tls_state(box)["source"] == "local", lifetime + 10, "the local certificate")
            local = _served_certificate(port, "localhost", cafile=box.data_dir / "tls" / "ca.crt")
            assert DOMAIN not in _dns_names(local)
            log = box.log()
            assert log.count("no certificate for zentrale.firma.test") >= 2  # retried
            assert "Traceback" not in log


def test_a_box_stops_promptly_while_the_ca_is_still_validating(bind: Bind, tmp_path: Path) -> None:
    """An order in a worker thread must not hold up the box's stop (the interpreter waits for
    worker threads at its exit): pebble's http-01 check goes to a port that accepts and never
    answers, so the authorization stays pending while the box is told to stop."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent_port = silent.getsockname()[1]
        with running_pebble(tmp_path / "pebble", bind.port, silent_port) as pebble:
            box = running_daemon(tmp_path / "box", config=_acme_config(pebble, {"challenge": "http-01"}))
            with box as daemon:
                wait_until(lambda: "Attempting to validate w/ HTTP" in pebble.log(), 30, "pebble to validate")
                assert _tls_state(daemon)["source"] == "local"
                started = time.monotonic()
                assert daemon.stop(timeout=30) == 0
                took = time.monotonic() - started
            assert took < 8, f"the box took {took:.1f} s to stop"
            assert "Traceback" not in daemon.log()
