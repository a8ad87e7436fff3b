"""The mode editor in a real browser, as the editor tests share it: Debian's chromium (German),
a daemon with the demo modes (the customer's hotline) and its first admin, the editor page of
the hotline mode logged in as that admin (no JavaScript error allowed), and the two locators
every editor test needs (the node form, a node's card).

Use from a test module (named there, so pytest finds the fixtures in the module)::

    from tests.harness import editor
    from tests.harness.editor import card, form

    browser, box, page = editor.browser, editor.box, editor.page
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page

from tests.harness.browser import chromium, logged_in
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.webclient import ADMIN, first_admin


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium("--lang=de-DE") as b:
        yield b


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Daemon]:
    with running_daemon(tmp_path / "box") as daemon:  # the demo modes: the customer's hotline
        first_admin(daemon)
        yield daemon


@pytest.fixture
def page(browser: Browser, box: Daemon) -> Iterator[Page]:
    context, page = logged_in(browser, box, *ADMIN, hash_="#/editor/hotline")
    yield page
    assert page.__dict__["js_errors"] == []
    context.close()


def form(page: Page) -> Locator:
    return page.locator("#node-form")


def card(page: Page, node: str) -> Locator:
    return page.locator(f".flow-card[data-node='{node}']")


def has_class(cls: str) -> re.Pattern[str]:
    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")
