"""Imports only point downwards, for every module of the firmware, and each outside library
is imported by the modules that own it (STYLE.md habit 2).

The rules are written down once, here, and drawn in docs/design.md ("Layers"):
every top-level package and module of ``firmware/zentrale`` sits in one layer and
imports only from layers below its own -- never sideways, never up. Imports under
``if TYPE_CHECKING:`` count too: a type named upwards ties the layers together
as much as a call does. A new module must be placed in a layer before it passes.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

from tests.harness.import_graph import PACKAGE, all_imports, module_name, modules, resolve, unit_of

# bottom first; a unit may import any unit of a lower layer
LAYERS: list[tuple[str, set[str]]] = [
    ("foundation: the error types and the version", {"errors", "zentrale"}),
    ("pure domain and signal processing: no I/O, no clock", {"core", "media"}),
    (
        "settings and the system's services, each on its own",
        {"config", "clock", "systemd_notify", "lifecycle", "priority"},
    ),
    ("adapters for telephone lines and storage", {"lines", "store"}),
    ("who may log in; the teams in force", {"accounts", "teams"}),
    (
        "use cases: the hotline, agents, calls, e-mail, caller names",
        {"hotline", "staffing", "calls", "mail", "phonebook"},
    ),
    ("use cases over the hotline: prompts, schedules", {"prompts", "scheduling"}),
    ("the box as a whole: health; services by phone", {"health", "phone_prompts", "desk_phone"}),
    ("adapters for people: HTTP API and web page, front panel", {"web", "panel"}),
    ("the composition root", {"app"}),
    ("the command line", {"cli"}),
    ("python -m zentrale", {"__main__"}),
]

# outside library -> the packages (folder/) or modules (file.py) that may import it
OWNERS = {
    "sqlite3": {"store/"},
    "yaml": {"config.py", "core/modes.py", "web/documents.py"},
    "pydantic": {"config.py", "core/modes.py", "core/schedule.py", "web/"},
    "subprocess": {"media/library.py", "prompts.py", "web/faults.py"},  # ffmpeg, espeak-ng, journalctl
    "threading": {"media/library.py", "lines/modem/port.py", "lines/modem/simulator.py", "lines/alsa/audio.py"},
    "argon2": {"accounts/"},
    "aiosipua": {"lines/sip/"},
    "pylibsrtp": {"lines/sip/srtp.py"},
    "aiortp": set(),  # dropped: its A-law tables inverted the polarity (G.711 is ours, media/g711.py)
    "G722": {"media/codecs.py"},
    "soxr": {"media/rate.py"},
    "soundfile": {"media/library.py"},  # libsndfile: MP3/OGG/FLAC without ffmpeg
    "fastapi": {"web/"},
    "starlette": {"web/"},
    "uvicorn": {"web/server.py"},
    "serial": {"lines/modem/"},
    "alsaaudio": {"lines/alsa/"},
    "gpiozero": {"panel/", "lines/alsa/"},
    "lameenc": {"mail/mp3.py"},
    "aiosmtplib": {"mail/smtp.py"},
    "socket": {"lines/", "systemd_notify.py", "web/"},
    "cryptography": {"web/tls.py"},  # the local CA and the page's certificate
    "acme": {"web/acme_client.py"},  # certbot's ACME client (RFC 8555)
    "josepy": {"web/acme_client.py"},  # its JWS keys
    "dns": {"web/acme_client.py"},  # dnspython: RFC 2136 updates for dns-01
    "fritzconnection": {"phonebook/fritzbox.py"},  # TR-064
    "requests": {"phonebook/fritzbox.py", "web/acme_client.py"},  # fritzconnection's and acme's HTTP client: its errors
    "httpx": {"phonebook/carddav.py"},  # CardDAV
}

# what the pure domain may import from outside the package: no files, sockets, processes, clocks
CORE_MAY_IMPORT = {
    "__future__", "asyncio", "collections", "contextlib", "dataclasses", "datetime", "enum", "functools",
    "heapq", "ipaddress", "itertools", "json", "logging", "math", "re", "typing", "zoneinfo", "pydantic", "yaml",
}  # fmt: skip


def layer_of(unit: str) -> int | None:
    return next((i for i, (_, units) in enumerate(LAYERS) if unit in units), None)


def layer_violations(package: Path = PACKAGE) -> list[str]:
    known = modules(package)
    wrong = [f"{unit_of(m)} ({known[m].relative_to(package)}) is in no layer" for m in known
             if layer_of(unit_of(m)) is None]  # fmt: skip
    upwards: dict[tuple[str, int], str] = {}  # one per import statement: its deepest module
    for imp in all_imports(package):
        target = resolve(imp.name, known)
        if target is None:
            continue
        source_unit, target_unit = unit_of(imp.module), unit_of(target)
        if source_unit == target_unit:
            continue
        below, above = layer_of(target_unit), layer_of(source_unit)
        if below is None or above is None or below >= above:
            message = f"{imp.rel}:{imp.line} imports {target} (layer {above} -> {below})"
            upwards[imp.rel, imp.line] = max(upwards.get((imp.rel, imp.line), ""), message, key=len)
    return sorted({*wrong, *upwards.values()})


def owner_violations(package: Path = PACKAGE) -> list[str]:
    wrong = []
    for imp in all_imports(package):
        owners = OWNERS.get(imp.name.split(".")[0])
        if owners is not None and not any(imp.rel == o or (o.endswith("/") and imp.rel.startswith(o)) for o in owners):
            wrong.append(f"{imp.rel}:{imp.line} imports {imp.name}")
    return sorted(set(wrong))


def test_every_module_imports_only_from_layers_below_its_own() -> None:
    assert layer_violations() == []


def test_outside_libraries_are_imported_by_their_owners_only() -> None:
    assert owner_violations() == []


def test_each_unit_sits_in_one_layer_only() -> None:
    placed = [unit for _, units in LAYERS for unit in units]
    assert len(placed) == len(set(placed))


def test_the_pure_domain_imports_nothing_that_reaches_files_sockets_processes_or_the_clock() -> None:
    wrong = []
    for imp in all_imports():
        outside = imp.rel.startswith("core/") and not imp.name.startswith("zentrale.")
        if outside and imp.name.split(".")[0] not in CORE_MAY_IMPORT:
            wrong.append(f"{imp.rel}:{imp.line} imports {imp.name}")
    assert wrong == []


def test_the_pure_domain_opens_no_file_and_reads_no_clock() -> None:
    wrong = []
    for name, path in modules().items():
        if not name.startswith("zentrale.core."):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "open":
                wrong.append(f"{path.name}:{node.lineno} open()")
            if isinstance(func, ast.Attribute) and func.attr in ("now", "utcnow", "today", "time", "monotonic"):
                owner = ast.unparse(func.value)
                if owner in ("datetime", "date", "time", "datetime.datetime", "loop", "self._loop"):
                    wrong.append(f"{path.name}:{node.lineno} {owner}.{func.attr}()")
    assert wrong == []


def copy_of_the_firmware(tmp_path: Path) -> Path:
    copy = tmp_path / "zentrale"
    shutil.copytree(PACKAGE, copy, ignore=lambda _d, names: [n for n in names if n in ("static", "demo")])
    return copy


def test_a_wrong_import_fails_the_layer_check(tmp_path: Path) -> None:
    package = copy_of_the_firmware(tmp_path)
    assert layer_violations(package) == []
    clock = package / "core" / "clock.py"
    clock.write_text(clock.read_text(encoding="utf-8") + "\nfrom zentrale.web.api import create_api\n", "utf-8")
    sideways = package / "hotline.py"
    sideways.write_text(sideways.read_text(encoding="utf-8") + "\nfrom zentrale.calls import dialer\n", "utf-8")
    (package / "newcomer.py").write_text('"""A module nobody placed in a layer."""\n', "utf-8")
    wrong = layer_violations(package)
    assert any(w.startswith("core/clock.py:") and "imports zentrale.web.api (layer 1 -> 8)" in w for w in wrong)
    assert any(w.startswith("hotline.py:") and "imports zentrale.calls.dialer (layer 5 -> 5)" in w for w in wrong)
    assert "newcomer (newcomer.py) is in no layer" in wrong
    assert len(wrong) == 3


def test_a_library_imported_outside_its_owner_fails_the_owner_check(tmp_path: Path) -> None:
    package = copy_of_the_firmware(tmp_path)
    hotline = package / "hotline.py"
    hotline.write_text(hotline.read_text(encoding="utf-8") + "\nimport sqlite3\nimport threading\n", "utf-8")
    wrong = owner_violations(package)
    assert [w.split(":")[0] + " " + w.split(" imports ")[1] for w in wrong] == [
        "hotline.py sqlite3",
        "hotline.py threading",
    ]
    assert module_name("hotline.py") == "zentrale.hotline"
