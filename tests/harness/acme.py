"""An office with a real domain, on loopback: BIND (Debian ``bind9``) as the office's DNS server
taking RFC 2136 updates signed with a TSIG key, and pebble (Debian ``pebble``, Let's Encrypt's
ACME test server) as the CA, resolving names through that BIND only.

The domain is ``zentrale.firma.test`` (RFC 2606 ``.test``: never on the internet); its A
record is 127.0.0.1, so pebble's http-01 check goes to the box's plain-HTTP port on loopback.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.message
import dns.query
import dns.rcode

from tests.harness.daemon import free_port
from tests.harness.tls_certs import make_ca, make_leaf
from tests.harness.waits import wait_until

ZONE = "firma.test"
DOMAIN = f"zentrale.{ZONE}"
TSIG_NAME = "zentrale-acme"


@dataclass
class Bind:
    port: int
    tsig_secret: str
    folder: Path
    proc: subprocess.Popen[bytes]

    def dns_config(self, secret: str | None = None) -> dict[str, object]:
        """``http.tls.acme.dns`` for the box (``secret``: another one, to see a refusal)."""
        return {"server": "127.0.0.1", "port": self.port, "zone": ZONE, "tsig_name": TSIG_NAME,
                "tsig_algorithm": "hmac-sha256", "tsig_secret": secret or self.tsig_secret}  # fmt: skip

    def txt(self, name: str) -> list[str]:
        query = dns.message.make_query(name, "TXT")
        answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=2)
        return [b"".join(r.strings).decode() for rrset in answer.answer for r in rrset]

    def log(self) -> str:
        path = self.folder / "named.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _named_answers(port: int) -> bool:
    try:
        answer = dns.query.udp(dns.message.make_query(ZONE, "SOA"), "127.0.0.1", port=port, timeout=0.5)
    except (OSError, dns.exception.DNSException):
        return False
    return answer.rcode() == dns.rcode.NOERROR and bool(answer.answer)


@contextlib.contextmanager
def running_bind() -> Iterator[Bind]:
    """``named`` in the foreground on a free loopback port with a config of its own: the zone
    firma.test, and a TSIG key that may write only _acme-challenge.zentrale.firma.test TXT.
    Run as root (CI), it drops to the ``bind`` user after start (-u), so its folder is bind's."""
    named = shutil.which("named") or "/usr/sbin/named"
    if not Path(named).exists():
        raise AssertionError("named not installed: Debian package bind9 (scripts/setup)")
    # not under pytest's tmp_path: its parent folders are closed to the bind user
    folder = Path(tempfile.mkdtemp(prefix="zentrale-named-"))
    port = free_port(socket.SOCK_STREAM)
    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    (folder / f"{ZONE}.zone").write_text(
        f"$TTL 60\n@ SOA ns.{ZONE}. hostmaster.{ZONE}. 1 60 60 600 60\n@ NS ns.{ZONE}.\n"
        f"ns A 127.0.0.1\nzentrale A 127.0.0.1\n"
    )
    (folder / "named.conf").write_text(f"""
options {{
    directory "{folder}";
    pid-file "{folder}/named.pid";
    session-keyfile "{folder}/session.key";
    managed-keys-directory "{folder}";
    listen-on port {port} {{ 127.0.0.1; }};
    listen-on-v6 {{ none; }};
    recursion no;
    dnssec-validation no;
    notify no;
    allow-transfer {{ none; }};
}};
controls {{ }};
key "{TSIG_NAME}" {{ algorithm hmac-sha256; secret "{secret}"; }};
zone "{ZONE}" {{
    type primary;
    file "{ZONE}.zone";
    update-policy {{ grant {TSIG_NAME} name _acme-challenge.{DOMAIN}. TXT; }};
}};
""")
    command = [named, "-g", "-c", str(folder / "named.conf")]
    if os.geteuid() == 0:
        bind_user = pwd.getpwnam("bind")
        for path in [folder, *folder.iterdir()]:
            os.chown(path, bind_user.pw_uid, bind_user.pw_gid)
        command += ["-u", "bind"]
    log = (folder / "named.log").open("wb")
    proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    bind = Bind(port, secret, folder, proc)
    try:
        wait_until(lambda: proc.poll() is None and _named_answers(port), 15, f"named on port {port}:\n{bind.log()}")
        yield bind
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Pebble:
    directory: str  # the ACME directory URL
    directory_ca: Path  # what the box trusts for pebble's own HTTPS API
    management: str  # https://127.0.0.1:<port>: /roots/0 is the root pebble issues under
    folder: Path
    proc: subprocess.Popen[bytes]

    def root_pem(self) -> str:
        """Pebble's issuing root (new at each start), fetched from its management interface."""
        context = ssl.create_default_context(cafile=str(self.directory_ca))
        with urllib.request.urlopen(f"{self.management}/roots/0", context=context, timeout=5) as answer:
            return str(answer.read().decode())

    def log(self) -> str:
        path = self.folder / "pebble.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def running_pebble(folder: Path, dns_port: int, http_port: int, validity_seconds: int = 0) -> Iterator[Pebble]:
    """pebble resolving through the BIND on ``dns_port`` only; http-01 checks go to
    ``http_port`` (the box's plain HTTP). ``validity_seconds``: the certificates' lifetime
    (0: pebble's default of 5 years). Every challenge is really checked (no always-valid),
    without pebble's random sleeps and nonce rejections."""
    if shutil.which("pebble") is None:
        raise AssertionError("pebble not installed: Debian package pebble (scripts/setup)")
    folder.mkdir(parents=True, exist_ok=True)
    ca = make_ca(folder / "api", "pebble-api-ca")
    leaf = make_leaf(folder / "api", ca, "pebble-api", dns="localhost")
    port, management = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_STREAM)
    config: dict[str, object] = {
        "listenAddress": f"127.0.0.1:{port}",
        "managementListenAddress": f"127.0.0.1:{management}",
        "certificate": str(leaf.cert),
        "privateKey": str(leaf.key),
        "httpPort": http_port,
        "tlsPort": free_port(socket.SOCK_STREAM),
        "ocspResponderURL": "",
        "externalAccountBindingRequired": False,
    }
    if validity_seconds:
        config["certificateValidityPeriod"] = validity_seconds
    (folder / "pebble.json").write_text(json.dumps({"pebble": config}))
    env = {**os.environ, "PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
    log = (folder / "pebble.log").open("wb")
    proc = subprocess.Popen(
        ["pebble", "-config", str(folder / "pebble.json"), "-dnsserver", f"127.0.0.1:{dns_port}"],
        stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder,
    )  # fmt: skip
    log.close()
    pebble = Pebble(f"https://localhost:{port}/dir", ca, f"https://localhost:{management}", folder, proc)
    try:
        wait_until(lambda: proc.poll() is None and _listening(port) and _listening(management), 15,
                   f"pebble on port {port}:\n{pebble.log()}")  # fmt: skip
        yield pebble
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
