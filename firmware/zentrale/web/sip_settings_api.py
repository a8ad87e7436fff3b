"""HTTP routes of the PBX registration set in the web page (admins)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from zentrale.web import schemas as S
from zentrale.web.auth import actor

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.lines.sip.settings import RegistrationSettings
    from zentrale.store.state import StateRepository


class RegistrationBody(BaseModel):
    """The box as a phone (extension) of the office PBX or a trunk; no registrar: off."""

    model_config = ConfigDict(extra="forbid")
    registrar: str | None = Field(None, max_length=255, description="host[:port], e.g. fritz.box; empty: off")
    user: str | None = Field(None, max_length=128, description="the extension's user name")
    password: str | None = Field(None, max_length=255, description="omitted or null: keep the password in force")
    auth_user: str | None = Field(None, max_length=128)
    domain: str | None = Field(None, max_length=255)
    expires: int = Field(300, ge=60, le=86400)
    transport: Literal["udp", "tcp", "tls"] = "udp"
    outbound_proxy: str | None = Field(None, max_length=255)
    transfer: Literal["bridge", "refer"] = "bridge"


def sip_settings_router(settings: RegistrationSettings, state: StateRepository, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["settings"])

    @router.get(
        "/api/settings/sip",
        response_model=S.SipSettings,
        summary="The PBX registration in force (no password) and its state",
    )
    async def current() -> dict[str, Any]:
        return settings.current()

    @router.put(
        "/api/settings/sip/registration",
        response_model=S.SipSettings,
        summary="Register with this PBX from now on (kept over the config file's); an empty registrar: none",
    )
    async def change(body: RegistrationBody, request: Request) -> dict[str, Any]:
        fields = body.model_dump()
        for key in ("registrar", "user", "auth_user", "domain", "outbound_proxy"):
            if isinstance(fields[key], str):
                fields[key] = fields[key].strip() or None
        registration = await settings.change(fields)  # Invalid (422) names the field
        detail = f"{registration.user} at {registration.registrar}" if registration else "off"
        await state.audit(clock.now(), actor(request), "sip.registration", detail)
        return settings.current()

    return router
