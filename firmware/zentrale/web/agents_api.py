"""HTTP routes for agents: define (admins), log in with a number, pause, pull a waiting call.

An agent's account acts for its own agent only (``require_agent``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from zentrale.web import schemas as S
from zentrale.web.auth import USER, access, actor, require_agent
from zentrale.web.params import Ident

if TYPE_CHECKING:
    from zentrale.desk_phone import AgentPins
    from zentrale.staffing import Staffing


class AgentIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    teams: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list, max_length=100, description="team ids the agent belongs to"
    )
    default_number: str = Field(
        "", max_length=255, description="phone number or SIP URI used when logging in without one"
    )
    priority: int = Field(0, ge=-1_000_000, le=1_000_000, description="order for the linear strategy (lower first)")


class Login(BaseModel):
    number: str | None = Field(
        None, max_length=255, description="phone number (dialled through the PBX) or SIP URI (dialled directly)"
    )
    teams: list[Annotated[str, Field(max_length=64)]] | None = Field(
        None, max_length=100, description="teams to work for (default: all of the agent's teams)"
    )


class Pause(BaseModel):
    paused: bool


class PinBody(BaseModel):
    pin: str = Field(min_length=4, max_length=12, pattern=r"^[0-9]+$", description="4 to 12 digits, one per agent")


class Pull(BaseModel):
    agent: str = Field(max_length=64, description="the agent whose phone should ring")
    wait: bool = Field(False, description="answer only when the agent answered or the attempt failed")


def agents_router(staff: Staffing, pins: AgentPins, desk_number: str | None) -> APIRouter:
    router = APIRouter(tags=["agents"])

    @router.get(
        "/api/desk-phone",
        response_model=S.DeskPhone,
        summary="Feature codes: the service number agents dial, and which agents have a PIN",
    )
    async def desk_phone() -> dict[str, Any]:
        return {"number": desk_number, "agents_with_pin": pins.agents_with_pin()}

    @router.put("/api/agents/{agent_id}/pin", response_model=S.DeskPhone, summary="Set an agent's PIN (feature codes)")
    async def set_pin(agent_id: Ident, body: PinBody, request: Request) -> dict[str, Any]:
        staff.agent(agent_id)  # the agent exists
        await pins.set(agent_id, body.pin)
        await staff.state.audit(staff.clock.now(), actor(request), "agent.pin", agent_id)
        return {"number": desk_number, "agents_with_pin": pins.agents_with_pin()}

    @router.delete("/api/agents/{agent_id}/pin", response_model=S.DeskPhone, summary="Remove an agent's PIN")
    async def delete_pin(agent_id: Ident, request: Request) -> dict[str, Any]:
        await pins.remove(agent_id)
        await staff.state.audit(staff.clock.now(), actor(request), "agent.pin_removed", agent_id)
        return {"number": desk_number, "agents_with_pin": pins.agents_with_pin()}

    @router.get("/api/agents", response_model=list[S.Agent], summary="Agents and their states")
    @access(USER)
    async def agents() -> list[dict[str, Any]]:
        return staff.agents()

    @router.put("/api/agents/{agent_id}", response_model=S.Agent, summary="Create or change an agent")
    async def put_agent(agent_id: Ident, body: AgentIn, request: Request) -> dict[str, Any]:
        return await staff.save_agent(
            agent_id, body.name, body.teams, body.default_number, body.priority, by=actor(request)
        )

    @router.get(
        "/api/agents/{agent_id}", response_model=S.Agent, summary="One agent (state, current call, last pull result)"
    )
    @access(USER)
    async def agent(agent_id: Ident) -> dict[str, Any]:
        return staff.agent(agent_id)

    @router.delete("/api/agents/{agent_id}", response_model=S.Deleted, summary="Remove an agent")
    async def delete_agent(agent_id: Ident, request: Request) -> dict[str, str]:
        await staff.delete_agent(agent_id, by=actor(request))
        return {"deleted": agent_id}

    @router.post(
        "/api/agents/{agent_id}/login", response_model=S.Agent, summary="Log in with a phone number or SIP URI"
    )
    @access(USER)
    async def login(agent_id: Ident, body: Login, request: Request) -> dict[str, Any]:
        require_agent(request, agent_id)
        return await staff.login(agent_id, body.number, body.teams)

    @router.post("/api/agents/{agent_id}/logout", response_model=S.Agent, summary="Log out")
    @access(USER)
    async def logout(agent_id: Ident, request: Request) -> dict[str, Any]:
        require_agent(request, agent_id)
        return await staff.logout(agent_id)

    @router.post("/api/agents/{agent_id}/pause", response_model=S.Agent, summary="Pause or resume")
    @access(USER)
    async def pause(agent_id: Ident, body: Pause, request: Request) -> dict[str, Any]:
        require_agent(request, agent_id)
        return await staff.pause(agent_id, body.paused)

    @router.post(
        "/api/queues/{entry_id}/pull",
        response_model=S.PullResult,
        summary='Put a waiting call through to an agent\'s phone ("Vermitteln")',
        description="409 when another agent is already taking the call or the agent is not free.",
    )
    @access(USER)
    async def pull(entry_id: Ident, body: Pull, request: Request) -> dict[str, Any]:
        require_agent(request, body.agent)
        return await staff.pull(entry_id, body.agent, body.wait)

    return router
