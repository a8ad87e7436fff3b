"""uvicorn serving the API inside the daemon's event loop (the loop the media clock runs on)."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import logging
import socket
import struct
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from zentrale.accounts.service import Accounts
from zentrale.config import HttpConfig
from zentrale.errors import ZentraleError

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


def page_urls(bind: str, port: int, lan: list[str] | None = None) -> list[str]:
    """Addresses a person can click to reach the page: for "every address" (0.0.0.0, ::) this
    box's own (127.0.0.1) and its LAN addresses, not 0.0.0.0 (issue 17 (c))."""
    if bind in ("0.0.0.0", "::", ""):
        hosts = ["127.0.0.1", *(lan_addresses() if lan is None else lan)]
    else:
        hosts = [f"[{bind}]" if ":" in bind else bind]
    return [f"http://{host}:{port}/" for host in hosts]


class _EmbeddedServer(uvicorn.Server):
    """uvicorn inside our loop: the daemon, not uvicorn, owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class HttpServer:
    def __init__(self, api: FastAPI, config: HttpConfig, accounts: Accounts) -> None:
        self.api = api
        self.config = config
        self.accounts = accounts
        self.port = config.port  # the bound one once started (config 0: any free port)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[Any] | None = None

    async def start(self) -> None:
        config = uvicorn.Config(
            self.api, host=self.config.bind, port=self.config.port, log_level="warning", lifespan="off",
            timeout_graceful_shutdown=2,  # open event streams (every agent's page) never end by themselves
            # X-Forwarded-For only from configured proxies: uvicorn's default trusts it from loopback, so
            # anything on the box (or a proxy we did not set up) could pick the address logins are throttled by
            proxy_headers=bool(self.config.trusted_proxies),
            forwarded_allow_ips=list(self.config.trusted_proxies),
        )  # fmt: skip
        server = _EmbeddedServer(config)
        self._server = server
        self._task = asyncio.ensure_future(server.serve())
        while not server.started:
            if self._task.done():
                self._task.result()
                raise ZentraleError("web server did not start")
            await asyncio.sleep(0.01)
        if server.servers and server.servers[0].sockets:
            self.port = server.servers[0].sockets[0].getsockname()[1]
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
        """Where a person reaches the page (the first: on this box itself)."""
        return page_urls(self.config.bind, self.port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
