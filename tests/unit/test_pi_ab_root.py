"""What one root image needs to run from either slot of the A/B card, piece by piece:
install-pi-ab.sh's fstab (no boot partition, no /, the data partition by label), the
generator that mounts the running slot's boot partition, and where the first boot and the
console put the set-up token and the CA certificate -- the control partition p1 of the A/B
card (a FAT image file here, written with mtools as on the card), the boot partition's
folder on a card with one boot partition. The whole card: tests/integration/test_pi_image_export.py."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PI_AB = ROOT / "image-build" / "pi-ab"
FILES = ROOT / "image-build" / "stage-zentrale" / "00-zentrale" / "files"
MTOOLS = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    # restore_signals=False: SIGPIPE stays ignored, as systemd starts services
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False, restore_signals=False,
                          env={**os.environ, **env})  # fmt: skip


def fat_image(path: Path) -> Path:
    for tool in ("mkfs.vfat", "mcopy", "mtype", "flock"):
        assert shutil.which(tool), f"{tool} missing: scripts/setup --test installs it"
    subprocess.run(["mkfs.vfat", "-C", "-n", "ZBOOTCTL", str(path), "1024"], check=True, capture_output=True)
    return path


def fat(image: Path, name: str) -> str | None:
    done = subprocess.run(["mtype", "-i", str(image), f"::{name}"], capture_output=True, text=True, env=MTOOLS)
    return done.stdout if done.returncode == 0 else None


def test_fstab_loses_the_boot_partition_and_root_keeps_the_rest_and_gains_the_data_partition(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "fstab").write_text(
        "# pi-gen's\nproc /proc proc defaults 0 0\nBOOTDEV /boot/firmware vfat defaults 0 2\n"
        "ROOTDEV / ext4 defaults,noatime 0 1\ntmpfs /tmp tmpfs defaults 0 0\n"
    )
    keyring = tmp_path / "ca.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    for _ in range(2):  # a stage run twice (pi-gen's CONTINUE=1) changes nothing more
        done = run([str(PI_AB / "install-pi-ab.sh"), str(root), str(keyring)])
        assert done.returncode == 0, done.stderr
    fstab = (root / "etc" / "fstab").read_text()
    entries = [line.split() for line in fstab.splitlines() if line and not line.startswith("#")]
    assert [e[1] for e in entries] == ["/proc", "/tmp", "/var/lib/zentrale", "/var/log/journal"]
    assert fstab.startswith("# pi-gen's\n")
    assert entries[2][:3] == ["LABEL=zentrale-data", "/var/lib/zentrale", "ext4"]
    assert "nofail" in entries[3][3]  # its folder is made by the first boot; until then no emergency shell
    assert (root / "etc" / "overlayroot.conf").read_text().rstrip().endswith('overlayroot="tmpfs:recurse=0"')
    generator = root / "usr/lib/systemd/system-generators/zentrale-boot-slot"
    assert os.access(generator, os.X_OK)


@pytest.mark.parametrize(
    ("cmdline", "device"),
    [
        ("console=tty1 root=/dev/mmcblk0p5 rootfstype=ext4 rootwait rauc.slot=A", "/dev/mmcblk0p2"),
        ("console=tty1 root=/dev/mmcblk0p6 rootfstype=ext4 rootwait rauc.slot=B", "/dev/mmcblk0p3"),
        ("rauc.slot=B root=/dev/sda6", "/dev/sda3"),  # a Pi booting from USB, the same layout
        ("root=/dev/nvme0n1p5 rauc.slot=A quiet", "/dev/nvme0n1p2"),
    ],
)
def test_the_generator_mounts_the_running_slot_s_boot_partition_read_only(
    tmp_path: Path, cmdline: str, device: str
) -> None:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    done = run([str(PI_AB / "zentrale-boot-slot-generator"), str(tmp_path), str(tmp_path), str(tmp_path)],
               ZENTRALE_CMDLINE=str(tmp_path / "cmdline"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    unit = (tmp_path / "boot-firmware.mount").read_text()
    assert f"\nWhat={device}\nWhere=/boot/firmware\nType=vfat\nOptions=ro,nodev,nosuid,noexec\n" in unit
    assert os.readlink(tmp_path / "local-fs.target.wants" / "boot-firmware.mount") == "../boot-firmware.mount"


@pytest.mark.parametrize(
    "cmdline",
    [
        "console=tty1 root=PARTUUID=1234abcd-02 rootwait",
        "root=PARTUUID=1234abcd-05 rauc.slot=A",
        "root=/dev/sda5 rauc.slot=C",
    ],
)
def test_the_generator_leaves_a_card_of_another_layout_alone(tmp_path: Path, cmdline: str) -> None:
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    done = run([str(PI_AB / "zentrale-boot-slot-generator"), str(tmp_path)], ZENTRALE_CMDLINE=str(tmp_path / "cmdline"))
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cmdline"]


def test_on_the_ab_card_the_set_up_token_goes_to_the_control_partition(tmp_path: Path) -> None:
    ctl, data, boot = fat_image(tmp_path / "ctl.vfat"), tmp_path / "data", tmp_path / "boot"
    data.mkdir()
    boot.mkdir()
    env = {"ZENTRALE_DATA_DIR": str(data), "ZENTRALE_BOOT_DIR": str(boot), "ZENTRALE_CTL_DEVICE": str(ctl),
           "ZENTRALE_TRYBOOT_LOCK": str(tmp_path / "lock")}  # fmt: skip
    done = run([str(FILES / "zentrale-firstboot"), "token"], **env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in done.stderr, done.stderr
    token = (data / "setup-token").read_text().strip()
    card = fat(ctl, "zentrale-setup.txt") or ""
    assert token in card and "https://zentrale.local/" in card
    assert list(boot.iterdir()) == []  # not the boot folder


def test_with_one_boot_partition_the_set_up_token_goes_to_its_folder(tmp_path: Path) -> None:
    data, boot = tmp_path / "data", tmp_path / "boot"
    data.mkdir()
    boot.mkdir()
    done = run([str(FILES / "zentrale-firstboot"), "token"], ZENTRALE_DATA_DIR=str(data), ZENTRALE_BOOT_DIR=str(boot))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (data / "setup-token").read_text().strip() in (boot / "zentrale-setup.txt").read_text()


def test_a_missing_control_partition_costs_the_card_file_not_the_token(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    done = run([str(FILES / "zentrale-firstboot"), "token"], ZENTRALE_DATA_DIR=str(data),
               ZENTRALE_BOOT_DIR=str(tmp_path), ZENTRALE_CTL_DEVICE=str(tmp_path / "no-such-partition"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert (data / "setup-token").read_text().strip()
    assert "does not exist" in done.stdout and "the token is on the console" in done.stdout


def test_the_console_puts_the_ca_certificate_on_the_control_partition_and_follows_a_new_one(tmp_path: Path) -> None:
    ctl, data = fat_image(tmp_path / "ctl.vfat"), tmp_path / "data"
    (data / "tls").mkdir(parents=True)
    for number in (1, 2):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-subj", f"/CN=Zentrale CA {number}", "-keyout", str(data / "tls" / "ca.key"),
                        "-out", str(data / "tls" / "ca.crt")], check=True, capture_output=True)  # fmt: skip
        done = run([str(FILES / "zentrale-console")], ZENTRALE_DATA_DIR=str(data), ZENTRALE_BOOT_DIR=str(tmp_path),
                   ZENTRALE_CONSOLE_DIR=str(tmp_path / "console"), ZENTRALE_CTL_DEVICE=str(ctl),
                   ZENTRALE_TRYBOOT_LOCK=str(tmp_path / "lock"))  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert fat(ctl, "zentrale-ca.crt") == (data / "tls" / "ca.crt").read_text()
    assert not (tmp_path / "zentrale-ca.crt").exists()


def test_the_generated_mount_and_the_ab_drop_ins_verify_without_a_complaint(tmp_path: Path) -> None:
    (tmp_path / "cmdline").write_text("console=tty1 root=/dev/mmcblk0p6 rootwait rauc.slot=B\n")
    done = run([str(PI_AB / "zentrale-boot-slot-generator"), str(tmp_path)], ZENTRALE_CMDLINE=str(tmp_path / "cmdline"))
    assert done.returncode == 0, done.stderr
    units = [str(tmp_path / "boot-firmware.mount")]
    for unit in ("zentrale-firstboot", "zentrale-console"):
        text = (ROOT / "systemd" / f"{unit}.service").read_text()
        (tmp_path / f"{unit}.service").write_text(text.replace(f"/usr/lib/zentrale/{unit}", str(FILES / unit)))
        (tmp_path / f"{unit}.service.d").mkdir()
        shutil.copy(PI_AB / f"{unit}-ab.conf", tmp_path / f"{unit}.service.d" / "ab.conf")
        units.append(str(tmp_path / f"{unit}.service"))
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", "--generators=no", *units], capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr  # a typo in ab.conf is a complaint


STAGE = ROOT / "image-build" / "stage-zentrale"


def test_the_stage_writes_the_ab_card_last_and_pi_gen_exports_nothing_of_it() -> None:
    # an EXPORT_IMAGE would make pi-gen write its one-boot card of this A/B root (no boot
    # partition in fstab, read-only from the start): a card that boots into nothing useful
    assert not (STAGE / "EXPORT_IMAGE").exists()
    sub_stages = sorted(p.name for p in STAGE.iterdir() if p.is_dir())
    assert sub_stages[-1] == "03-export-ab" and "02-ab" in sub_stages
    assert (STAGE / "02-ab" / "00-packages").read_text().split() == ["rauc", "rauc-service", "mtools"]


def test_the_stage_refuses_to_build_without_the_update_keyring(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ZENTRALE_UPDATE_KEYRING"}
    done = subprocess.run([str(STAGE / "02-ab" / "01-run.sh")], capture_output=True, text=True, timeout=60,
                          env={**env, "ROOTFS_DIR": str(tmp_path)}, check=False)  # fmt: skip
    assert done.returncode != 0 and "ZENTRALE_UPDATE_KEYRING must name the update CA certificate" in done.stderr
    (tmp_path / "signing.key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")  # the wrong file of update-keys.sh
    done = run([str(STAGE / "02-ab" / "01-run.sh")], ROOTFS_DIR=str(tmp_path),
               ZENTRALE_UPDATE_KEYRING=str(tmp_path / "signing.key.pem"))  # fmt: skip
    assert done.returncode == 1 and "is not a PEM certificate" in done.stderr, done.stderr
    assert not (tmp_path / "etc").exists()  # nothing put into the root
