"""The daemon's start imports only what every box needs (issue 18: power-on to a
working box in under 60 s on the emulated appliance, where the daemon's start,
nearly all imports, is 20-40 s of it).

Each module named here is imported where its feature is started (at start-up when it
is configured, never mid-call on the event loop); ``import zentrale.app`` -- what
``zentrale serve`` imports before it builds the box -- must not pull it in. A fresh
interpreter answers, so what other tests imported does not count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# module -> where it is imported instead
LAZY = {
    "acme": "web/acme.py, when the web page asks for a certificate from ACME",
    "josepy": "web/acme.py, with acme",
    "dns": "web/acme.py, for the DNS challenge",
    "requests": "web/acme.py, acme's HTTP client",
    "gpiozero": "lines/alsa/line.py AlsaLine.start and panel/front.py, where a line or panel is wired",
    "httpx": "phonebook/carddav.py, where a CardDAV address book is read",
}


def modules_after(statement: str) -> set[str]:
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(run.stdout))


@pytest.fixture(scope="module")
def started() -> set[str]:
    return modules_after("import zentrale.cli, zentrale.app")


@pytest.mark.parametrize("module", sorted(LAZY))
def test_the_start_does_not_import_a_module_only_a_configured_feature_needs(started: set[str], module: str) -> None:
    assert module not in started, f"import zentrale.app imported {module}; it belongs in {LAZY[module]}"


def test_the_check_finds_a_module_when_it_is_imported() -> None:
    # the same subprocess check, shown to see an import (else the test above could not fail)
    assert "gpiozero" in modules_after("import zentrale.cli, zentrale.app\nimport zentrale.panel.front")


def test_the_daemon_s_modules_are_imported_with_the_collector_paused_and_then_frozen() -> None:
    # zentrale serve: the imports' objects are not scanned while they are made, then kept out
    # of every later collection; the collector runs again afterwards
    code = (
        "import gc, json, sys\nfrom zentrale.cli import _import_the_box\n_import_the_box()\n"
        "import os\nprint(json.dumps([gc.isenabled(), gc.get_freeze_count(), 'zentrale.app' in sys.modules,"
        " os.environ.get('OPENBLAS_NUM_THREADS')]))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True, env=env)
    enabled, frozen, imported, blas_threads = json.loads(run.stdout)
    assert enabled and imported
    assert blas_threads == "1", "numpy's OpenBLAS would start a thread pool per core"
    assert frozen > 50_000, f"only {frozen} objects frozen"
