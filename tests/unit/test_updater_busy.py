"""The updater and a RAUC service still busy finishing the last installation (web/updates.py).

``rauc`` here is a script standing in for RAUC's client (our port to it); the real service
is in tests/integration/test_update_rauc.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zentrale.errors import Refused
from zentrale.web import updates
from zentrale.web.updates import Updater

STATUS = {"booted": "A", "boot_primary": "rootfs.0", "slots": [
    {"rootfs.0": {"bootname": "A", "state": "booted", "boot_status": "good"}},
    {"rootfs.1": {"bootname": "B", "state": "inactive", "boot_status": "good"}},
]}  # fmt: skip


def fake_rauc(tmp_path: Path, busy_answers: int, error: str = "already processing a different method") -> Path:
    script = tmp_path / "rauc"
    calls = tmp_path / "calls"
    script.write_text(
        "#!/bin/sh\n"
        f'echo x >> "{calls}"\n'
        f'if [ "$(wc -l < "{calls}")" -le {busy_answers} ]; then echo "{error}" >&2; exit 1; fi\n'
        f"echo '{json.dumps(STATUS)}'\n"
    )
    script.chmod(0o755)
    return script


def calls(tmp_path: Path) -> int:
    return len((tmp_path / "calls").read_text().splitlines())


async def test_an_upload_right_after_an_installation_waits_for_raucs_service_to_be_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(updates, "BUSY_PAUSE", 0.01)
    updater = Updater(tmp_path / "update", rauc=str(fake_rauc(tmp_path, busy_answers=3)))
    await updater._begin()
    assert updater.state == "receiving"
    assert calls(tmp_path) == 4  # three busy answers waited out


async def test_rauc_that_cannot_tell_its_slots_refuses_at_once_and_a_busy_one_after_its_patience(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(updates, "BUSY_PAUSE", 0.01)
    broken = tmp_path / "broken"
    broken.mkdir()
    updater = Updater(tmp_path / "update", rauc=str(fake_rauc(broken, busy_answers=99, error="no bootloader")))
    with pytest.raises(Refused, match="no bootloader"):
        await updater._begin()
    assert calls(broken) == 1
    busy = tmp_path / "busy"
    busy.mkdir()
    updater = Updater(tmp_path / "update", rauc=str(fake_rauc(busy, busy_answers=99)))
    with pytest.raises(Refused, match="already processing"):
        await updater._begin()
    assert calls(busy) == updates.BUSY_TRIES


async def test_the_card_after_an_installation_shows_the_slots_it_knew_while_rauc_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page stops asking once the state is "installed": had the card said "RAUC answers
    not" then, because RAUC was still finishing, it would never have shown "installed"."""
    monkeypatch.setattr(updates, "BUSY_PAUSE", 0.01)
    known = tmp_path / "known"
    known.mkdir()
    updater = Updater(tmp_path / "update", rauc=str(fake_rauc(known, busy_answers=0)))
    assert (await updater.info())["available"] is True  # the slots are known from here on
    updater.rauc = str(fake_rauc(tmp_path, busy_answers=99))  # now RAUC finishes an installation
    updater.state = "installed"
    info = await updater.info()
    assert info["available"] is True and info["state"] == "installed"
    assert [s["bootname"] for s in info["slots"]] == ["A", "B"]
    assert calls(tmp_path) == 1  # the known slots, at once

    fresh = tmp_path / "fresh"  # nothing known yet (a restart): its answer is waited for
    fresh.mkdir()
    updater = Updater(tmp_path / "update", rauc=str(fake_rauc(fresh, busy_answers=3)))
    info = await updater.info()
    assert info["available"] is True and [s["bootname"] for s in info["slots"]] == ["A", "B"]
    assert calls(fresh) == 4
