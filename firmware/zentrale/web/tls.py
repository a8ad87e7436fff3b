"""HTTPS for the web page: a small local CA on the box, its server certificate, or the office's own.

Browsers give the Notification API (the agent's "a call is waiting" while the tab is in the
background) only to secure contexts, so the page is served over HTTPS on the LAN by default:

- **Local CA.** At the first start the box makes a CA (EC P-256, its key never leaves
  ``<data>/tls/ca.key``, mode 0600) and a server certificate signed by it for the box's
  names (``<host name>.local``, ``zentrale.local``, ``localhost``, ``http.tls.names``) and
  its addresses. The admin installs the CA certificate once on each PC or phone
  (``GET /zentrale-ca.crt``, no login, over HTTP too; ``docs/https.md``).
- **Name constraints** (RFC 5280 §4.2.1.10, critical): the CA can only vouch for ``.local``
  names, ``localhost``, the configured names and private, link-local, CGNAT and
  benchmarking addresses, so even a stolen CA key cannot impersonate any site on the
  internet to the PCs that trust it.
- **Renewal**: the certificate is re-issued when the box's addresses change (DHCP) or it
  is within ``renew_days`` of its end (397 days: what browsers accept for a server
  certificate), checked every ``check_seconds``; new connections get the new one at once
  (``SSLContext.load_cert_chain`` on the live context).
- **The office's own certificate** (a real domain: from an ACME client such as certbot
  or from the IT department): files named in ``http.tls.certificate``/``key`` (re-read when
  they change, for ACME renewals), or uploaded by an admin in the web page (checked: the
  key matches, the dates, OpenSSL loads it).
- **ACME** (``http.tls.acme``, web/acme.py): a certificate for the office's real domain
  from Let's Encrypt or another ACME CA, renewed at 2/3 of its lifetime; a failed order is
  retried with a doubling wait and the certificate in force stays.

Precedence: config files, upload, ACME, local CA.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import tempfile
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from zentrale.config import HttpTlsConfig
from zentrale.errors import Invalid
from zentrale.web.acme import AcmeFailure, ChallengeBoard

log = logging.getLogger(__name__)

IPAddress = IPv4Address | IPv6Address
CA_DAYS = 20 * 365
SERVER_DAYS = 397  # the longest server certificate browsers accept (CA/Browser Forum, Apple, Chrome)
# where a box on an office LAN can be reached; the CA may vouch for nothing else
PERMITTED_NETWORKS = [ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "100.64.0.0/10",  # RFC 6598 shared address space (VPNs such as WireGuard/Tailscale set-ups)
    "169.254.0.0/16",  # RFC 3927 link-local (a PC cabled straight to the box)
    "198.18.0.0/15",  # RFC 2544 benchmarking (test networks; the project's own tests)
    "127.0.0.0/8", "::1/128", "fc00::/7", "fe80::/10",
)]  # fmt: skip
PERMITTED_NAMES = ("local", "localhost")  # mDNS names (RFC 6762) and the box itself
MAX_PEM = 64_000
ACME_MAX_WAIT = 6 * 3600.0  # the longest wait between two failed ACME orders


def _is_permitted(address: IPAddress) -> bool:
    return any(address in network for network in PERMITTED_NETWORKS)


# Set in the periodic check's worker thread (``asyncio.to_thread`` runs it in a copy of the
# context): a certificate made there is put in force by the loop, which owns the SSL context.
_OFF_THE_LOOP: ContextVar[bool] = ContextVar("tls_check_off_the_loop", default=False)


def box_addresses() -> set[IPAddress]:
    """The box's own IPv4 and IPv6 addresses (Linux /proc: no extra dependency), those a
    certificate of the local CA may name: global IPv6 addresses are left out (they change
    with the provider's prefix; the box is reached by name or IPv4 on the LAN)."""
    found: set[IPAddress] = set()
    with contextlib.suppress(OSError):
        last = ""
        for line in Path("/proc/net/fib_trie").read_text(encoding="ascii").splitlines():
            text = line.strip()
            if text.startswith(("|--", "+--")):
                last = text[3:].strip()
            elif text == "/32 host LOCAL" and last:
                with contextlib.suppress(ValueError):
                    found.add(ipaddress.IPv4Address(last))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text(encoding="ascii").splitlines():
            hex_address = line.split()[0]
            with contextlib.suppress(ValueError):
                found.add(ipaddress.IPv6Address(int(hex_address, 16)))
    return {a for a in found if _is_permitted(a)}


def box_names(extra: Iterable[str]) -> list[str]:
    host = socket.gethostname().split(".")[0].lower() or "zentrale"
    names = [f"{host}.local", "zentrale.local", "localhost", *(n.lower().rstrip(".") for n in extra)]
    return list(dict.fromkeys(names))


def fingerprint(cert: x509.Certificate) -> str:
    return ":".join(f"{b:02X}" for b in cert.fingerprint(hashes.SHA256()))


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)  # a full disk: no half-written file left behind
        raise


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())  # fmt: skip


