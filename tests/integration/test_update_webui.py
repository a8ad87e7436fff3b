"""Verwaltung -> Aktualisierung in Debian's chromium against the real RAUC (tests/harness/rauc.py:
its service on a private system D-Bus, two ext4 slots on loop devices, bundles signed by the
image's scripts): an admin uploads a signed bundle in the page, sees the upload's progress and
"installiert", and the other slot holds the new release; a foreign-signed bundle is refused in
German; where RAUC is missing or silent the card says so instead of failing. Needs root."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.rauc import Rauc, bundle, rauc_system, slot_release
from tests.harness.webclient import ADMIN, first_admin

# Every state the card shows and every value of its progress bar, as the page draws them.
WATCH_UPDATE = """() => {
  window.__update = { states: [], progress: [] };
  new MutationObserver(() => {
    const state = document.querySelector('#update-state');
    const bar = document.querySelector('#update-progress');
    const seen = window.__update;
    if (state && seen.states[seen.states.length - 1] !== state.dataset.state) seen.states.push(state.dataset.state);
    if (bar && seen.progress[seen.progress.length - 1] !== Number(bar.value)) seen.progress.push(Number(bar.value));
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
}"""

UPLOAD_BYTES_PER_S = 1_000_000  # an office network's upload, so that the progress can be watched


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("rauc-web")
    with (
        rauc_system(work / "rauc") as rauc,
        running_daemon(work / "daemon", env={"DBUS_SYSTEM_BUS_ADDRESS": rauc.bus_address}) as daemon,
        chromium() as browser,
    ):
        first_admin(daemon)
        yield {"rauc": rauc, "daemon": daemon, "browser": browser, "work": work}


def update_card(browser: Browser, daemon: Daemon) -> Page:
    _, page = logged_in(browser, daemon, *ADMIN, hash_="#/admin")
    expect(page.locator("#updates h2")).to_have_text("Aktualisierung")
    return page


def card_shot(page: Page, name: str) -> None:
    """The card alone (docs/updates.md shows it): docs/screenshots/ with ZENTRALE_SCREENSHOTS set."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#updates").screenshot(path=str(SHOTS / f"{name}.png"))


def test_an_admin_uploads_a_signed_bundle_sees_its_progress_and_the_other_slot_gets_it(box: dict[str, Any]) -> None:
    rauc: Rauc = box["rauc"]
    raucb = bundle(box["work"] / "v2", "2", rauc.keys, noise=3_000_000)
    page = update_card(box["browser"], box["daemon"])
    expect(page.locator("#update-booted")).to_have_text("A")
    expect(page.locator("#update-slots tr[data-slot=A]")).to_contain_text("läuft gerade")
    expect(page.locator("#update-slots tr[data-slot=B]")).to_contain_text("Reserve")
    expect(page.locator("#update-version")).not_to_be_empty()
    expect(page.locator("#update-state")).to_have_attribute("data-state", "idle")

    page.evaluate(WATCH_UPDATE)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 0, "downloadThroughput": -1,
                                                  "uploadThroughput": UPLOAD_BYTES_PER_S})  # fmt: skip
    page.set_input_files("#update-file", str(raucb))
    page.click("#update-upload")
    expect(page.locator("#update-state")).to_contain_text("Aktualisierung installiert", timeout=120_000)
    seen = page.evaluate("window.__update")
    states = seen["states"]
    assert "uploading" in states and states[-1] == "installed", seen
    assert "failed" not in states[states.index("uploading") :], seen
    assert any(0 < p < 100 for p in seen["progress"]), seen  # the bar moved during the upload
    assert seen["progress"][-1] == 100, seen
    expect(page.locator("#update-slots tr[data-slot=B] .slot-version")).to_have_text("2")
    expect(page.locator("#update-slots tr[data-slot=B]")).to_contain_text("startet beim nächsten Neustart")

    assert rauc.slot_versions() == {"A": None, "B": "2"}  # rauc status: the other slot holds release 2
    assert slot_release(rauc.devices[1]) == "2" and slot_release(rauc.devices[0]) == "1"
    assert (rauc.state / "primary").read_text().strip() == "B"  # the next boot tries it
    card_shot(page, "admin-update-installed")

    page.click("#update-reboot")
    dialog = page.locator("dialog.confirm")
    expect(dialog).to_contain_text("Laufende Anrufe werden getrennt")
    expect(dialog).to_contain_text("zwei Minuten")
    dialog.locator("[data-role=confirm]").click()
    if Path("/run/zentrale").is_dir():  # systemd's runtime folder of an installed box: the flag is written
        expect(page.locator("#update-restarting")).to_be_visible()
    else:  # nothing here watches a flag: the page says so, translated, instead of pretending
        expect(page.locator(".toast.refusal[data-code=restart_impossible]")).to_be_visible()
    assert page.__dict__["js_errors"] == []
    page.context.close()


