"""Shared fixtures (real pjsua2 phones), and how the suite is spread over pytest-xdist workers."""

from __future__ import annotations

import pytest

from tests.harness.peers.fixtures import sip_phones

__all__ = ["sip_phones"]


@pytest.hookimpl(tryfirst=True)  # before xdist's worker reads the groups (--dist loadgroup)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that share a module-scoped fixture (a daemon, an office, a browser) run on one
    worker, in their order: the daemon is started once, and tests that look at what an earlier
    test left (the audit log, the call log) see it. Every other test goes to whichever worker is
    free (each starts its own daemon, on its own free ports and temporary folder)."""
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        if info is None:
            continue
        shared = any(
            definition.scope in ("module", "class", "package")
            for definitions in info.name2fixturedefs.values()
            for definition in definitions
        )
        if shared:
            item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::", 1)[0]))
