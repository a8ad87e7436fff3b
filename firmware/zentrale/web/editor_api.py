"""HTTP routes behind the mode editor: modes (create, duplicate, rename,
delete, versions, compare, roll back, validate while editing), the prompt
library (upload, preview, delete, draft from text), schedules and the
"try it without a phone" simulation."""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field, ValidationError

from zentrale.core.modes import Mode
from zentrale.core.schedule import Schedule
from zentrale.errors import Conflict, NotFound, ZentraleError
from zentrale.prompts import MAX_UPLOAD_BYTES
from zentrale.web import schemas as S
from zentrale.web.auth import actor
from zentrale.web.documents import (
    DocumentWorker,
    editor_check,
    new_mode,
    sim_mode,
    stored_dump,
    stored_mode,
    stored_summary,
    unified_diff,
)
from zentrale.web.limits import TooLarge, body_limit, document_body
from zentrale.web.params import MODE_NAME, Ident, ModeName, PromptName, Version, VersionQuery

if TYPE_CHECKING:
    from zentrale.calls.simulation import Simulations
    from zentrale.core.switches import ManualControl
    from zentrale.hotline import Hotline
    from zentrale.prompts import PromptLibrary
    from zentrale.scheduling import ModeScheduler
    from zentrale.teams import TeamDirectory


class Author(BaseModel):
    by: str = Field("api", max_length=80)


class CopyTo(BaseModel):
    to: str = Field(min_length=1, max_length=64, pattern=MODE_NAME)
    by: str = Field("api", max_length=80)


class Rollback(BaseModel):
    version: int = Field(ge=1, le=1_000_000_000)
    by: str = Field("api", max_length=80)


class SpeakText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    voice: str = Field("de", max_length=32)


class SimStart(BaseModel):
    mode: str | None = Field(None, max_length=64, pattern=MODE_NAME, description="a stored mode; or give the document")
    document: dict[str, Any] | None = Field(None, description="an unsaved document from the editor")


class Digit(BaseModel):
    digit: str = Field(pattern=r"^[0-9*#]$")


EMPTY_MODE = {
    "schema_version": 1,
    "name": "Neue Betriebsart",
    "start": "greeting",
    "nodes": {
        "greeting": {"type": "announcement", "prompt": "greeting", "next": "goodbye"},
        "goodbye": {"type": "hangup", "prompt": "goodbye"},
    },
}


