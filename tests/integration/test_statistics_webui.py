"""Statistics and the wallboard (issue 16, 6) in Debian's chromium against the running daemon:
the Statistik page shows the figures of a seeded call log and exports them as CSV; a wall screen
opened with its read-only token counts a real pjsua2 caller waiting and never shows the
caller's number; a wrong or revoked token gets a clear page; hostile queries get a 4xx."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from tests.harness.browser import chromium, logged_in, shot
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import ADMIN, first_admin, session

BERLIN = ZoneInfo("Europe/Berlin")  # the schedule's default time zone: the statistics' local days


def queue_mode() -> dict[str, Any]:
    return {
        "name": "Wallboard test",
        "start": "queue",
        "nodes": {"queue": {"type": "queue", "team": "lvs", "hold": [{"music": "music_a", "seconds": 30}],
                            "repeat_hold": True}},
    }  # fmt: skip


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    teams = [{"id": "lvs", "name": "LVS"}, {"id": "sap", "name": "SAP"}]
    with running_daemon(tmp_path / "box", mode=queue_mode(), config={"teams": teams}) as d:
        first_admin(d)
        yield d


def seed_yesterday(daemon: Daemon) -> None:
    """Six calls of team LVS yesterday at noon (local), written as the call supervisor writes them."""
    noon = datetime.combine(datetime.now(BERLIN).date() - timedelta(days=1), time(12), tzinfo=BERLIN)
    rows = [  # (waited, outcome, answered_by, talk, message)
        (5.0, "answered", "anna", 60.0, None), (15.0, "answered", "anna", 90.0, None),
        (40.0, "answered", "ben", 30.0, None), (30.0, "abandoned", None, None, None),
        (20.0, "voicemail", None, None, "m1"), (10.0, "callback", None, None, None),
    ]  # fmt: skip
    conn = sqlite3.connect(daemon.data_dir / "zentrale.db", timeout=10)
    with conn:
        for n, (waited, outcome, agent, talk, message) in enumerate(rows):
            at = (noon + timedelta(minutes=n)).astimezone(UTC)
            conn.execute(
                "INSERT INTO call_log (call_id, caller, started_at, team, waited_s, outcome, answered_by,"
                " answered_at, talk_s, message_id) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (f"seed{n}", f"+4930555000{n}", at.isoformat(), "lvs", waited, outcome, agent,
                 (at + timedelta(seconds=waited)).isoformat() if agent else None, talk, message),
            )  # fmt: skip
    conn.close()


def tile(page: Any, figure: str) -> Any:
    return page.locator(f'#stats-total [data-figure="{figure}"] b')


def test_the_statistics_page_shows_the_seeded_figures_and_exports_them_as_csv(daemon: Daemon, tmp_path: Path) -> None:
    seed_yesterday(daemon)
    with chromium() as browser:
        context, page = logged_in(browser, daemon, *ADMIN, hash_="#/statistics")
        expect(page.locator('.nav a[data-page="statistics"]')).to_have_text("Statistik")
        expect(tile(page, "offered")).to_have_text("6")
        expect(tile(page, "answered")).to_have_text("3")
        expect(tile(page, "abandoned")).to_have_text("1")
        expect(tile(page, "messages")).to_have_text("1")
        expect(tile(page, "callbacks")).to_have_text("1")
        expect(tile(page, "service_level")).to_have_text("33,3 %")  # answered within 20 s (5 s, 15 s) / offered
        expect(tile(page, "avg_wait")).to_have_text("20 s")
        expect(tile(page, "p90_wait")).to_have_text("40 s")
        expect(page.locator('#stats-teams tr[data-name="LVS"] td').nth(2)).to_have_text("3")
        expect(page.locator('#stats-agents-table tr[data-name="anna"] td').nth(2)).to_have_text("2")
        yesterday = (datetime.now(BERLIN).date() - timedelta(days=1)).strftime("%d.%m.")
        bar = page.locator("#stats-chart g[data-answered='3']")
        expect(bar).to_have_count(1)
        expect(bar.locator("text")).to_have_text(yesterday)  # labelled in the box's time, not the browser's
        expect(page.locator("#stats-wrapup")).to_contain_text(
            "Nachbearbeitung zählt vom Ende eines angenommenen Gesprächs"
        )
        expect(page.locator("[data-figure=wrap_up] b")).to_have_text("–")  # no agent's ring recorded in the seed
        # a wider service level: the page asks again
        page.fill("#stats-sl", "45")
        page.locator("#stats-sl").dispatch_event("change")
        expect(tile(page, "service_level")).to_have_text("50 %")
        shot(page, "statistics", full_page=True)
        with page.expect_download() as download_info:
            page.click("#stats-csv")
        saved = tmp_path / "statistik.csv"
        download_info.value.save_as(saved)
        data = saved.read_bytes()
        assert data.startswith(b"\xef\xbb\xbf")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
        head = rows[0]
        total = dict(zip(head, next(r for r in rows if r[0] == "Gesamt"), strict=True))
        assert (total["Angeboten"], total["Angenommen"], total["Aufgelegt"], total["Rückrufe"]) == ("6", "3", "1", "1")
        assert (total["Ø Wartezeit (s)"], total["90%-Wartezeit (s)"], total["Servicelevel (%)"]) == (
            "20,0",
            "40,0",
            "50,0",
        )
        assert [r[3] for r in rows if r[0] == "Agent"] == ["anna", "ben"]
        assert not page.__dict__["js_errors"]
        context.close()


def test_the_wallboard_counts_a_real_caller_waiting_and_shows_no_caller_number(
    daemon: Daemon, sip_phones: Callable[..., Phone]
) -> None:
    with session(daemon, *ADMIN) as admin:
        made = admin.post("/api/wallboard/tokens", json={"name": "Flur"}).json()
    token = made["token"]
    for agent, number in (("anna", "201"), ("ben", "202")):
        assert (
            daemon.http.put(f"/api/agents/{agent}", json={"name": agent.title(), "teams": ["lvs"]}).status_code == 200
        )
        assert daemon.http.post(f"/api/agents/{agent}/login", json={"number": number}).status_code == 200
    assert daemon.http.post("/api/agents/ben/pause", json={"paused": True}).status_code == 200
    url = f"{daemon.base_url}/wallboard?token={token}"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url)
        lvs = page.locator('[data-team="lvs"]')
        expect(lvs.locator('[data-figure="waiting"] b')).to_have_text("0")
        expect(lvs.locator('[data-figure="available"] b')).to_have_text("1")
        expect(lvs.locator('[data-figure="paused"] b')).to_have_text("1")
        expect(page.locator('[data-team="sap"] [data-figure="available"] b')).to_have_text("0")
        caller = sip_phones(name="caller", codecs="PCMA")
        call = caller.call(daemon.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        waiting = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json() or None, 10,
                             "the caller waiting in LVS")  # fmt: skip
        number = waiting[0]["caller"]
        assert number
        expect(lvs.locator('[data-figure="waiting"] b')).to_have_text("1", timeout=6000)  # the page polls every 2 s
        expect(page.locator('[data-team="sap"] [data-figure="waiting"] b')).to_have_text("0")
        expect(lvs).to_have_class("wb-team busy")
        box_time = datetime.now(BERLIN)
        shown = page.locator("#wb-clock").inner_text()
        hours = {box_time.strftime("%H"), (box_time - timedelta(minutes=1)).strftime("%H")}
        assert shown[:2] in hours, shown  # the box's time zone, not the browser's (UTC here)
        shot(page, "wallboard")
        assert number not in page.content()
        answer = httpx.get(f"{daemon.base_url}/api/wallboard", params={"token": token}, timeout=10)
        assert answer.status_code == 200
        assert number not in answer.text and "caller" not in answer.text
        caller.hangup(call)
        expect(lvs.locator('[data-figure="waiting"] b')).to_have_text("0", timeout=6000)
        expect(lvs.locator('[data-figure="abandoned"] b')).to_have_text("1", timeout=10000)  # logged behind the call
        assert not errors
        # revoked: the screen shows why, the API answers 403; an unknown token: 401
        with session(daemon, *ADMIN) as admin:
            assert admin.delete(f"/api/wallboard/tokens/{made['id']}").status_code == 200
        expect(page.locator("body.wb-refused[data-reason=revoked] h1")).to_have_text("Wallboard-Link widerrufen",
                                                                                   timeout=6000)  # fmt: skip
        assert httpx.get(url, timeout=10).status_code == 403
        assert httpx.get(f"{daemon.base_url}/api/wallboard", params={"token": token}, timeout=10).status_code == 403
        wrong = httpx.get(f"{daemon.base_url}/wallboard", params={"token": "nope"}, timeout=10)
        assert wrong.status_code == 401 and "Unbekannter Wallboard-Link" in wrong.text
        nothing = httpx.get(f"{daemon.base_url}/api/wallboard", timeout=10)
        assert nothing.status_code == 401 and nothing.json()["code"] == "wallboard_token_unknown"
        page.close()


def test_hostile_statistics_queries_get_a_clear_4xx(daemon: Daemon) -> None:
    huge = "x" * 10_000
    cases = [
        ({"from": "2026-05-02", "to": "2026-05-01"}, 422, "statistics_range_reversed"),
        ({"from": "1950-01-01", "to": "2049-12-31", "by": "week"}, 422, "statistics_dates"),
        ({"from": "2026-01-01", "to": "2026-12-31", "by": "hour"}, 422, "statistics_range_too_long"),
        ({"by": "garbage"}, 422, "invalid_input"),
        ({"team": huge}, 422, "invalid_input"),
        ({"agent": huge}, 422, "invalid_input"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, 422, "statistics_dates"),
        ({"to": "0001-01-01"}, 422, "statistics_dates"),  # the default week before it would be before year 1
        ({"from": "9999-12-31"}, 422, "statistics_dates"),
        ({"from": "not-a-day"}, 422, "invalid_input"),
        ({"sl": "0"}, 422, "invalid_input"),
        ({"sl": "nan"}, 422, "invalid_input"),
    ]
    with session(daemon, *ADMIN) as admin:
        for params, status, code in cases:
            for path in ("/api/statistics", "/api/statistics.csv"):
                answer = admin.get(path, params=params)
                assert (answer.status_code, answer.json().get("code")) == (status, code), (path, params, answer.text)
        assert admin.get("/api/statistics", params={"team": "no such team"}).json()["total"]["calls"] == 0
        assert admin.post("/api/wallboard/tokens", json={"name": huge}).status_code == 422
        assert admin.delete("/api/wallboard/tokens/nope").status_code == 404
    anonymous = httpx.get(f"{daemon.base_url}/api/statistics", timeout=10)
    assert anonymous.status_code == 401
    assert httpx.get(f"{daemon.base_url}/api/wallboard", params={"token": huge}, timeout=10).status_code == 422


def test_an_admin_creates_a_wallboard_link_in_verwaltung_and_revoking_it_darkens_the_screen(daemon: Daemon) -> None:
    with chromium() as browser:
        context, page = logged_in(browser, daemon, *ADMIN, hash_="#/admin")
        box = page.locator("#wallboard-tokens")
        expect(box.locator("#wallboard-list")).to_contain_text("Noch keine Wallboard-Links")
        page.fill("#wallboard-name", "Flur")
        page.click("#wallboard-create")
        link = box.locator("#wallboard-link a")
        expect(link).to_be_visible()
        url = link.get_attribute("href")
        assert url is not None and "/wallboard?token=" in url
        wall = context.new_page()
        wall.goto(url)
        expect(wall.locator('[data-team="lvs"] [data-figure="waiting"] b')).to_have_text("0")
        row = box.locator("#wallboard-list tr", has_text="Flur")
        row.locator("button[data-role=revoke]").click()
        page.click("dialog button[data-role=confirm]")
        expect(row).to_contain_text("widerrufen")
        expect(wall.locator("body.wb-refused[data-reason=revoked]")).to_be_attached(timeout=6000)
        assert not page.__dict__["js_errors"]
        context.close()
