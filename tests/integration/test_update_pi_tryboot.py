"""A/B updates on the Raspberry Pi's layout with the real RAUC: the image's partition.sh
makes the card (control FAT with autoboot.txt, two FAT boot slots, two ext4 root slots,
the data partition), RAUC's service runs with the image's system.conf and the image's
rauc-tryboot as its bootloader backend, and the daemon's API installs signed bundles.

What is not real here: the Pi firmware. Its part -- starting [tryboot]'s partition once
after reboot '0 tryboot', else [all]'s -- is played by the test, which writes the
device-tree files (tryboot, partition) a boot would leave and restarts RAUC's service as
that slot; what a restart would pass to the firmware is recorded. Set-up:
tests/harness/rauc.py (pi_tryboot_system). Needs root (loop devices).
"""

from __future__ import annotations

import hashlib
import socket as sockets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.rauc import MTOOLS_ENV, UPDATE, PiBox, fat_file, pi_bundle, pi_tryboot_system, slot_release
from tests.harness.waits import wait_until

SETTLED_ON_A = "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n"
TRY_B = "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"
SETTLED_ON_B = "[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=3\n"
TRY_A = "[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=2\n"


@pytest.fixture(scope="module")
def pi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("pi-tryboot")
    with (
        pi_tryboot_system(work) as box,
        running_daemon(work / "daemon", env={"DBUS_SYSTEM_BUS_ADDRESS": box.rauc.bus_address}) as daemon,
    ):
        yield {"box": box, "daemon": daemon, "work": work}


def data_partition(box: PiBox) -> str:
    return hashlib.sha256(Path(box.parts[7]).read_bytes()).hexdigest()


def slots(daemon: Daemon) -> dict[str, dict[str, Any]]:
    """The root slots as the update card shows them, by boot name."""
    return {s["bootname"]: s for s in daemon.http.get("/api/update").json()["slots"] if s["bootname"]}


def install(daemon: Daemon, raucb: Path) -> dict[str, Any]:
    assert daemon.http.post("/api/update/bundle", content=raucb.read_bytes(), timeout=120).status_code == 202
    return wait_until(
        lambda: (info := daemon.http.get("/api/update").json())["state"] not in ("receiving", "installing") and info,
        120, "the installation to end",
    )  # fmt: skip


