"""Who may do what on the web page and the API, decided in one place.

``AccessGuard`` (pure ASGI middleware around the whole application, so event
streams pass untouched) finds the principal of every request -- a session
cookie (the web page) or ``Authorization: Bearer <api-token>`` (local tools
such as ``zentrale switch``) -- refuses state changes coming from another
site (``Origin``), and adds security headers.

``check_access`` (a dependency of every route of the API) then applies the
route's access level, set with ``@access(...)`` on the endpoint: ``public``
(login, first-run set-up, /health, the login page), ``user`` (anyone logged
in: agents and admins) or -- for every route not marked -- ``admin``, so a
new route is admin-only until someone decides otherwise. It refuses
anonymous requests (401), agents on admin routes (403), and every state
change (POST/PUT/PATCH/DELETE) of a cookie session without the session's
CSRF token in ``X-CSRF-Token`` (403). Static files (CSS, JS, fonts) are
public: the login page needs them and they hold no data.

Ownership (an agent may only pull calls to his own phone) is checked by the
routes with ``require_agent``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any, TypeVar

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from zentrale.errors import Refused, Unauthorized
from zentrale.web import schemas as S
from zentrale.web.refusals import refusal_body

if TYPE_CHECKING:
    from zentrale.accounts.service import Accounts, Principal

PUBLIC, USER, ADMIN = "public", "user", "admin"
COOKIE = "zentrale_session"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
F = TypeVar("F", bound=Callable[..., Any])

CSP = (
    "default-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; object-src 'none';"
    " base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
# /docs: Swagger UI's files come from the box; only its start-up script is inline.
DOCS_CSP = CSP + "; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'"


def access(level: str) -> Callable[[F], F]:
    """Mark an endpoint ``public`` or ``user``; unmarked endpoints are admin-only."""

    def mark(fn: F) -> F:
        fn.access = level  # type: ignore[attr-defined]
        return fn

    return mark


def principal(request: Request) -> Principal:
    """The logged-in principal (the guard has made sure there is one)."""
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:
        raise Unauthorized("login required")
    return who


def actor(request: Request, claimed: str | None = None) -> str:
    """The name for the audit log: the user; a local tool (API token) may name itself."""
    who = principal(request)
    return (claimed or "api") if who.via_token else who.name


def require_agent(request: Request, agent_id: str) -> Principal:
    """Agents act for their own agent only; admins and local tools for anyone."""
    who = principal(request)
    if not who.is_admin and who.agent_id != agent_id:
        raise Refused("you can only do this for your own agent")
    return who


async def check_access(request: Request) -> None:
    """Applied to every API route: its access level against the principal, and the CSRF token."""
    level = getattr(request.scope.get("endpoint"), "access", ADMIN)
    if level == PUBLIC:
        return
    who: Principal | None = request.scope.get("state", {}).get("principal")
    if who is None:
        raise Unauthorized("login required")
    if level == ADMIN and not who.is_admin:
        raise Refused("this needs an admin account")
    accounts: Accounts = request.app.state.accounts
    if request.method not in SAFE_METHODS and not accounts.csrf_ok(who, request.headers.get("x-csrf-token")):
        raise Refused("missing or wrong CSRF token (X-CSRF-Token)")


class AccessGuard:
    def __init__(self, app: ASGIApp, accounts: Accounts) -> None:
        self.app = app
        self.accounts = accounts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        send = self._with_security_headers(send, scope["path"])
        who: Principal | None = None
        bearer = headers.get("authorization", "")
        if bearer[:7].lower() == "bearer ":
            who = self.accounts.from_token(bearer[7:].strip())
        else:
            cookies: SimpleCookie = SimpleCookie()
            try:
                cookies.load(headers.get("cookie", ""))
            except Exception:
                cookies = SimpleCookie()
            morsel = cookies.get(COOKIE)
            who = await self.accounts.from_cookie(morsel.value if morsel else None)
        scope.setdefault("state", {})["principal"] = who
        if scope["method"] not in SAFE_METHODS and not _same_origin(scope, headers):
            await _refuse(send, 403, "request from another site refused")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _with_security_headers(send: Send, path: str) -> Send:
        docs = path == "/docs"

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                raw = list(message.get("headers", []))
                names = {k.lower() for k, _ in raw}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                # FastAPI's /docs page starts Swagger UI (served by the box) with an inline script
                extra.append((b"content-security-policy", (DOCS_CSP if docs else CSP).encode()))
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-cache" if path.startswith("/static/") else b"no-store"))
                message = {**message, "headers": raw + [h for h in extra if h[0] not in names]}
            await send(message)

        return wrapped


def _same_origin(scope: Scope, headers: Headers) -> bool:
    origin = headers.get("origin")
    if origin is None:
        return True  # not a browser, or a browser that sends none (then the CSRF token decides)
    host = headers.get("host", "")
    return origin == f"{scope.get('scheme', 'http')}://{host}"


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps(refusal_body(error)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# --- the routes of logging in ----------------------------------------------------------------


class LoginBody(BaseModel):
    name: str = Field(max_length=64)
    password: str = Field(max_length=200)


class SetupBody(BaseModel):
    token: str = Field(max_length=64, description="the set-up token from the log or the data folder")
    name: str = Field(max_length=32)
    password: str = Field(max_length=200)
    display_name: str = Field("", max_length=80)


class PasswordBody(BaseModel):
    old: str = Field(max_length=200)
    new: str = Field(max_length=200)


def _source(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(request: Request, response: Response, cookie: str) -> None:
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=7 * 24 * 3600,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def auth_router(accounts: Accounts, language: str, me_extra: Callable[[Principal], dict[str, Any]]) -> APIRouter:
    """``language``: the box's (the page's default until a user picks one)."""
    router = APIRouter(tags=["accounts"])

    def me(who: Principal) -> dict[str, Any]:
        return {
            "name": who.name,
            "display_name": who.display_name,
            "role": who.role,
            "agent_id": who.agent_id,
            "csrf": who.session.csrf if who.session else None,
            "language": language,
            **me_extra(who),
        }

    @router.get(
        "/api/auth/state",
        response_model=S.LoginState,
        summary="Login page: is the first-run set-up needed, default language",
    )
    @access(PUBLIC)
    async def state() -> dict[str, Any]:
        return {"setup_needed": accounts.setup_needed, "language": language}

    @router.post("/api/auth/login", response_model=S.Me, summary="Log in; sets the session cookie")
    @access(PUBLIC)
    async def login(body: LoginBody, request: Request, response: Response) -> dict[str, Any]:
        who, cookie = await accounts.login(body.name, body.password, _source(request))
        set_session_cookie(request, response, cookie)
        return me(who)

    @router.post(
        "/api/auth/setup",
        response_model=S.Me,
        summary="First run: create the first admin account with the set-up token",
    )
    @access(PUBLIC)
    async def setup(body: SetupBody, request: Request, response: Response) -> dict[str, Any]:
        who, cookie = await accounts.setup(body.token, body.name.strip().lower(), body.password, body.display_name,
                                           _source(request))  # fmt: skip
        set_session_cookie(request, response, cookie)
        return me(who)

    @router.post("/api/auth/logout", response_model=S.Done, summary="Log out (ends this session)")
    @access(USER)
    async def logout(request: Request, response: Response) -> dict[str, str]:
        await accounts.logout(principal(request))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return {"status": "logged out"}

    @router.get("/api/auth/me", response_model=S.Me, summary="Who is logged in, the CSRF token for state changes")
    @access(USER)
    async def whoami(request: Request) -> dict[str, Any]:
        return me(principal(request))

    @router.put("/api/auth/password", response_model=S.Done, summary="Change my own password")
    @access(USER)
    async def password(body: PasswordBody, request: Request) -> dict[str, str]:
        who = principal(request)
        if who.via_token:
            raise Refused("the API token has no password")
        await accounts.change_password(who, body.old, body.new)
        return {"status": "changed"}

    return router
