"""The box's local CA and its HTTPS certificate (web/tls.py): what the certificate covers,
what the CA may vouch for, renewal when the addresses change, and an office's own
certificate checked before it is used. Checked by OpenSSL itself (a real TLS handshake
over loopback, verified against the CA) where it matters."""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import zentrale.web.tls as tls_module
from tests.harness.waits import until
from zentrale.config import HttpTlsConfig
from zentrale.errors import Invalid
from zentrale.web.tls import LocalCA, TlsKeeper, box_addresses, check_certificate

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LAN = ipaddress.ip_address("192.168.178.20")


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def keeper(tmp_path: Path, addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address], **cfg: object) -> TlsKeeper:
    return TlsKeeper(HttpTlsConfig.model_validate(cfg), tmp_path / "tls", Clock(), lambda: set(addresses))


def handshake(context: ssl.SSLContext, ca_file: Path, server_name: str) -> x509.Certificate:
    """A real TLS handshake on loopback: the client verifies the server's certificate against the
    CA file for ``server_name`` (a DNS name or an IP address); raises ssl.SSLCertVerificationError."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve)
    thread.start()
    client = ssl.create_default_context(cafile=str(ca_file))
    try:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            client.wrap_socket(raw, server_hostname=server_name) as tls,
        ):
            der = tls.getpeercert(binary_form=True)
            tls.sendall(b"x")
    finally:
        thread.join(5)
        listener.close()
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_the_first_start_makes_a_ca_and_a_certificate_a_client_trusting_the_ca_accepts_for_every_name(
    tmp_path: Path,
) -> None:
    tls = keeper(tmp_path, {LAN}, names=["zentrale.firma.lan"])
    tls.ca = LocalCA.load_or_make(tls.folder, ["zentrale.firma.lan"], NOW)
    assert tls.refresh(startup=True)
    assert (tls.folder / "ca.key").stat().st_mode & 0o777 == 0o600
    assert (tls.folder / "server.key").stat().st_mode & 0o777 == 0o600
    ca_file = tls.folder / "ca.crt"
    host = socket.gethostname().split(".")[0].lower()
    for name in (f"{host}.local", "zentrale.local", "zentrale.firma.lan", "192.168.178.20"):
        cert = handshake(tls.context, ca_file, name)
        assert cert.fingerprint(hashes.SHA256()) == tls.cert.fingerprint(hashes.SHA256())  # type: ignore[union-attr]
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(tls.context, ca_file, "192.168.178.21")  # an address the box does not have
    info = tls.info()
    assert info["source"] == "local"
    assert info["addresses"] == ["192.168.178.20"]
    assert info["ca_fingerprint"].count(":") == 31


def test_the_ca_may_vouch_only_for_local_names_and_private_addresses(tmp_path: Path) -> None:
    ca = LocalCA.load_or_make(tmp_path, [], NOW)
    constraints = ca.cert.extensions.get_extension_for_class(x509.NameConstraints)
    assert constraints.critical
    permitted = constraints.value.permitted_subtrees or []
    assert {g.value for g in permitted if isinstance(g, x509.DNSName)} == {"local", "localhost"}
    networks = {g.value for g in permitted if isinstance(g, x509.IPAddress)}
    assert ipaddress.ip_network("192.168.0.0/16") in networks
    assert not any(ipaddress.ip_address("8.8.8.8") in n for n in networks)
    assert ca.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    # a certificate for a bank, signed with the (stolen) CA key, fails in a client trusting the CA
    evil, _ = ca.issue(["bank.example"], [], NOW)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    key = ec.generate_private_key(ec.SECP256R1())
    evil = (
        x509.CertificateBuilder(extensions=list(evil.extensions))
        .subject_name(evil.subject).issuer_name(evil.issuer).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(evil.not_valid_before_utc)
        .not_valid_after(evil.not_valid_after_utc).sign(ca.key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "evil.crt").write_bytes(evil.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "evil.key").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context.load_cert_chain(tmp_path / "evil.crt", tmp_path / "evil.key")
    with pytest.raises(ssl.SSLCertVerificationError, match=r"(?i)name constraint|permitted"):
        handshake(context, tmp_path / "ca.crt", "bank.example")


async def test_a_new_address_gets_a_new_certificate_on_the_live_context_and_the_ca_stays(tmp_path: Path) -> None:
    addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {LAN}
    checked_on: set[str] = set()

    def box_addresses_now() -> set[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        checked_on.add(threading.current_thread().name)
        return set(addresses)

    tls = TlsKeeper(HttpTlsConfig(check_seconds=0.05), tmp_path / "tls", Clock(), box_addresses_now)
    tls.start()
    try:
        ca = (tls.folder / "ca.crt").read_bytes()
        first = tls.cert
        assert not tls.refresh()  # nothing changed: nothing issued
        checked_on.clear()
        addresses.add(ipaddress.ip_address("10.0.0.7"))  # DHCP gave the box another address
        await until(lambda: tls.cert is not first, timeout=2, what="a new certificate")
        # the periodic check (and the new certificate's signature and writes) ran off the loop:
        # only putting it in force did not
        assert checked_on and threading.main_thread().name not in checked_on, checked_on
        assert tls.info()["addresses"] == ["10.0.0.7", "192.168.178.20"]
        assert handshake(tls.context, tls.folder / "ca.crt", "10.0.0.7") == tls.cert
        assert (tls.folder / "ca.crt").read_bytes() == ca  # the PCs keep trusting the box
    finally:
        await tls.stop()
    # a restart keeps CA and certificate; near its end the certificate is renewed
    again = TlsKeeper(HttpTlsConfig(), tmp_path / "tls", Clock(), lambda: set(addresses))
    again.ca = LocalCA.load_or_make(again.folder, [], NOW)
    again.refresh(startup=True)
    assert again.cert == tls.cert
    assert isinstance(again.now, Clock)
    again.now.now = NOW + timedelta(days=380)
    assert again.refresh()
    assert again.cert is not None and again.cert.not_valid_after_utc > NOW + timedelta(days=700)


def own_certificate(
    names: list[str], *, days: int = 90, start: datetime = NOW, key: rsa.RSAPrivateKey | None = None
) -> tuple[str, str]:
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(days=1)).not_valid_after(start + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    return cert.public_bytes(serialization.Encoding.PEM).decode(), pem_key.decode()


def test_an_own_certificate_is_checked_and_each_refusal_says_why(tmp_path: Path) -> None:
    cert, key = own_certificate(["hotline.firma.de"])
    _, other_key = own_certificate(["hotline.firma.de"])
    expired, expired_key = own_certificate(["hotline.firma.de"], start=NOW - timedelta(days=100), days=98)
    cases = {
        "not a PEM certificate": ("hello", key),
        "not a PEM private key": (cert, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
        "does not belong to the certificate": (cert, other_key),
        "expired on": (expired, expired_key),
    }
    for reason, (c, k) in cases.items():
        with pytest.raises(Invalid, match=reason):
            check_certificate(c, k, NOW)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(Invalid, match="at least 2048"):
        check_certificate(*own_certificate(["x.de"], key=small), NOW)
    encrypted = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    locked = encrypted.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.BestAvailableEncryption(b"secret")).decode()  # fmt: skip
    with pytest.raises(Invalid, match="password"):
        check_certificate(own_certificate(["x.de"], key=encrypted)[0], locked, NOW)
    checked = check_certificate(cert, key, NOW, ["zentrale.local"])
    assert checked.warnings and "zentrale.local" in checked.warnings[0]


def test_an_uploaded_certificate_is_served_until_removed_and_survives_a_restart(tmp_path: Path) -> None:
    tls = keeper(tmp_path, {LAN})
    tls.ca = LocalCA.load_or_make(tls.folder, [], NOW)
    tls.refresh(startup=True)
    office_ca = LocalCA.load_or_make(tmp_path / "office", ["firma.de"], NOW)  # the IT department's CA
    issued, issued_key = office_ca.issue(["hotline.firma.de", "zentrale.local"], [], NOW)
    cert = issued.public_bytes(serialization.Encoding.PEM).decode()
    key = issued_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()).decode()  # fmt: skip
    (tmp_path / "own-ca.crt").write_bytes((tmp_path / "office" / "ca.crt").read_bytes())
    assert tls.install_own(cert, key) == []
    assert tls.info()["source"] == "upload"
    assert "hotline.firma.de" in tls.info()["names"]
    handshake(tls.context, tmp_path / "own-ca.crt", "hotline.firma.de")
    restarted = keeper(tmp_path, {LAN})
    restarted.ca = LocalCA.load_or_make(restarted.folder, [], NOW)
    restarted.refresh(startup=True)
    assert restarted.info()["source"] == "upload"
    restarted.remove_own()
    assert restarted.info()["source"] == "local"
    handshake(restarted.context, restarted.folder / "ca.crt", "zentrale.local")


def test_the_box_finds_its_own_addresses() -> None:
    found = box_addresses()
    assert ipaddress.ip_address("127.0.0.1") in found
    assert all(not a.is_global for a in found)


async def test_a_box_whose_addresses_changed_while_its_disk_is_full_starts_with_a_certificate_from_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # found by the full-disk restart test: another address (a network came up) meant a new
    # certificate, writing it failed with ENOSPC and the daemon did not start at all
    addresses: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = {LAN}
    first = TlsKeeper(HttpTlsConfig(), tmp_path / "tls", Clock(), lambda: set(addresses))
    first.start()
    await first.stop()
    saved = (first.folder / "server.crt").read_bytes()
    addresses.add(ipaddress.ip_address("10.0.0.7"))
    # the data disk is full: every write into the data folder fails as ENOSPC does (OpenSSL's
    # private temporary folder is elsewhere)
    write = tls_module._write

    def no_space(path: Path, data: bytes, mode: int) -> None:
        if path.is_relative_to(tmp_path):
            raise OSError(28, "No space left on device")
        write(path, data, mode)

    monkey = pytest.MonkeyPatch()
    monkey.setattr(tls_module, "_write", no_space)
    try:
        again = TlsKeeper(HttpTlsConfig(), tmp_path / "tls", Clock(), lambda: set(addresses))
        again.start()
        await again.stop()
    finally:
        monkey.undo()
    assert again.cert is not None
    assert handshake(again.context, again.folder / "ca.crt", "10.0.0.7") == again.cert  # served from memory
    assert (again.folder / "server.crt").read_bytes() == saved  # the old file untouched, nothing half-written
    assert not list(again.folder.glob("*.tmp"))
    assert "could not be saved (No space left on device)" in caplog.text
