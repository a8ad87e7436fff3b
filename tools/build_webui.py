"""Build the web page: copy ``webui/src`` into the package (``firmware/zentrale/web/static``).

The web page is plain HTML, CSS and JavaScript modules (no framework, no
Node toolchain), so building is copying: the sources stay readable in
``webui/``, the daemon serves the copy inside the Python package (a wheel
carries it), and ``--check`` (run by the tests) fails when the two differ.

    python tools/build_webui.py          # build
    python tools/build_webui.py --check  # exit 1 when the package's copy is stale
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "webui" / "src"
TARGET = ROOT / "firmware" / "zentrale" / "web" / "static"


def files(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*") if p.is_file()}


def differences(source: Path = SOURCE, target: Path = TARGET) -> list[str]:
    wanted, present = files(source), files(target) if target.exists() else set()
    out = [f"missing: {p}" for p in sorted(wanted - present)]
    out += [f"stale: {p}" for p in sorted(present - wanted)]
    out += [f"differs: {p}" for p in sorted(wanted & present) if not filecmp.cmp(source / p, target / p, shallow=False)]
    return out


def build(source: Path = SOURCE, target: Path = TARGET) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only compare; exit 1 when the copy is stale")
    args = parser.parse_args()
    if args.check:
        problems = differences()
        for line in problems:
            print(line)
        if problems:
            print("run: python tools/build_webui.py", file=sys.stderr)
        return 1 if problems else 0
    build()
    print(f"built {len(files(TARGET))} files into {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
