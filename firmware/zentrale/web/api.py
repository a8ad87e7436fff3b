"""The HTTP API (FastAPI) and the web page, served inside the daemon's event loop.

Errors map to HTTP status codes in one place (``_errors``); who may call
what is decided in one place too (``web/auth.py``: every route needs a
login except the login itself, the first-run set-up and /health; routes
not marked otherwise are for admins only).
"""

from __future__ import annotations

import asyncio
import importlib.resources
import json
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from zentrale import __version__
from zentrale.core.modes import Mode
from zentrale.errors import (
    ConfigError,
    Conflict,
    Invalid,
    MailError,
    NotFound,
    Refused,
    TooManyAttempts,
    Unauthorized,
    ZentraleError,
)
from zentrale.health import notices
from zentrale.web import schemas as S
from zentrale.web.agents_api import agents_router
from zentrale.web.auth import PUBLIC, USER, AccessGuard, access, actor, auth_router, check_access, principal
from zentrale.web.backup_api import backup_router
from zentrale.web.callbacks_api import callbacks_router
from zentrale.web.callers_api import callers_router
from zentrale.web.calllog_api import calllog_router
from zentrale.web.documents import DocumentWorker, WorkerFailed, parse_checked, stored_dump
from zentrale.web.editor_api import editor_router
from zentrale.web.events import events_router
from zentrale.web.faults import faults_router
from zentrale.web.limits import BodyLimits, HttpLimits, TooLarge, document_body, marked_routes, route_marks
from zentrale.web.mail_api import MP3_PATH, create_mail_router
from zentrale.web.messages_api import messages_router
from zentrale.web.pages import mount_pages
from zentrale.web.params import By, Comment, Ident, Limit, ModeName
from zentrale.web.phonebook_api import phonebook_router
from zentrale.web.refusals import refusal_body, validation_body
from zentrale.web.retention_api import retention_router
from zentrale.web.security_api import security_router
from zentrale.web.sip_settings_api import sip_settings_router
from zentrale.web.statistics_api import LiveBoard, statistics_router
from zentrale.web.teams_api import teams_router
from zentrale.web.tls_api import tls_router
from zentrale.web.updates import updates_router
from zentrale.web.users_api import users_router

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from zentrale.accounts.service import Accounts, Principal
    from zentrale.calls.callback import CallbackService
    from zentrale.calls.simulation import Simulations
    from zentrale.calls.supervisor import CallSupervisor
    from zentrale.config import HttpConfig, MailConfig
    from zentrale.core.clock import Clock
    from zentrale.core.events import EventBus
    from zentrale.core.switches import ManualControl
    from zentrale.desk_phone import AgentPins
    from zentrale.health import BoxStatus, HealthMonitor
    from zentrale.hotline import Hotline
    from zentrale.lines.sip.guard import SourceGuard
    from zentrale.lines.sip.settings import RegistrationSettings
    from zentrale.mail.outbox import MailOutbox
    from zentrale.phonebook.service import Phonebook
    from zentrale.prompts import PromptLibrary
    from zentrale.scheduling import ModeScheduler
    from zentrale.staffing import Staffing
    from zentrale.store.callers import CallerListRepository
    from zentrale.store.messages import MessageRepository
    from zentrale.store.offers import OfferRepository
    from zentrale.store.retention import RetentionJob
    from zentrale.store.state import StateRepository
    from zentrale.store.statistics import Statistics
    from zentrale.store.wallboard import WallboardTokens
    from zentrale.teams import TeamDirectory, TeamSettings
    from zentrale.web.faults import FaultLog
    from zentrale.web.tls import TlsKeeper
    from zentrale.web.updates import Updater


SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "favicon.png": "image/png",
}


class SwitchChange(BaseModel):
    on: bool = Field(description="true: the switch's announcements replace the normal ones")
    by: str = Field("api", max_length=80, description="who flips it, for local tools (a session uses its user)")