def _sans(cert: x509.Certificate) -> tuple[set[str], set[IPAddress]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    ips = {a for a in san.get_values_for_type(x509.IPAddress) if isinstance(a, IPv4Address | IPv6Address)}
    return set(san.get_values_for_type(x509.DNSName)), ips


def _name_permitted(name: str, permitted: Iterable[str]) -> bool:
    return any(name == p or name.endswith("." + p) for p in permitted)


@dataclass(frozen=True)
class LocalCA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load_or_make(cls, folder: Path, names: Iterable[str], now: datetime) -> LocalCA:
        cert_path, key_path = folder / "ca.crt", folder / "ca.key"
        if cert_path.exists() and key_path.exists():
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise Invalid(f"{key_path}: not the box's EC key")
            return cls(cert, key)
        key = ec.generate_private_key(ec.SECP256R1())
        host = socket.gethostname().split(".")[0] or "zentrale"
        subject = x509.Name([
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Zentrale"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Zentrale {host} local CA {now:%Y-%m-%d}"),
        ])  # fmt: skip
        permitted: list[x509.GeneralName] = [x509.DNSName(n) for n in dict.fromkeys([*PERMITTED_NAMES, *names])]
        permitted += [x509.IPAddress(n) for n in PERMITTED_NETWORKS]
        public = key.public_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ), critical=True)
            .add_extension(x509.NameConstraints(permitted_subtrees=permitted, excluded_subtrees=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256())
        )  # fmt: skip
        try:
            folder.mkdir(parents=True, exist_ok=True)
            _write(key_path, _key_pem(key), 0o600)
            _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
        except OSError as err:
            # a first start on a full disk still serves the page; the next start makes (and
            # saves) another CA, which browsers must then trust again
            key_path.unlink(missing_ok=True)
            log.warning("HTTPS: the box's local CA could not be saved (%s); it is used until the box restarts",
                        err.strerror or err)  # fmt: skip
            return cls(cert, key)
        log.info("made the box's local CA %s (SHA-256 %s)", cert_path, fingerprint(cert))
        return cls(cert, key)

    def permits(self, name: str) -> bool:
        constraints = self.cert.extensions.get_extension_for_class(x509.NameConstraints).value
        return _name_permitted(name, [str(g.value) for g in constraints.permitted_subtrees or []
                                      if isinstance(g, x509.DNSName)])  # fmt: skip

    def issue(
        self, names: list[str], addresses: Iterable[IPAddress], now: datetime
    ) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        alt: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        alt += [x509.IPAddress(a) for a in sorted(addresses, key=lambda a: (a.version, int(a)))]
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(hours=1)).not_valid_after(now + timedelta(days=SERVER_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=False, crl_sign=False, encipher_only=False, decipher_only=False,
            ), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )  # fmt: skip
        return cert, key


@dataclass(frozen=True)
class CheckedCertificate:
    chain: list[x509.Certificate]
    key_pem: bytes
    warnings: list[str]

    @property
    def chain_pem(self) -> bytes:
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in self.chain)


