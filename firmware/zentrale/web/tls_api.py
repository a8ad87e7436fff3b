"""HTTP routes of the page's HTTPS (web/tls.py): the local CA's certificate for anyone (no
login, over plain HTTP too: a PC needs it before it can trust the HTTPS page), the
certificate in force and the office's own certificate for admins."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from zentrale.errors import NotFound
from zentrale.web.auth import PUBLIC, access, actor
from zentrale.web.schemas import Answer

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.store.state import StateRepository
    from zentrale.web.tls import TlsKeeper


class TlsState(Answer):
    enabled: bool = Field(description="false: the page is plain HTTP only (http.tls.enabled)")
    source: str | None = Field(
        None, description="local (the box's CA), upload (an admin's), config (http.tls files), acme (http.tls.acme)"
    )
    port: int | None = None
    names: list[str] = Field(default_factory=list, description="DNS names the certificate is for")
    addresses: list[str] = Field(default_factory=list, description="IP addresses the certificate is for")
    not_after: str | None = Field(None, description="when the certificate ends (the box renews its own)")
    fingerprint: str | None = Field(None, description="SHA-256 of the certificate in force")
    ca_fingerprint: str | None = Field(None, description="SHA-256 of the box's CA certificate (compare on the PC)")
    warnings: list[str] = Field(default_factory=list)
    acme: dict[str, Any] | None = Field(
        None, description="http.tls.acme: domain, challenge, renew_at, last_try, next_try, error_code, error"
    )


class OwnCertificate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    certificate: str = Field(max_length=64_000, description="PEM: the server certificate first, then its chain")
    key: str = Field(max_length=16_000, description="PEM private key (RSA >= 2048 bits or EC), without a password")


def tls_router(tls: TlsKeeper | None, state: StateRepository, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["https"])

    def current(warnings: list[str] | None = None) -> dict[str, Any]:
        if tls is None:
            return {"enabled": False}
        return {"enabled": True, **tls.info(), "warnings": warnings or []}

    @router.get(
        "/zentrale-ca.crt",
        summary="The box's CA certificate (PEM), to install on PCs and phones (no login; over HTTP too)",
        response_class=Response,
        responses={200: {"content": {"application/x-x509-ca-cert": {}}}},
    )
    @access(PUBLIC)
    async def ca_certificate() -> Response:
        if tls is None or not tls.ca_path.exists():
            raise NotFound("HTTPS is off on this box (http.tls.enabled: false)")
        return Response(
            tls.ca_path.read_bytes(),
            media_type="application/x-x509-ca-cert",
            headers={"Content-Disposition": 'attachment; filename="zentrale-ca.crt"', "Cache-Control": "no-cache"},
        )

    @router.get("/api/tls", response_model=TlsState, summary="The page's HTTPS certificate in force (admins)")
    async def show() -> dict[str, Any]:
        return current()

    @router.put(
        "/api/tls/certificate",
        response_model=TlsState,
        summary="Use an own certificate and key (checked first: the key matches, the dates, OpenSSL loads it); "
        "new connections get it at once",
    )
    async def upload(body: OwnCertificate, request: Request) -> dict[str, Any]:
        if tls is None:
            raise NotFound("HTTPS is off on this box (http.tls.enabled: false)")
        warnings = await asyncio.to_thread(tls.install_own, body.certificate, body.key)
        await state.audit(clock.now(), actor(request), "tls.certificate", tls.describe())
        return current(warnings)

    @router.delete(
        "/api/tls/certificate",
        response_model=TlsState,
        summary="Back to the box's own certificate from its local CA",
    )
    async def remove(request: Request) -> dict[str, Any]:
        if tls is None:
            raise NotFound("HTTPS is off on this box (http.tls.enabled: false)")
        await asyncio.to_thread(tls.remove_own)
        await state.audit(clock.now(), actor(request), "tls.certificate", f"local CA: {tls.describe()}")
        return current()

    return router
