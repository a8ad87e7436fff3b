"""The web page in Debian's chromium (driven by Playwright, never a downloaded browser): launch
flags, viewports, screenshots and the login a test starts from."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from tests.harness.daemon import ROOT, Daemon

CHROMIUM = "/usr/bin/chromium"


CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",
]


DESKTOP = {"width": 1366, "height": 860}


PHONE = {"width": 390, "height": 844}


SHOTS = ROOT / ("docs/screenshots" if os.environ.get("ZENTRALE_SCREENSHOTS") else "tests/out/screenshots")


RECORD_NOTIFICATIONS = """
window.__notes = [];
if (window.Notification) {
  const Real = window.Notification;
  window.Notification = class extends Real {
    constructor(title, options) { super(title, options); window.__notes.push({ title, body: options?.body }); }
  };
  Object.defineProperty(window.Notification, 'permission', { get: () => 'granted' });
}
"""


def shot(page: Page, name: str, full_page: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(350)  # let pop-in animations finish
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full_page)


def logged_in(
    browser: Browser, box: Daemon, user: str, password: str, viewport: dict[str, int] = DESKTOP, hash_: str = ""
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=viewport)
    context.add_init_script(RECORD_NOTIFICATIONS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(box.base_url + "/")
    page.fill("#name", user)
    page.fill("#password", password)
    page.click("#login-submit")
    page.wait_for_url(box.base_url + "/")
    expect(page.locator("#conn:not(.off)")).to_be_attached()
    if hash_:
        page.goto(box.base_url + "/" + hash_)
    page.__dict__["js_errors"] = errors
    return context, page


TARGET_MS = 200


# Records when a waiting-call row, the call window and browser notifications first appear
# (Date.now(), the same wall clock as the test's time.time()).
WATCH_ROWS = """() => {
  window.__seen = {};
  const mark = (key) => { if (!(key in window.__seen)) window.__seen[key] = Date.now(); };
  new MutationObserver(() => {
    for (const li of document.querySelectorAll('#waiting li[data-entry]')) mark('row:' + li.dataset.entry);
    for (const w of document.querySelectorAll('.callwin[data-entry]')) mark('window:' + w.dataset.entry);
  }).observe(document.body, { subtree: true, childList: true });
}"""


@contextlib.contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """Debian's chromium, headless, started by Playwright (never a downloaded browser)."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *extra_args])
        try:
            yield browser
        finally:
            browser.close()
