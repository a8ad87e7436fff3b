"""The first boot's read-only root (zentrale-firstboot read-only-root, step 3 alone).

On a card with one boot partition it is raspi-config's overlay switch, which puts
``overlayroot=tmpfs`` in front of cmdline.txt (raspi-config's enable_overlayfs:
``sed -i $CMDLINE -e "s/^/overlayroot=tmpfs /"``). overlayroot's default ``recurse=1``
would then put the data partition under the RAM overlay too, so every message would
vanish at the next reboot; the first boot makes it ``recurse=0``. raspi-config is
Raspberry Pi OS's and not in Debian: the tests put a stand-in on the PATH that does to
cmdline.txt exactly that one edit -- what is tested is the first boot's own handling.
On the A/B card the read-only root is set in the image (/etc/overlayroot.conf) and
raspi-config is not called at all."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIRSTBOOT = ROOT / "image-build" / "stage-zentrale" / "00-zentrale" / "files" / "zentrale-firstboot"
PI_AB = ROOT / "image-build" / "pi-ab"
CMDLINE = "console=serial0,115200 console=tty1 root=PARTUUID=1234abcd-02 rootfstype=ext4 fsck.repair=yes rootwait\n"


def stand_in_raspi_config(folder: Path, prefix: str = "overlayroot=tmpfs ") -> Path:
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "raspi-config"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >>{folder}/raspi-config.calls\n'
        '[ "$1 $2" = "nonint enable_overlayfs" ] || exit 2\n'
        f'sed -i "s/^/{prefix}/" "$ZENTRALE_BOOT_DIR/cmdline.txt"\n'
    )
    script.chmod(0o755)
    return bin_dir


def read_only_root(tmp_path: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ZENTRALE_BOOT_DIR": str(tmp_path),
                "ZENTRALE_OVERLAYROOT_CONF": str(tmp_path / "no-overlayroot.conf"), **env}  # fmt: skip
    return subprocess.run([str(FIRSTBOOT), "read-only-root"], capture_output=True, text=True, timeout=60, check=False,
                          env=settings)  # fmt: skip


def test_with_one_boot_partition_the_overlay_leaves_the_data_partition_writable(tmp_path: Path) -> None:
    (tmp_path / "cmdline.txt").write_text(CMDLINE)
    done = read_only_root(tmp_path, stand_in_raspi_config(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "raspi-config.calls").read_text() == "nonint enable_overlayfs\n"
    assert (tmp_path / "cmdline.txt").read_text() == "overlayroot=tmpfs:recurse=0 " + CMDLINE


def test_an_overlay_the_first_boot_cannot_confine_to_the_root_stops_it_before_the_reboot(tmp_path: Path) -> None:
    (tmp_path / "cmdline.txt").write_text(CMDLINE)
    done = read_only_root(tmp_path, stand_in_raspi_config(tmp_path, prefix="overlayroot=tmpfs:recurse=1 "))
    assert done.returncode != 0
    assert "not rebooting into an overlay over the data" in done.stdout


def test_on_the_ab_card_the_overlay_is_the_image_s_and_raspi_config_is_not_called(tmp_path: Path) -> None:
    (tmp_path / "cmdline.txt").write_text(CMDLINE)
    done = read_only_root(tmp_path, stand_in_raspi_config(tmp_path),
                          ZENTRALE_OVERLAYROOT_CONF=str(PI_AB / "overlayroot.conf"))  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "the read-only root is set in the image" in done.stdout
    assert not (tmp_path / "raspi-config.calls").exists()
    assert (tmp_path / "cmdline.txt").read_text() == CMDLINE
