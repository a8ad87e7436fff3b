"""Backup a running box, restore onto a fresh data folder, and find everything again.

The message is a real one (a pjsua2 caller leaves it over SIP), the backup
is taken while the daemon runs, and the restored daemon is asked through its
HTTP API, as a person would check: messages listed and playable, modes,
the active mode, switch states, the audit log, the prompts, the configuration.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.harness.audio import make_tone_wav, read_wav, tone_level
from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import DEMO, start_daemon
from tests.harness.modes import demo_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def quick_voicemail_mode() -> dict[str, Any]:
    """The demo mode, but callers go straight to team LVS's message box."""
    mode = demo_mode()
    mode["start"] = "voicemail_lvs"
    mode["nodes"]["voicemail_lvs"]["silence_seconds"] = 1
    return mode


def zentrale(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zentrale", *args], capture_output=True, text=True, timeout=120, check=False
    )


def leave_a_message(uri: str, phone: Phone, tmp_path: Path) -> None:
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 600, 2.0, rate=8000, level_dbfs=-12)
    offer, rate = read_wav(DEMO / "prompts" / "offer_message.wav")
    call = phone.call(uri)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(len(offer) / rate + 1.0)  # the offer and the beep
    phone.play(call, tone)
    time.sleep(2.2)
    phone.play(call, None)  # silence ends the recording
    phone.wait_event("disconnected", call=call, timeout=20)


def test_a_backup_of_a_running_box_brings_everything_back_on_a_fresh_one(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    old = start_daemon(tmp_path / "old", mode=quick_voicemail_mode())
    try:
        custom_prompt = old.data_dir / "prompts" / "custom_notice.wav"
        custom_prompt.parent.mkdir(parents=True, exist_ok=True)
        make_tone_wav(custom_prompt, 440, 1.0, rate=8000, level_dbfs=-12)
        night = demo_mode()
        night["name"] = "Nachtbetrieb"
        assert old.http.put("/api/modes/night", content=yaml.safe_dump(night, allow_unicode=True)).status_code == 200
        leave_a_message(old.uri, sip_phones(name="caller", codecs="PCMU"), tmp_path)
        messages = wait_until(lambda: old.http.get("/api/messages").json(), 10, "the message")
        old_audio = old.http.get(f"/api/messages/{messages[0]['id']}/audio").content
        assert old.http.put("/api/switches/network_outage", json={"on": True, "by": "Anna"}).status_code == 200

        archive = tmp_path / "box.tar.gz"
        made = zentrale("backup", str(archive), "--config", str(old.config_path))  # while the daemon runs
        assert made.returncode == 0, made.stderr
        assert "1 message(s), 2 mode(s), 1 prompt(s)" in made.stdout
        assert archive.stat().st_mode & 0o777 == 0o600  # it holds the configuration
        with tarfile.open(archive) as tar:
            names = set(tar.getnames())
        assert {"zentrale-backup/MANIFEST.json", "zentrale-backup/zentrale.db", "zentrale-backup/config.yaml"} <= names
        assert f"zentrale-backup/messages/{messages[0]['id']}.wav" in names
        old_audit = old.http.get("/api/audit").json()
    finally:
        old.stop()

    fresh = tmp_path / "new" / "data"
    restored_config = tmp_path / "new" / "etc" / "config.yaml"
    done = zentrale("restore", str(archive), "--config", str(restored_config), "--data-dir", str(fresh))
    assert done.returncode == 0, done.stderr
    assert restored_config.read_text(encoding="utf-8") == old.config_path.read_text(encoding="utf-8")
    again = zentrale("restore", str(archive), "--config", str(restored_config), "--data-dir", str(fresh))
    assert again.returncode == 1
    assert "already holds a database" in again.stderr

    new = start_daemon(tmp_path / "new", data_dir=fresh)
    try:
        assert new.http.get("/api/messages").json() == messages
        audio = new.http.get(f"/api/messages/{messages[0]['id']}/audio")
        assert audio.status_code == 200
        assert audio.content == old_audio
        wav = tmp_path / "played.wav"
        wav.write_bytes(audio.content)
        samples, rate = read_wav(wav)
        assert tone_level(samples, rate, 600) > 0.6  # the caller's voice, playable
        assert new.http.get("/api/modes").json() == {"active": "hotline", "modes": ["hotline", "night"]}
        assert new.http.get("/api/modes/night").json()["name"] == "Nachtbetrieb"
        switches = {s["id"]: s for s in new.http.get("/api/switches").json()}
        assert switches["network_outage"]["on"]
        assert switches["network_outage"]["by"] == "Anna"
        assert not switches["sap_outage"]["on"]
        assert new.http.get("/api/audit").json()[-len(old_audit) :] == old_audit  # newest first: start-up on top
        assert (fresh / "prompts" / "custom_notice.wav").read_bytes() == custom_prompt.read_bytes()
        assert new.status()["overall"] == "ok"
    finally:
        new.stop()


def test_a_damaged_archive_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    daemon = start_daemon(tmp_path / "box")
    try:
        archive = tmp_path / "box.tar"
        assert zentrale("backup", str(archive), "--config", str(daemon.config_path)).returncode == 0
    finally:
        daemon.stop()
    data = bytearray(archive.read_bytes())
    # flip bytes inside the database member: the checksum must catch it
    with tarfile.open(archive) as tar:
        member = tar.getmember("zentrale-backup/zentrale.db")
    data[member.offset_data + 100 : member.offset_data + 108] = b"XXXXXXXX"
    archive.write_bytes(bytes(data))
    target = tmp_path / "fresh"
    result = zentrale("restore", str(archive), "--config", str(tmp_path / "c.yaml"), "--data-dir", str(target))
    assert result.returncode == 1
    assert "zentrale.db is missing or damaged" in result.stderr
    assert not (target / "zentrale.db").exists()
    assert not (tmp_path / "c.yaml").exists()


def test_backup_downloaded_and_restored_in_the_web_page_with_a_restart(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """The admin downloads a backup from the running box (GET /api/backup) and uploads it
    to another box (POST /api/backup/restore): checked at once, the box exits asking to be
    started again (75, as systemd's Restart= and scripts/demo do), and comes back with the
    messages, modes, switches and web settings of the first one. A file that is no backup
    is refused and changes nothing."""
    old = start_daemon(tmp_path / "old", mode=quick_voicemail_mode())
    try:
        leave_a_message(old.uri, sip_phones(name="caller", codecs="PCMU"), tmp_path)
        messages = wait_until(lambda: old.http.get("/api/messages").json(), 10, "the message")
        old_audio = old.http.get(f"/api/messages/{messages[0]['id']}/audio").content
        assert old.http.put("/api/switches/sap_outage", json={"on": True, "by": "Ben"}).status_code == 200
        assert old.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]}).status_code == 200
        download = old.http.get("/api/backup")
        assert download.status_code == 200, download.text
        assert download.headers["content-type"] == "application/gzip"
        assert 'filename="zentrale-backup-' in download.headers["content-disposition"]
        archive = tmp_path / "from-the-browser.tar.gz"
        archive.write_bytes(download.content)
        with tarfile.open(archive) as tar:
            assert f"zentrale-backup/messages/{messages[0]['id']}.wav" in tar.getnames()
        # the server's copy is removed once sent (just after the last byte)
        wait_until(lambda: not list(old.data_dir.glob(".backup-*")), 5, "the server's copy to go")
    finally:
        old.stop()

    box = start_daemon(tmp_path / "box")
    try:
        not_a_backup = box.http.post("/api/backup/restore", content=b"\x89PNG\r\n\x1a\n" + b"\0" * 500)
        assert not_a_backup.status_code == 422
        assert "the uploaded file: not a readable backup archive" in not_a_backup.json()["error"]
        assert box.alive() and box.http.get("/api/messages").json() == []
        r = box.http.post("/api/backup/restore", content=archive.read_bytes(), timeout=60)
        assert r.status_code == 202, r.text
        assert r.json()["restarting"] is True and r.json()["counts"]["messages"] == 1
        box.proc.wait(timeout=20)
        assert box.proc.returncode == 75  # "start me again"
    finally:
        box.stop()
    box = start_daemon(tmp_path / "box", data_dir=box.data_dir)
    try:
        assert box.http.get("/api/messages").json() == messages
        assert box.http.get(f"/api/messages/{messages[0]['id']}/audio").content == old_audio
        switches = {s["id"]: s for s in box.http.get("/api/switches").json()}
        assert switches["sap_outage"]["on"] and switches["sap_outage"]["by"] == "Ben"
        assert box.http.get("/api/agents/anna").json()["name"] == "Anna"
        assert list(box.data_dir.glob(".before-restore-*/zentrale.db"))  # what it replaced is kept
        assert not (box.data_dir / "restore-pending.tar.gz").exists()
        assert "restored the backup of" in box.log()
    finally:
        box.stop()


