"""Hand one e-mail to the SMTP server and classify what went wrong.

``aiosmtplib`` rather than ``smtplib`` in a worker thread: the sender is one
more task in the daemon's loop, a stalled server costs no thread, and
stopping the daemon cancels a delivery at once instead of waiting for a
blocked socket to time out. Timeouts bound every step.

Temporary (retry with backoff): no connection, timeouts, a dropped
connection, 4xx answers (RFC 5321 §4.2.1: transient negative completion).
Permanent (retrying cannot help; the status shows the server's answer):
5xx answers, a refused login, a server without STARTTLS/AUTH when they are
configured, an untrusted certificate.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import aiosmtplib

from zentrale.errors import MailError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: Literal["none", "starttls", "tls"]
    user: str | None
    password: str
    timeout: float
    ca_file: Path | None
    verify_tls: bool

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
        if not self.verify_tls:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context


def _answer(code: int, message: str) -> str:
    return f"{code} {' '.join(message.split())}"


def _untrusted(err: BaseException) -> ssl.SSLCertVerificationError | None:
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def classify(err: Exception) -> MailError:
    """Turn an aiosmtplib/OS error into a MailError that says whether to retry."""
    if (cert := _untrusted(err)) is not None:
        return MailError(f"the server's TLS certificate is not trusted: {cert.verify_message}", permanent=True)
    if isinstance(err, aiosmtplib.SMTPAuthenticationError):
        return MailError(f"login refused: {_answer(err.code, err.message)}", permanent=err.code >= 500)
    if isinstance(err, aiosmtplib.SMTPRecipientsRefused):
        answers = "; ".join(f"{r.recipient}: {_answer(r.code, r.message)}" for r in err.recipients)
        permanent = all(r.code >= 500 for r in err.recipients)
        return MailError(f"all recipients refused: {answers}", permanent=permanent)
    if isinstance(err, aiosmtplib.SMTPResponseException):
        if err.code < 0:  # aiosmtplib's marker for "no usable answer"
            return MailError(f"server error: {err.message}", permanent=False)
        what = "sender refused" if isinstance(err, aiosmtplib.SMTPSenderRefused) else "server answered"
        return MailError(f"{what}: {_answer(err.code, err.message)}", permanent=err.code >= 500)
    if isinstance(err, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return MailError(f"timeout: {err}", permanent=False)
    if isinstance(err, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected | OSError):
        return MailError(f"no connection: {err}", permanent=False)
    if isinstance(err, aiosmtplib.SMTPNotSupported):
        return MailError(f"server does not support what is needed: {err}", permanent=True)
    if isinstance(err, aiosmtplib.SMTPException) and "not supported" in str(err):
        # STARTTLS or AUTH required by the configuration but not offered
        return MailError(f"server does not support what is configured: {err}", permanent=True)
    return MailError(f"{type(err).__name__}: {err}", permanent=False)


class SmtpSender:
    """Delivers one message per connection; returns the recipients the server refused."""

    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def send(self, data: bytes, sender: str, recipients: Sequence[str]) -> dict[str, str]:
        server = self.server
        try:
            refused, answer = await aiosmtplib.send(
                data,
                sender=sender,
                recipients=list(recipients),
                hostname=server.host,
                port=server.port,
                username=server.user or None,
                password=server.password if server.user else None,
                timeout=server.timeout,
                use_tls=server.security == "tls",
                start_tls=server.security == "starttls",  # True: required, never a silent plain-text fallback
                tls_context=server.tls_context() if server.security != "none" else None,
            )
        except Exception as err:
            raise classify(err) from err
        log.debug("mail: server accepted: %s", answer)
        return {address: _answer(r.code, r.message) for address, r in refused.items()}
