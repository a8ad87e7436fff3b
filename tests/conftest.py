"""Shared fixtures (real pjsua2 phones), and how the suite is spread over pytest-xdist workers."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Generator, Iterator

import pytest
from hypothesis import settings

from tests.harness.daemon import APPLIANCE_NICE
from tests.harness.peers.fixtures import sip_phones
from tests.harness.timeline import longest_first, read_durations

# The property tests (SIP parser, transaction machines) check what the code does, not how fast:
# no per-example deadline (Hypothesis' 200 ms), which a machine loaded by parallel workers misses
# and then reports as "unreliable". Timing belongs in bench/.
settings.register_profile("zentrale", deadline=None)
settings.load_profile("zentrale")

__all__ = ["sip_phones"]

TIMELINE = "ZENTRALE_TEST_TIMELINE"  # a file: one JSON line per test (worker, nodeid, start, end)
HEAVY = "heavy"  # the one lane for tests that keep a core busy (see pytest_collection_modifyitems)


def shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(
        definition.scope in ("module", "class", "package")
        for definitions in info.name2fixturedefs.values()
        for definition in definitions
    )


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test's lane, as it is collected (xdist's worker reads the groups in its own
    pytest_collection_modifyitems, which runs before any conftest's):

    - tests marked ``heavy`` (floods, the HTTP fuzz, megabyte documents: a core busy for
      a minute) run one after another in one lane, so they never take every core from the
      real-time tests (calls whose audio is checked) at once;
    - tests that share a module-scoped fixture (a daemon, an office, a browser) run on one
      worker in their order: the daemon starts once, and a test that looks at what an earlier
      one left (the audit log, the call log, a mode built in the browser) sees it;
    - every other test goes to whichever worker is free (its own daemon, free ports and
      temporary folder).
    """
    if item.get_closest_marker(HEAVY):
        item.add_marker(pytest.mark.xdist_group(HEAVY))
    elif shares_a_module_fixture(item):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
    if item.get_closest_marker("peers") and not item.get_closest_marker(HEAVY):
        # Real phones in real time: what a caller hears is checked by correlation, and on a
        # machine whose two cores are shared with other work a stall of the phone's or the
        # box's clock can cost a check its margin. Such a test runs once more after a failed
        # check (pytest-rerunfailures; the summary lists it as rerun, and it fails if the
        # second run fails too). Errors other than a failed check are never rerun.
        item.add_marker(pytest.mark.flaky(reruns=1, only_rerun=["AssertionError"]))


def lane_of(item: pytest.Item) -> str | None:
    mark = item.get_closest_marker("xdist_group")
    return str(mark.args[0]) if mark else None


def plain_nodeid(item: pytest.Item) -> str:
    """The test's id without the "@<lane>" xdist adds on its workers."""
    lane = lane_of(item)
    return item.nodeid.removesuffix(f"@{lane}") if lane else item.nodeid


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heavy lane first, then the other lanes (a module sharing a daemon, or a single test)
    longest first by tests/durations.json (with ``--no-loadscope-reorder`` xdist hands them out
    in this order, tests/harness/timeline.py explains why): the long lanes start early and the
    many short unit tests fill the gaps at the end. The heavy lane's tests are independent: its
    longest go first, so xdist queues the next lane behind a short one."""
    items[:] = longest_first(
        items, plain_nodeid, lane_of, read_durations(), first=HEAVY, free_order=lambda lane: lane == HEAVY
    )


@pytest.fixture(autouse=True)
def _priority(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that places calls times them (a digit pressed during the menu, a hangup at a
    step): it runs at the daemon's and the phones' priority (Nice=-5, as on the appliance),
    so that on a machine busy with parallel tests its clock is not the late one. Heavy tests
    (their load generators must reach their rates) and unit tests keep the normal priority.
    Without the right to change priorities (not root) nothing changes."""
    if request.node.get_closest_marker(HEAVY) or "/integration/" not in request.node.nodeid:
        yield
        return
    wanted = APPLIANCE_NICE
    before = os.getpriority(os.PRIO_PROCESS, 0)  # this thread's (Linux): the one running the test
    try:
        os.setpriority(os.PRIO_PROCESS, 0, wanted)
    except PermissionError:
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, 0, before)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run's timeline starts empty (the controller empties it before its workers start)."""
    path = os.environ.get(TIMELINE)
    if path and "PYTEST_XDIST_WORKER" not in os.environ:
        open(path, "w").close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None]:
    """With ``ZENTRALE_TEST_TIMELINE=<file>``, one JSON line per test: the xdist worker, the
    test, and when its set-up began and its tear-down ended (wall clock, so the workers' lines
    line up). ``python -m tests.harness.timeline <file>`` reads the file and prints each lane's busy
    time and where the workers idled (where the critical path of the run is)."""
    path = os.environ.get(TIMELINE)
    start = time.time()
    yield
    if path:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        row = {
            "worker": worker,
            "nodeid": plain_nodeid(item),
            "lane": lane_of(item),
            "start": start,
            "end": time.time(),
        }
        line = json.dumps(row)
        with open(path, "a", encoding="utf-8") as out:  # one short write: O_APPEND keeps lines whole
            out.write(line + "\n")