def test_a_bundle_signed_with_another_key_shows_the_translated_refusal_and_changes_nothing(
    box: dict[str, Any],
) -> None:
    rauc: Rauc = box["rauc"]
    before = rauc.slot_versions()
    foreign = bundle(box["work"] / "foreign", "666", rauc.other_keys)
    page = update_card(box["browser"], box["daemon"])
    page.set_input_files("#update-file", str(foreign))
    page.click("#update-upload")
    refusal = page.locator("#update-refusal[data-code=update_signature_refused]")
    expect(refusal).to_contain_text("Die Signatur der Aktualisierung passt nicht zu dieser Box", timeout=60_000)
    expect(refusal).to_contain_text("nichts wurde installiert")
    assert rauc.slot_versions() == before
    assert slot_release(rauc.devices[1]) == before["B"]
    card_shot(page, "admin-update-refused")

    assert page.__dict__["js_errors"] == []
    assert "Traceback" not in box["daemon"].log()
    page.context.close()


def test_a_bundle_from_an_address_is_fetched_by_the_box_and_a_bad_address_is_refused_in_english(
    box: dict[str, Any],
) -> None:
    rauc: Rauc = box["rauc"]
    served = box["work"] / "served"
    bundle(served, "3", rauc.keys)
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page = update_card(box["browser"], box["daemon"])
        page.click("button[data-lang=en]")
        expect(page.locator("#updates h2")).to_have_text("Updates")
        page.fill("#update-url", "ftp://127.0.0.1/zentrale-3.raucb")
        page.click("#update-fetch")
        refusal = page.locator(".toast.refusal[data-code=update_bad_address]")
        expect(refusal).to_contain_text("The address must start with http:// or https://")
        page.fill("#update-url", f"http://127.0.0.1:{server.server_address[1]}/zentrale-3.raucb")
        page.click("#update-fetch")
        expect(page.locator("#update-state[data-state=installed]")).to_contain_text("Update installed", timeout=120_000)
        expect(page.locator("#update-slots tr[data-slot=B] .slot-version")).to_have_text("3")
        expect(page.locator("#update-slots tr[data-slot=B]")).to_contain_text("starts at the next restart")
        assert rauc.slot_versions()["B"] == "3" and slot_release(rauc.devices[1]) == "3"
        assert page.__dict__["js_errors"] == []
        page.context.close()
    finally:
        server.shutdown()
        server.server_close()


def test_where_rauc_is_missing_or_silent_the_card_says_so_without_an_error(box: dict[str, Any], tmp_path: Path) -> None:
    for env, why, text in (
        ({"PATH": str(tmp_path / "empty")}, "not_installed", "nicht aus dem Zentrale-Abbild"),
        ({"DBUS_SYSTEM_BUS_ADDRESS": f"unix:path={tmp_path / 'no-bus'}"}, "no_answer", "RAUC antwortet nicht"),
    ):
        with running_daemon(tmp_path / why, env=env) as daemon:
            first_admin(daemon)
            page = update_card(box["browser"], daemon)
            notice = page.locator(f"#update-unavailable[data-why={why}]")
            expect(notice).to_contain_text("keine Aktualisierung aus der Webseite")
            expect(notice).to_contain_text(text)
            expect(page.locator("#update-upload")).to_have_count(0)
            expect(page.locator("#updates")).not_to_contain_text("undefined")
            assert page.locator(".toast.refusal").count() == 0  # a plain statement, not an error toast
            assert page.__dict__["js_errors"] == []
            page.context.close()
