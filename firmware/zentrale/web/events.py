"""Live events for one logged-in person (Server-Sent Events at /api/events).

Each stream sees what its principal may see: waiting calls of the teams
the agent belongs to, its own agent's events (ringing, pull failed, on a
call), switches, modes and messages; admins see everything. The stream ends
when the session does (logout, account changed or deleted) and keeps the
session alive while it is open (an agent client runs all day).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from zentrale.core.events import CallLeftQueue, CallWaiting, Event, EventBus, QueueChanged
from zentrale.web.auth import USER, access, principal

if TYPE_CHECKING:
    from zentrale.accounts.service import Accounts, Principal
    from zentrale.staffing import Staffing

KEEP_ALIVE = 15.0
EVERYONE = {
    "switch_changed", "mode_activated", "message_stored", "message_updated", "message_deleted", "message_mail_changed",
}  # fmt: skip
TEAM_EVENTS = (CallWaiting, QueueChanged, CallLeftQueue)


def visible(event: Event, who: Principal, teams: frozenset[str]) -> bool:
    if who.is_admin or event.kind in EVERYONE:
        return True
    if isinstance(event, TEAM_EVENTS):
        return event.team in teams
    agent_id = getattr(event, "agent_id", None)
    return agent_id is not None and agent_id == who.agent_id


def events_router(bus: EventBus, accounts: Accounts, staff: Staffing) -> APIRouter:
    router = APIRouter(tags=["events"])

    @router.get("/api/events", summary="Live events for me (Server-Sent Events)")
    @access(USER)
    async def events(request: Request) -> StreamingResponse:
        who = principal(request)
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

        def push(event: Event) -> None:
            if not queue.full() and visible(event, who, staff.teams_of(who.agent_id)):
                queue.put_nowait(event)

        unsubscribe = bus.subscribe(push)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n: connected\n\n"
                while accounts.still_valid(who) and not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEP_ALIVE)
                    except TimeoutError:
                        if who.session is not None:
                            who.session.last_seen = accounts.clock.now()
                        yield b": keep-alive\n\n"
                        continue
                    data = json.dumps(event.to_dict(), default=str)
                    yield f"event: {event.kind}\ndata: {data}\n\n".encode()
            finally:
                unsubscribe()

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"X-Accel-Buffering": "no"})

    return router