class Activation(BaseModel):
    by: str = Field("api", max_length=80, description="who activates it, for local tools (a session uses its user)")


@dataclass(frozen=True)
class Services:
    """What the HTTP API works with, built by the composition root (``app.py``); each router
    gets the few it uses."""

    http: HttpConfig
    language: str  # the box's: the page's default, the schedule's holiday names
    accounts: Accounts
    clock: Clock
    events: EventBus
    hotline: Hotline
    teams: TeamDirectory
    team_settings: TeamSettings
    staffing: Staffing
    scheduler: ModeScheduler
    prompts: PromptLibrary
    simulations: Simulations
    control: ManualControl
    calls: CallSupervisor
    messages: MessageRepository
    state: StateRepository
    mail: MailOutbox
    mail_config: MailConfig  # the config file's section, under what the web page sets
    sip_settings: RegistrationSettings
    guard: SourceGuard
    status: BoxStatus
    health: HealthMonitor
    data_dir: Path
    config_file: Path | None  # what a backup carries as config.yaml
    restart: Callable[[], None]  # stop soon and exit to be started again (a restore)
    agent_pins: AgentPins  # the feature codes' PINs (desk_phone.py)
    desk_number: str | None  # the feature codes' service number, if configured
    tls: TlsKeeper | None = None  # the page's HTTPS certificate (http.tls), None when off
    faults: FaultLog | None = None  # the last warnings and errors (journal or the daemon's own)
    updates: Updater | None = None  # A/B updates with RAUC (Verwaltung -> Aktualisierung)
    retention: RetentionJob | None = None  # the daily GDPR deletions (GET /api/retention)
    phonebook: Phonebook | None = None  # caller names (Verwaltung -> Telefonbuch)
    caller_lists: CallerListRepository | None = None  # the block and VIP lists (/api/caller-lists)
    callbacks: CallbackService | None = None  # callbacks that keep the caller's place (GET /api/callbacks)
    statistics: Statistics | None = None  # figures from the call log (GET /api/statistics)
    offers: OfferRepository | None = None  # each ring of an agent's phone (the agents' figures)
    wallboard: WallboardTokens | None = None  # the wall screen's read-only tokens (/wallboard)


