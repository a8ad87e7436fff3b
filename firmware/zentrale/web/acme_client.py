"""The ACME order itself (web/acme.py has what the rest of the box imports): certbot's ``acme``
library on ``requests``, dnspython for RFC 2136 updates; imported only when a box orders."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import dns.exception
import dns.name
import dns.query
import dns.rcode
import dns.tsig
import dns.update
import requests
from acme import challenges, client, crypto_util, errors, messages
from josepy.jwa import ES256, RS256
from josepy.jwk import JWK, JWKEC

from zentrale.config import AcmeConfig
from zentrale.web.acme import (
    ORDER_SECONDS,
    POLL_SECONDS,
    REQUEST_SECONDS,
    TXT_TTL,
    AcmeFailure,
    ChallengeBoard,
    Issued,
)


class DnsUpdater:
    """TXT records via RFC 2136 dynamic update over TCP, signed with the office's TSIG key."""

    def __init__(self, config: AcmeConfig) -> None:
        assert config.dns is not None
        self.dns = config.dns
        self.zone = dns.name.from_text(self.dns.zone)
        self.key = dns.tsig.Key(self.dns.tsig_name, self.dns.tsig_secret, self.dns.tsig_algorithm)

    def _relative(self, fqdn: str) -> dns.name.Name:
        name = dns.name.from_text(fqdn)
        if not name.is_subdomain(self.zone):
            raise AcmeFailure("dns_refused", f"{fqdn} is not in the zone {self.dns.zone} (http.tls.acme.dns.zone)")
        return name.relativize(self.zone)

    def _send(self, update: dns.update.UpdateMessage, what: str) -> None:
        where = f"{self.dns.server}:{self.dns.port}"
        try:
            answer = dns.query.tcp(update, self.dns.server, port=self.dns.port, timeout=REQUEST_SECONDS)
        except dns.tsig.PeerError as err:  # BADKEY, BADSIG, BADTIME (RFC 8945 §5.3)
            name = type(err).__name__.removeprefix("Peer")
            raise AcmeFailure("dns_refused", f"{where} refuses the TSIG key {self.dns.tsig_name}: {name} "
                              "(key name, algorithm or secret wrong, or the clocks differ)") from None  # fmt: skip
        except dns.exception.Timeout:
            raise AcmeFailure("dns_unreachable", f"{where} did not answer the update {what}") from None
        except (OSError, EOFError, dns.exception.DNSException) as err:
            raise AcmeFailure("dns_unreachable", f"{where}: {err or type(err).__name__}") from None
        rcode = answer.rcode()
        if rcode != dns.rcode.NOERROR:
            hint = {
                dns.rcode.NOTAUTH: " (TSIG key wrong, or the server is not authoritative for the zone)",
                dns.rcode.REFUSED: " (the zone's update policy does not allow this key to write the record)",
                dns.rcode.NOTZONE: " (the name is not in the zone)",
            }.get(rcode, "")
            raise AcmeFailure("dns_refused", f"{where} answers the update {what} with {dns.rcode.to_text(rcode)}{hint}")

    def add_txt(self, fqdn: str, value: str) -> None:
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        update.add(self._relative(fqdn), TXT_TTL, "TXT", f'"{value}"')
        self._send(update, f"adding TXT {fqdn}")

    def delete_txt(self, fqdn: str, value: str) -> None:
        update = dns.update.UpdateMessage(self.zone, keyring=self.key)
        update.delete(self._relative(fqdn), "TXT", f'"{value}"')
        self._send(update, f"removing TXT {fqdn}")


def _problem(err: messages.Error) -> str:
    kind = (err.typ or "").rsplit(":", 1)[-1]
    return f"{err.detail or err.description or 'refused'} ({kind})" if kind else str(err.detail or err)


def _validation_detail(err: errors.ValidationError) -> str:
    found = []
    for authz in err.failed_authzrs:
        for chall in authz.body.challenges:
            if chall.error is not None:
                found.append(f"{chall.chall.typ}: {_problem(chall.error)}")
    return "; ".join(found) or str(err)


def _client(config: AcmeConfig, account_key_pem: bytes) -> client.ClientV2:
    key = JWK.load(account_key_pem)
    alg = ES256 if isinstance(key, JWKEC) else RS256
    net = client.ClientNetwork(key, alg=alg, user_agent="Zentrale (acme-python)", timeout=REQUEST_SECONDS)
    if config.directory_ca is not None:
        net.verify_ssl = str(config.directory_ca)  # type: ignore[assignment]  # requests takes a CA bundle path
    directory = client.ClientV2.get_directory(config.directory, net)
    acme = client.ClientV2(directory, net)
    registration = messages.NewRegistration.from_data(email=config.email, terms_of_service_agreed=True)
    try:
        net.account = acme.new_account(registration)
    except errors.ConflictError as known:  # this key already has an account (RFC 8555 §7.3.1): use it
        net.account = messages.RegistrationResource(uri=known.location, body=messages.Registration())
    return acme