def confirm(pi: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
    """zentrale-update-confirm as after a boot, against RAUC's service and the daemon's /status."""
    daemon: Daemon = pi["daemon"]
    marker = pi["work"] / "rebooted"
    marker.unlink(missing_ok=True)
    settings = {
        **pi["box"].rauc.env, "ZENTRALE_DATA_DIR": str(daemon.data_dir),
        "ZENTRALE_STATUS_URL": f"{daemon.base_url}/status",
        "ZENTRALE_CONFIRM_POLL_SECONDS": "0.5", "ZENTRALE_REBOOT_COMMAND": f"touch {marker}", **env,
    }  # fmt: skip
    return subprocess.run([sys.executable, str(UPDATE / "zentrale-update-confirm")], env=settings,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip


def closed_status_url() -> str:
    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/status"  # nobody answers there


def test_a_new_card_starts_slot_a_with_nothing_to_try(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    assert box.autoboot() == SETTLED_ON_A
    shown = slots(pi["daemon"])
    assert (shown["A"]["state"], shown["A"]["boot_status"], shown["A"]["primary"]) == ("booted", "good", True)
    assert shown["B"]["boot_status"] == "bad"  # nothing installed there yet
    # one row per root slot: its boot partition is updated with it and not listed on its own
    assert [s["name"] for s in pi["daemon"].http.get("/api/update").json()["slots"]] == ["rootfs.0", "rootfs.1"]
    assert fat_file(box.parts[2], "zentrale-release.txt") == "1\n"
    assert box.restart() == ""  # a plain restart


def test_an_uploaded_bundle_fills_the_other_boot_and_root_slot_and_arms_a_try(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    data_before = data_partition(box)
    info = install(pi["daemon"], pi_bundle(pi["work"] / "r2", "2", box.rauc.keys))
    assert info["state"] == "installed", info
    wait_until(lambda: slots(pi["daemon"])["B"]["primary"], 10, "slot B to be the next start")
    assert box.autoboot() == TRY_B  # a normal start still starts A; a try starts B
    assert slot_release(box.parts[6]) == "2" and fat_file(box.parts[3], "zentrale-release.txt") == "2\n"
    assert slot_release(box.parts[5]) == "1" and fat_file(box.parts[2], "zentrale-release.txt") == "1\n"
    cmdline_b = fat_file(box.parts[3], "cmdline-b.txt") or ""
    assert "root=/dev/mmcblk0p6 rauc.slot=B" in cmdline_b and "init=" not in cmdline_b
    assert (fat_file(box.parts[3], "config.txt") or "").startswith("# Put in front of the boot partition's config.txt")
    assert data_partition(box) == data_before  # the data partition is no slot
    assert box.restart() == "0 tryboot"  # the restart the page asks for tries B once


def test_a_try_that_stays_healthy_is_kept_and_becomes_the_default(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    box.boot(3, tried=True)  # the firmware started [tryboot]'s partition
    shown = slots(pi["daemon"])
    assert shown["B"]["state"] == "booted" and shown["B"]["boot_status"] == "trying"
    assert shown["A"]["primary"]  # until it is kept, a restart goes back to A
    done = confirm(pi, ZENTRALE_CONFIRM_MINUTES="0.05", ZENTRALE_CONFIRM_DEADLINE_MINUTES="1")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "slot B (2) healthy for 0.05 min: marked good" in done.stdout
    assert box.autoboot() == SETTLED_ON_B
    shown = slots(pi["daemon"])
    assert shown["B"]["boot_status"] == "good" and shown["B"]["primary"]
    assert box.restart() == ""  # from now on a plain restart starts B


def test_a_try_that_hangs_is_gone_at_the_next_power_on_and_not_tried_again(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    assert install(pi["daemon"], pi_bundle(pi["work"] / "r3", "3", box.rauc.keys))["state"] == "installed"
    assert box.autoboot() == TRY_A
    assert box.restart() == "0 tryboot"
    box.boot(2, tried=True)  # release 3 on trial in slot A -- and it hangs: nothing confirms it
    box.boot(3, tried=False)  # the watchdog resets; the one-shot flag is gone: the default, B
    shown = slots(pi["daemon"])
    assert shown["B"]["state"] == "booted" and shown["B"]["boot_status"] == "good" and shown["B"]["primary"]
    assert shown["A"]["boot_status"] == "bad"
    assert box.autoboot() == TRY_A  # untouched: the firmware's default is still B
    assert box.restart() == ""  # and the failed release is not tried again


def test_a_try_that_never_gets_healthy_is_marked_bad_and_the_old_slot_starts_again(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    assert install(pi["daemon"], pi_bundle(pi["work"] / "r4", "4", box.rauc.keys))["state"] == "installed"
    assert box.autoboot() == TRY_A and box.restart() == "0 tryboot"
    box.boot(2, tried=True)
    done = confirm(pi, ZENTRALE_STATUS_URL=closed_status_url(), ZENTRALE_CONFIRM_MINUTES="0.05",
                   ZENTRALE_CONFIRM_DEADLINE_MINUTES="0.1")  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "slot A (4) not healthy within 0.1 min" in done.stdout
    assert (pi["work"] / "rebooted").exists()
    assert box.autoboot() == SETTLED_ON_B  # disarmed: any restart now starts B
    box.boot(3, tried=False)
    shown = slots(pi["daemon"])
    assert shown["B"]["state"] == "booted" and shown["B"]["primary"] and shown["A"]["boot_status"] == "bad"
    assert slot_release(box.parts[6]) == "2"  # the kept release


def test_a_broken_autoboot_txt_stops_an_installation_with_the_reason_and_stays_as_it_is(pi: dict[str, Any]) -> None:
    box: PiBox = pi["box"]
    broken = pi["work"] / "broken-autoboot.txt"
    broken.write_text("[all]\nboot_partition=3\n")  # someone's hand edit: tryboot_a_b is gone
    subprocess.run(["mcopy", "-o", "-i", box.parts[1], str(broken), "::autoboot.txt"], check=True, env=MTOOLS_ENV,
                   capture_output=True, timeout=30)  # fmt: skip
    before = slot_release(box.parts[5])
    info = install(pi["daemon"], pi_bundle(pi["work"] / "r5", "5", box.rauc.keys))
    assert info["state"] == "failed" and info["code"] == "update_install_failed", info
    assert "Failed marking slot rootfs.0 non-bootable: custom backend" in info["params"]["detail"], info
    reason = "rauc-tryboot: autoboot.txt on " + box.parts[1] + ": tryboot_a_b=1 missing under [all]"
    assert reason in box.rauc.log.read_text()  # RAUC's service logs the backend's reason (the journal)
    assert slot_release(box.parts[5]) == before  # refused before a byte was written
    assert box.autoboot() == "[all]\nboot_partition=3\n"  # not rewritten into something else
    assert "Traceback" not in pi["daemon"].log()
