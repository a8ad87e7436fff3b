"""A real RAUC for the update tests: Debian's rauc service on a private system D-Bus, two ext4
root slots on loop devices, keys from image-build/update/update-keys.sh and bundles made by
make-bundle.sh -- the peer the daemon's update routes (web/updates.py) talk to.

What differs from the appliance: the bootloader is RAUC's "custom" backend (a script keeping
the primary slot and the slots' good/bad in files, what GRUB's environment holds on the
emulated system) instead of GRUB, nothing boots the new slot (the emulated system does:
image-build/PROOF.md), and the bundles are "plain", since this kernel has no device-mapper
for verity bundles. Needs root (loop devices).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.harness.daemon import ROOT
from tests.harness.waits import wait_until

UPDATE = ROOT / "image-build" / "update"
COMPATIBLE = "zentrale-test"
TOOLS = ("rauc", "dbus-daemon", "mksquashfs", "mkfs.ext4", "debugfs", "losetup")

BUS_CONF = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/><allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/><allow receive_sender="*"/>
  </policy>
</busconfig>
"""

# RAUC's custom bootloader backend: the primary slot and each slot's state in files (what
# GRUB's environment holds on the emulated system); set-primary makes the slot good to try
BOOT_BACKEND = """#!/bin/sh
d="{state}"
case "$1" in
get-primary) cat "$d/primary" 2>/dev/null || echo A ;;
set-primary) echo "$2" >"$d/primary"; echo good >"$d/state-$2" ;;
get-state) cat "$d/state-$2" 2>/dev/null || echo good ;;
set-state) echo "$3" >"$d/state-$2" ;;
get-current) echo A ;;
*) exit 1 ;;
esac
"""

SYSTEM_CONF = """[system]
compatible={compatible}
bootloader=custom
statusfile={work}/rauc.status
bundle-formats=plain

[handlers]
bootloader-custom-backend={backend}

[keyring]
path={keys}/ca.cert.pem

[slot.rootfs.0]
device={device_a}
type=ext4
bootname=A

[slot.rootfs.1]
device={device_b}
type=ext4
bootname=B
"""


def rootfs(folder: Path, release: str, noise: int = 100_000) -> Path:
    """A small ext4 root file system image saying which release it is (``noise``: bytes of
    random data in it, which no compression shrinks: the bundle's size)."""
    tree = folder / f"tree-{release}"
    (tree / "etc").mkdir(parents=True)
    (tree / "etc" / "zentrale-release").write_text(release + "\n", encoding="utf-8")
    (tree / "etc" / "noise").write_bytes(os.urandom(noise))  # RAUC wants a squashfs above 4 KB
    image = folder / f"rootfs-{release}.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tree), str(image), "8M"], check=True, timeout=60)
    return image


