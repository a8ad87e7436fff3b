"""A real CardDAV server for the phonebook tests: Radicale (PyPI ``radicale``) on loopback,
with a user (htpasswd, plain) and an address book made by an extended MKCOL (RFC 5689 §3,
RFC 6352 §6.3.1) and filled with vCards by PUT (RFC 6352 §6.3.2)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness.daemon import free_port
from tests.harness.waits import wait_until

MKCOL = b"""<?xml version="1.0" encoding="utf-8"?>
<D:mkcol xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav"><D:set><D:prop>
<D:resourcetype><D:collection/><C:addressbook/></D:resourcetype><D:displayname>Kontakte</D:displayname>
</D:prop></D:set></D:mkcol>"""


def vcard(name: str, *numbers: str) -> str:
    """A vCard 3.0 (RFC 2426, what most servers and phones still write) with a folded long line."""
    family, _, given = name.rpartition(" ")[::-1] if " " in name else ("", "", name)
    tels = "".join(f"TEL;TYPE=WORK,VOICE:{n}\r\n" for n in numbers)
    note = "NOTE:" + "Kunde seit 2019, ruft oft wegen der Wartung an; bitte an das Team Technik " \
        "weitergeben.\r\n"  # fmt: skip
    folded = note[:70] + "\r\n " + note[70:]
    return (
        f"BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uuid.uuid4()}\r\nFN:{name}\r\nN:{family};{given};;;\r\n"
        f"{tels}{folded}END:VCARD\r\n"
    )


@dataclass
class CardDavServer:
    port: int
    user: str
    password: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/{self.user}/contacts/"

    def client(self) -> httpx.Client:
        return httpx.Client(auth=(self.user, self.password), timeout=10)

    def put(self, card: str) -> None:
        with self.client() as client:
            answer = client.put(
                f"{self.url}{uuid.uuid4()}.vcf", content=card.encode(), headers={"Content-Type": "text/vcard"}
            )
            assert answer.status_code == 201, answer.text


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def running_radicale(folder: Path, user: str = "office", password: str = "kontakte-geheim") -> Iterator[CardDavServer]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "users").write_text(f"{user}:{password}\n", encoding="utf-8")
    port = free_port(socket.SOCK_STREAM)
    config = folder / "config"
    config.write_text(
        f"[server]\nhosts = 127.0.0.1:{port}\n"
        f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder / 'users'}\nhtpasswd_encryption = plain\n"
        f"[storage]\nfilesystem_folder = {folder / 'collections'}\n"
        "[logging]\nlevel = warning\n",
        encoding="utf-8",
    )
    log = (folder / "radicale.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "radicale", "--config", str(config)], stdout=log, stderr=log)
    try:
        wait_until(lambda: process.poll() is not None or _listening(port), 20, "radicale listening")
        assert process.poll() is None, (folder / "radicale.log").read_text()
        server = CardDavServer(port, user, password)
        with server.client() as client:
            answer = client.request("MKCOL", server.url, content=MKCOL, headers={"Content-Type": "application/xml"})
            assert answer.status_code == 201, answer.text
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
