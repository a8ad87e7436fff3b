"""The A/B card the pi-gen stage writes: the stage's own scripts (02-ab/01-run.sh, which
runs install-pi-ab.sh, and 03-export-ab/01-run.sh, which runs export-ab.sh with
make-boot-image.sh and partition.sh) run for real against a small image root the test
makes -- what pi-gen's stage2 leaves, in miniature: Raspberry Pi OS's boot files under
/boot/firmware (config.txt with auto_initramfs=1, cmdline.txt with pi-gen's ROOTDEV
placeholder and the one-time init=), pi-gen's fstab with BOOTDEV/ROOTDEV, a machine-id,
a log, a hard link, a file of the console user. The card is then read the way the box
and a PC would: each partition a loop device, the FAT ones with mtools, the ext4 ones with
debugfs (no mount), autoboot.txt by the image's rauc-tryboot, the set-up token written by
the image's zentrale-firstboot.

What is not here: pi-gen itself (it needs the Raspberry Pi archive), Raspberry Pi OS's
real firmware, kernel and initramfs, and a Pi booting the card. Needs root (loop devices).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.rauc import MTOOLS_ENV, PI_AB, UPDATE, card_partitions, ext4_file, fat_file

ROOT = PI_AB.parents[1]
STAGE = ROOT / "image-build" / "stage-zentrale"
FILES = STAGE / "00-zentrale" / "files"
CMDLINE = ("console=serial0,115200 console=tty1 root=ROOTDEV rootfstype=ext4 fsck.repair=yes rootwait quiet "
           "init=/usr/lib/raspberrypi-sys-mods/firstboot\n")  # fmt: skip
CONFIG = "arm_64bit=1\ndtparam=audio=on\nauto_initramfs=1\n"
FSTAB = ("proc            /proc           proc    defaults          0       0\n"
         "BOOTDEV  /boot/firmware  vfat    defaults          0       2\n"
         "ROOTDEV  /               ext4    defaults,noatime  0       1\n")  # fmt: skip
KERNEL = bytes(range(256)) * 400


def image_root(root: Path) -> Path:
    """What pi-gen's stages leave in ROOTFS_DIR, in miniature."""
    boot = root / "boot" / "firmware"
    (boot / "overlays").mkdir(parents=True)
    (boot / "config.txt").write_text(CONFIG)
    (boot / "cmdline.txt").write_text(CMDLINE)
    (boot / "kernel8.img").write_bytes(KERNEL)
    (boot / "overlays" / "gpio-fan.dtbo").write_text("an overlay\n")
    for folder in ("etc", "proc", "usr/bin", "var/log", "var/lib/dbus", "home/admin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc" / "fstab").write_text(FSTAB)
    (root / "etc" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "var" / "lib" / "dbus" / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (root / "var" / "log" / "apt.log").write_text("the build's own log\n")
    (root / "usr" / "bin" / "zentrale-demo").write_text("#!/bin/sh\necho demo\n")
    os.link(root / "usr" / "bin" / "zentrale-demo", root / "usr" / "bin" / "zentrale-demo2")
    os.chown(root / "home" / "admin", 1000, 1000)
    return root


def run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, **(env or {})})  # fmt: skip


