"""The office: Kamailio as the PBX, the box registered to it, agents' phones registered to it and
callers that wait in a queue (every peer real)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.harness.audio import prompt_seconds
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.kamailio import Kamailio, running_kamailio
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until


@dataclass
class Office:
    pbx: Kamailio
    box: Daemon
    tmp: Path

    def api(self) -> httpx.Client:
        return self.box.http

    def agent_phone(self, sip_phones: Callable[..., Phone], ext: str, ip: str, **options: Any) -> Phone:
        phone = sip_phones(
            name=f"agent{ext}", bind_ip=ip, register=f"sip:{self.pbx.host}", user=ext, password="secret",
            domain="127.0.0.1", **options,
        )  # fmt: skip
        phone.wait_event("registered", ok=True, timeout=10)
        return phone

    def waiting_caller(
        self, sip_phones: Callable[..., Phone], digit: str, name: str, **options: Any
    ) -> tuple[Phone, int, Path]:
        caller = sip_phones(name=name, bind_ip="127.0.0.20", **options)
        rx = self.tmp / f"{name}-rx.wav"
        call = caller.call(self.box.uri, record=rx)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, digit)
        return caller, call, rx


def logout_all(office: Office) -> None:
    for agent in office.api().get("/api/agents").json():
        if agent["state"] != "logged_out":
            office.api().post(f"/api/agents/{agent['id']}/logout")


@contextlib.contextmanager
def running_office(
    workdir: Path, *, mode: dict[str, Any], teams: list[dict[str, Any]], registration: dict[str, Any] | None = None
) -> Iterator[Office]:
    """Kamailio as the office PBX and the box registered to it as extension 620 (password
    ``secret``) with ``teams``; yields once the registration is up. ``registration``: more
    settings for the box's account (e.g. ``{"transfer": "refer"}``)."""
    with running_kamailio(workdir / "pbx") as pbx:
        account = {"registrar": pbx.host, "user": "620", "password": "secret", **(registration or {})}
        config = {"sip": {"registration": account}, "teams": teams}
        with running_daemon(workdir / "box", mode=mode, config=config) as box:
            wait_until(lambda: box.status()["lines"][0]["registration"]["registered"], 10, "the box's registration")
            yield Office(pbx, box, workdir)
