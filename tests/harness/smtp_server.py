"""A real SMTP server for the mail tests: aiosmtpd on 127.0.0.1, in its own thread.

``SmtpServer`` collects what it accepts and can be told to require STARTTLS
(with a certificate made by ``make_test_certificate`` via the openssl CLI),
to require a login, to answer with a chosen failure, or to stall after the
message data arrived without ever answering (the crash window of an
at-least-once outbox).
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class Handler:
    stall: bool = False  # accept DATA, then never answer
    rcpt_answer: dict[str, str] = field(default_factory=dict)  # address -> e.g. "550 5.1.1 User unknown"
    received: list[Received] = field(default_factory=list)
    unanswered: list[Received] = field(default_factory=list)  # data that arrived on a stalled server
    changed: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.rcpt_answer:
            return self.rcpt_answer[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        item = Received(str(envelope.mail_from), list(envelope.rcpt_tos), bytes(envelope.original_content or b""), 0)
        item.at = time.monotonic()
        if self.stall:
            with self.changed:
                self.unanswered.append(item)
                self.changed.notify_all()
            await asyncio.sleep(3600)
        with self.changed:
            self.received.append(item)
            self.changed.notify_all()
        return "250 2.0.0 Queued"


class SmtpServer:
    def __init__(
        self,
        port: int,
        *,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        logins: dict[str, str] | None = None,
        stall: bool = False,
        rcpt_answer: dict[str, str] | None = None,
    ) -> None:
        self.port = port
        self.handler = Handler(stall=stall, rcpt_answer=rcpt_answer or {})
        self.logins = logins
        self.login_attempts: list[str] = []
        kwargs: dict[str, Any] = {}
        if starttls is not None:
            kwargs.update(tls_context=starttls, require_starttls=True)
        if logins is not None:
            kwargs.update(authenticator=self._authenticate, auth_required=True, auth_require_tls=starttls is not None)
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=port, ssl_context=implicit_tls, ready_timeout=10, **kwargs
        )

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        user, password = data.login.decode(), data.password.decode()
        self.login_attempts.append(user)
        ok = self.logins is not None and self.logins.get(user) == password
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.controller.stop()

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def received(self) -> list[Received]:
        with self.handler.changed:
            return list(self.handler.received)

    def wait_for(self, count: int, timeout: float, *, unanswered: bool = False) -> list[Received]:
        """Wait until ``count`` messages were accepted (or arrived on a stalled server)."""
        deadline = time.monotonic() + timeout
        with self.handler.changed:
            while True:
                items = self.handler.unanswered if unanswered else self.handler.received
                if len(items) >= count:
                    return list(items)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"SMTP server on {self.port}: {len(items)} of {count} messages arrived")
                self.handler.changed.wait(left)


def make_test_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made now with the openssl CLI."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@contextlib.contextmanager
def smtp_server(port: int, **kwargs: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(port, **kwargs).start()
    try:
        yield server
    finally:
        server.stop()
