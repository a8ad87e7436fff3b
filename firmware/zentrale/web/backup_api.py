"""A backup from the web page (admins): the same archive as ``zentrale backup``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from zentrale import __version__
from zentrale.errors import Invalid, StoreError
from zentrale.store.backup import PENDING, create_backup, read_archive
from zentrale.web.auth import actor
from zentrale.web.limits import body_limit

if TYPE_CHECKING:
    from zentrale.app import App

MAX_UPLOAD = 8_000_000_000  # bytes: years of messages fit; a full SD card does not


def backup_router(app: App) -> APIRouter:
    router = APIRouter(tags=["backup"])

    @router.get(
        "/api/backup",
        summary="Download a backup now: configuration, database (settings, messages' rows, logs), modes, "
        "prompts and messages in one .tar.gz (restore with `zentrale restore`)",
        response_class=FileResponse,
    )
    async def download(request: Request) -> FileResponse:
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        folder = Path(tempfile.mkdtemp(prefix=".backup-", dir=app.config.data_dir))
        archive = folder / f"zentrale-backup-{stamp}.tar.gz"
        job = functools.partial(create_backup, app.config.data_dir, app.config_file, archive, __version__)
        try:
            manifest = await asyncio.get_running_loop().run_in_executor(None, job)
        except BaseException:
            _remove(folder)
            raise
        counts = manifest["counts"]
        await app.state.audit(
            app.clock.now(), actor(request), "backup.download",
            f"{counts['messages']} messages, {counts['modes']} modes, {counts['prompts']} prompts",
        )  # fmt: skip
        return FileResponse(
            archive,
            media_type="application/gzip",
            filename=archive.name,
            background=BackgroundTask(_remove, folder),  # gone once sent: it holds passwords
        )

    @router.post(
        "/api/backup/restore",
        summary="Upload a backup archive: it is checked now, and the box restarts and restores it "
        "(database, modes, prompts, messages; the configuration file stays). What it replaces is kept "
        "in the data folder's .before-restore-<time>/",
        status_code=202,
        openapi_extra=body_limit("stream", requestBody={"required": True, "content": {"application/gzip": {
            "schema": {"type": "string", "format": "binary"}}}}),
    )  # fmt: skip
    async def restore(request: Request) -> dict[str, Any]:
        data = app.config.data_dir
        folder = Path(tempfile.mkdtemp(prefix=".restore-upload-", dir=data))
        try:
            upload = folder / "upload"
            size = 0
            try:
                with upload.open("wb") as out:
                    async for chunk in request.stream():
                        size += len(chunk)
                        if size > MAX_UPLOAD:
                            raise Invalid(f"the archive is larger than {MAX_UPLOAD // 1_000_000_000} GB")
                        out.write(chunk)
            except OSError as err:  # a full disk: nothing changes, the box says why
                raise StoreError(f"the box cannot keep the uploaded archive: {err.strerror or err}") from None
            if size == 0:
                raise Invalid("no archive in the request (send the .tar.gz file as the body)")
            staging = folder / "check"
            staging.mkdir()
            check = functools.partial(read_archive, upload, staging)
            try:
                manifest = await asyncio.get_running_loop().run_in_executor(None, check)
            except StoreError as err:
                raise Invalid(str(err).replace(str(upload), "the uploaded file")) from None
            os.replace(upload, data / PENDING)
        finally:
            await asyncio.get_running_loop().run_in_executor(None, shutil.rmtree, folder, True)
        counts = manifest["counts"]
        await app.state.audit(
            app.clock.now(), actor(request), "backup.restore",
            f"backup of {manifest['created_at']}: {counts['messages']} messages, {counts['modes']} modes",
        )  # fmt: skip
        app.restart_soon()
        return {"restarting": True, "created_at": manifest["created_at"], "counts": counts}

    return router


def _remove(folder: Path) -> None:
    for item in folder.iterdir():
        with contextlib.suppress(OSError):
            item.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
