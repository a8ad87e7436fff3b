"""uvicorn serving the API inside the daemon's event loop (the loop the media clock runs on).

With HTTPS on (``http.tls``, web/tls.py) there are two listeners on the same application:
HTTPS on ``http.tls.port``, and plain HTTP on ``http.port``, which answers every request
from another machine with a redirect to HTTPS (308: the method and body are kept) --
except ``/health`` (monitoring) and ``/zentrale-ca.crt`` (a PC needs the CA before it can
trust the HTTPS page) -- and serves requests from the box itself (loopback: local tools
such as ``zentrale switch``; a browser on the box is a secure context there anyway).

ACME http-01 (RFC 8555 §8.3) is answered on the plain-HTTP listener, from anywhere (the CA
must not be redirected): ``/.well-known/acme-challenge/<token>`` with the key authorization
web/acme.py put on the board while its order runs, 404 for any other token.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import re
import socket
import ssl
import struct
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from zentrale.accounts.service import Accounts
from zentrale.config import HttpConfig
from zentrale.errors import ZentraleError
from zentrale.web.acme import ChallengeBoard
from zentrale.web.tls import TlsKeeper

log = logging.getLogger(__name__)


SIOCGIFADDR = 0x8915  # Linux <linux/sockios.h>: an interface's IPv4 address


def lan_addresses() -> list[str]:
    """The box's own IPv4 addresses on its network interfaces, loopback excluded (Linux
    ioctl; no packet is sent). Empty where the system does not tell."""
    found: list[str] = []
    try:
        names = [name for _, name in socket.if_nameindex()]
    except OSError:
        return found
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for name in names:
            try:
                answer = fcntl.ioctl(s.fileno(), SIOCGIFADDR, struct.pack("256s", name.encode()[:15]))
            except OSError:
                continue  # no IPv4 address on this interface (or it is down)
            address = socket.inet_ntoa(answer[20:24])
            if not ipaddress.ip_address(address).is_loopback and address not in found:
                found.append(address)
    return found


def page_urls(bind: str, port: int, lan: list[str] | None = None, scheme: str = "http") -> list[str]:
    """Addresses a person can click to reach the page: for "every address" (0.0.0.0, ::) this
    box's own (127.0.0.1) and its LAN addresses, not 0.0.0.0 (issue 17 (c))."""
    if bind in ("0.0.0.0", "::", ""):
        hosts = ["127.0.0.1", *(lan_addresses() if lan is None else lan)]
    else:
        hosts = [f"[{bind}]" if ":" in bind else bind]
    return [f"{scheme}://{host}:{port}/" for host in hosts]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon, not uvicorn, owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        try:
            await super().startup(sockets)
        except SystemExit:  # uvicorn's answer to a port it cannot bind (it logged why): not the daemon's exit
            where = f"{self.config.host}:{self.config.port}"
            raise OSError(f"the web page cannot listen on {where} (see the error above)") from None


PLAIN_HTTP_PATHS = frozenset({"/health", "/zentrale-ca.crt"})  # answered over HTTP from anywhere
ACME_CHALLENGE = "/.well-known/acme-challenge/"
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # base64url (RFC 8555 §8.3)
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d+)?$")


def _loopback(scope: Scope) -> bool:
    client = scope.get("client")
    try:
        return client is not None and ipaddress.ip_address(client[0]).is_loopback
    except ValueError:
        return False


