"""HTTP routes of the callbacks (calls/callback.py): the failed ones are tasks for the agents.

A waiting callback is on the queue board (``GET /api/queues``, marked ``callback``) and is
pulled like a waiting call (``POST /api/queues/{entry_id}/pull``); here only the callbacks the
box gave up on, and marking one done.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from pydantic import Field

from zentrale.web.auth import USER, access, actor
from zentrale.web.params import Ident
from zentrale.web.schemas import Answer

if TYPE_CHECKING:
    from zentrale.calls.callback import CallbackService


class CallbackTask(Answer):
    id: str
    call_id: str = Field(description="the call that asked for the callback")
    team: str
    number: str = Field(description="the number to call back")
    caller_name: str | None
    since: str = Field(description="when the caller entered the queue")
    state: str = Field(description="failed (a task) | done | waiting | connected")
    attempts: int = Field(description="calls to the caller that failed")
    outcome: str | None = Field(description="why the last attempt failed: no_answer, busy, declined, ...")
    done_by: str | None
    done_at: str | None


def callbacks_router(callbacks: CallbackService) -> APIRouter:
    router = APIRouter(tags=["callbacks"])

    @router.get(
        "/api/callbacks",
        response_model=list[CallbackTask],
        summary="Callbacks the box could not complete: tasks for the agents, oldest first",
    )
    @access(USER)
    async def tasks() -> list[dict[str, Any]]:
        return await callbacks.tasks()

    @router.post(
        "/api/callbacks/{callback_id}/done",
        response_model=CallbackTask,
        summary="Mark a failed callback as taken care of",
        description="409 when the callback is not a task (waiting, connected or already done).",
    )
    @access(USER)
    async def done(callback_id: Ident, request: Request) -> dict[str, Any]:
        return await callbacks.done(callback_id, actor(request))

    return router