def obtain(
    config: AcmeConfig,
    account_key_pem: bytes,
    cert_key_pem: bytes,
    board: ChallengeBoard,
    stopping: Callable[[], bool] = lambda: False,
) -> Issued:
    """One order for ``config.domain`` (blocking; run in a worker thread). ``stopping``: the
    box is shutting down -- the order is given up at the next step, so the interpreter's exit
    (which waits for worker threads) is not held up by a slow CA."""
    try:
        return _obtain(config, account_key_pem, cert_key_pem, board, stopping)
    except AcmeFailure:
        raise
    except errors.ValidationError as err:
        raise AcmeFailure("validation_failed", _validation_detail(err)) from None
    except messages.Error as err:
        raise AcmeFailure("acme_refused", _problem(err)) from None
    except errors.TimeoutError:
        raise AcmeFailure("timeout", f"the CA did not issue within {ORDER_SECONDS} s") from None
    except requests.exceptions.SSLError as err:
        raise AcmeFailure("acme_unreachable", f"{config.directory}: TLS not trusted ({_short(err)})") from None
    except requests.exceptions.RequestException as err:
        raise AcmeFailure("acme_unreachable", f"{config.directory}: {_short(err)}") from None
    except errors.Error as err:
        raise AcmeFailure("acme_refused", str(err) or type(err).__name__) from None


def _short(err: Exception) -> str:
    text = str(err)
    return text if len(text) < 300 else text[:300] + "…"


def _local_now() -> datetime:
    return datetime.now(UTC).astimezone().replace(tzinfo=None)  # the library compares naive local times


def _finish(
    acme: client.ClientV2, order: messages.OrderResource, stopping: Callable[[], bool]
) -> messages.OrderResource:
    """poll_and_finalize, in slices of POLL_SECONDS with a look at ``stopping`` between them."""
    end = _local_now() + timedelta(seconds=ORDER_SECONDS)
    while True:
        if stopping():
            raise AcmeFailure("timeout", "the box is stopping; the order is given up")
        try:
            order = acme.poll_authorizations(order, deadline=min(end, _local_now() + timedelta(seconds=POLL_SECONDS)))
            break
        except errors.TimeoutError:
            if _local_now() >= end:
                raise
    if stopping():
        raise AcmeFailure("timeout", "the box is stopping; the order is given up")
    return acme.finalize_order(order, deadline=end)


def _obtain(
    config: AcmeConfig,
    account_key_pem: bytes,
    cert_key_pem: bytes,
    board: ChallengeBoard,
    stopping: Callable[[], bool],
) -> Issued:
    acme = _client(config, account_key_pem)
    account_key = acme.net.key
    csr = crypto_util.make_csr(cert_key_pem, [config.domain])
    order = acme.new_order(csr)
    updater = DnsUpdater(config) if config.challenge == "dns-01" else None
    cleanup: list[tuple[str, str]] = []  # (name or token, value)
    try:
        for authz in order.authorizations:
            if stopping():
                raise AcmeFailure("timeout", "the box is stopping; the order is given up")
            if authz.body.status == messages.STATUS_VALID:
                continue  # the CA still trusts an earlier proof (RFC 8555 §7.1.4)
            wanted = challenges.DNS01 if updater is not None else challenges.HTTP01
            chall = next((c for c in authz.body.challenges if isinstance(c.chall, wanted)), None)
            if chall is None:
                offered = ", ".join(c.chall.typ for c in authz.body.challenges)
                raise AcmeFailure("acme_refused", f"the CA does not offer {config.challenge} (only {offered})")
            response, validation = chall.response_and_validation(account_key)
            if updater is not None:
                name = chall.chall.validation_domain_name(authz.body.identifier.value)
                updater.add_txt(name, validation)
            else:
                name = chall.chall.encode("token")
                board.put(name, validation)
            cleanup.append((name, validation))
            acme.answer_challenge(chall, response)
        done = _finish(acme, order, stopping)
    finally:
        for name, value in cleanup:
            if updater is not None:
                try:
                    updater.delete_txt(name, value)
                except AcmeFailure:
                    pass  # a stale TXT record harms nothing; the next try writes its own value
            else:
                board.drop(name)
    if not done.fullchain_pem:
        raise AcmeFailure("acme_refused", "the CA finished the order without a certificate")
    return Issued(done.fullchain_pem.encode())
