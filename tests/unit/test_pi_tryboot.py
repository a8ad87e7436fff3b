"""The Pi's RAUC backend (image-build/pi-ab/rauc-tryboot) over files: how it reads and
rewrites autoboot.txt, and RAUC's view of the slots in each phase of an update (armed,
on trial, kept, fallen back). The same script against the real RAUC service and a FAT
partition on a loop device: tests/integration/test_update_pi_tryboot.py."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "image-build" / "pi-ab" / "rauc-tryboot"
GOOD = b"[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=3\n"


def load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("rauc_tryboot", str(SCRIPT))
    spec = importlib.util.spec_from_loader("rauc_tryboot", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["rauc_tryboot"] = module  # dataclasses look their module up
    loader.exec_module(module)
    return module


tryboot = load()


def parse(data: bytes) -> object:
    return tryboot.parse_autoboot(data, {2, 3})


def test_the_firmware_s_example_file_is_read() -> None:
    assert parse(GOOD) == tryboot.Autoboot(default=2, tryboot=3)
    assert parse(b"# comment\ntryboot_a_b=1\nboot_partition=3\n\n[tryboot]\r\nboot_partition = 3\r\n") == (
        tryboot.Autoboot(default=3, tryboot=3)
    )  # lines before a section are [all]'s, as for the firmware; CRLF from a Windows editor
    assert parse(tryboot.Autoboot(default=3, tryboot=2).render().encode()) == tryboot.Autoboot(3, 2)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "tryboot_a_b=1 missing"),
        (b"[all]\nboot_partition=2\n[tryboot]\nboot_partition=3\n", "tryboot_a_b=1 missing"),
        (b"[all]\ntryboot_a_b=1\nboot_partition=2\n", "boot_partition missing under [tryboot]"),
        (b"[all]\ntryboot_a_b=1\nboot_partition=7\n[tryboot]\nboot_partition=3\n", "boot_partition=7 is no slot's"),
        (b"[all]\ntryboot_a_b=1\nboot_partition=two\n[tryboot]\nboot_partition=3\n", "is not a number"),
        (GOOD + b"[pi5]\nboot_partition=2\n", "section '[pi5]' is not one this backend writes"),
        (GOOD + b"boot_delay=1\n", "'boot_delay=1' is not one of"),
        (GOOD + b"boot_partition=2\n", "boot_partition given twice under [tryboot]"),
        (GOOD.replace(b"=2", b"=\xff"), "not text (byte"),
        (GOOD[:20] + b"\0" * 30, "NUL"),
        (GOOD + b"#" * 500, "more than the firmware reads (512)"),
    ],
)
def test_a_broken_autoboot_txt_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(tryboot.TrybootError, match=reason.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        parse(data)


def test_the_slot_map_must_name_two_slots_on_two_partitions() -> None:
    assert tryboot.parse_slots("A=2 B=3") == {"A": 2, "B": 3}
    for bad in ("A=2", "A=2 B=2", "A=2 B", "A=x B=3", "A=2 B=3 C=4"):
        with pytest.raises(tryboot.TrybootError, match="ZENTRALE_TRYBOOT_SLOTS"):
            tryboot.parse_slots(bad)


class Box:
    """The control partition as a folder, the device tree as files, the script as RAUC calls it."""

    def __init__(self, tmp_path: Path) -> None:
        self.ctl, self.dt = tmp_path / "ctl", tmp_path / "dt"
        self.ctl.mkdir()
        self.dt.mkdir()
        (self.ctl / "autoboot.txt").write_text("[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n")
        self.reboots = tmp_path / "reboots"
        self.env = {**os.environ, "ZENTRALE_TRYBOOT_DIR": str(self.ctl), "ZENTRALE_TRYBOOT_DT": str(self.dt),
                    "ZENTRALE_TRYBOOT_LOCK": str(tmp_path / "lock"),
                    "ZENTRALE_TRYBOOT_REBOOT_COMMAND": f"sh -c 'echo \"$*\" >>{self.reboots}' reboot"}  # fmt: skip
        self.boot(partition=2, tried=False)

    def boot(self, partition: int, tried: bool) -> None:
        """What the firmware puts into the device tree at a boot."""
        (self.dt / "partition").write_bytes(partition.to_bytes(4, "big"))
        (self.dt / "tryboot").write_bytes(int(tried).to_bytes(4, "big"))

    def call(self, *args: str) -> str:
        done = subprocess.run([sys.executable, str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def fails(self, *args: str) -> str:
        done = subprocess.run([sys.executable, str(SCRIPT), *args], env=self.env, capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        assert done.returncode == 1, done.stdout
        assert "Traceback" not in done.stderr
        return done.stderr

    def view(self) -> tuple[str, str, str]:
        return self.call("get-primary"), self.call("get-state", "A"), self.call("get-state", "B")

    def autoboot(self) -> str:
        return (self.ctl / "autoboot.txt").read_text()

    def reboot(self) -> str:
        self.call("reboot")
        lines = self.reboots.read_text().splitlines()
        return lines[-1].strip()


@pytest.fixture
def box(tmp_path: Path) -> Box:
    return Box(tmp_path)


def test_an_installed_slot_is_tried_once_and_kept_when_confirmed(box: Box) -> None:
    assert box.view() == ("A", "good", "bad")  # the factory slot; B never installed
    assert box.call("get-current") == "A"
    box.call("set-state", "B", "bad")  # RAUC, before it writes slot B
    box.call("set-primary", "B")  # RAUC, after it wrote slot B
    assert box.autoboot().endswith("[tryboot]\nboot_partition=3\n")
    assert "boot_partition=2\n[tryboot]" in box.autoboot()  # a normal boot still starts A
    assert box.view() == ("B", "good", "good")
    assert box.reboot() == "0 tryboot"
    box.boot(partition=3, tried=True)  # the firmware started [tryboot]'s partition
    assert box.call("get-current") == "B"
    assert box.view() == ("A", "good", "bad")  # on trial: a plain restart goes back to A
    box.call("set-state", "B", "good")  # zentrale-update-confirm: healthy long enough
    assert box.autoboot() == "[all]\ntryboot_a_b=1\nboot_partition=3\n[tryboot]\nboot_partition=3\n"
    assert box.view() == ("B", "bad", "good")
    assert box.reboot() == ""  # kept: a normal restart, into B
    box.boot(partition=3, tried=False)
    assert box.view() == ("B", "bad", "good")
    assert not list(box.ctl.glob(".new-*"))  # no temporary file left on the partition


def test_a_try_that_is_never_confirmed_falls_back_and_is_not_tried_again(box: Box) -> None:
    box.call("set-primary", "B")
    assert box.reboot() == "0 tryboot"
    box.boot(partition=3, tried=True)
    # the new system hangs; the watchdog resets the Pi: the one-shot flag is gone
    box.boot(partition=2, tried=False)
    assert box.call("get-current") == "A"
    assert box.view() == ("A", "good", "bad")
    assert box.reboot() == ""  # not tried again
    assert "boot_partition=2\n[tryboot]" in box.autoboot()
    box.call("set-state", "B", "bad")  # the next installation into B ...
    box.call("set-primary", "B")  # ... arms a new try
    assert box.view() == ("B", "good", "good")
    assert box.reboot() == "0 tryboot"


def test_a_slot_marked_bad_on_trial_restarts_into_the_old_one(box: Box) -> None:
    box.call("set-primary", "B")
    box.reboot()
    box.boot(partition=3, tried=True)
    box.call("set-state", "B", "bad")  # zentrale-update-confirm: never healthy
    assert box.autoboot() == "[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n"
    assert box.reboot() == ""
    box.boot(partition=2, tried=False)
    assert box.view() == ("A", "good", "bad")


def test_a_power_cut_before_the_restart_keeps_the_try_armed(box: Box) -> None:
    box.call("set-primary", "B")
    box.boot(partition=2, tried=False)  # power cut, normal boot of A: nothing was tried
    assert box.view() == ("B", "good", "good")
    assert box.reboot() == "0 tryboot"


def test_what_the_firmware_cannot_hold_is_refused_with_a_reason(box: Box) -> None:
    assert "neither the default nor the one to try" in box.fails("set-state", "B", "good")
    assert "would leave nothing to boot" in box.fails("set-state", "A", "bad")
    assert "no slot 'C'" in box.fails("get-state", "C")
    assert "usage" in box.fails("frobnicate")
    box.boot(partition=5, tried=False)
    assert "partition 5, which is no slot's" in box.fails("get-current")
    (box.dt / "partition").write_bytes(b"2")
    assert "not one 32-bit device-tree cell" in box.fails("get-current")
    (box.dt / "partition").unlink()
    assert "did not say which partition" in box.fails("get-current")


def test_a_broken_or_missing_autoboot_txt_is_reported_and_left_as_it_is(box: Box) -> None:
    broken = b"[all]\nboot_partition=2\n"
    (box.ctl / "autoboot.txt").write_bytes(broken)
    for args in (("get-primary",), ("set-primary", "B"), ("set-state", "B", "bad"), ("reboot",)):
        assert "autoboot.txt on" in box.fails(*args) and "tryboot_a_b=1 missing" in box.fails(*args)
    assert (box.ctl / "autoboot.txt").read_bytes() == broken  # no garbage rewrite
    assert not box.reboots.exists()  # and no restart into who knows what
    (box.ctl / "autoboot.txt").unlink()
    assert "autoboot.txt missing on" in box.fails("get-primary")
    assert "A/B layout" in box.fails("set-primary", "B")
    assert not (box.ctl / "autoboot.txt").exists()


def fat_image(tmp_path: Path) -> Path:
    """A FAT file system in a file, as the card's control partition (mtools reads it as is)."""
    for tool in ("mkfs.vfat", "mcopy", "mtype", "mren"):
        assert shutil.which(tool), f"{tool} missing: scripts/setup installs dosfstools and mtools"
    image = tmp_path / "ctl.vfat"
    subprocess.run(["mkfs.vfat", "-C", "-n", "ZBOOTCTL", str(image), "2048"], check=True, capture_output=True)
    (tmp_path / "autoboot.txt").write_bytes(GOOD.replace(b"=3", b"=2"))
    subprocess.run(["mcopy", "-i", str(image), str(tmp_path / "autoboot.txt"), "::autoboot.txt"], check=True,
                   env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}, capture_output=True)  # fmt: skip
    return image


