"""The viewer's changes to messages: status (new / in progress / done), comment, delete."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from zentrale.web import schemas as S
from zentrale.web.auth import USER, access, actor
from zentrale.web.params import Ident

if TYPE_CHECKING:
    from zentrale.hotline import Hotline


class MessageChange(BaseModel):
    status: Literal["new", "in_progress", "done"] | None = Field(
        None, description="in_progress: I am working on it (409 when someone else is); done; new: reopen"
    )
    comment: str | None = Field(None, max_length=2000)


def messages_router(hotline: Hotline) -> APIRouter:
    router = APIRouter(tags=["messages"])

    @router.patch(
        "/api/messages/{message_id}",
        response_model=S.Message,
        summary="Set a message's status or comment (seen by all at once)",
    )
    @access(USER)
    async def change(message_id: Ident, body: MessageChange, request: Request) -> dict[str, Any]:
        return await hotline.update_message(message_id, actor(request), body.status, body.comment)

    @router.delete(
        "/api/messages/{message_id}",
        response_model=S.Deleted,
        summary="Delete a message and its audio (admins only; audited)",
    )
    async def delete(message_id: Ident, request: Request) -> dict[str, str]:
        await hotline.delete_message(message_id, actor(request))
        return {"deleted": message_id}

    return router
