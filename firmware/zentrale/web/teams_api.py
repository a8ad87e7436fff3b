"""HTTP routes of the teams (admins): list, create or change, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from zentrale.core.numbers import NumberPolicy
from zentrale.errors import Invalid, ZentraleError
from zentrale.staffing import check_number
from zentrale.web import schemas as S
from zentrale.web.auth import actor
from zentrale.web.params import Ident

if TYPE_CHECKING:
    from zentrale.teams import TeamSettings


class TeamBody(BaseModel):
    """A team as the web page sets it; checked like the configuration file's (``Team``)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=80)
    distribution: Literal["pull", "auto"] = "pull"
    strategy: Literal["longest_idle", "round_robin", "linear", "ring_all"] = "longest_idle"
    ring_timeout: float = 20
    wrap_up: float = 10
    email: list[str] = Field(default_factory=list, max_length=100)
    allowed_numbers: list[str] | None = Field(None, max_length=50)
    callback_numbers: list[str] | None = Field(None, max_length=50)
    callback_attempts: int = 3
    callback_interval: float = 300
    callback_ring_timeout: float = 30
    callback_order: Literal["agent_first", "caller_first"] = "agent_first"


class NumberCheck(BaseModel):
    patterns: list[str] | None = Field(None, max_length=50, description="a team's allowed numbers (null: the default)")
    number: str = Field(max_length=255, description="an example number or SIP URI")


def teams_router(settings: TeamSettings) -> APIRouter:
    router = APIRouter(tags=["teams"])

    @router.post(
        "/api/numbers/check",
        response_model=S.NumberChecked,
        summary="Would agents of a team with these allowed numbers be allowed to log in with this number?",
    )
    async def check(body: NumberCheck) -> dict[str, Any]:
        try:
            policy = NumberPolicy([p for p in body.patterns if p.strip()] if body.patterns is not None else None)
        except ValueError as err:  # the pattern's problem, coded for the page (web/refusals.py)
            raise Invalid(str(err)) from None
        try:
            number = check_number(body.number)
        except ZentraleError:
            return {"number": body.number, "valid": False, "allowed": False}
        return {"number": number, "valid": True, "allowed": policy.allows(number)}

    @router.get(
        "/api/teams", response_model=S.Teams, summary="Teams with their settings, members and the modes that use them"
    )
    async def teams() -> dict[str, Any]:
        return {"source": settings.source, "teams": settings.overview()}

    @router.put(
        "/api/teams/{team_id}",
        response_model=S.Team,
        summary="Create or change a team (in force at once, kept over the config)",
    )
    async def save(team_id: Ident, body: TeamBody, request: Request) -> dict[str, Any]:
        return await settings.save(team_id, body.model_dump(), actor(request))

    @router.delete("/api/teams/{team_id}", summary="Delete a team no mode uses, without agents or waiting callers")
    async def delete(team_id: Ident, request: Request) -> Response:
        await settings.delete(team_id, actor(request))
        return Response(status_code=204)

    return router
