"""HTTP routes for the SIP edge security: list temporary bans, lift one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from zentrale.errors import NotFound
from zentrale.web.params import Address, By

if TYPE_CHECKING:
    from zentrale.app import App


def security_router(app: App) -> APIRouter:
    router = APIRouter(tags=["security"])
    guard = app.sip.guard

    @router.get("/api/security/bans", summary="Sources banned for floods or failed attempts, with the reason")
    async def bans() -> dict[str, Any]:
        return guard.status()

    @router.delete("/api/security/bans/{address}", summary="Lift the ban of one source address (an admin's call)")
    async def lift(address: Address, by: By = "api") -> dict[str, str]:
        if not guard.lift(address):
            raise NotFound(f"{address} is not banned")
        await app.state.audit(app.clock.now(), by, "security.unban", address)
        return {"lifted": address}

    return router
