"""The data disk as recordings and the database meet it: free space and failed writes.

A full or failing data disk must not silence the hotline (issue 13, fault 3):
callers still hear every prompt (they come from memory), and only what needs
the disk -- a new message, a call-log row -- is refused or dropped. This
class answers the one question the call flow asks before it offers to record
("may a message be recorded now, and if not, why?") and gives ``/status``,
the fault LED and the web page's banner the reason.

States (``space``):
- ``ok``       free space at or above ``min_free_bytes``;
- ``low``      below it: no new recording starts, so the last megabytes stay
               for the database and for recordings already running;
- ``full``     no space (or no inode) left, or a write just failed with ENOSPC
               and space has not come back;
- ``failing``  a write failed with an I/O error or a read-only file system
               within the last ``retry_after`` seconds; afterwards the next
               recording is allowed to try again.
Space coming back needs no restart: every question reads ``statvfs`` anew.
"""

from __future__ import annotations

import errno
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Space = Literal["ok", "low", "full", "failing"]
FULL_BELOW_BYTES = 1 << 20  # under a mebibyte nothing useful fits: call it full
_FULL_ERRNOS = {errno.ENOSPC, errno.EDQUOT}
_FULL_SQLITE = {sqlite3.SQLITE_FULL}
_FAILING_SQLITE = {sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_CANTOPEN}


@dataclass(frozen=True)
class DiskState:
    space: Space
    free: int
    total: int
    min_free: int
    detail: str
    last_error: str | None = None

    @property
    def recording_allowed(self) -> bool:
        return self.space == "ok"


def error_kind(err: BaseException) -> Literal["full", "failing"] | None:
    """'full' for no space, 'failing' for an I/O error or read-only disk, None for anything else
    (a programming error is not the disk's fault). SQLite errors carry their result code
    (``sqlite_errorcode``, Python 3.11); a StoreError carries the sqlite3 error as its cause."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, sqlite3.Error):
            code = getattr(seen, "sqlite_errorcode", None)
            if code is not None:
                if code & 0xFF in _FULL_SQLITE:
                    return "full"
                if code & 0xFF in _FAILING_SQLITE:
                    return "failing"
            text = str(seen).lower()
            return "full" if "disk is full" in text else "failing" if "disk i/o error" in text else None
        if isinstance(seen, OSError) and seen.errno is not None:
            if seen.errno in _FULL_ERRNOS:
                return "full"
            if seen.errno in (errno.EIO, errno.EROFS):
                return "failing"
            return None
        seen = seen.__cause__
    return None


def _mb(n: int) -> str:
    if n == 0:
        return "0 bytes"
    if n < 1e6:
        return f"{n / 1e3:.0f} kB"
    return f"{n / 1e6:.0f} MB" if n >= 10e6 else f"{n / 1e6:.1f} MB"


class DataDisk:
    """Free space of the data folder's file system and the writes that failed on it."""

    def __init__(
        self,
        path: Path,
        min_free_bytes: int,
        *,
        retry_after: float = 30.0,
        monotonic: Callable[[], float] = time.monotonic,
        full_below_bytes: int = FULL_BELOW_BYTES,
    ) -> None:
        self.path = path
        self.min_free_bytes = min_free_bytes
        self.full_below_bytes = full_below_bytes
        self.retry_after = retry_after
        self._monotonic = monotonic
        self._failed: tuple[Literal["full", "failing"], str, float] | None = None
        self.write_failures = 0
        self._last_space: Space = "ok"

    def write_failed(self, what: str, err: BaseException) -> bool:
        """A write to the data disk failed; True if it was the disk's fault (full or failing)."""
        kind = error_kind(err)
        if kind is None:
            return False
        self.write_failures += 1
        self._failed = (kind, f"{what}: {err}", self._monotonic())
        return True

    def _usage(self) -> tuple[int, int, bool]:
        """Bytes free for an unprivileged writer, total bytes, and whether inodes ran out."""
        st = os.statvfs(self.path)
        no_inodes = st.f_files > 0 and st.f_favail == 0
        return st.f_bavail * st.f_frsize, st.f_blocks * st.f_frsize, no_inodes

    def state(self) -> DiskState:
        """Read the free space now (one statvfs: microseconds, fine on the loop)."""
        try:
            free, total, no_inodes = self._usage()
        except OSError as err:
            return self._remember(DiskState("failing", 0, 0, self.min_free_bytes, f"disk failing: {err}", str(err)))
        failed = self._failed
        last = failed[1] if failed else None
        if failed is not None and failed[0] == "failing" and self._monotonic() - failed[2] < self.retry_after:
            detail = f"disk failing ({failed[1]}): messages cannot be recorded"
            return self._remember(DiskState("failing", free, total, self.min_free_bytes, detail, last))
        if free < self.full_below_bytes or no_inodes or (free == 0 and self.full_below_bytes == 0):
            what = "no inodes left" if no_inodes and free > 0 else f"{_mb(free)} free"
            detail = f"disk full ({what}): messages cannot be recorded"
            return self._remember(DiskState("full", free, total, self.min_free_bytes, detail, last))
        if free < self.min_free_bytes:
            detail = (
                f"disk low ({_mb(free)} free, messages are recorded above {_mb(self.min_free_bytes)}): "
                "messages cannot be recorded"
            )
            return self._remember(DiskState("low", free, total, self.min_free_bytes, detail, last))
        if failed is not None and failed[0] == "full":
            self._failed = None  # space came back: the failure is history
        return self._remember(DiskState("ok", free, total, self.min_free_bytes, f"{_mb(free)} free", last))

    def _remember(self, state: DiskState) -> DiskState:
        if state.space != self._last_space:
            level = logging.INFO if state.space == "ok" else logging.WARNING
            log.log(level, "data disk: %s", state.detail if state.space != "ok" else f"space is back ({state.detail})")
            self._last_space = state.space
        return state

    def recording_refused(self) -> str | None:
        """Why no message may be recorded now, or None."""
        state = self.state()
        return None if state.recording_allowed else state.detail
