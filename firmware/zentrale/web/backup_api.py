"""A backup from the web page (admins): the same archive as ``zentrale backup``."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect

from zentrale import __version__
from zentrale.errors import Invalid, StoreError
from zentrale.store.backup import PENDING, ArchiveRefused, check_stream, create_backup, room_for
from zentrale.web import schemas as S
from zentrale.web.auth import actor
from zentrale.web.limits import TooLarge, body_limit
from zentrale.web.refusals import BackupRefused

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.store.state import StateRepository
    from zentrale.web.faults import FaultLog

MAX_UPLOAD = 8_000_000_000  # bytes: years of messages fit; a full SD card does not
UPLOAD_STALL = 300.0  # seconds without a byte of the upload: the checking thread gives up


def backup_router(
    *, data_dir: Path, config_file: Path | None, state: StateRepository, clock: Clock, restart: Callable[[], None],
    faults: FaultLog | None = None,
) -> APIRouter:  # fmt: skip
    """``config_file``: what a backup carries as config.yaml; ``restart``: the daemon stops soon and
    exits to be started again (an uploaded backup is restored before the database opens)."""
    router = APIRouter(tags=["backup"])

    @router.get(
        "/api/backup",
        summary="Download a backup now: configuration, database (settings, messages' rows, logs), modes, "
        "prompts and messages in one .tar.gz (restore with `zentrale restore`)",
        response_class=FileResponse,
    )
    async def download(request: Request, include_faults: bool = False) -> FileResponse:
        stamp = clock.now().strftime("%Y%m%d-%H%M%S")
        folder = Path(tempfile.mkdtemp(prefix=".backup-", dir=data_dir))
        archive = folder / f"zentrale-backup-{stamp}.tar.gz"
        extras = {}
        if include_faults and faults is not None:  # the last faults (journal), for whoever reads the backup
            extras["faults.json"] = folder / "faults.json"
            await faults.export(extras["faults.json"])
        job = functools.partial(create_backup, data_dir, config_file, archive, __version__, extras)
        try:
            manifest = await asyncio.get_running_loop().run_in_executor(None, job)
        except BaseException:
            _remove(folder)
            raise
        counts = manifest["counts"]
        await state.audit(
            clock.now(), actor(request), "backup.download",
            f"{counts['messages']} messages, {counts['modes']} modes, {counts['prompts']} prompts",
        )  # fmt: skip
        return FileResponse(
            archive,
            media_type="application/gzip",
            filename=archive.name,
            background=BackgroundTask(_remove, folder),  # gone once sent: it holds passwords
        )

    @router.post(
        "/api/backup/restore", response_model=S.Restarting,
        summary="Upload a backup archive: it is checked now, and the box restarts and restores it "
        "(database, modes, prompts, messages; the configuration file stays). What it replaces is kept "
        "in the data folder's .before-restore-<time>/",
        status_code=202,
        openapi_extra=body_limit("stream", requestBody={"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}),
    )  # fmt: skip
    async def restore(request: Request) -> dict[str, Any]:
        data = data_dir
        limits = await asyncio.to_thread(room_for, data)
        folder = Path(tempfile.mkdtemp(prefix=".restore-upload-", dir=data))
        upload = folder / "upload"
        loop = asyncio.get_running_loop()
        chunks = request.stream()

        async def next_chunk() -> bytes:
            try:
                return await anext(chunks, b"")
            except ClientDisconnect:
                raise Invalid("the upload was interrupted") from None

        def check() -> dict[str, Any]:
            """In a thread: the upload is checked as it comes (and kept); a bomb is refused after
            its first bytes, not after it filled the disk."""
            with upload.open("wb") as out:
                tee = _Upload(lambda: asyncio.run_coroutine_threadsafe(next_chunk(), loop).result(UPLOAD_STALL), out)
                manifest = check_stream(tee, limits, "the uploaded file")
                tee.drain()  # the rest (gzip trailer, padding): the restore reads the file again
            if tee.size == 0:
                raise Invalid("no archive in the request (send the .tar.gz file as the body)")
            if manifest["unpacked_bytes"] + tee.size > limits.max_total_bytes:
                raise Invalid(
                    f"not enough space in the data folder to restore it: it needs "
                    f"{(manifest['unpacked_bytes'] + tee.size) // 1_000_000} MB"
                )
            return manifest

        try:
            try:
                manifest = await asyncio.to_thread(check)
            except ArchiveRefused as err:
                raise BackupRefused(str(err)) from None
            except StoreError as err:
                raise BackupRefused(str(err).replace(str(upload), "the uploaded file")) from None
            except TimeoutError:
                raise Invalid(f"the upload stalled for {UPLOAD_STALL:.0f} s") from None
            except OSError as err:  # a full disk: nothing changes, the box says why
                raise StoreError(f"the box cannot keep the uploaded archive: {err.strerror or err}") from None
            os.replace(upload, data / PENDING)
        finally:
            await asyncio.to_thread(shutil.rmtree, folder, True)
        counts = manifest["counts"]
        await state.audit(
            clock.now(), actor(request), "backup.restore",
            f"backup of {manifest['created_at']}: {counts['messages']} messages, {counts['modes']} modes",
        )  # fmt: skip
        restart()
        return {"restarting": True, "created_at": manifest["created_at"], "counts": counts}

    return router


class _Upload(io.RawIOBase):
    """The request body as a file for the checking thread; what is read is also kept on disk."""

    def __init__(self, pull: Callable[[], bytes], out: BinaryIO) -> None:
        self._pull = pull
        self._out = out
        self._pending = b""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self._pending:
            self._pending = self._next()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def _next(self) -> bytes:
        chunk = self._pull()
        self.size += len(chunk)
        if self.size > MAX_UPLOAD:
            raise TooLarge(f"the archive is larger than {MAX_UPLOAD // 1_000_000_000} GB")
        self._out.write(chunk)
        return chunk

    def drain(self) -> None:
        while self._next():
            pass


def _remove(folder: Path) -> None:
    for item in folder.iterdir():
        with contextlib.suppress(OSError):
            item.unlink()
    with contextlib.suppress(OSError):
        folder.rmdir()
