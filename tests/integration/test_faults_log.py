"""The last faults for admins, from both places they can come from: a real journal file
(written by systemd-journal-remote from journal export format, read by the real journalctl,
as on the appliance where the journal lives on the data partition) and, without a journal,
the daemon's own ring buffer of its WARNING and ERROR lines -- and in a backup on request."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import tarfile
import time
from pathlib import Path

import httpx

from tests.harness.daemon import running_daemon
from tests.harness.webclient import ADMIN, first_admin, session
from zentrale.web.faults import FaultLog

JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"  # Debian package systemd-journal-remote


def export_entry(message: str, priority: int, when: float, boot: str, unit: str = "zentrale.service") -> bytes:
    """One entry in the journal export format (systemd.io/JOURNAL_EXPORT_FORMATS)."""
    fields = {
        "__REALTIME_TIMESTAMP": str(int(when * 1e6)), "__MONOTONIC_TIMESTAMP": str(int(when * 1e6) % 10**9),
        "_BOOT_ID": boot, "MESSAGE": message, "PRIORITY": str(priority), "_SYSTEMD_UNIT": unit,
        "SYSLOG_IDENTIFIER": "zentrale", "_TRANSPORT": "stdout",
    }  # fmt: skip
    return "".join(f"{k}={v}\n" for k, v in fields.items()).encode() + b"\n"


async def test_faults_come_from_the_journal_across_a_reboot_newest_first(tmp_path: Path) -> None:
    journal = tmp_path / "journal"
    journal.mkdir()
    before, after = "1" * 32, "2" * 32  # two boots
    now = time.time()
    export = b"".join([
        export_entry("media clock stalled, skipped 7 ticks", 4, now - 7200, before),
        export_entry("SIP registration at fritz.box failed: 401", 3, now - 3600, before),
        export_entry("HTTP API on https://0.0.0.0:443", 6, now - 60, after),  # info: not a fault
        export_entry("disk failing: read-only file system", 3, now - 30, after),
        export_entry("another unit's error", 3, now - 20, after, unit="ssh.service"),
    ])  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, [JOURNAL_REMOTE, f"--output={journal / 'system.journal'}", "-"], input=export,
        capture_output=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    faults = await FaultLog(journal_dir=journal).recent(10)
    assert faults["source"] == "journal"
    rows = faults["faults"]
    assert [r["message"] for r in rows] == [
        "disk failing: read-only file system", "SIP registration at fritz.box failed: 401",
        "media clock stalled, skipped 7 ticks",
    ]  # fmt: skip
    assert [r["level"] for r in rows] == ["ERROR", "ERROR", "WARNING"]
    assert rows[0]["boot"] == after and rows[1]["boot"] == before  # last night's, before the reboot
    assert (await FaultLog(journal_dir=journal).recent(1))["faults"][0]["message"].startswith("disk failing")


async def test_an_unreadable_journal_falls_back_to_the_daemons_own_lines(tmp_path: Path) -> None:
    faults = FaultLog(journal_dir=tmp_path / "no-such-journal")
    faults.install()
    try:
        logging.getLogger("zentrale.test").warning("the line the admin should see")
        answer = await faults.recent()
    finally:
        faults.uninstall()
    assert answer["source"] == "daemon"
    messages = [f["message"] for f in answer["faults"]]
    assert messages[0].startswith("faults: the journal could not be read (Failed to open")  # why, newest first
    assert messages[1] == "the line the admin should see"


def test_without_a_journal_admins_see_the_daemons_warnings_and_a_backup_may_carry_them(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as box:
        bad = {"token": "AAAA-BBBB-CCCC-DDDD", "name": "chef", "password": "chef-password"}
        assert httpx.post(f"{box.base_url}/api/auth/setup", json=bad, timeout=10).status_code == 401
        first_admin(box)
        with session(box, *ADMIN) as chef:
            answer = chef.get("/api/faults", params={"limit": 50}).json()
            assert answer["source"] == "daemon"
            messages = [f["message"] for f in answer["faults"]]
            assert any("wrong set-up token from 127.0.0.1" in m for m in messages), messages
            assert all(f["level"] in ("WARNING", "ERROR", "CRITICAL") for f in answer["faults"])
            assert chef.get("/api/faults", params={"limit": 0}).status_code == 422
            plain = chef.get("/api/backup")
            with tarfile.open(fileobj=io.BytesIO(plain.content)) as tar:
                assert not any(n.endswith("faults.json") for n in tar.getnames())
            archive = chef.get("/api/backup", params={"include_faults": "true"})
            assert archive.status_code == 200
            with tarfile.open(fileobj=io.BytesIO(archive.content)) as tar:
                name = next(n for n in tar.getnames() if n.endswith("/faults.json"))
                carried = json.loads(tar.extractfile(name).read())  # type: ignore[union-attr]
                manifest = json.loads(tar.extractfile(next(n for n in tar.getnames()
                                                           if n.endswith("MANIFEST.json"))).read())  # type: ignore[union-attr]  # fmt: skip
            assert "faults.json" in manifest["files"]
            assert any("wrong set-up token" in f["message"] for f in carried["faults"])
            # an archive with the faults is still a backup the box restores
            check = chef.post("/api/backup/restore", content=archive.content,
                              headers={"Content-Type": "application/octet-stream"})  # fmt: skip
            assert check.status_code == 202, check.text
