"""The web page itself: the app (logged in), the login and first-run set-up page, static files.

The files under ``static/`` are built from ``webui/`` at the top of the
repository (``tools/build_webui.py``). They are public (the login page needs
them) and hold no data; every page with data and every API route needs a login.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from zentrale.web.auth import PUBLIC, access

STATIC = Path(__file__).parent / "static"


def mount_pages(api: FastAPI) -> None:
    router = APIRouter(include_in_schema=False)

    @router.get("/", response_model=None)
    @access(PUBLIC)  # decides itself: the app when logged in, else the login page
    async def app_page(request: Request) -> FileResponse | RedirectResponse:
        if request.scope.get("state", {}).get("principal") is None:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @router.get("/login")
    @access(PUBLIC)
    async def login_page() -> FileResponse:
        return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-cache"})

    @router.get("/setup")
    @access(PUBLIC)
    async def setup_page() -> FileResponse:
        return FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-cache"})

    @router.get("/favicon.ico")
    @access(PUBLIC)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "img" / "favicon.svg", media_type="image/svg+xml")

    api.include_router(router)
    api.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