def editor_router(
    *,
    hotline: Hotline,
    teams: TeamDirectory,
    prompt_library: PromptLibrary,
    scheduler: ModeScheduler,
    simulations: Simulations,
    control: ManualControl,
    documents: DocumentWorker,
) -> APIRouter:
    router = APIRouter(tags=["editor"])

    def names() -> tuple[set[str], list[str]]:
        """The prompts and teams a document may use (its checks run in the documents worker)."""
        return hotline.library.names(), teams.ids()

    @router.get(
        "/api/editor/modes", response_model=list[S.EditorMode], summary="Modes with their versions and problems"
    )
    async def modes() -> list[dict[str, Any]]:
        out = []
        for name in hotline.modes.names():
            title, errors, description = await documents.run(stored_summary, hotline.modes.path(name), *names())
            versions = await hotline.versions.list(name)
            latest = versions[0] if versions else {}
            out.append(
                {
                    "name": name,
                    "title": title,
                    "description": description,
                    "active": name == hotline.mode_name,
                    "version": latest.get("version", 0),
                    "updated_at": latest.get("created_at"),
                    "updated_by": latest.get("author"),
                    "problems": errors,
                }
            )
        return out

    async def body_text(request: Request) -> str:
        return (await request.body()).decode("utf-8", errors="replace")

    @router.post(
        "/api/editor/validate",
        response_model=S.Check,
        summary="Check a document while it is edited (nothing is saved)",
        openapi_extra=document_body(),
    )
    async def validate(request: Request) -> dict[str, Any]:
        return await documents.run(editor_check, await body_text(request), "editor", documents.max_depth, *names())

    @router.post(
        "/api/editor/modes/{name}",
        response_model=S.ModeSaved,
        summary="Create a mode (from the body, or a small empty one)",
        openapi_extra=document_body(required=False),
    )
    async def create(name: ModeName, request: Request) -> dict[str, Any]:
        if name in hotline.modes.names():
            raise Conflict(f"mode '{name}' exists already")
        text = await body_text(request)
        mode, yaml_text = await documents.run(new_mode, text, f"upload:{name}", documents.max_depth, EMPTY_MODE,
                                              *names())  # fmt: skip
        return await hotline.save_mode(name, yaml_text, actor(request), "created", mode=mode)

    @router.post(
        "/api/editor/modes/{name}/duplicate", response_model=S.ModeSaved, summary="Copy a mode under a new name"
    )
    async def duplicate(name: ModeName, body: CopyTo, request: Request) -> dict[str, Any]:
        return await hotline.duplicate_mode(name, body.to, actor(request, body.by))

    @router.post(
        "/api/editor/modes/{name}/rename", response_model=S.ModeSaved, summary="Rename a mode (not the active one)"
    )
    async def rename(name: ModeName, body: CopyTo, request: Request) -> dict[str, Any]:
        return await hotline.rename_mode(name, body.to, actor(request, body.by))

    @router.delete("/api/editor/modes/{name}", response_model=S.Deleted, summary="Delete a mode (not the active one)")
    async def delete(name: ModeName, request: Request) -> dict[str, str]:
        await hotline.delete_mode(name, actor(request))
        return {"deleted": name}

    @router.get(
        "/api/editor/modes/{name}/versions",
        response_model=list[S.ModeVersion],
        summary="Versions of a mode, newest first",
    )
    async def versions(name: ModeName) -> list[dict[str, Any]]:
        return await hotline.versions.list(name)

    @router.get("/api/editor/modes/{name}/versions/{version}", summary="One version's document (YAML)")
    async def version(name: ModeName, version: Version) -> PlainTextResponse:
        row = await hotline.versions.get(name, version)
        return PlainTextResponse(str(row["document"]), media_type="application/yaml")

    @router.get("/api/editor/modes/{name}/diff", summary="Compare two versions (unified diff)")
    async def diff(name: ModeName, a: VersionQuery, b: VersionQuery) -> PlainTextResponse:
        old, new = await hotline.versions.get(name, a), await hotline.versions.get(name, b)
        texts = str(old["document"]), str(new["document"])
        return PlainTextResponse(await documents.run(unified_diff, *texts, f"{name} v{a}", f"{name} v{b}"))

    @router.post(
        "/api/editor/modes/{name}/rollback",
        response_model=S.ModeSaved,
        summary="Make an old version the current one (as a new version)",
    )
    async def rollback(name: ModeName, body: Rollback, request: Request) -> dict[str, Any]:
        return await hotline.rollback(name, body.version, actor(request, body.by))

    @router.get("/api/editor/modes/{name}/export", summary="Download a mode document")
    async def export(name: ModeName, format: str = "yaml") -> Response:
        fmt: Literal["yaml", "json"] = "json" if format == "json" else "yaml"
        media = "application/json" if fmt == "json" else "application/yaml"
        return Response(
            await documents.run(stored_dump, hotline.modes.path(name), fmt),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
        )

    # --- prompt library ------------------------------------------------------------

    @router.get(
        "/api/prompts", response_model=list[S.Prompt], summary="Prompts and music: length, origin, which modes use them"
    )
    async def prompts() -> list[dict[str, Any]]:
        return await prompt_library.list()

    @router.post(
        "/api/prompts/{name}", response_model=S.Prompt,
        summary="Upload a prompt (the request body is the file: WAV, MP3, OGG or FLAC)",
        description="422 with the reason when the file is not audio or too long, 413 when it is too big.",
        openapi_extra=body_limit("stream", requestBody={"content": {"application/octet-stream": {"schema": {
            "type": "string", "format": "binary"}}}}),
    )  # fmt: skip
    async def upload(
        name: PromptName,
        request: Request,
        filename: Annotated[str, Query(max_length=255)] = "upload.wav",
        kind: Literal["prompt", "music"] = "prompt",
    ) -> dict[str, Any]:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                raise TooLarge(f"file too big: more than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB")
        return await prompt_library.upload(name, filename, bytes(data), kind)

    @router.post(
        "/api/prompts/{name}/speak", response_model=S.Prompt, summary="A draft prompt spoken from text (espeak-ng)"
    )
    async def speak(name: PromptName, body: SpeakText) -> dict[str, Any]:
        return await prompt_library.from_text(name, body.text, body.voice)

    @router.get("/api/prompts/{name}/audio", summary="Listen to a prompt", response_class=FileResponse)
    async def prompt_audio(name: PromptName) -> FileResponse:
        path = prompt_library.audio_path(name)
        media = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"))

    @router.delete(
        "/api/prompts/{name}", response_model=S.Deleted, summary="Delete an uploaded prompt that no mode uses"
    )
    async def delete_prompt(name: PromptName) -> dict[str, str]:
        await prompt_library.delete(name)
        return {"deleted": name}

    # --- schedules -------------------------------------------------------------------

    @router.get(
        "/api/schedule",
        response_model=S.ScheduleStatus,
        summary="The week plan, the active and the scheduled mode, the next change",
    )
    async def schedule(lang: Literal["de", "en"] | None = None) -> dict[str, Any]:
        return scheduler.status(lang)

    @router.put(
        "/api/schedule", response_model=S.ScheduleStatus, summary="Change the week plan, holidays and closed days"
    )
    async def put_schedule(body: Schedule, request: Request) -> dict[str, Any]:
        return await scheduler.save(body, actor(request))

    @router.post(
        "/api/schedule/resume",
        response_model=S.ScheduleStatus,
        summary="End a manual override: the schedule chooses again",
    )
    async def resume(body: Author, request: Request) -> dict[str, Any]:
        return await scheduler.back_to_schedule(actor(request, body.by))

    # --- simulation --------------------------------------------------------------------

    def preload(mode: Mode) -> None:
        """The simulation asks for prompt lengths on the loop: decode them before, in a thread (a
        file that is not audio is the simulation's to report, as before)."""
        for prompt in mode.prompts() & hotline.library.names():
            with contextlib.suppress(ZentraleError):
                hotline.library.clip(prompt, 8000)

    @router.post(
        "/api/simulations", response_model=S.Simulation,
        summary="Walk a mode without a phone (real engine, simulated clock)",
        openapi_extra=body_limit("document", requestBody={"required": True, "content": {"application/json": {
            "schema": SimStart.model_json_schema()}}}),
    )  # fmt: skip
    async def simulate(
        request: Request,
        caller: Annotated[
            str | None, Query(max_length=64, description="the simulated caller's number; 'anonymous' when withheld")
        ] = None,
    ) -> dict[str, Any]:
        text = await body_text(request)
        mode = await documents.run(sim_mode, text, documents.max_depth, *names())
        if mode is None:
            try:
                body = SimStart.model_validate_json(text or "{}")
            except ValidationError as err:
                raise RequestValidationError(err.errors()) from None  # answered like any body that does not fit
            if body.mode is None:
                raise NotFound("give a mode or a document")
            mode = await documents.run(stored_mode, hotline.modes.path(body.mode))
        await asyncio.to_thread(preload, mode)
        states = [control.state(s.id) for s in mode.switches]
        sim = await simulations.start(mode, states, caller)
        return sim.snapshot()

    @router.get(
        "/api/simulations/{sim_id}", response_model=S.Simulation, summary="What the simulated caller heard so far"
    )
    async def sim_state(sim_id: Ident) -> dict[str, Any]:
        return simulations.get(sim_id).snapshot()

    @router.post("/api/simulations/{sim_id}/digit", response_model=S.Simulation, summary="Press a key")
    async def sim_digit(sim_id: Ident, body: Digit) -> dict[str, Any]:
        sim = simulations.get(sim_id)
        await sim.press(body.digit)
        return sim.snapshot()

    @router.post(
        "/api/simulations/{sim_id}/skip",
        response_model=S.Simulation,
        summary="Skip to the next event (end of a prompt, a timeout)",
    )
    async def sim_skip(sim_id: Ident) -> dict[str, Any]:
        sim = simulations.get(sim_id)
        await sim.skip()
        return sim.snapshot()

    @router.post(
        "/api/simulations/{sim_id}/agent",
        response_model=S.Simulation,
        summary="Pretend an agent takes the waiting call",
    )
    async def sim_agent(sim_id: Ident) -> dict[str, Any]:
        sim = simulations.get(sim_id)
        await sim.agent_answers()
        return sim.snapshot()

    @router.delete("/api/simulations/{sim_id}", response_model=S.Stopped, summary="Hang up and forget the simulation")
    async def sim_stop(sim_id: Ident) -> dict[str, str]:
        sim = simulations.get(sim_id)
        await sim.hang_up()
        await simulations.stop(sim_id)
        return {"stopped": sim_id}

    return router