def check_certificate(cert_pem: str, key_pem: str, now: datetime, names: Iterable[str] = ()) -> CheckedCertificate:
    """An office's own certificate (chain, leaf first) and key, checked before it replaces
    the local one: a clear reason for each refusal, and nothing is written."""
    if len(cert_pem) > MAX_PEM or len(key_pem) > MAX_PEM:
        raise Invalid("certificate or key too large (64 KB at most)")
    try:
        chain = x509.load_pem_x509_certificates(cert_pem.encode())
    except ValueError as err:
        raise Invalid(f"the certificate is not a PEM certificate (-----BEGIN CERTIFICATE-----): {err}") from None
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None)
    except TypeError:
        raise Invalid("the key is protected by a password: upload it without one") from None
    except (ValueError, Exception) as err:  # cryptography raises ValueError or UnsupportedAlgorithm
        raise Invalid(f"the key is not a PEM private key (-----BEGIN PRIVATE KEY-----): {err}") from None
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048:
        raise Invalid(f"RSA key of {key.key_size} bits: at least 2048")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise Invalid("only RSA and EC keys are supported")
    leaf = chain[0]
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    if leaf.public_key().public_bytes(der, spki) != key.public_key().public_bytes(der, spki):
        raise Invalid("the key does not belong to the certificate (the first certificate must be the server's)")
    if leaf.not_valid_after_utc <= now:
        raise Invalid(f"the certificate expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    if leaf.not_valid_before_utc > now:
        raise Invalid(f"the certificate is valid only from {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC")
    dns, ips = _sans(leaf)
    if not dns and not ips:
        raise Invalid("the certificate names no host (subjectAltName): browsers refuse it")
    warnings = []
    uncovered = [n for n in names if not any(n == d or (d.startswith("*.") and n.endswith(d[1:])) for d in dns)]
    if uncovered and len(uncovered) == len(list(names)):
        warnings.append(f"the certificate is for {', '.join(sorted(dns)) or 'addresses only'}; "
                        f"browsers opening {uncovered[0]} will warn")  # fmt: skip
    pem_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    checked = CheckedCertificate(chain, pem_key, warnings)
    _context_from(checked.chain_pem, checked.key_pem)  # OpenSSL itself must take it
    return checked


def _context_from(chain_pem: bytes, key_pem: bytes, context: ssl.SSLContext | None = None) -> ssl.SSLContext:
    """Load a chain and key into ``context`` (a new server context if None). OpenSSL reads
    files only: a private temporary folder, gone at once."""
    ctx = context or _server_context()
    with tempfile.TemporaryDirectory(prefix="zentrale-tls-") as folder:
        cert_file, key_file = Path(folder) / "cert.pem", Path(folder) / "key.pem"
        _write(cert_file, chain_pem, 0o600)
        _write(key_file, key_pem, 0o600)
        try:
            ctx.load_cert_chain(cert_file, key_file)
        except ssl.SSLError as err:
            raise Invalid(f"OpenSSL refuses the certificate and key: {err.reason or err}") from None
    return ctx


def _server_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class TlsKeeper:
    """The live server SSLContext and the certificate behind it, kept current."""

    def __init__(
        self,
        config: HttpTlsConfig,
        folder: Path,
        now: Callable[[], datetime],
        addresses: Callable[[], set[IPAddress]] = box_addresses,
    ) -> None:
        self.config = config
        self.folder = folder
        self.now = now
        self.addresses = addresses
        self.names = box_names(config.names)
        self.context = _server_context()
        self.ca: LocalCA | None = None
        self.source = "local"  # "local" (the box's CA), "upload" (an admin's), "config" (http.tls files)
        self.cert: x509.Certificate | None = None
        self._pending: tuple[bytes, bytes, str] | None = None  # made by the check's thread, for the loop
        self._config_mtime: tuple[float, float] | None = None
        self._task: asyncio.Task[None] | None = None
        self._acme_task: asyncio.Task[None] | None = None
        self._stopping = False  # read by an ACME order's worker thread
        self._acme_seen: tuple[tuple[int, int], CheckedCertificate | None] | None = None
        self.acme_board = ChallengeBoard()  # http-01 answers for the plain-HTTP listener
        self.acme_error: AcmeFailure | None = None
        self.acme_last_try: datetime | None = None
        self.acme_next_try: datetime | None = None

    @property
    def ca_path(self) -> Path:
        return self.folder / "ca.crt"

    def start(self) -> None:
        """Make or load the CA and a current certificate (before the HTTPS server binds), then
        keep checking on the running loop."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.ca = LocalCA.load_or_make(self.folder, [n for n in self.config.names], self.now())
        self.refresh(startup=True)
        self._task = asyncio.ensure_future(self._keep_current())
        acme = self.config.acme
        if acme is not None:
            renew_at = self.acme_renew_at()
            plan = f"renewed from {renew_at:%Y-%m-%d %H:%M} UTC" if renew_at else "ordering a certificate"
            log.info("HTTPS: ACME for %s (%s) from %s: %s", acme.domain, acme.challenge, acme.directory, plan)
            self._acme_task = asyncio.ensure_future(self._keep_acme())

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._task, self._acme_task) if t is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _keep_current(self) -> None:
        """The check every ``check_seconds`` runs in a worker thread: reading the addresses and
        the certificate, and making and saving a new one (a signature, two synced writes: 260 ms
        on a loaded machine, which the media clock of every call felt); only putting it in force
        (the live SSL context the loop's handshakes use) happens here, on the loop."""
        while True:
            await asyncio.sleep(self.config.check_seconds)
            try:
                await asyncio.to_thread(self._refresh_off_the_loop)
            except Exception:
                log.exception("HTTPS: renewing the certificate failed; the current one stays")
            pending, self._pending = self._pending, None
            if pending is not None:
                self._use(*pending)

    def _refresh_off_the_loop(self) -> bool:
        _OFF_THE_LOOP.set(True)  # this thread's copy of the context only
        return self.refresh()

    def refresh(self, startup: bool = False) -> bool:
        """Use the certificate that should be in force; True when it changed."""
        cfg = self.config
        if cfg.certificate is not None and cfg.key is not None:
            stamp = (cfg.certificate.stat().st_mtime, cfg.key.stat().st_mtime)
            if stamp == self._config_mtime:
                return False
            checked = check_certificate(cfg.certificate.read_text(), cfg.key.read_text(), self.now(), self.names)
            self._use(checked.chain_pem, checked.key_pem, "config")
            self._config_mtime = stamp
            log.info("HTTPS: certificate from %s (%s)", cfg.certificate, self.describe(checked.chain[0]))
            return True
        own_cert, own_key = self.folder / "own.crt", self.folder / "own.key"
        if own_cert.exists() and own_key.exists():
            if startup:
                self._use(own_cert.read_bytes(), own_key.read_bytes(), "upload")
                log.info("HTTPS: the uploaded certificate (%s)", self.describe())
                return True
            return False
        acme = self._acme_current()
        if acme is not None:
            chain_pem, key_pem, cert = acme
            if not (startup or self.source != "acme" or self.cert != cert):
                return False
            self._use(chain_pem, key_pem, "acme")
            log.info("HTTPS: the ACME certificate (%s)", self.describe(cert))
            return True
        return self._local(startup)

    # --- ACME (web/acme.py) -----------------------------------------------------------------

    def _acme_current(self) -> tuple[bytes, bytes, x509.Certificate] | None:
        """The saved ACME certificate, if it is for the configured domain, valid now and whole
        (checked again only when the files change)."""
        acme = self.config.acme
        cert_path, key_path = self.folder / "acme.crt", self.folder / "acme.key"
        if acme is None or not (cert_path.exists() and key_path.exists()):
            return None
        stamp = (cert_path.stat().st_mtime_ns, key_path.stat().st_mtime_ns)
        if self._acme_seen is None or self._acme_seen[0] != stamp:
            checked: CheckedCertificate | None = None
            try:
                checked = check_certificate(cert_path.read_text(), key_path.read_text(), self.now(), [acme.domain])
            except (Invalid, OSError, UnicodeDecodeError) as err:  # damaged, or ended while the box was off
                log.warning("HTTPS: the saved ACME certificate cannot be used (%s); a new one is ordered", err)
            self._acme_seen = (stamp, checked)
        checked = self._acme_seen[1]
        if checked is None:
            return None
        cert, now = checked.chain[0], self.now()
        if acme.domain.lower() not in _sans(cert)[0] or not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
            return None
        return checked.chain_pem, checked.key_pem, cert

    def acme_renew_at(self) -> datetime | None:
        """When the ACME certificate is renewed: at 2/3 of its lifetime (what certbot does for
        Let's Encrypt's 90 days: 30 days before the end); None: none yet, order now."""
        current = self._acme_current()
        if current is None:
            return None
        cert = current[2]
        return cert.not_valid_before_utc + (cert.not_valid_after_utc - cert.not_valid_before_utc) * 2 / 3

    async def _keep_acme(self) -> None:
        acme = self.config.acme
        assert acme is not None
        wait = acme.retry_seconds
        while True:
            renew_at = self.acme_renew_at()
            if renew_at is not None and renew_at > self.now():
                self.acme_next_try = renew_at
                await asyncio.sleep(min((renew_at - self.now()).total_seconds(), self.config.check_seconds))
                continue
            self.acme_last_try = self.now()
            try:
                checked = await asyncio.to_thread(self._acme_order)
            except AcmeFailure as err:
                self.acme_error = err
                log.warning("HTTPS: no certificate for %s from %s (%s): %s; next try in %d s, the certificate "
                            "in force stays", acme.domain, acme.directory, err.code, err.detail, wait)  # fmt: skip
            except Exception as err:  # not one of the failures web/acme.py knows: a bug, with its traceback
                self.acme_error = AcmeFailure("acme_refused", f"{type(err).__name__}: {err}")
                log.exception("HTTPS: the ACME order for %s failed; next try in %d s", acme.domain, wait)
            else:
                self.acme_error = None
                wait = acme.retry_seconds
                self._save_acme(checked)  # here on the loop, not in the thread: refresh() never sees half
                if self.source in ("local", "acme"):  # an office's own files or upload still win
                    self._use(checked.chain_pem, checked.key_pem, "acme")
                got = self.describe() if self.source == "acme" else checked.chain[0].subject.rfc4514_string()
                log.info("HTTPS: new certificate for %s from %s: %s", acme.domain, acme.directory, got)
                if self.acme_renew_at() is not None:
                    continue
                # not saved (a full disk): in force from memory; ordering again at once would only
                # spend the CA's rate limit, so wait as after a failure
            self.acme_next_try = self.now() + timedelta(seconds=wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, ACME_MAX_WAIT)

    def _acme_order(self) -> CheckedCertificate:
        """One ACME order (a worker thread): the account key is kept (one account per box), the
        certificate's key is new each time; the result is checked before it is saved."""
        acme = self.config.acme
        assert acme is not None
        account_path = self.folder / "acme-account.key"
        if not account_path.exists():
            try:
                _write(account_path, _key_pem(ec.generate_private_key(ec.SECP256R1())), 0o600)
            except OSError as err:  # an account key that is not kept would make a new account each try
                raise AcmeFailure("storage", f"{account_path}: {err.strerror or err}") from None
        key_pem = _key_pem(ec.generate_private_key(ec.SECP256R1()))
        from zentrale.web.acme_client import obtain

        issued = obtain(acme, account_path.read_bytes(), key_pem, self.acme_board, lambda: self._stopping)
        try:
            return check_certificate(issued.chain_pem.decode(), key_pem.decode(), self.now(), [acme.domain])
        except Invalid as err:
            raise AcmeFailure("acme_refused", f"the CA's certificate is not usable: {err}") from None

    def _save_acme(self, checked: CheckedCertificate) -> None:
        try:
            _write(self.folder / "acme.key", checked.key_pem, 0o600)
            _write(self.folder / "acme.crt", checked.chain_pem, 0o644)
        except OSError as err:
            log.warning("HTTPS: the ACME certificate could not be saved (%s); it is used until the box restarts",
                        err.strerror or err)  # fmt: skip

    def acme_info(self) -> dict[str, Any] | None:
        acme = self.config.acme
        if acme is None:
            return None
        error = self.acme_error
        renew_at = self.acme_renew_at()
        return {
            "domain": acme.domain,
            "challenge": acme.challenge,
            "directory": acme.directory,
            "in_force": self.source == "acme",
            "renew_at": renew_at.isoformat() if renew_at else None,
            "last_try": self.acme_last_try.isoformat() if self.acme_last_try else None,
            "next_try": self.acme_next_try.isoformat() if self.acme_next_try else None,
            "error_code": error.code if error else None,
            "error": error.detail if error else None,
        }

    def _local(self, startup: bool) -> bool:
        assert self.ca is not None
        cert_path, key_path = self.folder / "server.crt", self.folder / "server.key"
        now = self.now()
        names = [n for n in self.names if self.ca.permits(n)]
        addresses = self.addresses()
        current: x509.Certificate | None = None
        if cert_path.exists() and key_path.exists():
            current = x509.load_pem_x509_certificate(cert_path.read_bytes())
        reason = ""
        if current is None:
            reason = "first start"
        elif current.issuer != self.ca.cert.subject:
            reason = "another CA"
        elif current.not_valid_after_utc - now < timedelta(days=self.config.renew_days):
            reason = f"ends on {current.not_valid_after_utc:%Y-%m-%d}"
        elif _sans(current) != (set(names), set(addresses)):
            reason = "the box's names or addresses changed"
        if not reason:
            if startup or self.source != "local":
                self._use(cert_path.read_bytes(), key_path.read_bytes(), "local")
                return True
            return False
        cert, key = self.ca.issue(names, addresses, now)
        cert_pem, key_pem = cert.public_bytes(serialization.Encoding.PEM), _key_pem(key)
        try:
            _write(key_path, key_pem, 0o600)
            _write(cert_path, cert_pem, 0o644)
        except OSError as err:
            # a full data disk must not keep the box from starting (nor from serving the page
            # that says the disk is full): the new certificate is used from memory, and made
            # again (and saved) at the next start or check
            log.warning("HTTPS: the new certificate could not be saved (%s); it is used until the box restarts",
                        err.strerror or err)  # fmt: skip
        self._use(cert_pem, key_pem, "local")
        log.info("HTTPS: new certificate from the local CA (%s): %s", reason, self.describe(cert))
        return True

    def _use(self, chain_pem: bytes, key_pem: bytes, source: str) -> None:
        if _OFF_THE_LOOP.get():  # the periodic check's worker thread: the loop puts it in force (``_keep_current``)
            self._pending = (chain_pem, key_pem, source)
            return
        _context_from(chain_pem, key_pem, self.context)  # new handshakes take it at once
        self.cert = x509.load_pem_x509_certificates(chain_pem)[0]
        self.source = source

    def describe(self, cert: x509.Certificate | None = None) -> str:
        cert = cert or self.cert
        if cert is None:
            return "none"
        dns, ips = _sans(cert)
        listed = ", ".join(sorted(dns) + [str(a) for a in sorted(ips, key=str)])
        return f"{listed}, until {cert.not_valid_after_utc:%Y-%m-%d}"

    # --- the admin's own certificate -------------------------------------------------------

    def install_own(self, cert_pem: str, key_pem: str) -> list[str]:
        if self.config.certificate is not None:
            raise Invalid(f"the configuration names the certificate file ({self.config.certificate}); change it there")
        checked = check_certificate(cert_pem, key_pem, self.now(), self.names)
        _write(self.folder / "own.key", checked.key_pem, 0o600)
        _write(self.folder / "own.crt", checked.chain_pem, 0o644)
        self._use(checked.chain_pem, checked.key_pem, "upload")
        log.info("HTTPS: an uploaded certificate is in force (%s)", self.describe())
        return checked.warnings

    def remove_own(self) -> None:
        for name in ("own.crt", "own.key"):
            (self.folder / name).unlink(missing_ok=True)
        if self.config.certificate is None:
            self.refresh(startup=True)  # the ACME certificate if there is one, else the local CA's

    def info(self) -> dict[str, Any]:
        assert self.ca is not None
        cert = self.cert
        dns, ips = _sans(cert) if cert is not None else (set(), set())
        return {
            "source": self.source,
            "port": self.config.port,
            "names": sorted(dns),
            "addresses": sorted(str(a) for a in ips),
            "subject": cert.subject.rfc4514_string() if cert else "",
            "issuer": cert.issuer.rfc4514_string() if cert else "",
            "not_after": cert.not_valid_after_utc.isoformat() if cert else None,
            "fingerprint": fingerprint(cert) if cert else "",
            "ca_fingerprint": fingerprint(self.ca.cert),
            "ca_download": "/zentrale-ca.crt",
            "acme": self.acme_info(),
        }
