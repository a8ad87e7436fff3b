"""pytest fixture for real pjsua2 phones.

Use from ``tests/conftest.py``::

    from tests.harness.peers.fixtures import sip_phones  # noqa: F401

and in a test::

    def test_caller_hears_greeting(sip_phones, tmp_path):
        caller = sip_phones(name="caller", codecs="PCMA")
        ...

The phones run under ``$ZENTRALE_PJSUA_PYTHON`` (default: the test's own
interpreter), write their pjsua logs to ``tmp_path`` and are all stopped when
the test ends, passed or failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .phone import Phone, phone_pool


@pytest.fixture
def sip_phones(tmp_path: Path) -> Iterator[Callable[..., Phone]]:
    """Factory: ``sip_phones(**options) -> Phone`` (options as for ``Phone.start``)."""
    count = 0
    with phone_pool() as start:

        def start_phone(**options: Any) -> Phone:
            nonlocal count
            count += 1
            name = str(options.setdefault("name", f"phone{count}"))
            options.setdefault("stderr_path", tmp_path / f"pjsua-{count}-{name}.log")
            return start(**options)

        yield start_phone
