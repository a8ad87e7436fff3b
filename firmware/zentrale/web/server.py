"""uvicorn serving the API inside the daemon's event loop (the loop the media clock runs on)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import uvicorn
from fastapi import FastAPI

from zentrale.accounts.service import Accounts
from zentrale.config import HttpConfig
from zentrale.errors import ZentraleError

log = logging.getLogger(__name__)


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
        log.info("HTTP API on http://%s:%d (docs: /docs, spec: /openapi.json)", self.config.bind, self.port)
        if self.accounts.setup_token:
            log.warning(
                "first-run set-up: no admin account yet. Open http://<this box>:%d/setup and enter the set-up token"
                " %s (also in %s)",
                self.port,
                self.accounts.setup_token,
                self.accounts.setup_token_path,
            )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
            if self._task is not None:
                await asyncio.gather(self._task, return_exceptions=True)
