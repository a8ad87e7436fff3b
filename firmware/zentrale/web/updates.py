"""Updates without a shell (Verwaltung -> Aktualisierung): the appliance's whole root is
replaced by a signed RAUC bundle in the other of its two root slots (A/B), and the
bootloader tries the new slot once.

The daemon runs as its own user; RAUC's service (root, on the system D-Bus) does the
work: a D-Bus policy in the image lets the daemon's user call it, so ``rauc install``
and ``rauc status`` here are clients. RAUC checks the bundle's signature against the
keyring in the image (``/etc/rauc/keyring.pem``) before it writes a byte, and writes
only the slot that is not running; the data partition is no slot and is never touched.
The new slot counts as good only once ``zentrale-update-confirm`` (root, after boot)
saw ``/status`` ok for some minutes; otherwise it marks it bad and reboots, and the
bootloader starts the old slot again (image-build/README.md, "Updates").

Rebooting is root's: the daemon asks by making ``/run/zentrale/reboot-requested``, which
``zentrale-reboot.path`` watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import shutil
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from zentrale import __version__
from zentrale.errors import Conflict, Invalid, Refused
from zentrale.web.limits import body_limit
from zentrale.web.refusals import classify
from zentrale.web.schemas import Answer

log = logging.getLogger(__name__)

NOT_INSTALLED = "RAUC is not installed (not the appliance's image)"
RELEASE_FILE = Path("/etc/zentrale-release")  # the bundle's version, written by the image build
CHANGELOG = Path("/usr/share/zentrale/CHANGELOG.md")
REBOOT_FLAG = Path("/run/zentrale/reboot-requested")
MAX_BUNDLE = 2_000_000_000  # bytes: a root file system image, compressed
DOWNLOAD_TIMEOUT = 60.0  # seconds without progress
STATUS_TIMEOUT = 30.0
BUSY_TEXT = "already processing"  # RAUC's service answering while it runs another method
BUSY_TRIES, BUSY_PAUSE = 20, 0.5  # up to 10 s


class Updater:
    """What runs, what the other slot holds, and one install at a time."""

    def __init__(
        self,
        folder: Path,
        *,
        rauc: str = "rauc",
        release_file: Path = RELEASE_FILE,
        changelog: Path = CHANGELOG,
        reboot_flag: Path = REBOOT_FLAG,
    ) -> None:
        self.folder = folder  # on the data partition: the bundle waits there while RAUC installs it
        self.rauc = rauc
        self.release_file = release_file
        self.changelog = changelog
        self.reboot_flag = reboot_flag
        self.state = "idle"  # idle, receiving, installing, installed (reboot to use it), failed
        self.message = ""
        self.output: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._known: tuple[str | None, list[dict[str, Any]]] = (None, [])  # the slots RAUC last told

    def available(self) -> str | None:
        """None when RAUC is installed, else why updates do not work here (whether its
        service answers, with the slots of /etc/rauc/system.conf, ``slots`` tells)."""
        if shutil.which(self.rauc) is None:
            return NOT_INSTALLED
        return None

    async def _run(self, *args: str, timeout: float = STATUS_TIMEOUT) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            self.rauc, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return -1, f"rauc {args[0]} did not answer within {timeout:.0f} s"
        return proc.returncode or 0, out.decode(errors="replace")

    async def slots(self) -> tuple[str | None, list[dict[str, Any]], str]:
        """The booted slot's boot name, every slot (name, boot name, state, boot status,
        version) and an error text (empty when RAUC answered)."""
        code, out = await self._run("status", "--detailed", "--output-format=json")
        if code != 0:
            return None, [], out.strip().splitlines()[-1] if out.strip() else f"rauc status exited with {code}"
        try:
            status = json.loads(out[out.index("{") :])
        except ValueError:
            return None, [], "rauc status answered no JSON"
        slots = []
        confirmed = self._confirmed()
        for entry in status.get("slots", []):
            for name, slot in entry.items():
                if slot.get("parent"):  # a slot updated with its parent (the Pi's boot.0 with rootfs.0): one row
                    continue
                bundle = (slot.get("slot_status") or {}).get("bundle") or {}
                installed = (slot.get("slot_status") or {}).get("installed") or {}
                checksum = ((slot.get("slot_status") or {}).get("checksum") or {}).get("sha256")
                boot_status = slot.get("boot_status")
                if slot.get("state") == "booted" and boot_status != "good" and checksum not in confirmed:
                    # GRUB counts a boot as a try until the slot is marked good, and RAUC reports
                    # a slot on trial as "bad": the running slot is being checked, not refused
                    boot_status = "trying"
                slots.append({
                    "name": name, "bootname": slot.get("bootname"), "state": slot.get("state"),
                    "boot_status": boot_status, "version": bundle.get("version"),
                    "installed": installed.get("timestamp"), "primary": name == status.get("boot_primary"),
                })  # fmt: skip
        slots.sort(key=lambda s: str(s["bootname"] or s["name"]))
        return status.get("booted"), slots, ""

    def _confirmed(self) -> set[str]:
        """The bundle checksums zentrale-update-confirm has kept on this box (its file, one per line)."""
        try:
            return set((self.folder / "confirmed").read_text(encoding="utf-8").split())
        except (OSError, UnicodeDecodeError):
            return set()

    async def info(self) -> dict[str, Any]:
        unavailable = self.available()
        booted, slots, error = (None, [], "") if unavailable else await self.slots()
        busy = BUSY_TEXT in error.lower()
        if error and self._known[1] and (busy or self.state in ("receiving", "installing")):
            # RAUC's service does one D-Bus method at a time: while it installs, and for a moment
            # after its client said "Installing done", GetSlotStatus is refused ("already processing
            # a different method"), which is no reason to say it is gone (the page stops asking then)
            (booted, slots), error = self._known, ""
        elif busy:
            booted, slots, error = await self._patient_slots()  # nothing known yet: wait for its answer
        if not error:
            self._known = (booted, slots)
        # the page says why in the reader's language: not the appliance's image, or RAUC silent
        why = "not_installed" if unavailable else "no_answer" if error else None
        unavailable = unavailable or error or None
        code, params = classify(self.message) if self.state == "failed" else (None, {})
        release = await asyncio.to_thread(_read, self.release_file)
        changelog = await asyncio.to_thread(_read, self.changelog)
        return {
            "version": __version__,
            "release": release.strip() or None,
            "available": unavailable is None,
            "unavailable_reason": unavailable,
            "unavailable_code": why,
            "booted": booted,
            "slots": slots,
            "state": self.state,
            "message": self.message,
            "code": code,
            "params": params,
            "progress": _progress(self.output) if self.state in ("installing", "installed") else None,
            "output": self.output[-20:],
            "changelog": changelog,
        }

    async def _begin(self) -> None:
        if self.state in ("receiving", "installing"):
            raise Conflict(f"an update is already {self.state}")
        reason = self.available() or await self._slots_error()
        if reason:
            raise Refused(f"updates are not possible here: {reason}")
        self.state, self.message, self.output = "receiving", "", []

    async def _slots_error(self) -> str:
        """Why RAUC cannot tell its slots ('' when it can), a busy service waited out."""
        return (await self._patient_slots())[2]

    async def _patient_slots(self) -> tuple[str | None, list[dict[str, Any]], str]:
        """``slots``, with a busy service waited out. It does one D-Bus method at a time and
        finishes an installation (slot status, primary) a moment after its client said
        "Installing done": "already processing a different method" then is waited out, not taken
        for a box that cannot update (an upload right after an update was refused that way)."""
        answer: tuple[str | None, list[dict[str, Any]], str] = (None, [], "")
        for _ in range(BUSY_TRIES):
            answer = await self.slots()
            if BUSY_TEXT not in answer[2].lower():
                return answer
            await asyncio.sleep(BUSY_PAUSE)
        return answer

    async def receive(self, chunks: AsyncIterator[bytes]) -> None:
        """An uploaded bundle to the data partition, then its installation in the background."""
        await self._begin()
        bundle = self.folder / "upload.raucb"
        try:
            await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
            size = 0
            with await asyncio.to_thread(bundle.open, "wb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > MAX_BUNDLE:
                        raise Invalid(f"the bundle is bigger than {MAX_BUNDLE // 1_000_000} MB")
                    await asyncio.to_thread(out.write, chunk)
            if size == 0:
                raise Invalid("no bundle in the request (send the .raucb file as the body)")
        except ClientDisconnect:
            self.state, self.message = "failed", "the upload was interrupted"
            await asyncio.to_thread(bundle.unlink, True)
            raise Invalid(self.message) from None
        except BaseException as err:
            self.state, self.message = "failed", str(err) or type(err).__name__
            await asyncio.to_thread(bundle.unlink, True)
            raise
        self._start(bundle)

    async def fetch(self, url: str) -> None:
        """A bundle from a URL (http or https; https checked against the system's CAs)."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise Invalid("the address must start with http:// or https:// and name a host")
        await self._begin()
        bundle = self.folder / "download.raucb"
        try:
            await asyncio.to_thread(_download, url, bundle)
        except (OSError, ValueError) as err:
            self.state, self.message = "failed", f"download failed: {err}"
            await asyncio.to_thread(bundle.unlink, True)
            raise Invalid(self.message) from None
        self._start(bundle)

    def _start(self, bundle: Path) -> None:
        self.state = "installing"
        self._task = asyncio.get_running_loop().create_task(self._install(bundle), name="rauc-install")

    async def _install(self, bundle: Path) -> None:
        size = (await asyncio.to_thread(bundle.stat)).st_size
        log.info("update: installing %s (%d MB)", bundle.name, size // 1_000_000)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.rauc, "install", str(bundle), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
            )
            assert proc.stdout is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace").strip()
                if line:
                    self.output = [*self.output[-99:], line]
            code = await proc.wait()
            if code == 0:
                self.state, self.message = "installed", "installed in the other slot: restart the box to use it"
                log.info("update: installed; it is used after the next restart")
            else:
                self.state = "failed"
                self.message = _failure(_reason(self.output, code).replace(str(bundle), "the bundle"))
                log.warning("update refused by RAUC: %s", self.message)
        finally:
            await asyncio.to_thread(bundle.unlink, True)

    async def reboot(self) -> None:
        if self.state in ("receiving", "installing"):
            raise Conflict(f"an update is {self.state}: restart when it is done")
        try:
            await asyncio.to_thread(self.reboot_flag.write_text, "reboot\n", "utf-8")
        except OSError as err:
            raise Refused(f"the box cannot be restarted from here: {err.strerror or err}") from None
        log.warning("update: restart requested from the web page")

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def _reason(output: list[str], code: int) -> str:
    """RAUC's own word for why an installation failed (its ``LastError:`` line)."""
    for marker in ("LastError:", "rror", "ailed"):
        found = next((line for line in reversed(output) if marker in line), None)
        if found:
            return found.split("LastError:", 1)[-1].strip()
    return f"rauc install exited with {code}"


# What the page translates (web/refusals.py, codes update_signature_refused and so on): RAUC's
# own reason stays in the text as a detail for the one who makes the bundles.
def _failure(reason: str) -> str:
    low = reason.lower()
    if "invalid bundle format" in low or "not a bundle" in low or "squashfs" in low:
        return f"the file is not a RAUC bundle: {reason}"
    if "signature" in low or "verify error" in low:
        return f"RAUC refused the bundle's signature: {reason}"
    if "compatible mismatch" in low:
        return f"the bundle is for another device: {reason}"
    return f"RAUC could not install the bundle: {reason}"


def _progress(output: list[str]) -> int | None:
    """RAUC's last percentage (``rauc install`` prints `` 40% Checking bundle done.``)."""
    for line in reversed(output):
        m = re.match(r"^\s*(\d{1,3})%", line)
        if m:
            return min(100, int(m.group(1)))
    return None


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _download(url: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as answer, target.open("wb") as out:
        size = 0
        while chunk := answer.read(1 << 20):
            size += len(chunk)
            if size > MAX_BUNDLE:
                raise ValueError(f"the bundle is bigger than {MAX_BUNDLE // 1_000_000} MB")
            out.write(chunk)
    if size == 0:
        raise ValueError("the address gave an empty answer")


class SlotRow(BaseModel):
    name: str
    bootname: str | None = None
    state: str | None = Field(None, description="booted, active or inactive")
    boot_status: str | None = Field(
        None, description="good or bad (the bootloader's view); trying: the running slot, not yet kept after an update"
    )
    version: str | None = Field(None, description="the bundle's version installed in this slot")
    installed: str | None = None
    primary: bool = Field(False, description="the slot the bootloader starts next")


class UpdateInfo(Answer):
    version: str = Field(description="the firmware's version")
    release: str | None = Field(description="the running system's release (the bundle version it came from)")
    available: bool
    unavailable_reason: str | None
    unavailable_code: str | None = Field(
        description="not_installed (no RAUC: not the appliance's image) or no_answer (RAUC's service is silent)"
    )
    booted: str | None = Field(description="the slot the box started from (A or B)")
    slots: list[SlotRow]
    state: str = Field(description="idle, receiving, installing, installed (restart to use it) or failed")
    message: str
    code: str | None = Field(description="when failed: the refusal code of message (web/refusals.py)")
    params: dict[str, Any] = Field(description="the refusal code's parameters")
    progress: int | None = Field(description="RAUC's percentage while installing")
    output: list[str] = Field(description="RAUC's last lines")
    changelog: str = Field(description="what changed, up to the running release (Markdown)")


class UpdateUrl(BaseModel):
    url: str = Field(max_length=2000)


class UpdateStarted(Answer):
    state: str


def updates_router(updater: Updater) -> APIRouter:
    router = APIRouter(tags=["updates"])

    @router.get(
        "/api/update", response_model=UpdateInfo,
        summary="The running version, its changelog, the two root slots and the update in progress (admins)",
    )  # fmt: skip
    async def info() -> dict[str, Any]:
        return await updater.info()

    @router.post(
        "/api/update/bundle", response_model=UpdateStarted, status_code=202,
        summary="Upload a signed RAUC bundle (.raucb): it is installed into the other root slot in the "
        "background; GET /api/update says when it is done",
        openapi_extra=body_limit("stream", requestBody={"required": True, "content": {"application/octet-stream": {
            "schema": {"type": "string", "format": "binary"}}}}),
    )  # fmt: skip
    async def upload(request: Request) -> dict[str, Any]:
        await updater.receive(request.stream())
        return {"state": updater.state}

    @router.post("/api/update/url", response_model=UpdateStarted, status_code=202,
                 summary="Fetch a signed RAUC bundle from an http(s) address and install it (admins)")  # fmt: skip
    async def from_url(body: UpdateUrl) -> dict[str, Any]:
        await updater.fetch(body.url)
        return {"state": updater.state}

    @router.post("/api/update/reboot", response_model=UpdateStarted, status_code=202,
                 summary="Restart the box (to start an installed update)")  # fmt: skip
    async def reboot() -> dict[str, Any]:
        await updater.reboot()
        return {"state": "restarting"}

    return router
