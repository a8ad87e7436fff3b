"""A small real file system to fill up: a tmpfs mounted for one test (the tests run as root).

``fill(folder)`` writes a filler file until the kernel says ENOSPC, to the last
byte (tmpfs hands out whole pages: the last write that fits is one byte);
``fill(folder, leave=n)`` leaves ``n`` bytes free; ``free(folder)`` removes the
filler again. The mount is removed by the fixture's finalizer, passed or failed.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

FILLER = ".filler"


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)], check=True)


def unmount(path: Path) -> None:
    # lazy: a daemon killed a moment ago may still hold a file open
    subprocess.run(["umount", "-l", str(path)], check=False)


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str) -> Iterator[Path]:
    mount_tmpfs(path, size)
    try:
        yield path
    finally:
        unmount(path)


def free_bytes(folder: Path) -> int:
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


def fill(folder: Path, leave: int = 0) -> int:
    """Fill the file system of ``folder`` until ``leave`` bytes are free (0: to the last byte).
    Returns the bytes written."""
    written = 0
    fd = os.open(folder / FILLER, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        chunk = 1 << 20
        while chunk >= 1:
            want = free_bytes(folder) - leave
            if leave and want < chunk:
                if want <= 0:
                    break
                chunk = max(1, min(chunk, want))
            try:
                written += os.write(fd, b"\0" * chunk)
            except OSError as err:
                if err.errno != errno.ENOSPC:
                    raise
                chunk //= 2
        os.fsync(fd)
    finally:
        os.close(fd)
    return written


def free(folder: Path) -> None:
    (folder / FILLER).unlink(missing_ok=True)
