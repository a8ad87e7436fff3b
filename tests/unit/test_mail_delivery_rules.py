"""Which SMTP failures are worth a retry, and how long the outbox waits between tries."""

from __future__ import annotations

import ssl

import aiosmtplib
import pytest

from zentrale.mail.outbox import backoff
from zentrale.mail.smtp import classify


def test_backoff_doubles_from_the_first_wait_up_to_the_longest() -> None:
    waits = [backoff(n, 30, 3600) for n in range(1, 10)]
    assert waits == [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]


def test_backoff_survives_absurd_failure_counts() -> None:
    assert backoff(10_000, 30, 3600) == 3600
    assert backoff(0, 30, 3600) == 30


@pytest.mark.parametrize(
    ("error", "permanent", "text"),
    [
        (aiosmtplib.SMTPConnectError("Error connecting to h on port 25: [Errno 111] refused"), False, "no connection"),
        (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), False, "timeout"),
        (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), False, "timeout"),
        (aiosmtplib.SMTPServerDisconnected("Connection lost"), False, "no connection"),
        (ConnectionRefusedError(111, "Connection refused"), False, "no connection"),
        (aiosmtplib.SMTPResponseException(451, "4.3.0 Try again later"), False, "451 4.3.0 Try again later"),
        (aiosmtplib.SMTPDataError(552, "5.3.4 Message too big"), True, "552 5.3.4 Message too big"),
        (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Authentication credentials invalid"), True, "login refused"),
        (aiosmtplib.SMTPAuthenticationError(454, "4.7.0 Temporary authentication failure"), False, "login refused"),
        (aiosmtplib.SMTPSenderRefused(553, "5.7.1 not owner", "h@example.com"), True, "sender refused: 553"),
        (aiosmtplib.SMTPConnectResponseError(421, "Service not available"), False, "421 Service not available"),
        (aiosmtplib.SMTPException("SMTP STARTTLS extension not supported by server."), True, "STARTTLS"),
        (aiosmtplib.SMTPException("The SMTP AUTH extension is not supported by this server."), True, "AUTH"),
    ],
)
def test_failures_are_classified(error: Exception, permanent: bool, text: str) -> None:
    result = classify(error)
    assert result.permanent is permanent
    assert text in result.reason


def test_all_recipients_refused_is_permanent_only_when_every_answer_is_5xx() -> None:
    unknown = aiosmtplib.SMTPRecipientRefused(550, "5.1.1 User unknown", "a@example.com")
    greylisted = aiosmtplib.SMTPRecipientRefused(450, "4.2.0 Greylisted", "b@example.com")
    assert classify(aiosmtplib.SMTPRecipientsRefused([unknown])).permanent
    mixed = classify(aiosmtplib.SMTPRecipientsRefused([unknown, greylisted]))
    assert not mixed.permanent
    assert "a@example.com: 550 5.1.1 User unknown; b@example.com: 450 4.2.0 Greylisted" in mixed.reason


def test_an_untrusted_certificate_is_permanent_and_says_so() -> None:
    cert = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cert.verify_message = "self-signed certificate"
    wrapped = aiosmtplib.SMTPConnectError("Error connecting")
    wrapped.__cause__ = cert
    result = classify(wrapped)
    assert result.permanent
    assert result.reason == "the server's TLS certificate is not trusted: self-signed certificate"
