"""HTTP routes of e-mail delivery: status, "send again", the MP3, the outbox overview."""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator

from zentrale.core.addresses import check_addresses
from zentrale.errors import NotFound
from zentrale.mail.compose import make_mp3, mp3_tags
from zentrale.mail.outbox import WEB_FIELDS, merged_settings
from zentrale.web import schemas as S
from zentrale.web.auth import USER, access, actor
from zentrale.web.params import Ident

# The viewer's MP3 download (``/api/auth/me`` names it, the page fills in the id): one constant,
# not found by walking the router's routes, whose types are FastAPI's internals (issue 17 (a)).
MP3_PATH = "/api/messages/{message_id}/audio.mp3"

if TYPE_CHECKING:
    from zentrale.config import MailConfig
    from zentrale.core.clock import Clock
    from zentrale.mail.outbox import MailOutbox
    from zentrale.store.messages import MessageRepository
    from zentrale.store.state import StateRepository
    from zentrale.teams import TeamDirectory


class SendAgain(BaseModel):
    to: list[str] | None = Field(
        None, description="recipients for this round (default: the team's or voicemail node's list)"
    )

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        return check_addresses(value) if value else None


class MailSettingsBody(BaseModel):
    """What the web page sets; the rest of the mail section stays in the config file."""

    model_config = ConfigDict(extra="forbid")
    host: str | None = Field(None, max_length=255, description="SMTP server; empty: e-mail off")
    port: int | None = Field(None, ge=1, le=65535, description="default: 25 / 587 (starttls) / 465 (tls)")
    security: Literal["none", "starttls", "tls"] = "starttls"
    user: str | None = Field(None, max_length=255, description="SMTP login; empty: no login")
    password: str | None = Field(None, max_length=255, description="omitted or null: keep the password in force")
    sender: str | None = Field(None, max_length=255, description="From address (required with a server)")
    sender_name: str = Field("Zentrale", max_length=80)
    max_attachment_kb: int = Field(5000, ge=0, le=100_000)
    viewer_url: str | None = Field(None, max_length=255, description="the web page as the team reaches it")
    language: Literal["de", "en"] | None = None


class TeamList(BaseModel):
    addresses: list[str] = Field(max_length=100, description="the team's distribution list; empty: no e-mail")

    @field_validator("addresses")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return check_addresses(value)


class TestMail(BaseModel):
    to: str = Field(max_length=255, description="where the test e-mail goes")

    @field_validator("to")
    @classmethod
    def _to(cls, value: str) -> str:
        return check_addresses([value])[0]


def create_mail_router(
    *,
    mail: MailOutbox,
    configured: MailConfig,
    teams: TeamDirectory,
    messages: MessageRepository,
    state: StateRepository,
    clock: Clock,
) -> APIRouter:
    """``configured``: the config file's mail section, under what the web page sets."""
    router = APIRouter()

    @router.get(
        "/api/mail",
        response_model=S.MailOverview,
        summary="E-mail settings in force (without the password) and the outbox by state",
    )
    async def overview() -> dict[str, Any]:
        config = mail.mail
        return {
            "enabled": mail.enabled,
            "host": config.host,
            "port": config.smtp_port if config.host else None,
            "security": config.security,
            "sender": config.sender,
            "login": bool(config.user),
            "viewer_url": config.viewer_url,
            "language": mail.language,
            "source": mail.source,
            "outbox": await mail.outbox.counts(),
        }

    @router.get(
        "/api/settings/mail",
        response_model=S.MailSettings,
        summary="E-mail settings for the web page (admins; the password never leaves)",
    )
    async def settings() -> dict[str, Any]:
        config = mail.mail
        fields = {k: getattr(config, k) for k in WEB_FIELDS if k != "password"}
        return {
            **fields,
            "password_set": bool(config.password),
            "enabled": mail.enabled,
            "source": mail.source,
            "teams": [{"id": t.id, "name": t.name, "email": mail.team_list(t.id)} for t in teams.all()],
        }

    @router.put(
        "/api/settings/mail",
        response_model=S.MailSettings,
        summary="Change the SMTP settings (kept in the box's database over the config file's; in force at once)",
    )
    async def change_settings(body: MailSettingsBody, request: Request) -> dict[str, Any]:
        fields = body.model_dump()
        for key in ("host", "user", "sender", "viewer_url"):
            if isinstance(fields[key], str):
                fields[key] = fields[key].strip() or None
        if fields["password"] is None:  # not sent: keep the one in force
            fields["password"] = mail.mail.password
        new = merged_settings(configured, fields)  # Invalid (422) names the field and the problem
        await mail.save_settings(state, new, fields)
        who = actor(request)
        detail = f"{new.host}:{new.smtp_port} ({new.security})" if new.host else "off"
        await state.audit(clock.now(), who, "mail.settings", detail)
        return await settings()

    @router.put(
        "/api/settings/mail/teams/{team_id}",
        response_model=S.TeamMailList,
        summary="Change a team's distribution list for messages",
    )
    async def change_team_list(team_id: Ident, body: TeamList, request: Request) -> dict[str, Any]:
        if teams.get(team_id) is None:
            raise NotFound(f"no team {team_id!r}")
        await mail.save_team_list(state, team_id, body.addresses)
        await state.audit(clock.now(), actor(request), "mail.team_list", f"{team_id}: {', '.join(body.addresses)}")
        return {"id": team_id, "email": mail.team_list(team_id)}

    @router.post(
        "/api/settings/mail/test",
        response_model=S.TestMailSent,
        summary="Send a test e-mail now with the settings in force; the server's refusal as 502 with its answer",
    )
    async def send_test(body: TestMail) -> dict[str, Any]:
        message_id = await mail.send_test(body.to)
        return {"sent": True, "to": body.to, "message_id": message_id}

    @router.get(
        "/api/messages/{message_id}/mail", response_model=S.MailStatus, summary="E-mail delivery status of a message"
    )
    async def status(message_id: Ident) -> dict[str, Any]:
        return await mail.status(message_id)

    @router.post(
        "/api/messages/{message_id}/mail/send",
        response_model=S.MailStatus,
        summary="Send a message by e-mail again",
        status_code=202,
    )
    async def send_again(message_id: Ident, body: SendAgain | None = None) -> dict[str, Any]:
        return await mail.send_again(message_id, body.to if body else None)

    @router.get(MP3_PATH, summary="The message as MP3 (any user, like the WAV)", response_class=Response)
    @access(USER)
    async def audio_mp3(message_id: Ident) -> Response:
        row = await messages.get(message_id)
        wav = messages.file(row)
        tags = mp3_tags(mail.facts(row), mail.language)
        job = functools.partial(make_mp3, wav, wav.with_suffix(".mp3"), mail.mail.bitrate_kbps, tags)
        data, _ = await asyncio.get_running_loop().run_in_executor(None, job)
        headers = {"Content-Disposition": f'inline; filename="{message_id}.mp3"'}
        return Response(data, media_type="audio/mpeg", headers=headers)

    return router