def bundle(folder: Path, release: str, keys: Path, noise: int = 100_000, compatible: str = COMPATIBLE) -> Path:
    """A bundle of release ``release`` signed with ``keys``, made by the image's make-bundle.sh
    for boxes of kind ``compatible``."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"zentrale-{release}.raucb"
    env = {**os.environ, "COMPATIBLE": compatible, "FORMAT": "plain"}
    subprocess.run([str(UPDATE / "make-bundle.sh"), str(rootfs(folder, release, noise)), release, str(out), str(keys)],
                   check=True, env=env, capture_output=True, timeout=120)  # fmt: skip
    return out


def slot_release(device: str) -> str:
    """The release written in a slot's bytes (its /etc/zentrale-release), read without mounting."""
    out = subprocess.run(["debugfs", "-R", "cat /etc/zentrale-release", device],
                         capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    return out.stdout.strip()


@dataclass
class Rauc:
    work: Path
    keys: Path  # the keyring the "image" trusts
    other_keys: Path  # someone else's: bundles signed with these must be refused
    devices: list[str]  # loop devices of slot A and slot B
    state: Path  # the custom bootloader's files: primary, state-A, state-B
    conf: Path
    env: dict[str, str]  # os.environ with DBUS_SYSTEM_BUS_ADDRESS of the private bus
    bus_address: str
    log: Path
    services: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def status(self) -> dict[str, Any]:
        """``rauc status`` as a client on the bus sees it (JSON)."""
        out = subprocess.run(["rauc", "status", "--detailed", "--output-format=json"], env=self.env,
                             capture_output=True, text=True, check=False, timeout=30)  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        return dict(json.loads(out.stdout[out.stdout.index("{") :]))

    def slot_versions(self) -> dict[str, str | None]:
        """Each slot's bundle version by boot name, from ``rauc status``."""
        found: dict[str, str | None] = {}
        for entry in self.status().get("slots", []):
            for slot in entry.values():
                bundle_info = (slot.get("slot_status") or {}).get("bundle") or {}
                found[slot.get("bootname")] = bundle_info.get("version")
        return found

    def start_service(self, booted: str) -> None:
        """RAUC's service as after a boot of ``booted`` (what rauc.slot= on the kernel line says)."""
        for old in self.services:
            old.terminate()
            old.wait(10)
        with self.log.open("ab") as log:
            self.services[:] = [subprocess.Popen(["rauc", f"--conf={self.conf}", "--mount", str(self.work / "mnt"),
                                                  "service", f"--override-boot-slot={booted}"], env=self.env,
                                                 stdout=log, stderr=subprocess.STDOUT)]  # fmt: skip
        wait_until(lambda: f'"booted":"{booted}"' in subprocess.run(
            ["rauc", "status", "--output-format=json"], env=self.env, capture_output=True, text=True,
            check=False).stdout, 20, "RAUC's service on the bus")  # fmt: skip


@contextlib.contextmanager
def rauc_system(work: Path) -> Iterator[Rauc]:
    """Two slots (A holds release 1 and is booted, B is empty), the keys, the private system
    bus and RAUC's service on it. The daemon under test gets ``bus_address`` as its
    DBUS_SYSTEM_BUS_ADDRESS."""
    if os.geteuid() != 0:
        raise AssertionError("needs root: loop devices for the two root slots (CI runs as root)")
    for tool in TOOLS:
        assert shutil.which(tool), f"{tool} missing: scripts/setup --test installs it"
    work.mkdir(parents=True, exist_ok=True)
    keys, other_keys = work / "keys", work / "other-keys"
    for folder in (keys, other_keys):
        subprocess.run([str(UPDATE / "update-keys.sh"), str(folder)], check=True, capture_output=True, timeout=60)
    devices: list[str] = []
    bus: subprocess.Popen[bytes] | None = None
    rauc: Rauc | None = None
    try:
        for name in ("A", "B"):
            img = work / f"slot{name}.img"
            with img.open("wb") as f:
                f.truncate(16 * 1024 * 1024)
            devices.append(subprocess.run(["losetup", "-f", "--show", str(img)], capture_output=True, text=True,
                                          check=True, timeout=30).stdout.strip())  # fmt: skip
        subprocess.run(["dd", f"if={rootfs(work, '1')}", f"of={devices[0]}", "bs=1M", "status=none"],
                       check=True, timeout=60)  # fmt: skip
        state = work / "bootstate"
        state.mkdir()
        backend = work / "boot-backend.sh"
        backend.write_text(BOOT_BACKEND.format(state=state), encoding="utf-8")
        backend.chmod(0o755)
        conf = work / "system.conf"
        conf.write_text(SYSTEM_CONF.format(compatible=COMPATIBLE, work=work, backend=backend, keys=keys,
                                           device_a=devices[0], device_b=devices[1]), encoding="utf-8")  # fmt: skip
        socket = work / "bus.sock"
        (work / "bus.conf").write_text(BUS_CONF.format(socket=socket), encoding="utf-8")
        bus = subprocess.Popen(["dbus-daemon", "--config-file", str(work / "bus.conf"), "--nofork"],
                               stderr=subprocess.DEVNULL)  # fmt: skip
        wait_until(socket.exists, 10, "the private system bus")
        address = f"unix:path={socket}"
        rauc = Rauc(work=work, keys=keys, other_keys=other_keys, devices=devices, state=state, conf=conf,
                    env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}, bus_address=address,
                    log=work / "rauc-service.log")  # fmt: skip
        rauc.start_service("A")
        yield rauc
    finally:
        for proc in [*(rauc.services if rauc else []), *([bus] if bus else [])]:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(10)
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        for device in devices:
            subprocess.run(["losetup", "-d", device], check=False, timeout=30)
