"""Shared fixtures (real pjsua2 phones), and how the suite is spread over pytest-xdist workers."""

from __future__ import annotations

import pytest

from tests.harness.peers.fixtures import sip_phones

__all__ = ["sip_phones"]

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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The heavy lane first, then the groups, then single integration tests, then unit tests
    (with ``--no-loadscope-reorder`` xdist hands them out in this order): the long lanes start
    early and the many short unit tests fill the gaps at the end."""

    def lane(item: pytest.Item) -> int:
        if item.get_closest_marker(HEAVY):
            return 0
        if item.get_closest_marker("xdist_group"):
            return 1
        return 2 if "/integration/" in item.nodeid else 3

    items.sort(key=lane)  # stable: a module's tests keep their order
