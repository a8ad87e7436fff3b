"""HTTP routes behind the mode editor: modes (create, duplicate, rename,
delete, versions, compare, roll back, validate while editing), the prompt
library (upload, preview, delete, draft from text), schedules and the
"try it without a phone" simulation."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field

from zentrale.core.modes import Mode, ModeProblem, check_mode, dump_mode, parse_mode_data, schema_problems
from zentrale.core.schedule import Schedule
from zentrale.errors import Conflict, ModeError, NotFound
from zentrale.web.auth import actor

if TYPE_CHECKING:
    from zentrale.app import App


class Author(BaseModel):
    by: str = Field("api", max_length=80)


class CopyTo(BaseModel):
    to: str = Field(min_length=1, max_length=64)
    by: str = Field("api", max_length=80)


class Rollback(BaseModel):
    version: int = Field(ge=1)
    by: str = Field("api", max_length=80)


class SpeakText(BaseModel):
    text: str = Field(min_length=1, max_length=2000)
    voice: str = "de"


class SimStart(BaseModel):
    mode: str | None = Field(None, description="a stored mode; or give the document")
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


def editor_router(app: App) -> APIRouter:
    router = APIRouter(tags=["editor"])
    hotline = app.hotline

    def problems(document: dict[str, Any]) -> tuple[Mode | None, list[ModeProblem]]:
        """Every schema problem; once the schema holds, every check of the graph, prompts and teams."""
        mode, found = schema_problems(document)
        if mode is None:
            return None, found
        return mode, check_mode(mode, prompts=hotline.library.names(), teams=[t.id for t in app.config.teams])

    @router.get("/api/editor/modes", summary="Modes with their versions and problems")
    async def modes() -> list[dict[str, Any]]:
        out = []
        for name in hotline.modes.names():
            try:
                mode = hotline.modes.load(name)
                found = problems(mode.model_dump(mode="json"))[1]
                title, errors = mode.name, [p.message for p in found if p.severity == "error"]
                description = mode.description
            except ModeError as err:
                title, errors, description = name, [str(err)], ""
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

    @router.post("/api/editor/validate", summary="Check a document while it is edited (nothing is saved)")
    async def validate(document: dict[str, Any]) -> dict[str, Any]:
        _, found = problems(document)
        return {"ok": not any(p.severity == "error" for p in found), "problems": [p.model_dump() for p in found]}

    @router.post("/api/editor/modes/{name}", summary="Create a mode (from the body, or a small empty one)")
    async def create(name: str, request: Request) -> dict[str, Any]:
        if name in hotline.modes.names():
            raise Conflict(f"mode '{name}' exists already")
        body = await request.body()
        try:
            document = json.loads(body) if body else EMPTY_MODE
        except ValueError as err:
            raise ModeError(f"upload:{name}", "", f"not valid JSON: {err}") from err
        mode = parse_mode_data(document, name)
        return await hotline.save_mode(name, dump_mode(mode), actor(request), "created")

    @router.post("/api/editor/modes/{name}/duplicate", summary="Copy a mode under a new name")
    async def duplicate(name: str, body: CopyTo, request: Request) -> dict[str, Any]:
        return await hotline.duplicate_mode(name, body.to, actor(request, body.by))

    @router.post("/api/editor/modes/{name}/rename", summary="Rename a mode (not the active one)")
    async def rename(name: str, body: CopyTo, request: Request) -> dict[str, Any]:
        return await hotline.rename_mode(name, body.to, actor(request, body.by))

    @router.delete("/api/editor/modes/{name}", summary="Delete a mode (not the active one)")
    async def delete(name: str, request: Request) -> dict[str, str]:
        await hotline.delete_mode(name, actor(request))
        return {"deleted": name}

    @router.get("/api/editor/modes/{name}/versions", summary="Versions of a mode, newest first")
    async def versions(name: str) -> list[dict[str, Any]]:
        return await hotline.versions.list(name)

    @router.get("/api/editor/modes/{name}/versions/{version}", summary="One version's document (YAML)")
    async def version(name: str, version: int) -> PlainTextResponse:
        row = await hotline.versions.get(name, version)
        return PlainTextResponse(str(row["document"]), media_type="application/yaml")

    @router.get("/api/editor/modes/{name}/diff", summary="Compare two versions (unified diff)")
    async def diff(name: str, a: int, b: int) -> PlainTextResponse:
        return PlainTextResponse(await hotline.versions.diff(name, a, b))

    @router.post("/api/editor/modes/{name}/rollback", summary="Make an old version the current one (as a new version)")
    async def rollback(name: str, body: Rollback, request: Request) -> dict[str, Any]:
        return await hotline.rollback(name, body.version, actor(request, body.by))

    @router.get("/api/editor/modes/{name}/export", summary="Download a mode document")
    async def export(name: str, format: str = "yaml") -> Response:
        mode = hotline.modes.load(name)
        fmt: Literal["yaml", "json"] = "json" if format == "json" else "yaml"
        media = "application/json" if fmt == "json" else "application/yaml"
        return Response(
            dump_mode(mode, fmt),
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'},
        )

    # --- prompt library ------------------------------------------------------------

    @router.get("/api/prompts", summary="Prompts and music: length, origin, which modes use them")
    async def prompts() -> list[dict[str, Any]]:
        return app.prompts.list()

    @router.post(
        "/api/prompts/{name}",
        summary="Upload a prompt (the request body is the file: WAV, MP3, OGG or FLAC)",
        description="422 with the reason when the file is not audio, too long or too big.",
    )
    async def upload(
        name: str, request: Request, filename: str = "upload.wav", kind: Literal["prompt", "music"] = "prompt"
    ) -> dict[str, Any]:
        data = await request.body()
        return await app.prompts.upload(name, filename, data, kind)

    @router.post("/api/prompts/{name}/speak", summary="A draft prompt spoken from text (espeak-ng)")
    async def speak(name: str, body: SpeakText) -> dict[str, Any]:
        return await app.prompts.from_text(name, body.text, body.voice)

    @router.get("/api/prompts/{name}/audio", summary="Listen to a prompt", response_class=FileResponse)
    async def prompt_audio(name: str) -> FileResponse:
        path = app.prompts.audio_path(name)
        media = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"))

    @router.delete("/api/prompts/{name}", summary="Delete an uploaded prompt that no mode uses")
    async def delete_prompt(name: str) -> dict[str, str]:
        await app.prompts.delete(name)
        return {"deleted": name}

    # --- schedules -------------------------------------------------------------------

    @router.get("/api/schedule", summary="The week plan, the active and the scheduled mode, the next change")
    async def schedule(lang: Literal["de", "en"] | None = None) -> dict[str, Any]:
        return app.scheduler.status(lang)

    @router.put("/api/schedule", summary="Change the week plan, holidays and closed days")
    async def put_schedule(body: Schedule, request: Request) -> dict[str, Any]:
        return await app.scheduler.save(body, actor(request))

    @router.post("/api/schedule/resume", summary="End a manual override: the schedule chooses again")
    async def resume(body: Author, request: Request) -> dict[str, Any]:
        return await app.scheduler.back_to_schedule(actor(request, body.by))

    # --- simulation --------------------------------------------------------------------

    @router.post("/api/simulations", summary="Walk a mode without a phone (real engine, simulated clock)")
    async def simulate(body: SimStart) -> dict[str, Any]:
        if body.document is not None:
            mode, found = problems(body.document)
            errors = [p for p in found if p.severity == "error"]
            if mode is None or errors:
                raise ModeError("editor", errors[0].path, errors[0].message)
        elif body.mode is not None:
            mode = hotline.modes.load(body.mode)
        else:
            raise NotFound("give a mode or a document")
        states = [app.control.state(s.id) for s in mode.switches]
        sim = await app.simulations.start(mode, states)
        return sim.snapshot()

    @router.get("/api/simulations/{sim_id}", summary="What the simulated caller heard so far")
    async def sim_state(sim_id: str) -> dict[str, Any]:
        return app.simulations.get(sim_id).snapshot()

    @router.post("/api/simulations/{sim_id}/digit", summary="Press a key")
    async def sim_digit(sim_id: str, body: Digit) -> dict[str, Any]:
        sim = app.simulations.get(sim_id)
        await sim.press(body.digit)
        return sim.snapshot()

    @router.post("/api/simulations/{sim_id}/skip", summary="Skip to the next event (end of a prompt, a timeout)")
    async def sim_skip(sim_id: str) -> dict[str, Any]:
        sim = app.simulations.get(sim_id)
        await sim.skip()
        return sim.snapshot()

    @router.post("/api/simulations/{sim_id}/agent", summary="Pretend an agent takes the waiting call")
    async def sim_agent(sim_id: str) -> dict[str, Any]:
        sim = app.simulations.get(sim_id)
        await sim.agent_answers()
        return sim.snapshot()

    @router.delete("/api/simulations/{sim_id}", summary="Hang up and forget the simulation")
    async def sim_stop(sim_id: str) -> dict[str, str]:
        sim = app.simulations.get(sim_id)
        await sim.hang_up()
        await app.simulations.stop(sim_id)
        return {"stopped": sim_id}

    return router
