"""Admin routes: the accounts of the web page."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from zentrale.web import schemas as S
from zentrale.web.auth import actor
from zentrale.web.params import UserName

if TYPE_CHECKING:
    from zentrale.accounts.service import Accounts
    from zentrale.staffing import Staffing


class UserIn(BaseModel):
    role: Literal["admin", "agent"]
    display_name: str = Field("", max_length=80)
    agent_id: str | None = Field(None, max_length=64, description="the agent this account works as")
    password: str | None = Field(None, max_length=200, description="required for a new account")


def users_router(accounts: Accounts, staff: Staffing) -> APIRouter:
    router = APIRouter(tags=["accounts"])

    @router.get("/api/users", response_model=list[S.User], summary="Accounts of the web page (admins only)")
    async def users() -> list[dict[str, Any]]:
        return accounts.users()

    @router.put("/api/users/{name}", response_model=S.User, summary="Create or change an account (admins only)")
    async def put_user(name: UserName, body: UserIn, request: Request) -> dict[str, Any]:
        if body.agent_id:
            staff.board.get(body.agent_id)  # NotFound: no such agent
        return await accounts.save_user(
            name, role=body.role, display_name=body.display_name, agent_id=body.agent_id,
            password=body.password or None, by=actor(request),
        )  # fmt: skip

    @router.delete("/api/users/{name}", response_model=S.Deleted, summary="Delete an account (admins only)")
    async def delete_user(name: UserName, request: Request) -> dict[str, str]:
        await accounts.delete_user(name, actor(request))
        return {"deleted": name}

    return router
