"""Registration of the box as an extension of a PBX or trunk (RFC 3261 §10).

Registers, answers the digest challenge, refreshes before the expiry the
registrar *granted* (which may differ from the one asked for), answers
``423 Interval Too Brief`` with its ``Min-Expires``, and keeps trying with
back-off while the registrar is unreachable. Between refreshes the registrar
is probed (OPTIONS every ``keepalive`` seconds, and every fourth probe a
query of our binding, RFC 3261 §10.2.3): a registrar that stops answering or
lost our contact (a restarted PBX) is registered with again at once, so the
box is not unreachable until the next refresh. The state is reported on
/status and gates systemd's READY where configured.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from zentrale.config import Registration
from zentrale.lines.sip.digest import DigestClient
from zentrale.lines.sip.message import (
    SipParseError,
    SipRequest,
    SipResponse,
    new_branch,
    new_call_id,
    new_tag,
    number,
    parse_name_addr,
    parse_uri,
)
from zentrale.lines.sip.transport import Peer

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)


def split_hostport(text: str, default_port: int = 5060) -> tuple[str, int]:
    text = text.removeprefix("sip:")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, (number(rest[1:], 65535) if rest.startswith(":") else None) or default_port
    host, _, port = text.partition(":")
    return host, number(port, 65535) or default_port


class Registrar:
    def __init__(self, ua: SipUserAgent, config: Registration) -> None:
        self.ua = ua
        self.config = config
        default_port = 5061 if config.transport == "tls" else 5060
        host, port = split_hostport(config.registrar, default_port)
        self.domain = config.domain or host
        self.registrar_port = port
        self.default_port = default_port
        if config.outbound_proxy:
            host, port = split_hostport(config.outbound_proxy, default_port)
        self.host = host
        self.port = port
        self.registered = False
        self.granted: int | None = None  # seconds the registrar granted last time
        self.expires = config.expires  # what we ask for (raised by a 423's Min-Expires)
        self.reregistrations = 0  # registrations made again because the registrar was lost
        self.last_status: int | None = None
        self.last_error: str | None = None
        self.address: str | None = None
        self._call_id = new_call_id("zentrale")
        self._tag = new_tag()
        self._cseq = 0
        self._task: asyncio.Task[None] | None = None
        self._digest = DigestClient(config.auth_user or config.user, config.password)
        self.first_result: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def status(self) -> dict[str, Any]:
        return {
            "registrar": f"{self.host}:{self.port}",
            "user": self.config.user,
            "registered": self.registered,
            "granted_expires": self.granted,
            "reregistrations": self.reregistrations,
            "last_status": self.last_status,
            "last_error": self.last_error,
        }

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        if self.registered:
            await self._register(expires=0)

    def _resolve(self) -> str:
        infos = socket.getaddrinfo(self.host, self.port, type=socket.SOCK_DGRAM)
        return str(infos[0][4][0])

    async def _run(self) -> None:
        backoff = 15.0
        while True:
            try:
                loop = asyncio.get_running_loop()
                self.address = await loop.run_in_executor(None, self._resolve)
                self.ua.guard.trust(self.address)  # the PBX/trunk is never banned
                if self.config.transport == "tls":
                    self.ua.transport.server_name(self.address, self.host)
                    await self.ua.transport.connect(self.address, self.port, tls=True, server_name=self.host)
                ok = await self._register(self.expires)
            except (OSError, ConnectionError, TimeoutError) as err:
                ok = False
                self.last_error = str(err)
            self.registered = ok
            if not self.first_result.done():
                self.first_result.set_result(ok)
            if ok:
                backoff = 15.0
                granted = self.granted or self.expires
                # Refresh well before the granted expiry (and never in a busy loop).
                refresh = max(5.0, min(granted * 0.8, granted - 10.0))
                if await self._watch(refresh):
                    self.registered = False
                    self.reregistrations += 1
            else:
                log.warning("registration at %s failed: %s", self.config.registrar, self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300.0)

    async def _watch(self, refresh: float) -> bool:
        """Wait until the refresh is due, probing the registrar meanwhile. True when it
        was lost (no answer, or our binding is gone) and must be registered with now."""
        loop = asyncio.get_running_loop()
        due = loop.time() + refresh
        keepalive = float(self.config.keepalive)
        probes = 0
        while True:
            left = due - loop.time()
            if keepalive <= 0 or left <= keepalive:
                await asyncio.sleep(max(0.0, left))
                return False
            await asyncio.sleep(keepalive)
            probes += 1
            if probes % 4 == 0:
                bound = await self._binding_present()
                if bound is False:
                    log.warning("registration at %s: the registrar lost our contact; registering again",
                                self.config.registrar)  # fmt: skip
                    return True
                continue
            status = await self._options()
            if status in (408, 503):
                log.warning("registration at %s: the registrar does not answer (%d); registering again",
                            self.config.registrar, status)  # fmt: skip
                self.last_error = f"registrar stopped answering ({status})"
                return True

    async def _options(self) -> int:
        assert self.address is not None
        peer = Peer(self.config.transport, self.address, self.port)
        request = SipRequest(method="OPTIONS", uri=self._uri())
        request.add("Via", self.ua.via(peer, new_branch()))
        if self.config.outbound_proxy:
            request.add("Route", f"<sip:{self.config.outbound_proxy};lr>")
        request.add("Max-Forwards", "70")
        request.add("From", f"<sip:{self.config.user}@{self.domain}>;tag={new_tag()}")
        request.add("To", f"<{self._uri()}>")
        request.add("Call-ID", new_call_id("zentrale"))
        request.add("CSeq", "1 OPTIONS")
        request.add("User-Agent", self.ua.user_agent)
        try:
            pending = self.ua.transactions.send_request(request, peer, timeout=8.0)
        except ConnectionError:
            return 503
        return (await pending.final).status

    async def _binding_present(self) -> bool | None:
        """Query our binding (REGISTER without Contact, §10.2.3): False when the registrar
        answers 200 without our contact; None when it cannot tell."""
        response = await self._send_register(None)
        if response is None or not 200 <= response.status < 300:
            return None
        return self._granted(response) is not None

    async def _register(self, expires: int) -> bool:
        response = await self._send_register(expires)
        if response is None:
            return False
        if expires == 0:
            return 200 <= response.status < 300
        if 200 <= response.status < 300:
            self.last_error = None
            self.granted = self._granted(response) or expires
            log.info("registered at %s as %s (expires %d, asked %d)", self.config.registrar, self.config.user,
                     self.granted, expires)  # fmt: skip
            return True
        return False

    async def _send_register(self, expires: int | None) -> SipResponse | None:
        """One REGISTER (expires None: a query), answering a digest challenge and a 423."""
        assert self.address is not None
        peer = Peer(self.config.transport, self.address, self.port)
        auth: tuple[str, str] | None = None
        for _attempt in range(4):
            request = self._request(peer, expires, auth)
            pending = self.ua.transactions.send_request(request, peer)
            response = await pending.final
            self.last_status = response.status
            if 200 <= response.status < 300:
                return response
            if response.status in (401, 407):
                header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
                challenge = response.get(header)
                if challenge is None or (auth is not None and "stale=true" not in challenge.lower()):
                    self.last_error = f"{response.status} {response.reason} (wrong password?)"
                    return None
                auth = self._digest.answer(response.status, challenge, "REGISTER", request.uri)
                if auth is None:
                    self.last_error = "unsupported authentication challenge"
                    return None
                continue
            if response.status == 423 and expires:  # RFC 3261 §10.2.8: ask again with at least Min-Expires
                minimum = number((response.get("Min-Expires") or "").strip(), 86400)
                if minimum is not None and expires < minimum:
                    log.info("registration at %s: %d s too brief, asking for %d s", self.config.registrar,
                             expires, minimum)  # fmt: skip
                    expires = self.expires = minimum
                    auth = None
                    continue
            self.last_error = f"{response.status} {response.reason}"
            return None
        return None

    def _granted(self, response: SipResponse) -> int | None:
        """The expiry the registrar granted our contact (its Contact;expires, else Expires),
        or None when our contact is not among the bindings it lists."""
        ours = self._contact_key(self.ua.contact(Peer(self.config.transport, self.address or "", self.port),
                                                 user=self.config.user))  # fmt: skip
        default = (response.get("Expires") or "").strip()
        for value in response.values("Contact"):
            try:
                contact = parse_name_addr(value)
            except SipParseError:
                continue
            if self._contact_key(value) != ours:
                continue
            expires = contact.params.get("expires") or default
            granted = number(expires, 2**32 - 1)  # RFC 3261 §20.19: up to 2**32-1
            return self.expires if granted is None else granted
        return None

    @staticmethod
    def _contact_key(value: str) -> tuple[str, str, int | None] | None:
        try:
            uri = parse_uri(parse_name_addr(value).uri)
        except SipParseError:
            return None
        return (uri.user, uri.host.strip("[]"), uri.port)

    def _uri(self) -> str:
        if self.config.transport == "tls":
            return f"sips:{self.domain}" + (f":{self.registrar_port}" if self.registrar_port != 5061 else "")
        return f"sip:{self.domain}" + (f":{self.registrar_port}" if self.registrar_port != self.default_port else "")

    def _request(self, peer: Peer, expires: int | None, auth: tuple[str, str] | None) -> SipRequest:
        self._cseq += 1
        uri = self._uri()
        aor = f"<sip:{self.config.user}@{self.domain}>"
        req = SipRequest(method="REGISTER", uri=uri)
        req.add("Via", self.ua.via(peer, new_branch()))
        if self.config.outbound_proxy:
            req.add("Route", f"<sip:{self.config.outbound_proxy};lr>")
        req.add("Max-Forwards", "70")
        req.add("From", f"{aor};tag={self._tag}")
        req.add("To", aor)
        req.add("Call-ID", self._call_id)
        req.add("CSeq", f"{self._cseq} REGISTER")
        if expires is not None:  # None: a query of the bindings (§10.2.3)
            req.add("Contact", f"{self.ua.contact(peer, user=self.config.user)};expires={expires}")
            req.add("Expires", str(expires))
        req.add("Allow", ", ".join(self.ua.ALLOW))
        req.add("User-Agent", self.ua.user_agent)
        if auth is not None:
            req.add(*auth)
        return req