class HttpsRedirect:
    """The plain-HTTP listener's application when HTTPS is on (see the module's doc)."""

    def __init__(self, app: ASGIApp, https_port: Callable[[], int], board: ChallengeBoard | None = None) -> None:
        self.app = app
        self.https_port = https_port
        self.board = board

    async def _challenge(self, path: str, send: Send) -> None:
        token = path[len(ACME_CHALLENGE) :]
        answer = self.board.get(token) if self.board is not None and _TOKEN.match(token) else None
        status, body = (200, answer.encode("ascii")) if answer else (404, b"no such ACME challenge\n")
        await send({"type": "http.response.start", "status": status, "headers": [
            (b"content-type", b"application/octet-stream" if answer else b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(ACME_CHALLENGE) and scope["method"] == "GET":
            await self._challenge(scope["path"], send)
            return
        if scope["type"] != "http" or scope["path"] in PLAIN_HTTP_PATHS or _loopback(scope):
            await self.app(scope, receive, send)
            return
        host_header = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        match = _HOST.match(host_header)
        host = match.group(1) if match else (scope.get("server") or ("zentrale.local", 0))[0]
        port = self.https_port()
        target = f"https://{host}{'' if port == 443 else f':{port}'}{scope.get('raw_path', b'').decode('latin-1')}"
        if scope.get("query_string"):
            target += "?" + scope["query_string"].decode("latin-1")
        body = f"HTTPS: {target}\n".encode()
        await send({"type": "http.response.start", "status": 308, "headers": [
            (b"location", target.encode("latin-1")), (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store"),
        ]})  # fmt: skip
        await send({"type": "http.response.body", "body": body})


class HttpServer:
    def __init__(self, api: FastAPI, config: HttpConfig, accounts: Accounts, tls: TlsKeeper | None = None) -> None:
        self.api = api
        self.config = config
        self.accounts = accounts
        self.tls = tls
        self.port = config.port  # the bound one once started (config 0: any free port)
        self.https_port = config.tls.port if tls else 0
        self._servers: list[tuple[uvicorn.Server, asyncio.Task[Any]]] = []

    async def _serve(self, port: int, context: ssl.SSLContext | None, redirect: bool = False) -> int:
        config = uvicorn.Config(
            self.api, host=self.config.bind, port=port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=2,  # open event streams (every agent's page) never end by themselves
            # X-Forwarded-For only from configured proxies: uvicorn's default trusts it from loopback, so
            # anything on the box (or a proxy we did not set up) could pick the address logins are throttled by
            proxy_headers=bool(self.config.trusted_proxies),
            forwarded_allow_ips=list(self.config.trusted_proxies),
        )  # fmt: skip
        config.load()
        if redirect:  # outside uvicorn's proxy-header middleware: it sees the connecting peer
            board = self.tls.acme_board if self.tls is not None else None
            config.loaded_app = HttpsRedirect(config.loaded_app, lambda: self.https_port, board)
        # our live context (web/tls.py re-loads a renewed certificate into it): uvicorn's own would
        # read the files once, and a renewal would need a restart
        config.ssl = context
        server = _EmbeddedServer(config)
        task = asyncio.ensure_future(server.serve())
        self._servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()
                raise ZentraleError("web server did not start")
            await asyncio.sleep(0.01)
        if server.servers and server.servers[0].sockets:
            return int(server.servers[0].sockets[0].getsockname()[1])
        return port

    async def start(self) -> None:
        if self.tls is None:
            self.port = await self._serve(self.config.port, None)
        else:
            self.tls.start()
            self.https_port = await self._serve(self.config.tls.port, self.tls.context)
            self.port = await self._serve(self.config.port, None, redirect=True)
        urls = self.urls()
        log.info("web page and HTTP API on %s (docs: /docs, spec: /openapi.json)", " ".join(urls))
        if self.accounts.setup_token:
            log.warning(
                "first-run set-up: no admin account yet. Open %s and enter the set-up token %s (also in %s)",
                " or ".join(f"{url}setup" for url in urls),
                self.accounts.setup_token,
                self.accounts.setup_token_path,
            )

    def urls(self) -> list[str]:
        """Where a person reaches the page (the first: on this box itself); HTTPS first when on."""
        plain = page_urls(self.config.bind, self.port)
        if self.tls is None:
            return plain
        return [*page_urls(self.config.bind, self.https_port, scheme="https"), *plain]

    async def stop(self) -> None:
        for server, _ in self._servers:
            server.should_exit = True
        await asyncio.gather(*(task for _, task in self._servers), return_exceptions=True)
        self._servers.clear()
        if self.tls is not None:
            await self.tls.stop()
