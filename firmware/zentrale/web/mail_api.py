"""HTTP routes of e-mail delivery: status, "send again", the MP3, the outbox overview."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator

from zentrale.core.addresses import check_addresses
from zentrale.mail.compose import make_mp3, mp3_tags

if TYPE_CHECKING:
    from zentrale.app import App


class SendAgain(BaseModel):
    to: list[str] | None = Field(
        None, description="recipients for this round (default: the team's or voicemail node's list)"
    )

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        return check_addresses(value) if value else None


def create_mail_router(app: App) -> APIRouter:
    router = APIRouter()
    mail = app.mail

    @router.get("/api/mail", summary="E-mail settings in force (without the password) and the outbox by state")
    async def overview() -> dict[str, Any]:
        config = app.config.mail
        return {
            "enabled": mail.enabled,
            "host": config.host,
            "port": config.smtp_port if config.host else None,
            "security": config.security,
            "sender": config.sender,
            "login": bool(config.user),
            "viewer_url": config.viewer_url,
            "language": mail.language,
            "outbox": await mail.outbox.counts(),
        }

    @router.get("/api/messages/{message_id}/mail", summary="E-mail delivery status of a message")
    async def status(message_id: str) -> dict[str, Any]:
        return await mail.status(message_id)

    @router.post("/api/messages/{message_id}/mail/send", summary="Send a message by e-mail again", status_code=202)
    async def send_again(message_id: str, body: SendAgain | None = None) -> dict[str, Any]:
        return await mail.send_again(message_id, body.to if body else None)

    @router.get("/api/messages/{message_id}/audio.mp3", summary="The message as MP3", response_class=Response)
    async def audio_mp3(message_id: str) -> Response:
        row = await app.messages.get(message_id)
        wav = app.messages.file(row)
        tags = mp3_tags(mail.facts(row), mail.language)
        job = functools.partial(make_mp3, wav, wav.with_suffix(".mp3"), app.config.mail.bitrate_kbps, tags)
        data, _ = await asyncio.get_running_loop().run_in_executor(None, job)
        headers = {"Content-Disposition": f'inline; filename="{message_id}.mp3"'}
        return Response(data, media_type="audio/mpeg", headers=headers)

    return router