def create_api(app: Services) -> FastAPI:
    api = FastAPI(
        dependencies=[Depends(check_access)],
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        title="Zentrale",
        version=__version__,
        description="HTTP API of the Zentrale hotline appliance: modes, manual control, queues, messages. "
        "Log in with POST /api/auth/login (session cookie; send the CSRF token from /api/auth/me as "
        "X-CSRF-Token on every change) or, for local tools, with 'Authorization: Bearer <data folder>/api-token'.",
    )
    api.state.accounts = app.accounts
    hotline = app.hotline
    http = app.http
    documents = DocumentWorker(max_depth=http.max_json_depth)
    api.state.documents = documents

    @api.exception_handler(ZentraleError)
    async def _errors(_request: Request, err: ZentraleError) -> JSONResponse:
        # every answer carries a code and its parameters, which the page translates (web/refusals.py)
        text = str(err)
        if isinstance(err, ConfigError):
            body = refusal_body(text, err, source=err.source, path=err.path, problem=err.problem)
            return JSONResponse(body, status_code=422)
        if isinstance(err, TooLarge):
            return JSONResponse(refusal_body(text, err), status_code=413)
        if isinstance(err, WorkerFailed):
            return JSONResponse(refusal_body(text, err), status_code=503, headers={"Retry-After": "1"})
        if isinstance(err, TooManyAttempts):
            wait = max(1, round(err.retry_after))
            body = refusal_body(text, err, retry_after=wait)
            body["params"]["minutes"] = max(1, round(wait / 60))
            return JSONResponse(body, 429, headers={"Retry-After": str(wait)})
        statuses = (
            (NotFound, 404), (Conflict, 409), (Refused, 403), (Invalid, 422), (Unauthorized, 401), (MailError, 502),
        )  # fmt: skip
        status = next((code for kind, code in statuses if isinstance(err, kind)), 500)
        return JSONResponse(refusal_body(text, err), status_code=status)

    @api.exception_handler(RequestValidationError)
    async def _invalid_request(_request: Request, err: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer echoes the input, which can be what JSON cannot carry (NaN) -- a 500
        # -- or kilobytes of it; where and what is enough (the page shows loc and msg)
        detail = [{"type": e.get("type"), "loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg")),
                   "ctx": {k: str(v) for k, v in (e.get("ctx") or {}).items()}}
                  for e in err.errors()]  # fmt: skip
        return JSONResponse(validation_body(detail), status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, err: StarletteHTTPException) -> JSONResponse:
        # a route or method that does not exist (starlette's own 404/405): coded like every refusal
        code = {404: "not_found", 405: "method_not_allowed"}.get(err.status_code, "unknown")
        body = {"error": str(err.detail), "code": code, "params": {"status": err.status_code}}
        return JSONResponse(body, status_code=err.status_code, headers=getattr(err, "headers", None))

    @api.exception_handler(RecursionError)
    async def _too_deep(_request: Request, _err: RecursionError) -> JSONResponse:
        # the last line of defence: what a request brings is bounded before it is parsed, but a
        # file put into the data folder by hand (or an old restore) is parsed by code outside web/
        log.warning("a request ended in a RecursionError: %s %s", _request.method, _request.url.path)
        return JSONResponse(refusal_body("the data is nested too deeply to be read"), status_code=422)

    def me_extra(_who: Principal) -> dict[str, Any]:
        teams = [{"id": t.id, "name": t.name, "distribution": t.distribution, "wrap_up": t.wrap_up}
                 for t in app.teams.all()]  # fmt: skip
        users = app.accounts.users()
        people = {u["name"]: u["display_name"] for u in users}
        admins = [u["display_name"] for u in users if u["role"] == "admin"]
        return {"version": __version__, "teams": teams, "mp3_path": MP3_PATH, "people": people, "admins": admins}

    api.include_router(auth_router(app.accounts, app.language, me_extra))
    api.include_router(users_router(app.accounts, app.staffing))
    api.include_router(agents_router(app.staffing, app.agent_pins, app.desk_number))
    api.include_router(
        editor_router(
            hotline=hotline, teams=app.teams, prompt_library=app.prompts, scheduler=app.scheduler,
            simulations=app.simulations, control=app.control, documents=documents,
        )
    )  # fmt: skip
    api.include_router(messages_router(hotline))
    api.include_router(events_router(app.events, app.accounts, app.staffing))
    api.include_router(security_router(app.guard, app.state, app.clock))

    @api.get("/health", response_model=S.Liveness, summary="Liveness check (no login needed)")
    @access(PUBLIC)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @api.get("/status", response_model=S.BoxStatus, summary="State of every component (admins)")
    async def status() -> dict[str, Any]:
        return app.status.report()

    @api.get(
        "/api/notices",
        response_model=list[S.Notice],
        summary="What every user should know now, e.g. a full data disk (the page's banner)",
    )
    @access(USER)
    async def current_notices() -> list[dict[str, Any]]:
        return notices(app.health.components())

    @api.get("/api/modes", response_model=S.ModeList, summary="Mode documents and which one is active")
    @access(USER)
    async def modes() -> dict[str, Any]:
        return {"active": hotline.mode_name, "modes": hotline.modes.names()}

    @api.get(
        "/api/modes/{name}",
        summary="A mode document (JSON)",
        response_model=None,  # the stored document as it is, documented as a mode
        responses={200: {"model": Mode, "description": "the mode document"}},
    )
    async def mode(name: ModeName) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(await documents.run(stored_dump, hotline.modes.path(name), "json"))
        return document

    @api.put(
        "/api/modes/{name}",
        response_model=S.ModeUploaded,
        summary="Import or replace a mode document (YAML or JSON body); every save is a new version",
        openapi_extra=document_body(),
    )
    async def put_mode(name: ModeName, request: Request, by: By = "api", comment: Comment = "") -> dict[str, Any]:
        text = (await request.body()).decode("utf-8", errors="replace")
        # JSON (the editor's save) is kept as YAML like every other version, so versions compare line by line
        document, text = await documents.run(
            parse_checked, text, f"upload:{name}", documents.max_depth, hotline.library.names(),
            app.teams.ids(), text.lstrip().startswith("{"),
        )  # fmt: skip
        result = await hotline.save_mode(name, text, actor(request, by), comment, mode=document)
        return {"saved": name, **result}

    @api.post(
        "/api/modes/{name}/activate",
        response_model=S.Activated,
        summary="Make a mode the active one (while the schedule is on, this overrides it until resumed)",
    )
    async def activate(name: ModeName, request: Request, body: Activation | None = None) -> dict[str, Any]:
        await app.scheduler.activate_by_hand(name, actor(request, body.by if body else None))
        return {"active": name}

    @api.get("/api/switches", response_model=list[S.Switch], summary="Manual-control switches of the active mode")
    @access(USER)
    async def switches() -> list[dict[str, Any]]:
        return hotline.switch_list()

    @api.put(
        "/api/switches/{switch_id}",
        response_model=S.Switch,
        summary="Switch an outage announcement on or off (any agent)",
    )
    @access(USER)
    async def set_switch(switch_id: Ident, change: SwitchChange, request: Request) -> dict[str, Any]:
        return await hotline.set_switch(switch_id, change.on, actor(request, change.by))

    @api.get(
        "/api/switches/{switch_id}/audio",
        summary="Listen to what a switch's announcement says, before switching it on (any user)",
        response_class=FileResponse,
    )
    @access(USER)
    async def switch_audio(switch_id: Ident) -> FileResponse:
        mode = hotline.mode
        switch = next((s for s in mode.switches if s.id == switch_id), None) if mode is not None else None
        if switch is None:
            raise NotFound(f"the active mode has no switch '{switch_id}'")
        path = app.prompts.audio_path(switch.replaces[0].prompt)
        media = {".wav": "audio/wav", ".mp3": "audio/mpeg", ".ogg": "audio/ogg", ".flac": "audio/flac"}
        return FileResponse(path, media_type=media.get(path.suffix, "application/octet-stream"))

    @api.get(
        "/api/queues",
        response_model=list[S.WaitingCall],
        summary="Waiting calls, in order, per team (an agent sees his teams)",
    )
    @access(USER)
    async def queues(request: Request, team: str | None = None) -> list[dict[str, Any]]:
        who = principal(request)
        calls = hotline.waiting_calls(team)
        if who.is_admin:
            return calls
        mine = app.staffing.teams_of(who.agent_id)
        return [c for c in calls if c["team"] in mine]

    @api.get("/api/calls", response_model=list[S.CallInProgress], summary="Calls in progress")
    async def calls() -> list[dict[str, Any]]:
        return app.calls.calls()

    @api.get("/api/messages", response_model=list[S.MessageWithMail], summary="Voicemail messages, newest first")
    @access(USER)
    async def messages(team: str | None = None, limit: Limit = 200) -> list[dict[str, Any]]:
        return await app.mail.with_status(await hotline.messages.list(team, limit))

    @api.get("/api/messages/{message_id}", response_model=S.MessageWithMail, summary="One message")
    @access(USER)
    async def message(message_id: Ident) -> dict[str, Any]:
        return (await app.mail.with_status([await hotline.messages.get(message_id)]))[0]

    @api.get("/api/messages/{message_id}/audio", summary="The message as WAV", response_class=FileResponse)
    @access(USER)
    async def message_audio(message_id: Ident) -> FileResponse:
        row = await hotline.messages.get(message_id)
        return FileResponse(hotline.messages.file(row), media_type="audio/wav", filename=f"{message_id}.wav")

    @api.get(
        "/api/audit",
        response_model=list[S.AuditEntry],
        summary="Audit log (switches, modes, accounts, deleted messages, settings), newest first: admins see "
        "every entry; an agent the entries of his own account and the switch changes (which the manual-control "
        "page shows everyone), not account, mode, message or settings changes of others",
    )
    @access(USER)
    async def audit(request: Request, limit: Limit = 200) -> list[dict[str, Any]]:
        who = principal(request)
        return await hotline.state.audit_log(limit, agent=None if who.is_admin else who.name)

    @api.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        # made at the first request, in a thread: ~80 ms natively, which the loop (and the
        # media clock beside it) must not wait for; not at start-up, where it cost the
        # appliance's start 0.3-0.5 s of CPU natively (FastAPI keeps it once made)
        return JSONResponse(api.openapi_schema or await asyncio.to_thread(api.openapi))

    @api.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        # Swagger UI 5 (OpenAPI 3.1) from the fastapi-offline package: the page works offline (no CDN)
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Zentrale API",
            swagger_js_url="/docs/swagger-ui-bundle.js",
            swagger_css_url="/docs/swagger-ui.css",
            swagger_favicon_url="/docs/favicon.png",
        )

    @api.get("/docs/{name}", include_in_schema=False)
    async def docs_asset(name: str) -> FileResponse:
        if name not in SWAGGER_ASSETS:
            raise HTTPException(404, "not found")
        folder = Path(str(importlib.resources.files("fastapi_offline") / "static"))
        return FileResponse(folder / name, media_type=SWAGGER_ASSETS[name])

    api.include_router(
        create_mail_router(
            mail=app.mail, configured=app.mail_config, teams=app.teams, messages=app.messages, state=app.state,
            clock=app.clock,
        )
    )  # fmt: skip
    api.include_router(sip_settings_router(app.sip_settings, app.state, app.clock))
    api.include_router(
        backup_router(
            data_dir=app.data_dir,
            config_file=app.config_file,
            state=app.state,
            clock=app.clock,
            restart=app.restart,
            faults=app.faults,
        )
    )
    api.include_router(teams_router(app.team_settings))
    api.include_router(calllog_router(hotline.call_log, app.staffing))
    api.include_router(tls_router(app.tls, app.state, app.clock))
    if app.faults is not None:
        api.include_router(faults_router(app.faults))
    if app.updates is not None:
        api.include_router(updates_router(app.updates))
    if app.retention is not None:
        api.include_router(retention_router(app.retention))
    if app.phonebook is not None:
        api.include_router(phonebook_router(app.phonebook))
    if app.caller_lists is not None:
        api.include_router(callers_router(app.caller_lists, app.state, app.clock))
    if app.callbacks is not None:
        api.include_router(callbacks_router(app.callbacks))
    if app.statistics is not None and app.wallboard is not None:
        board = LiveBoard(
            teams=lambda: [{"id": t.id, "name": t.name} for t in app.teams.all()],
            waiting=hotline.waiting_calls, agents=app.staffing.agents,
        )  # fmt: skip
        api.include_router(
            statistics_router(
                app.statistics, app.wallboard, board, app.clock, lambda: app.scheduler.schedule.tz, app.offers
            )
        )
    mount_pages(api)
    limits = HttpLimits(http.max_body_bytes, http.max_document_bytes, http.max_json_depth)
    marked = marked_routes(route_marks(api.routes))
    api.add_middleware(BodyLimits, marked=marked, limits=limits)  # inside the guard: it knows who asks
    api.add_middleware(AccessGuard, accounts=app.accounts)
    return api


def disk_status(path: Any) -> dict[str, Any]:
    usage = shutil.disk_usage(path)
    return {"total": usage.total, "free": usage.free, "used_percent": round(100 * usage.used / usage.total, 1)}
