"""The HTTP API (FastAPI), served inside the daemon's event loop.

Errors map to HTTP status codes in one place (``_errors``). The API binds
to 127.0.0.1 by default until accounts exist (the web-page issue).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from zentrale import __version__
from zentrale.core.events import Event
from zentrale.core.modes import dump_mode, parse_mode
from zentrale.errors import ConfigError, Conflict, Invalid, NotFound, Refused, ZentraleError
from zentrale.web.agents_api import agents_router
from zentrale.web.editor_api import editor_router
from zentrale.web.mail_api import create_mail_router
from zentrale.web.security_api import security_router

if TYPE_CHECKING:
    from zentrale.app import App


class SwitchChange(BaseModel):
    on: bool = Field(description="true: the switch's announcements replace the normal ones")
    by: str = Field("api", max_length=80, description="who flips it (for the audit log and the banner)")


class Activation(BaseModel):
    by: str = Field("api", max_length=80)


def create_api(app: App) -> FastAPI:
    api = FastAPI(
        title="Zentrale",
        version=__version__,
        description="HTTP API of the Zentrale hotline appliance: modes, manual control, queues, messages.",
    )
    hotline = app.hotline

    @api.exception_handler(ZentraleError)
    async def _errors(_request: Request, err: ZentraleError) -> JSONResponse:
        if isinstance(err, ConfigError):
            body = {"error": str(err), "source": err.source, "path": err.path, "problem": err.problem}
            return JSONResponse(body, status_code=422)
        statuses = ((NotFound, 404), (Conflict, 409), (Refused, 403), (Invalid, 422))
        status = next((code for kind, code in statuses if isinstance(err, kind)), 500)
        return JSONResponse({"error": str(err)}, status_code=status)

    api.include_router(agents_router(app.staffing))
    api.include_router(editor_router(app))
    api.include_router(security_router(app))

    @api.get("/health", summary="Liveness check (no login needed)")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/status", summary="State of every component")
    async def status() -> dict[str, Any]:
        return app.status()

    @api.get("/api/modes", summary="Mode documents and which one is active")
    async def modes() -> dict[str, Any]:
        return {"active": hotline.mode_name, "modes": hotline.modes.names()}

    @api.get("/api/modes/{name}", summary="A mode document (JSON)")
    async def mode(name: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(dump_mode(hotline.modes.load(name), "json"))
        return document

    @api.put(
        "/api/modes/{name}",
        summary="Import or replace a mode document (YAML or JSON body); every save is a new version",
    )
    async def put_mode(name: str, request: Request, by: str = "api", comment: str = "") -> dict[str, Any]:
        text = (await request.body()).decode("utf-8", errors="replace")
        document = parse_mode(text, f"upload:{name}")
        hotline.validate(document, f"upload:{name}")
        result = await hotline.save_mode(name, text, by, comment)
        return {"saved": name, **result}

    @api.post(
        "/api/modes/{name}/activate",
        summary="Make a mode the active one (while the schedule is on, this overrides it until resumed)",
    )
    async def activate(name: str, body: Activation) -> dict[str, Any]:
        await app.scheduler.activate_by_hand(name, body.by)
        return {"active": name}

    @api.get("/api/switches", summary="Manual-control switches of the active mode")
    async def switches() -> list[dict[str, Any]]:
        return hotline.switch_list()

    @api.put("/api/switches/{switch_id}", summary="Switch an outage announcement on or off")
    async def set_switch(switch_id: str, change: SwitchChange) -> dict[str, Any]:
        return await hotline.set_switch(switch_id, change.on, change.by)

    @api.get("/api/queues", summary="Waiting calls, in order, per team")
    async def queues(team: str | None = None) -> list[dict[str, Any]]:
        return hotline.waiting_calls(team)

    @api.get("/api/calls", summary="Calls in progress")
    async def calls() -> list[dict[str, Any]]:
        return app.supervisor.calls()

    @api.get("/api/calllog", summary="Recent calls")
    async def call_log(limit: int = 100) -> list[dict[str, Any]]:
        return await hotline.call_log.recent(limit)

    @api.get("/api/messages", summary="Voicemail messages, newest first")
    async def messages(team: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        return await app.mail.with_status(await hotline.messages.list(team, limit))

    @api.get("/api/messages/{message_id}", summary="One message")
    async def message(message_id: str) -> dict[str, Any]:
        return (await app.mail.with_status([await hotline.messages.get(message_id)]))[0]

    @api.get("/api/messages/{message_id}/audio", summary="The message as WAV", response_class=FileResponse)
    async def message_audio(message_id: str) -> FileResponse:
        row = await hotline.messages.get(message_id)
        return FileResponse(hotline.messages.file(row), media_type="audio/wav", filename=f"{message_id}.wav")

    @api.get("/api/audit", summary="Audit log (switches, modes)")
    async def audit(limit: int = 200) -> list[dict[str, Any]]:
        return await hotline.state.audit_log(limit)

    @api.get("/api/events", summary="Live events (Server-Sent Events)")
    async def events(request: Request) -> StreamingResponse:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=1000)

        def push(event: Event) -> None:
            if not queue.full():
                queue.put_nowait(event)

        unsubscribe = app.events.subscribe(push)

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                while not await request.is_disconnected():
                    try:
                        event = await asyncio.wait_for(queue.get(), 15)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    data = json.dumps(event.to_dict(), default=str)
                    yield f"event: {event.kind}\ndata: {data}\n\n".encode()
            finally:
                unsubscribe()

        return StreamingResponse(stream(), media_type="text/event-stream")

    api.include_router(create_mail_router(app))
    return api


def disk_status(path: Any) -> dict[str, Any]:
    usage = shutil.disk_usage(path)
    return {"total": usage.total, "free": usage.free, "used_percent": round(100 * usage.used / usage.total, 1)}
