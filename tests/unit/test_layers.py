"""Imports only point downwards (ARCHITECTURE.md), and each outside library
is imported by the one package that owns it (STYLE.md habit 2)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "firmware" / "zentrale"

# package -> zentrale packages it may import (besides itself and zentrale.errors)
ALLOWED = {
    "core": set(),
    "media": set(),
    "store": {"core", "media"},
    "lines": {"media", "config"},
    "calls": {"core", "media", "lines", "store", "config", "teams"},
    "mail": {"core", "media", "store", "config", "teams"},
    "panel": {"core", "config", "hotline", "health"},
    "accounts": {"core", "store", "config"},
}
# outside library -> packages (or modules) allowed to import it
OWNERS = {
    "sqlite3": {"store"},
    "argon2": {"accounts"},
    "aiosipua": {"lines/sip"},
    "pylibsrtp": {"lines/sip/srtp.py"},
    "aiortp": set(),  # dropped: its A-law tables inverted the polarity (G.711 is ours, media/g711.py)
    "G722": {"media/codecs.py"},
    "soxr": {"media/rate.py"},
    "fastapi": {"web"},
    "starlette": {"web"},
    "uvicorn": {"web/server.py"},
    "serial": {"lines/modem"},
    "alsaaudio": {"lines/alsa"},
    "gpiozero": {"panel", "lines/alsa"},
    "lameenc": {"mail/mp3.py"},
    "aiosmtplib": {"mail/smtp.py"},
    "socket": {"lines", "systemd_notify.py", "web"},
}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _modules() -> list[tuple[str, Path]]:
    return [(str(p.relative_to(PACKAGE)), p) for p in PACKAGE.rglob("*.py")]


def test_packages_import_only_downwards() -> None:
    wrong = []
    for rel, path in _modules():
        top = rel.split("/")[0]
        if top not in ALLOWED:
            continue
        for name in _imports(path):
            if not name.startswith("zentrale."):
                continue
            target = name.split(".")[1]
            if target in (top, "errors") or target in ALLOWED[top]:
                continue
            wrong.append(f"{rel} imports {name}")
    assert wrong == []


def test_outside_libraries_are_imported_by_their_owner_only() -> None:
    wrong = []
    for rel, path in _modules():
        for name in _imports(path):
            root = name.split(".")[0]
            owners = OWNERS.get(root)
            if owners is None:
                continue
            if not any(rel == owner or rel.startswith(owner.rstrip("/") + "/") for owner in owners):
                wrong.append(f"{rel} imports {name}")
    assert wrong == []


def test_core_reads_no_clock_and_does_no_io() -> None:
    forbidden = ("time.time(", "time.monotonic(", "datetime.now(", " open(", "import socket", "import subprocess")
    wrong = []
    for rel, path in _modules():
        if rel.startswith("core/"):
            text = path.read_text(encoding="utf-8")
            wrong += [f"{rel}: {f}" for f in forbidden if f in text]
    assert wrong == []
