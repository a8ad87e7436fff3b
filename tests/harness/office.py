"""The office: Kamailio as the PBX, the box registered to it, agents' phones registered to it and
callers that wait in a queue (every peer real)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.harness.audio import prompt_seconds
from tests.harness.daemon import Daemon
from tests.harness.kamailio import Kamailio
from tests.harness.peers.phone import Phone


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
