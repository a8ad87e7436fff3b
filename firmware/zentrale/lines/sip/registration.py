"""Registration of the box as an extension of a PBX or trunk (RFC 3261 §10).

Registers, answers the digest challenge, refreshes before expiry and keeps
trying with back-off while the registrar is unreachable. The state is
reported on /status and gates systemd's READY where configured.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import TYPE_CHECKING, Any

from zentrale.config import Registration
from zentrale.lines.sip.digest import DigestClient
from zentrale.lines.sip.message import SipRequest, new_branch, new_call_id, new_tag
from zentrale.lines.sip.transport import Peer

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)


def split_hostport(text: str, default_port: int = 5060) -> tuple[str, int]:
    text = text.removeprefix("sip:")
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else default_port
    host, _, port = text.partition(":")
    return host, int(port) if port.isdigit() else default_port


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
                ok = await self._register(self.config.expires)
            except (OSError, ConnectionError, TimeoutError) as err:
                ok = False
                self.last_error = str(err)
            self.registered = ok
            if not self.first_result.done():
                self.first_result.set_result(ok)
            if ok:
                backoff = 15.0
                await asyncio.sleep(max(30.0, self.config.expires * 0.8))
            else:
                log.warning("registration at %s failed: %s", self.config.registrar, self.last_error)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 300.0)

    async def _register(self, expires: int) -> bool:
        assert self.address is not None
        peer = Peer(self.config.transport, self.address, self.port)
        auth: tuple[str, str] | None = None
        for _attempt in range(3):
            request = self._request(peer, expires, auth)
            txn = self.ua.transactions.send_request(request, peer)
            response = await txn.final
            self.last_status = response.status
            if 200 <= response.status < 300:
                self.last_error = None
                log.info("registered at %s as %s (expires %d)", self.config.registrar, self.config.user, expires)
                return True
            if response.status in (401, 407):
                header = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
                challenge = response.get(header)
                if challenge is None or (auth is not None and "stale=true" not in challenge.lower()):
                    self.last_error = f"{response.status} {response.reason} (wrong password?)"
                    return False
                auth = self._digest.answer(response.status, challenge, "REGISTER", request.uri)
                if auth is None:
                    self.last_error = "unsupported authentication challenge"
                    return False
                continue
            self.last_error = f"{response.status} {response.reason}"
            return False
        return False

    def _request(self, peer: Peer, expires: int, auth: tuple[str, str] | None) -> SipRequest:
        self._cseq += 1
        uri = f"sip:{self.domain}" + (f":{self.registrar_port}" if self.registrar_port != self.default_port else "")
        if self.config.transport == "tls":
            uri = f"sips:{self.domain}" + (f":{self.registrar_port}" if self.registrar_port != 5061 else "")
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
        req.add("Contact", f"{self.ua.contact(peer, user=self.config.user)};expires={expires}")
        req.add("Expires", str(expires))
        req.add("Allow", ", ".join(self.ua.ALLOW))
        req.add("User-Agent", self.ua.user_agent)
        if auth is not None:
            req.add(*auth)
        return req
