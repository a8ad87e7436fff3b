"""Retention in the real daemon: a message a real caller left, marked done and backdated past
its limit, is deleted by the job with its recording and MP3; the call's number is anonymised;
/api/retention tells what went (counts); the job also runs by itself after a start."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness.daemon import running_daemon
from tests.harness.mail import CALLER, leave_message
from tests.harness.modes import straight_to_voicemail
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def backdate(db: Path, sql: str, days: float) -> int:
    """Move rows into the past by writing to the daemon's database beside it (WAL: it may run)."""
    when = (datetime.now(UTC) - timedelta(days=days)).isoformat()
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    try:
        return conn.execute(sql, (when,)).rowcount
    finally:
        conn.close()


def test_a_recorded_message_done_long_ago_goes_with_its_files_and_the_api_tells_the_counts(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    config = {"retention": {"first_run_seconds": 3600}}  # the test runs the job itself
    with running_daemon(tmp_path / "d", mode=straight_to_voicemail(), config=config) as daemon:
        leave_message(daemon, sip_phones, tmp_path)
        message = wait_until(lambda: (rows := daemon.http.get("/api/messages").json()) and rows[0], 10, "the message")
        wav = daemon.data_dir / message["file"]
        assert daemon.http.get(f"/api/messages/{message['id']}/audio.mp3").status_code == 200  # the MP3 copy
        mp3 = wav.with_suffix(".mp3")
        assert wav.is_file() and mp3.is_file()
        changed = daemon.http.patch(f"/api/messages/{message['id']}", json={"status": "done"})
        assert changed.status_code == 200, changed.text
        wait_until(lambda: daemon.http.get("/api/calllog").json(), 10, "the call's log entry")
        db = daemon.data_dir / "zentrale.db"

        untouched = daemon.http.post("/api/retention/run").json()  # done today, called today: nothing due
        assert untouched["ok"] and untouched["counts"]["done_messages"] == 0 and untouched["counts"]["numbers"] == 0
        assert wav.is_file() and mp3.is_file()

        assert backdate(db, "UPDATE messages SET status_at = ?", 30.01) == 1
        assert backdate(db, "UPDATE call_log SET started_at = ?", 90.01) == 1
        run = daemon.http.post("/api/retention/run").json()
        status = daemon.http.get("/api/retention").json()
        messages = daemon.http.get("/api/messages").json()
        calls = daemon.http.get("/api/calllog").json()
        lines = [line for line in daemon.log().splitlines() if "retention" in line]

    assert run["ok"] and run["error"] is None
    assert run["counts"] | {"files": None} == {
        "call_log": 0, "numbers": 1, "done_messages": 1, "open_messages": 0, "files": None, "mail_copies": 0,
        "outbox": 0, "audit": 0, "kept_for_mail": 0, "callbacks": 0,
    }  # fmt: skip
    assert run["counts"]["files"] == 2  # the recording and its MP3
    assert not wav.exists() and not mp3.exists()
    assert messages == []
    assert [c["caller"] for c in calls] == ["anonymisiert"]
    assert status["last_run"] == run
    assert status["settings"]["done_messages_days"] == 30 and status["settings"]["caller_numbers_days"] == 90
    assert any(
        "retention: deleted 0 call log entries, anonymised 1 caller numbers, deleted 1 messages" in x for x in lines
    )
    assert not any(CALLER.lstrip("+") in line or message["id"] in line for line in lines)


def test_the_job_runs_by_itself_shortly_after_the_start(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", config={"retention": {"first_run_seconds": 0.5}}) as daemon:
        status = wait_until(
            lambda: (s := daemon.http.get("/api/retention").json())["runs_since_start"] == 1 and s, 10, "the first run"
        )
        assert status["last_run"]["ok"] is True
        assert "retention: deleted 0 call log entries" in daemon.log()
