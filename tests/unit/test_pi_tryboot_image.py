"""What the Pi's A/B support puts into an image root (image-build/pi-ab/install-pi-ab.sh),
and that the pieces agree: RAUC's system.conf, the slot map rauc-tryboot assumes, the
kernel command lines each boot slot picks with [boot_partition=N]."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PI_AB = ROOT / "image-build" / "pi-ab"


def test_the_root_gets_rauc_s_pi_configuration_the_backend_and_the_restart_into_a_try(tmp_path: Path) -> None:
    assert shutil.which("systemctl"), "systemctl enables the units in the image root"
    root = tmp_path / "root"
    keyring = tmp_path / "ca.cert.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    done = subprocess.run([str(PI_AB / "install-pi-ab.sh"), str(root), str(keyring)], capture_output=True, text=True,
                          timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    backend = root / "usr/lib/zentrale/rauc-tryboot"
    assert backend.read_bytes() == (PI_AB / "rauc-tryboot").read_bytes() and os.access(backend, os.X_OK)
    assert (root / "etc/rauc/system.conf").read_text() == (PI_AB / "system.conf").read_text()
    assert (root / "etc/rauc/keyring.pem").read_text() == keyring.read_text()
    drop_in = (root / "etc/systemd/system/zentrale-reboot.service.d/tryboot.conf").read_text()
    assert "ExecStart=\nExecStart=/usr/lib/zentrale/rauc-tryboot reboot" in drop_in
    wants = root / "etc/systemd/system/multi-user.target.wants"
    assert (wants / "zentrale-update-confirm.service").is_symlink()  # to /usr/lib/... inside the root


def test_system_conf_the_backend_s_slot_map_and_the_command_lines_agree() -> None:
    conf = configparser.ConfigParser()
    conf.read(PI_AB / "system.conf")
    assert conf["system"]["bootloader"] == "custom"
    assert conf["handlers"]["bootloader-custom-backend"] == "/usr/lib/zentrale/rauc-tryboot"
    assert "verity" not in conf["system"]["bundle-formats"] and conf["system"]["bundle-formats"] == "-plain"
    default_slots = "A=2 B=3"  # rauc-tryboot's ZENTRALE_TRYBOOT_SLOTS default
    assert f'"ZENTRALE_TRYBOOT_SLOTS", "{default_slots}"' in (PI_AB / "rauc-tryboot").read_text()
    config_txt = (PI_AB / "config-ab.txt").read_text()
    for name, boot_partition, slot, root in (("A", 2, "0", 5), ("B", 3, "1", 6)):
        rootfs, boot = conf[f"slot.rootfs.{slot}"], conf[f"slot.boot.{slot}"]
        assert rootfs["bootname"] == name and rootfs["device"] == f"/dev/mmcblk0p{root}"
        assert boot["parent"] == f"rootfs.{slot}" and boot["type"] == "vfat"
        assert boot["device"] == f"/dev/mmcblk0p{boot_partition}"
        cmdline_file = f"cmdline-{name.lower()}.txt"
        assert f"[boot_partition={boot_partition}]\ncmdline={cmdline_file}\n" in config_txt
        cmdline = (PI_AB / cmdline_file).read_text()
        assert f"root=/dev/mmcblk0p{root} " in cmdline and f"rauc.slot={name}" in cmdline
    assert not any(s.startswith("slot.") and "mmcblk0p7" in conf[s].get("device", "") for s in conf.sections())


def fat(image: Path, name: str) -> str:
    return subprocess.run(["mtype", "-i", str(image), f"::{name}"], capture_output=True, text=True, check=True,
                          env={**os.environ, "MTOOLS_SKIP_CHECK": "1"}).stdout  # fmt: skip


def make_boot_image(files: Path, image: Path) -> None:
    done = subprocess.run([str(PI_AB / "make-boot-image.sh"), str(files), str(image)], capture_output=True, text=True,
                          env={**os.environ, "SIZE_MB": "4"}, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_one_boot_image_serves_both_slots_with_their_own_command_line(tmp_path: Path) -> None:
    files = tmp_path / "firmware"
    (files / "overlays").mkdir(parents=True)
    (files / "overlays" / "gpio.dtbo").write_text("an overlay\n")
    (files / "config.txt").write_text("arm_64bit=1\n")
    (files / "cmdline.txt").write_text("console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 rootwait "
                                       "init=/usr/lib/raspberrypi-sys-mods/firstboot quiet\n")  # fmt: skip
    image = tmp_path / "boot.vfat"
    make_boot_image(files, image)
    head = (PI_AB / "config-ab.txt").read_text()
    assert fat(image, "config.txt") == head + "arm_64bit=1\n"
    assert (
        fat(image, "cmdline-a.txt") == "console=tty1 rootfstype=ext4 rootwait quiet root=/dev/mmcblk0p5 rauc.slot=A\n"
    )
    assert (
        fat(image, "cmdline-b.txt") == "console=tty1 rootfstype=ext4 rootwait quiet root=/dev/mmcblk0p6 rauc.slot=B\n"
    )
    assert fat(image, "overlays/gpio.dtbo") == "an overlay\n"  # sub-folders come along
    assert (files / "config.txt").read_text() == "arm_64bit=1\n"  # the source is left as it was
    (files / "config.txt").write_text(head + "arm_64bit=1\n")  # made from an A/B boot partition again
    (files / "cmdline.txt").unlink()
    make_boot_image(files, image)
    assert fat(image, "config.txt") == head + "arm_64bit=1\n"  # the head once, not twice
    assert fat(image, "cmdline-b.txt") == (PI_AB / "cmdline-b.txt").read_text()
