"""A waiting call in the agent's browser: DTMF digit sent -> the waiting-call row and the call
window on the page (Debian's chromium via Playwright, a real pjsua2 caller).

Usage: .venv/bin/python -m bench.browser_latency [calls]   (default 10)

The caller's digit and the page's MutationObserver read the same wall clock (time.time() and
Date.now() on one machine). Target: the row within 200 ms. The integration test
(tests/integration/test_webui.py) checks that the row and window appear and what they show;
how fast is measured here, where a loaded machine gives a figure, not a failed test.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import expect, sync_playwright
from tests.harness.audio import prompt_seconds
from tests.harness.browser import CHROMIUM, CHROMIUM_ARGS, TARGET_MS, WATCH_ROWS, logged_in
from tests.harness.daemon import running_daemon
from tests.harness.modes import office_mode
from tests.harness.peers.phone import phone_pool
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin

from bench.common import machine

TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0},
    {"id": "sap", "name": "SAP", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0},
    {"id": "pc", "name": "PC", "distribution": "auto", "ring_timeout": 5, "wrap_up": 0},
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(calls: int = 10) -> None:
    print(machine())
    rows: list[float] = []
    windows: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-browser-") as tmp,
        running_daemon(Path(tmp) / "box", mode=office_mode(), config={"teams": TEAMS}) as box,
        sync_playwright() as p,
        phone_pool() as start_phone,
    ):
        first_admin(box)
        add_agent_account(box, "anna", "anna-password", ["lvs"], "Anna Berg")
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context, page = logged_in(browser, box, "anna", "anna-password")
        page.fill("#phone-number", "201")  # available: waiting calls pop up as a call window
        page.click("#agent-login")
        expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
        caller = start_phone(name="caller", codecs="PCMU", user="0301234567", stderr_path=Path(tmp) / "caller.log")
        for i in range(calls):
            page.evaluate(WATCH_ROWS)
            call = caller.call(box.uri)
            caller.wait_event("media_active", call=call, timeout=5)
            time.sleep(prompt_seconds("greeting") + 1.0)  # the main menu is playing
            t_digit = time.time()
            caller.dtmf(call, "1")
            entry = wait_until(lambda: box.http.get("/api/queues").json(), 5, "the caller in the queue")[0]
            key = entry["entry_id"]

            def both_seen(key: str = key) -> dict[str, float] | None:
                seen: dict[str, float] = page.evaluate("window.__seen")
                return seen if f"row:{key}" in seen and f"window:{key}" in seen else None

            seen = wait_until(both_seen, 5, "the row and the call window")
            rows.append(seen[f"row:{key}"] - t_digit * 1000)
            windows.append(seen[f"window:{key}"] - t_digit * 1000)
            print(f"call {i + 1}: row {rows[-1]:.0f} ms, call window {windows[-1]:.0f} ms", flush=True)
            caller.hangup(call)
            caller.wait_event("disconnected", call=call, timeout=5)
            wait_until(lambda: not box.http.get("/api/queues").json(), 5, "the queue empty")
        context.close()
        browser.close()
    print()
    print("| | p50 / p90 / max ms | target |")
    print("|---|---|---|")
    for name, values, target in (
        ("DTMF digit → waiting-call row in the browser", rows, f"≤ {TARGET_MS} ms"),
        ("DTMF digit → call window", windows, ""),
    ):
        mark = ("✓" if percentile(values, 0.9) <= TARGET_MS else "✗") if target else ""
        print(
            f"| {name} | {statistics.median(values):.0f} / {percentile(values, 0.9):.0f} / {max(values):.0f} "
            f"| {target} {mark} |"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10)