def test_backup_and_restore_by_clicking_in_the_browser(tmp_path: Path, sip_phones: Callable[..., Phone]) -> None:
    """Chromium: download the backup of one box, restore it on another; the page waits for
    the box to come back (here the test starts it again, as systemd would) and reloads."""
    from playwright.sync_api import expect

    from tests.harness.webclient import ADMIN, first_admin

    old = start_daemon(tmp_path / "old", mode=quick_voicemail_mode())
    box = start_daemon(tmp_path / "box")
    try:
        first_admin(old)
        first_admin(box)
        leave_a_message(old.uri, sip_phones(name="caller", codecs="PCMU"), tmp_path)
        message = wait_until(lambda: old.http.get("/api/messages").json(), 10, "the message")[0]
        with chromium() as browser:
            context, page = logged_in(browser, old, *ADMIN, hash_="#/admin")
            with page.expect_download() as download:
                page.click("#download-backup")
            archive = tmp_path / download.value.suggested_filename
            download.value.save_as(archive)
            assert archive.name.startswith("zentrale-backup-") and archive.name.endswith(".tar.gz")
            context.close()

            context, page = logged_in(browser, box, *ADMIN, hash_="#/admin")
            page.set_input_files("#restore-file", str(archive))
            page.click("#restore-backup")
            page.click("dialog [data-role=confirm]")
            expect(page.locator("#restore-state")).to_contain_text("1 Nachrichten")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#backup").screenshot(path=str(SHOTS / "admin-backup.png"))
            box.proc.wait(timeout=20)
            assert box.proc.returncode == 75
            box.stop()
            box = start_daemon(tmp_path / "box", data_dir=box.data_dir, http_port=box.http_port)
            # the page reloads by itself; the restored box knows only the old box's sessions
            page.wait_for_url(re.compile(r"/login"), timeout=30000)
            page.fill("#name", ADMIN[0])
            page.fill("#password", ADMIN[1])
            page.click("#login-submit")
            page.wait_for_url(box.base_url + "/")
            page.goto(box.base_url + "/#/messages")
            expect(page.locator(f"article.msg[data-message='{message['id']}']")).to_be_visible()
            context.close()
    finally:
        old.stop()
        box.stop()