@pytest.fixture(scope="module")
def card(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    for tool in ("sfdisk", "mkfs.vfat", "mcopy", "mtype", "mkfs.ext4", "debugfs", "losetup", "blkid", "flock"):
        assert shutil.which(tool), f"{tool} missing: scripts/setup --test installs it"
    work = tmp_path_factory.mktemp("pi-export")
    keys = work / "keys"
    assert run([str(UPDATE / "update-keys.sh"), str(keys)]).returncode == 0
    root = image_root(work / "stage" / "rootfs")
    stage_env = {"ROOTFS_DIR": str(root), "ZENTRALE_UPDATE_KEYRING": str(keys / "ca.cert.pem"),
                 "STAGE_WORK_DIR": str(work / "stage"), "IMG_FILENAME": "2026-12-07-zentrale",
                 "DEPLOY_DIR": str(work / "deploy"), "DEPLOY_COMPRESSION": "none",
                 "ZENTRALE_BOOT_MB": "16", "ZENTRALE_ROOT_MB": "48", "ZENTRALE_DATA_MB": "16"}  # fmt: skip
    done = run([str(STAGE / "02-ab" / "01-run.sh")], stage_env)
    assert done.returncode == 0, done.stdout + done.stderr
    # pi-gen leaves the chroot's /proc (and /dev, /sys) mounted until the stage ends
    assert run(["mount", "-t", "tmpfs", "pi-gen-proc", str(root / "proc")]).returncode == 0
    try:
        (root / "proc" / "cpuinfo").write_text("not the root's\n")
        done = run([str(STAGE / "03-export-ab" / "01-run.sh")], stage_env)
    finally:
        run(["umount", str(root / "proc")])
    assert done.returncode == 0, done.stdout + done.stderr
    disk = work / "deploy" / "2026-12-07-zentrale-ab.img"
    deployed = sorted(p.name for p in (work / "deploy").iterdir())
    assert deployed == ["2026-12-07-zentrale-ab-boot.vfat", "2026-12-07-zentrale-ab-rootfs.ext4",
                        "2026-12-07-zentrale-ab.img"], deployed  # fmt: skip
    with card_partitions(disk) as parts:
        yield {"disk": disk, "parts": parts, "work": work, "keys": keys, "root": root, "log": done.stdout}


def tryboot(card: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    """The image's rauc-tryboot on the card's control partition, as RAUC calls it."""
    dt = card["work"] / "device-tree"
    dt.mkdir(exist_ok=True)  # a first boot: the firmware says it was no try
    (dt / "tryboot").write_bytes((0).to_bytes(4, "big"))
    (dt / "partition").write_bytes((2).to_bytes(4, "big"))
    env = {"ZENTRALE_TRYBOOT_DEVICE": card["parts"][1], "ZENTRALE_TRYBOOT_DT": str(dt),
           "ZENTRALE_TRYBOOT_LOCK": str(card["work"] / "tryboot.lock")}  # fmt: skip
    return run([sys.executable, str(PI_AB / "rauc-tryboot"), *args], env)


def blkid(device: str, tag: str) -> str:
    return run(["blkid", "-p", "-o", "value", "-s", tag, device]).stdout.strip()


def test_the_card_has_the_seven_partitions_of_the_ab_layout_with_their_labels(card: dict[str, Any]) -> None:
    table = run(["sfdisk", "--dump", str(card["disk"])]).stdout
    kinds = re.findall(r"^\S+?(\d+) : start=.*type=(\w+)(, bootable)?$", table, re.MULTILINE)
    assert [(n, t) for n, t, _ in kinds] == [("1", "c"), ("2", "c"), ("3", "c"), ("4", "5"), ("5", "83"),
                                             ("6", "83"), ("7", "83")]  # fmt: skip
    assert kinds[0][2] == ", bootable"
    parts = card["parts"]
    assert [blkid(parts[n], "TYPE") for n in (1, 2, 3, 5, 6, 7)] == ["vfat"] * 3 + ["ext4"] * 3
    assert blkid(parts[1], "LABEL") == "ZBOOTCTL"
    assert blkid(parts[2], "LABEL") == "ZBOOT"  # the boot image a bundle brings, for either slot
    assert blkid(parts[3], "LABEL") == "ZBOOTB"
    assert blkid(parts[5], "LABEL") == ""  # the root image a bundle brings, for either slot
    assert blkid(parts[6], "LABEL") == "zroot-b"
    assert blkid(parts[7], "LABEL") == "zentrale-data"
    sizes = {int(n): int(s) for n, s in re.findall(r"^\S+?(\d+) : start=\s*\d+, size=\s*(\d+)", table, re.M)}
    assert sizes[2] == sizes[3] == 16 * 2048 and sizes[5] == sizes[6] == 48 * 2048 and sizes[7] == 16 * 2048
    assert "in a slot of 48 MiB" in card["log"]


def test_slot_a_s_boot_partition_starts_slot_a_s_root_and_carries_the_firmware_files(card: dict[str, Any]) -> None:
    p2 = card["parts"][2]
    config = fat_file(p2, "config.txt")
    assert config == (PI_AB / "config-ab.txt").read_text() + CONFIG
    base = "console=serial0,115200 console=tty1 rootfstype=ext4 fsck.repair=yes rootwait quiet"
    assert fat_file(p2, "cmdline-a.txt") == f"{base} root=/dev/mmcblk0p5 rauc.slot=A\n"
    assert fat_file(p2, "cmdline-b.txt") == f"{base} root=/dev/mmcblk0p6 rauc.slot=B\n"
    kernel = subprocess.run(["mtype", "-i", p2, "::kernel8.img"], capture_output=True, env=MTOOLS_ENV, timeout=30,
                            check=True).stdout  # fmt: skip
    assert kernel == KERNEL
    assert fat_file(p2, "overlays/gpio-fan.dtbo") == "an overlay\n"
    assert fat_file(card["parts"][3], "config.txt") is None  # slot B: empty until the first update


def test_autoboot_on_p1_is_what_rauc_tryboot_reads_slot_a_by_default_nothing_to_try(card: dict[str, Any]) -> None:
    assert fat_file(card["parts"][1], "autoboot.txt") is not None
    for args, answer in ((["get-primary"], "A"), (["get-state", "A"], "good"), (["get-state", "B"], "bad"),
                         (["get-current"], "A")):  # fmt: skip
        done = tryboot(card, *args)
        assert done.returncode == 0 and done.stdout.strip() == answer, (args, done.stdout, done.stderr)
    assert "settled" in tryboot(card, "show").stdout


def test_slot_a_s_root_has_no_boot_partition_in_fstab_and_is_read_only_from_the_first_boot(
    card: dict[str, Any],
) -> None:
    p5 = card["parts"][5]
    fstab = ext4_file(p5, "/etc/fstab")
    assert fstab is not None
    lines = [line.split() for line in fstab.splitlines() if line.strip() and not line.startswith("#")]
    assert [line[1] for line in lines] == ["/proc", "/var/lib/zentrale", "/var/log/journal"]
    assert lines[1][0] == "LABEL=zentrale-data" and "errors=remount-ro" in lines[1][3]
    assert "BOOTDEV" not in fstab and "ROOTDEV" not in fstab and "PARTUUID" not in fstab
    assert 'overlayroot="tmpfs:recurse=0"' in (ext4_file(p5, "/etc/overlayroot.conf") or "")
    generator = ext4_file(p5, "/usr/lib/systemd/system-generators/zentrale-boot-slot")
    assert generator == (PI_AB / "zentrale-boot-slot-generator").read_text()
    assert "Mode:  0755" in run(["debugfs", "-R", "stat /usr/lib/systemd/system-generators/zentrale-boot-slot",
                                 p5]).stdout  # fmt: skip
    for unit in ("zentrale-firstboot", "zentrale-console"):
        drop_in = ext4_file(p5, f"/etc/systemd/system/{unit}.service.d/ab.conf") or ""
        assert "Environment=ZENTRALE_CTL_DEVICE=/dev/disk/by-label/ZBOOTCTL" in drop_in
    assert ext4_file(p5, "/etc/rauc/system.conf") == (PI_AB / "system.conf").read_text()
    assert ext4_file(p5, "/etc/rauc/keyring.pem") == (card["keys"] / "ca.cert.pem").read_text()
    # tidied as pi-gen's export does: each box makes its own machine-id; the build's logs are gone
    assert ext4_file(p5, "/etc/machine-id") == ""
    assert ext4_file(p5, "/var/lib/dbus/machine-id") is None
    assert ext4_file(p5, "/var/log/apt.log") == ""
    # the boot files live in the boot slot; the root keeps an empty mount point
    for mount_point in ("/boot/firmware", "/proc"):  # the boot slot's files; what pi-gen had mounted there
        listing = run(["debugfs", "-R", f"ls -p {mount_point}", p5]).stdout  # /inode/mode/uid/gid/name/size/
        names = sorted(line.split("/")[5] for line in listing.splitlines() if line.startswith("/"))
        assert names == [".", ".."], listing
    demo = run(["debugfs", "-R", "stat /usr/bin/zentrale-demo", p5]).stdout
    assert "Links: 2" in demo  # the hard link stays one file
    admin = run(["debugfs", "-R", "stat /home/admin", p5]).stdout
    assert re.search(r"User:\s+1000\s+Group:\s+1000", admin), admin
    assert (card["root"] / "etc" / "machine-id").read_text() != ""  # the stage's root is left as it was


def test_the_generator_mounts_the_boot_partition_of_the_slot_the_firmware_started(card: dict[str, Any]) -> None:
    generator = card["work"] / "zentrale-boot-slot"
    generator.write_text(ext4_file(card["parts"][5], "/usr/lib/systemd/system-generators/zentrale-boot-slot") or "")
    generator.chmod(0o755)
    for slot, boot in (("a", "/dev/mmcblk0p2"), ("b", "/dev/mmcblk0p3")):
        cmdline = card["work"] / f"cmdline-{slot}.txt"
        cmdline.write_text(fat_file(card["parts"][2], f"cmdline-{slot}.txt") or "")
        out = card["work"] / f"generated-{slot}"
        out.mkdir()
        done = run([str(generator), str(out), str(out), str(out)], {"ZENTRALE_CMDLINE": str(cmdline)})
        assert done.returncode == 0, done.stderr
        unit = (out / "boot-firmware.mount").read_text()
        assert f"What={boot}\n" in unit and "Where=/boot/firmware\n" in unit and "Options=ro," in unit
        assert (out / "local-fs.target.wants" / "boot-firmware.mount").is_symlink()


def test_the_first_boot_puts_the_set_up_token_on_p1_and_leaves_autoboot_as_it_was(card: dict[str, Any]) -> None:
    data = card["work"] / "data"
    data.mkdir()
    p1 = card["parts"][1]
    autoboot = fat_file(p1, "autoboot.txt")
    env = {"ZENTRALE_DATA_DIR": str(data), "ZENTRALE_BOOT_DIR": str(card["work"] / "no-boot-dir"),
           "ZENTRALE_CTL_DEVICE": p1, "ZENTRALE_TRYBOOT_LOCK": str(card["work"] / "tryboot.lock")}  # fmt: skip
    done = run([str(FILES / "zentrale-firstboot"), "token"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    token = (data / "setup-token").read_text().strip()
    assert token in (fat_file(p1, "zentrale-setup.txt") or "")
    assert f"zentrale-setup.txt on the card's first partition ({p1})" in done.stdout
    assert fat_file(p1, "autoboot.txt") == autoboot
    assert tryboot(card, "get-primary").stdout.strip() == "A"


def test_a_root_not_ready_for_the_ab_card_is_refused_with_the_reason(tmp_path: Path) -> None:
    root = image_root(tmp_path / "rootfs")
    done = run([str(PI_AB / "export-ab.sh"), str(root), str(tmp_path / "card.img")], {"ROOT_MB": "16"})
    assert done.returncode == 1 and "run image-build/pi-ab/install-pi-ab.sh on it first" in done.stderr, done.stderr
    keyring = tmp_path / "ca.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    assert run([str(PI_AB / "install-pi-ab.sh"), str(root), str(keyring)]).returncode == 0
    (root / "boot" / "firmware" / "config.txt").write_text("arm_64bit=1\n")
    done = run([str(PI_AB / "export-ab.sh"), str(root), str(tmp_path / "card.img")], {"ROOT_MB": "16"})
    assert done.returncode == 1 and "loads no initramfs" in done.stderr, done.stderr
    (root / "boot" / "firmware" / "config.txt").write_text(CONFIG)
    (root / "etc" / "fstab").write_text(FSTAB)  # pi-gen's again: the boot partition by name
    done = run([str(PI_AB / "export-ab.sh"), str(root), str(tmp_path / "card.img")], {"ROOT_MB": "16"})
    assert done.returncode == 1 and "mounts a boot partition" in done.stderr, done.stderr
    assert not (tmp_path / "card.img").exists()
    assert run([str(PI_AB / "install-pi-ab.sh"), str(root), str(keyring)]).returncode == 0
    done = run([str(PI_AB / "export-ab.sh"), str(root), str(tmp_path / "card.img")], {"ROOT_MB": "16", "BOOT_MB": "1"})
    assert done.returncode == 1 and "do not fit a boot slot of 1 MiB (BOOT_MB)" in done.stderr, done.stderr
    done = run([str(PI_AB / "export-ab.sh"), str(root), str(tmp_path / "card.img")], {"ROOT_MB": "16", "DATA_MB": "0"})
    assert done.returncode != 0  # partition.sh fails half-way (no room for p7) ...
    assert not (tmp_path / "card.img").exists()  # ... and no half-written card is left to be flashed


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def test_the_slot_images_beside_the_card_make_the_bundle_of_the_same_release(card: dict[str, Any]) -> None:
    deploy = card["disk"].parent
    rootfs, boot = deploy / "2026-12-07-zentrale-ab-rootfs.ext4", deploy / "2026-12-07-zentrale-ab-boot.vfat"
    assert sha256(rootfs) == sha256(card["parts"][5])  # slot A holds exactly the root image
    assert fat_file(boot, "cmdline-a.txt") == fat_file(card["parts"][2], "cmdline-a.txt")
    out = card["work"] / "release.raucb"
    done = run([str(UPDATE / "make-bundle.sh"), str(rootfs), "2026.12.1", str(out), str(card["keys"])],
               {"BOOT_IMAGE": str(boot), "FORMAT": "plain"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    info = run(["rauc", "info", "--output-format=json", f"--keyring={card['keys'] / 'ca.cert.pem'}", str(out)])
    assert info.returncode == 0, info.stderr
    bundle = json.loads(info.stdout)
    assert bundle["compatible"] == "zentrale-rpi-arm64"  # what the card's system.conf says
    hashes = {slotclass: image["checksum"] for entry in bundle["images"] for slotclass, image in entry.items()}
    assert hashes == {"rootfs": sha256(rootfs), "boot": sha256(boot)}
