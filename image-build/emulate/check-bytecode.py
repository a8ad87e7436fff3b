"""Every module of the firmware's venv (and of the root's Python) has bytecode that fits it.

    python3 image-build/emulate/check-bytecode.py ROOT

The daemon runs with PYTHONDONTWRITEBYTECODE=1 from a read-only root: a module whose
.pyc is missing or stale (source mtime or size differ from the .pyc's header) is
compiled again at every start -- on the emulated appliance a second or more per large
module. pip compiles what it installs with the root's own Python (01-run-chroot.sh),
Debian's packages are compiled by their postinst; this says whether that held.
Exit status 1 when a module of the firmware itself lacks fitting bytecode.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path


def stale(folder: Path, tag: str) -> tuple[int, list[Path]]:
    count, bad = 0, []
    for source in sorted(folder.rglob("*.py")):
        if source.is_symlink():  # Debian's sitecustomize.py: a link into /etc, compiled there
            continue
        count += 1
        cached = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
        try:
            head = cached.read_bytes()[:16]
        except OSError:
            bad.append(source)
            continue
        flags, mtime, size = struct.unpack("<III", head[4:16])
        st = source.stat()
        if flags == 0 and (mtime != int(st.st_mtime) & 0xFFFFFFFF or size != st.st_size & 0xFFFFFFFF):
            bad.append(source)
    return count, bad


def main() -> int:
    root = Path(sys.argv[1])
    site = next(root.glob("opt/zentrale/lib/python3.*/site-packages"))
    version = site.parent.name.removeprefix("python")
    tag = "cpython-" + version.replace(".", "")
    failed = 0
    for name, folder in (
        ("firmware", site / "zentrale"),
        ("venv", site),
        ("stdlib", root / f"usr/lib/python{version}"),
    ):
        count, bad = stale(folder, tag)
        shown = ", ".join(str(p.relative_to(root)) for p in bad[:3])
        print(  # noqa: T201 (the build's log)
            f"bytecode ({tag}): {name}: {count - len(bad)} of {count} modules compiled"
            + (f"; not: {shown}" if bad else "")
        )
        if name == "firmware" and bad:
            failed = 1
    return failed


if __name__ == "__main__":
    raise SystemExit(main())
