"""The tests' own layering: what test modules share lives in ``tests/harness/``; no test module
imports another test module (a helper in ``test_x.py`` would drag that module's fixtures and
daemons along, and two modules' tests would change together without anyone seeing why)."""

from __future__ import annotations

import ast
import asyncio
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.harness.waits import until, wait_until

TESTS = Path(__file__).resolve().parents[1]


def is_test_module(name: str) -> bool:
    """``tests.integration.test_agents``, ``tests.unit.test_flow``, ``test_flow`` (by its last part)."""
    parts = name.split(".")
    return parts[-1].startswith("test_") or (
        len(parts) > 1 and parts[:2] in (["tests", "unit"], ["tests", "integration"])
    )


def imported_test_modules(source: str, filename: str = "<source>") -> list[tuple[int, str]]:
    """(line, module) for every import of a test module in ``source``, also inside functions."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:  # from .test_x import y / from . import test_x
                names = [module] if module else [a.name for a in node.names]
                found += [(node.lineno, "." * node.level + n) for n in names if is_test_module(n)]
            elif is_test_module(module):
                found.append((node.lineno, module))
            elif module in ("tests.unit", "tests.integration"):
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names]
    return found


def python_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "out" not in p.relative_to(TESTS).parts)


def test_no_test_module_or_harness_module_imports_a_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS.parent)}:{line} imports {module}"
        for path in python_files()
        for line, module in imported_test_modules(path.read_text(encoding="utf-8"), str(path))
    ]
    assert not offenders, "move what is shared to tests/harness/:\n" + "\n".join(offenders)


def test_the_rule_catches_every_way_of_importing_a_test_module() -> None:
    # written with a placeholder, so that this module's own text imports no test module
    wrong = """
from tests.integration.{t}hotline_call import fast_mode
import tests.unit.{t}flow
from tests.unit import {t}flow
from .{t}agents import Office
def later():
    from tests.integration.{t}webui import CHROMIUM
""".format(t="test_")
    assert [line for line, _ in imported_test_modules(wrong)] == [2, 3, 4, 5, 7]
    fine = (
        "from tests.harness.modes import fast_mode\nfrom tests.harness.peers.phone import Phone\nimport tests.harness\n"
    )
    assert imported_test_modules(fine) == []


def test_the_harness_holds_one_wait_helper_and_test_modules_define_none() -> None:
    """One ``wait_until`` (and its loop twin ``until``) in tests/harness/waits.py: a test module
    that grows its own poll loop gets its deadline and its failure message wrong in its own way."""
    names = {"wait_until", "until", "eventually", "wait_for_condition"}
    defined = [
        f"{path.relative_to(TESTS.parent)}:{node.lineno} {node.name}"
        for path in python_files()
        if path.name != "waits.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in names
    ]
    assert not defined, "use tests.harness.waits:\n" + "\n".join(defined)


def test_wait_until_returns_the_first_true_value_and_names_what_did_not_happen_by_its_deadline() -> None:
    values = iter([0, None, "", "ready"])
    assert wait_until(lambda: next(values), 1, "a value", poll=0.001) == "ready"
    with pytest.raises(AssertionError, match=r"timed out after 0\.05 s waiting for the moon"):
        wait_until(lambda: False, 0.05, "the moon", poll=0.01)


async def test_until_waits_inside_the_loop_for_plain_and_coroutine_conditions() -> None:
    ticks: list[int] = []

    async def ticker() -> None:
        while True:
            ticks.append(len(ticks))
            await asyncio.sleep(0.001)

    task = asyncio.ensure_future(ticker())  # runs only if the wait gives the loop its turn
    try:
        assert await until(lambda: len(ticks) >= 3, 1, "three ticks") is True

        async def enough() -> int:
            return len(ticks) if len(ticks) >= 6 else 0

        assert await until(enough, 1, "six ticks") >= 6
        with pytest.raises(AssertionError, match="waiting for nothing"):
            await until(lambda: None, 0.05, "nothing")
    finally:
        task.cancel()


def test_tests_sharing_a_module_daemon_run_on_one_worker_and_heavy_ones_share_one_lane(tmp_path: Path) -> None:
    """tests/conftest.py's lanes as pytest-xdist really applies them (a pytest or xdist upgrade
    that stops --dist loadgroup from grouping would start every module's daemon on every worker,
    and tests that build on each other would fail at random)."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_itemcollected  # noqa: F401\n"
    )
    (tmp_path / "test_lanes.py").write_text(
        textwrap.dedent(
            """
            import os
            import pytest

            @pytest.fixture(scope="module")
            def shared():
                return object()

            def record(request, tmp_path_factory):
                with open(os.environ["LANES_OUT"], "a") as f:
                    f.write(f"{request.node.nodeid} {os.environ['PYTEST_XDIST_WORKER']}\\n")

            @pytest.mark.parametrize("n", range(6))
            def test_shared(shared, n, request, tmp_path_factory):
                record(request, tmp_path_factory)

            @pytest.mark.heavy
            @pytest.mark.parametrize("n", range(4))
            def test_heavy(n, request, tmp_path_factory):
                record(request, tmp_path_factory)

            @pytest.mark.parametrize("n", range(6))
            def test_alone(n, request, tmp_path_factory):
                record(request, tmp_path_factory)
            """
        )
    )
    out = tmp_path / "lanes.txt"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3", "--dist", "loadgroup",
         "--no-loadscope-reorder", "-o", "addopts=", "--rootdir", str(tmp_path), str(tmp_path)],
        cwd=TESTS.parent, capture_output=True, text=True, timeout=240, env={**os.environ, "LANES_OUT": str(out)},
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    rows = [line.split() for line in out.read_text().splitlines()]
    workers: dict[str, set[str]] = {}
    for nodeid, worker in rows:
        workers.setdefault(nodeid.split("[")[0].split("::")[-1], set()).add(worker)
    assert len(rows) == 16
    assert len(workers["test_shared"]) == 1  # one worker: the module's fixture made once
    assert len(workers["test_heavy"]) == 1  # one lane
    assert all(nodeid.endswith("@heavy") for nodeid, _ in rows if "test_heavy" in nodeid)
