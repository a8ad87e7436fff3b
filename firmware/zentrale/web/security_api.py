"""HTTP routes for the SIP edge security: list temporary bans, lift one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter

from zentrale.errors import NotFound
from zentrale.web import schemas as S
from zentrale.web.params import Address, By

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.lines.sip.guard import SourceGuard
    from zentrale.store.state import StateRepository


def security_router(guard: SourceGuard, state: StateRepository, clock: Clock) -> APIRouter:
    router = APIRouter(tags=["security"])

    @router.get(
        "/api/security/bans",
        response_model=S.Bans,
        summary="Sources banned for floods or failed attempts, with the reason",
    )
    async def bans() -> dict[str, Any]:
        return guard.status()

    @router.delete(
        "/api/security/bans/{address}",
        response_model=S.Lifted,
        summary="Lift the ban of one source address (an admin's call)",
    )
    async def lift(address: Address, by: By = "api") -> dict[str, str]:
        if not guard.lift(address):
            raise NotFound(f"{address} is not banned")
        await state.audit(clock.now(), by, "security.unban", address)
        return {"lifted": address}

    return router
