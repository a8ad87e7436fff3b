"""The call log page ("Anrufliste", issue 16) in Debian's chromium against the real daemon, with a
real pjsua2 caller: the call appears in the log of the agent of its team, "Nummer sperren" on its
row puts the number on the block list (the same API and audit as the viewer), and the number's
next call hears the rejection prompt and is hung up by the box. An agent of another team does not
see the row and is refused that team's log; hostile query parameters get a 4xx, never a 500."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.harness.audio import PROMPTS, best_correlation, read_wav
from tests.harness.browser import chromium, logged_in, shot
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin, session

pytestmark = pytest.mark.peers

NUMBER = "+4940777888"
TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0},
    {"id": "sap", "name": "SAP", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0},
]


def log_mode() -> dict[str, Any]:
    """Blocked callers are rejected; everybody else waits for team LVS."""
    return {
        "name": "Call log",
        "start": "rules",
        "nodes": {
            "rules": {"type": "condition", "rules": [{"test": "blocked", "next": "blocked"}], "otherwise": "queue"},
            "blocked": {"type": "hangup", "prompt": "caller_blocked"},
            "queue": {"type": "queue", "team": "lvs", "hold": [{"music": "music_a", "seconds": 30}],
                      "repeat_hold": True},
        },
    }  # fmt: skip


def ended_rows(box: Daemon, count: int) -> list[dict[str, Any]] | None:
    rows: list[dict[str, Any]] = box.http.get("/api/calllog").json()
    done = [r for r in rows if r["ended_at"]]
    return done if len(done) >= count else None


def test_nummer_sperren_in_the_call_log_rejects_the_next_call_and_other_teams_do_not_see_the_row(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    with (
        running_daemon(tmp_path / "box", mode=log_mode(), config={"teams": TEAMS}) as box,
        chromium("--lang=de-DE") as browser,
    ):
        first_admin(box)
        add_agent_account(box, "anna", "anna-password-1", ["lvs"], "Anna Berg")
        add_agent_account(box, "ben", "ben-password-1", ["sap"], "Ben Kurz")
        # a real caller waits for LVS, then gives up
        caller = sip_phones(name="caller", codecs="PCMA", user=NUMBER)
        call = caller.call(box.uri)
        wait_until(lambda: box.http.get("/api/queues").json(), 10, "the caller waiting for LVS")
        caller.hangup(call)
        (row,) = wait_until(lambda: ended_rows(box, 1), 10, "the call's row in the log")
        assert (row["caller"], row["team"], row["outcome"]) == (NUMBER, "lvs", "abandoned"), row

        with session(box, "anna", "anna-password-1") as anna, session(box, "ben", "ben-password-1") as ben:
            assert [r["call_id"] for r in anna.get("/api/calllog").json()] == [row["call_id"]]
            assert "quality" not in anna.get("/api/calllog").json()[0]  # the audio figures are the admins'
            assert "quality" in box.http.get("/api/calllog").json()[0]
            assert [r["call_id"] for r in anna.get("/api/calllog", params={"outcome": "abandoned"}).json()] == [
                row["call_id"]
            ]
            assert anna.get("/api/calllog", params={"outcome": "answered"}).json() == []
            # another team's agent: not in his log, and that team's log is refused
            assert ben.get("/api/calllog").json() == []
            r = ben.get("/api/calllog", params={"team": "lvs"})
            assert r.status_code == 403 and r.json()["code"] == "calllog_other_team", r.text
            check_hostile_parameters(anna)

        seed_older_calls(box, 60)  # yesterday's answered calls of team LVS: more than a page
        context, page = logged_in(browser, box, "anna", "anna-password-1", hash_="#/calllog")
        rows = page.locator("#calllog tr[data-call]")
        line = page.locator(f"#calllog tr[data-call='{row['call_id']}']")
        expect(line).to_have_count(1, timeout=10000)
        expect(rows.first).to_have_attribute("data-call", row["call_id"])  # newest first
        expect(line).to_contain_text(NUMBER)
        expect(line).to_contain_text("LVS")
        expect(line).to_contain_text("Aufgelegt")
        expect(rows).to_have_count(50)
        expect(rows.nth(1)).to_contain_text("Angenommen von Anna Berg")
        page.click("#calllog-more")  # "Weitere laden": the rest, none twice
        expect(rows).to_have_count(61)
        expect(page.locator("#calllog-more")).to_have_count(0)
        assert len(set(rows.evaluate_all("rs => rs.map((r) => r.dataset.call)"))) == 61
        expect(page.locator(".toolbar [data-team]")).to_have_text(["Alle Teams", "LVS"])  # her teams only
        page.select_option("#calllog-outcome", "answered")  # the outcome filter
        expect(line).to_have_count(0)
        expect(rows).to_have_count(50)
        page.select_option("#calllog-outcome", "abandoned")
        expect(line).to_have_count(1)
        expect(rows).to_have_count(1)
        line.locator("button[data-action=block]").click()  # one click: "Nummer sperren"
        expect(line.locator("button[data-action=unblock]")).to_be_visible()
        shot(page, "calllog")
        assert not page.__dict__["js_errors"], page.__dict__["js_errors"]
        context.close()
        audit = [(a["who"], a["action"], a["detail"]) for a in box.http.get("/api/audit").json()]
        assert ("anna", "callers.block_add", NUMBER) in audit

        # the next call from that number hears the rejection and is hung up by the box
        rx = tmp_path / "again-rx.wav"
        again = caller.call(box.uri, record=rx)
        ended = caller.wait_event("disconnected", call=again, timeout=20)
        caller.wait_event("recording_done", call=again, timeout=5)
        assert ended["code"] == 200, ended
        x, rate = read_wav(rx)
        score = best_correlation(x, PROMPTS / "caller_blocked.wav", rate)[0]
        assert score > 0.6, score
        rows = wait_until(lambda: ended_rows(box, 2), 10, "the blocked call's row")
        assert (rows[0]["caller"], rows[0]["team"], rows[0]["outcome"]) == (NUMBER, None, "blocked"), rows[0]
        # a call that reached no team is the admins' to see
        with session(box, "anna", "anna-password-1") as anna:
            assert [r["call_id"] for r in anna.get("/api/calllog", params={"limit": 1}).json()] == [row["call_id"]]
        assert "Traceback" not in box.log()


def seed_older_calls(box: Daemon, count: int) -> None:
    """Answered calls of team LVS a day ago, written into the box's database as the call log
    writer would (a day of calls through real phones would take a day)."""
    start = datetime.now(UTC) - timedelta(days=1)
    conn = sqlite3.connect(box.data_dir / "zentrale.db", timeout=10)
    try:
        with conn:
            for n in range(count):
                at = start + timedelta(minutes=n)
                conn.execute(
                    "INSERT INTO call_log (call_id, caller, started_at, ended_at, team, waited_s, outcome,"
                    " answered_by, talk_s) VALUES (?,?,?,?,?,?,?,?,?)",
                    (f"seed{n:02d}", f"+4930555{n:04d}", at.isoformat(), (at + timedelta(seconds=70)).isoformat(),
                     "lvs", 10.0, "answered", "anna", 60.0),
                )  # fmt: skip
    finally:
        conn.close()


def check_hostile_parameters(agent: httpx.Client) -> None:
    for params in (
        {"limit": "0"}, {"limit": "1001"}, {"limit": "9" * 40}, {"limit": "x"},
        {"outcome": "nonsense"}, {"outcome": "' OR 1=1 --"}, {"outcome": ["answered"] * 21},
        {"team": "x" * 65}, {"team": ""},
        {"before": "yesterday, roughly"}, {"before": "2026-12-07T10:00:00\x00"}, {"before": "9" * 41},
        {"before": "2026-02-30T10:00:00"}, {"before_id": "abc"},
        {"before": "2026-12-07T10:00:00", "before_id": "y" * 65},
    ):  # fmt: skip
        r = agent.get("/api/calllog", params=params)
        assert 400 <= r.status_code < 500, (params, r.status_code, r.text)
        assert r.json().get("code"), (params, r.text)
    r = agent.get("/api/calllog", params={"before": "2026-02-30T10:00:00"})
    assert r.json()["code"] == "calllog_bad_before", r.text  # named, so the page can say what went wrong
    # parameters that are well-formed but odd are just a (possibly empty) page
    for params in ({"team": "lvs' OR '1'='1"}, {"before": "2026-12-07T10:00:00", "before_id": "' OR 1=1 --"}):
        r = agent.get("/api/calllog", params=params)
        assert r.status_code in (200, 403), (params, r.status_code, r.text)