def on_fat(box: Box, image: Path, name: str = "autoboot.txt") -> str:
    return subprocess.run(["mtype", "-i", str(image), f"::{name}"], capture_output=True, text=True, check=True,
                          env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout  # fmt: skip


def test_the_control_partition_is_written_on_fat_without_mounting_it(box: Box, tmp_path: Path) -> None:
    image = fat_image(tmp_path)
    del box.env["ZENTRALE_TRYBOOT_DIR"]
    box.env["ZENTRALE_TRYBOOT_DEVICE"] = str(image)
    box.call("set-primary", "B")
    assert on_fat(box, image) == GOOD.decode()
    assert box.reboot() == "0 tryboot"
    assert on_fat(box, image, "zentrale-tryboot.txt") == "tried=B\n"
    listing = subprocess.run(["mdir", "-b", "-i", str(image), "::"], capture_output=True, text=True, check=True,
                             env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout  # fmt: skip
    assert sorted(line.strip("/:").rsplit("/", 1)[-1].lower() for line in listing.split()) == [
        "autoboot.txt",
        "zentrale-tryboot.txt",
    ]  # fmt: skip  (no temporary file left behind)


def test_a_write_cut_off_before_the_rename_leaves_the_old_autoboot_txt(box: Box, tmp_path: Path) -> None:
    """A power cut after the new file is written but before it replaces autoboot.txt (here
    mren dies there): the firmware still reads the old, complete file; the next write works."""
    image = fat_image(tmp_path)
    del box.env["ZENTRALE_TRYBOOT_DIR"]
    box.env["ZENTRALE_TRYBOOT_DEVICE"] = str(image)
    cut = tmp_path / "cut"
    cut.mkdir()
    mren = shutil.which("mren")
    (cut / "mren").write_text(f'#!/bin/sh\ncase "$*" in *autoboot*) kill -9 $$ ;; esac\nexec {mren} "$@"\n')
    (cut / "mren").chmod(0o755)
    real_path = box.env["PATH"]
    box.env["PATH"] = f"{cut}:{real_path}"
    assert "mren" in box.fails("set-primary", "B")
    assert on_fat(box, image) == GOOD.decode().replace("=3", "=2")  # the old file, whole
    assert on_fat(box, image, "autoboot.txt.new") == GOOD.decode()  # what was cut off
    box.env["PATH"] = real_path
    box.call("set-primary", "B")
    assert on_fat(box, image) == GOOD.decode()
