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
import sys
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
        bus, address = private_bus(work)
        rauc = Rauc(work=work, keys=keys, other_keys=other_keys, devices=devices, state=state, conf=conf,
                    env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}, bus_address=address,
                    log=work / "rauc-service.log")  # fmt: skip
        rauc.start_service("A")
        yield rauc
    finally:
        stop([*(rauc.services if rauc else []), *([bus] if bus else [])], devices)


def private_bus(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A system D-Bus of the test's own (RAUC's service owns its name there) and its address."""
    socket = work / "bus.sock"
    (work / "bus.conf").write_text(BUS_CONF.format(socket=socket), encoding="utf-8")
    bus = subprocess.Popen(["dbus-daemon", "--config-file", str(work / "bus.conf"), "--nofork"],
                           stderr=subprocess.DEVNULL)  # fmt: skip
    wait_until(socket.exists, 10, "the private system bus")
    return bus, f"unix:path={socket}"


def stop(processes: list[subprocess.Popen[bytes]], loop_devices: list[str]) -> None:
    for proc in processes:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    for device in loop_devices:
        subprocess.run(["losetup", "-d", device], check=False, timeout=30)


# --- The Raspberry Pi's A/B layout (image-build/pi-ab/): the firmware's tryboot -------------
#
# One disk image laid out by the image's own partition.sh (control FAT with autoboot.txt,
# two FAT boot slots, two ext4 root slots, the data partition), each partition a loop
# device of its own; RAUC's service with the image's system.conf (devices and paths
# replaced) and the image's rauc-tryboot as its bootloader backend, which reads and writes
# autoboot.txt on the control partition's FAT with mtools. The firmware is what is not
# here: the device-tree node (tryboot, partition) is a folder of files the test writes as
# the firmware would at a boot, and a restart is a line in a file.

PI_AB = ROOT / "image-build" / "pi-ab"
PI_TOOLS = (*TOOLS, "sfdisk", "mkfs.vfat", "mcopy", "mtype", "mren")
MTOOLS_ENV = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}


def fat_file(device: str | Path, name: str) -> str | None:
    """A file on a FAT partition or image, read with mtools (this kernel has no vfat)."""
    out = subprocess.run(["mtype", "-i", str(device), f"::{name}"], capture_output=True, text=True, timeout=30,
                         env=MTOOLS_ENV, check=False)  # fmt: skip
    return out.stdout if out.returncode == 0 else None


def pi_boot_image(folder: Path, release: str) -> Path:
    """A boot slot's FAT image made by the image's make-boot-image.sh from what pi-gen's
    boot partition holds (here without firmware and kernel): config.txt, cmdline.txt with
    Raspberry Pi OS's first-boot init=, and which release it is."""
    files = folder / f"boot-{release}"
    files.mkdir(parents=True)
    (files / "config.txt").write_text("arm_64bit=1\nkernel=kernel8.img\n")
    cmdline = "console=serial0,115200 console=tty1 root=PARTUUID=0badcafe-02 rootfstype=ext4 fsck.repair=yes rootwait"
    (files / "cmdline.txt").write_text(cmdline + " init=/usr/lib/raspberrypi-sys-mods/firstboot\n")
    (files / "zentrale-release.txt").write_text(release + "\n")
    image = folder / f"boot-{release}.vfat"
    subprocess.run([str(PI_AB / "make-boot-image.sh"), str(files), str(image)], check=True, capture_output=True,
                   env={**os.environ, "SIZE_MB": "4"}, timeout=60)  # fmt: skip
    return image


def pi_bundle(folder: Path, release: str, keys: Path) -> Path:
    """A bundle with a root and a boot image of ``release`` (make-bundle.sh, BOOT_IMAGE)."""
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"zentrale-pi-{release}.raucb"
    env = {**os.environ, "COMPATIBLE": COMPATIBLE, "FORMAT": "plain", "BOOT_IMAGE": str(pi_boot_image(folder, release))}
    subprocess.run([str(UPDATE / "make-bundle.sh"), str(rootfs(folder, release)), release, str(out), str(keys)],
                   check=True, env=env, capture_output=True, timeout=120)  # fmt: skip
    return out


@dataclass
class PiBox:
    rauc: Rauc  # devices: root A and B (p5, p6); state: the device-tree folder
    parts: dict[int, str]  # partition number -> its loop device
    dt: Path  # /proc/device-tree/chosen/bootloader as the firmware fills it
    backend: Path  # rauc-tryboot with this box's paths, as RAUC calls it
    reboots: Path  # one line per restart: its argument ("0 tryboot" or empty)

    def autoboot(self) -> str | None:
        return fat_file(self.parts[1], "autoboot.txt")

    def boot(self, partition: int, tried: bool) -> None:
        """A start by the firmware: the device tree it leaves, the slot's rauc.slot=, RAUC's service."""
        (self.dt / "partition").write_bytes(partition.to_bytes(4, "big"))
        (self.dt / "tryboot").write_bytes(int(tried).to_bytes(4, "big"))
        self.rauc.start_service({2: "A", 3: "B"}[partition])

    def restart(self) -> str:
        """What zentrale-reboot.service runs on the Pi (rauc-tryboot reboot): its argument."""
        done = subprocess.run([str(self.backend), "reboot"], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return self.reboots.read_text().splitlines()[-1].strip()


def pi_system_conf(parts: dict[int, str], backend: Path, keys: Path, work: Path) -> str:
    """The image's system.conf with this box's devices and paths."""
    conf = (PI_AB / "system.conf").read_text()
    swaps = {f"/dev/mmcblk0p{n}\n": f"{device}\n" for n, device in parts.items() if n in (2, 3, 5, 6)}
    swaps |= {"compatible=zentrale-rpi-arm64": f"compatible={COMPATIBLE}",
              "bundle-formats=-plain": "bundle-formats=plain",
              "/var/lib/zentrale/update/rauc.status": str(work / "rauc.status"),
              "/usr/lib/zentrale/rauc-tryboot": str(backend),
              "/etc/rauc/keyring.pem": str(keys / "ca.cert.pem")}  # fmt: skip
    for old, new in swaps.items():
        assert old in conf, f"{old!r} no longer in image-build/pi-ab/system.conf"
        conf = conf.replace(old, new)
    return conf


@contextlib.contextmanager
def pi_tryboot_system(work: Path) -> Iterator[PiBox]:
    """A Pi card made by partition.sh with release 1 in slot A (the default, nothing to
    try), the keys, the private bus and RAUC's service as after a normal boot of A."""
    if os.geteuid() != 0:
        raise AssertionError("needs root: loop devices for the card's partitions (CI runs as root)")
    for tool in PI_TOOLS:
        assert shutil.which(tool), f"{tool} missing: scripts/setup --test installs it"
    work.mkdir(parents=True, exist_ok=True)
    keys, other_keys = work / "keys", work / "other-keys"
    for folder in (keys, other_keys):
        subprocess.run([str(UPDATE / "update-keys.sh"), str(folder)], check=True, capture_output=True, timeout=60)
    disk = work / "card.img"
    env = {**os.environ, "CTL_MB": "4", "BOOT_MB": "8", "ROOT_MB": "16", "DATA_MB": "8",
           "ROOTFS": str(rootfs(work, "1")), "BOOT_IMAGE": str(pi_boot_image(work, "1"))}  # fmt: skip
    subprocess.run([str(PI_AB / "partition.sh"), str(disk)], check=True, env=env, capture_output=True, timeout=120)
    table = json.loads(subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True, check=True,
                                      timeout=30).stdout)["partitiontable"]  # fmt: skip
    parts: dict[int, str] = {}
    bus: subprocess.Popen[bytes] | None = None
    rauc: Rauc | None = None
    try:
        for entry in table["partitions"]:
            number = int(entry["node"].removeprefix(str(disk)))
            if entry["type"] == "5":
                continue  # the extended partition's own entry
            parts[number] = subprocess.run(
                ["losetup", "-f", "--show", "--offset", str(entry["start"] * 512), "--sizelimit",
                 str(entry["size"] * 512), str(disk)], capture_output=True, text=True, check=True, timeout=30,
            ).stdout.strip()  # fmt: skip
        dt = work / "device-tree"
        dt.mkdir()
        reboots = work / "reboots"
        backend = work / "rauc-tryboot"
        backend.write_text(
            "#!/bin/sh\n"
            f"export ZENTRALE_TRYBOOT_DEVICE={parts[1]} ZENTRALE_TRYBOOT_DT={dt} ZENTRALE_TRYBOOT_LOCK={work}/lock\n"
            f"export ZENTRALE_TRYBOOT_REBOOT_COMMAND=\"sh -c 'echo \\\"\\$*\\\" >>{reboots}' reboot\"\n"
            f"exec {sys.executable} {PI_AB / 'rauc-tryboot'} \"$@\"\n", encoding="utf-8")  # fmt: skip
        backend.chmod(0o755)
        conf = work / "system.conf"
        conf.write_text(pi_system_conf(parts, backend, keys, work), encoding="utf-8")
        bus, address = private_bus(work)
        rauc = Rauc(work=work, keys=keys, other_keys=other_keys, devices=[parts[5], parts[6]], state=dt, conf=conf,
                    env={**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": address}, bus_address=address,
                    log=work / "rauc-service.log")  # fmt: skip
        box = PiBox(rauc=rauc, parts=parts, dt=dt, backend=backend, reboots=reboots)
        box.boot(2, tried=False)
        yield box
    finally:
        stop([*(rauc.services if rauc else []), *([bus] if bus else [])], list(parts.values()))


@contextlib.contextmanager
def card_partitions(disk: Path, read_only: bool = False) -> Iterator[dict[int, str]]:
    """Each partition of a card image as a loop device of its own (the extended one
    left out), detached afterwards: what the box sees as /dev/mmcblk0pN."""
    if os.geteuid() != 0:
        raise AssertionError("needs root: loop devices for the card's partitions (CI runs as root)")
    table = json.loads(subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True, check=True,
                                      timeout=30).stdout)["partitiontable"]  # fmt: skip
    parts: dict[int, str] = {}
    try:
        for entry in table["partitions"]:
            if entry["type"] == "5":
                continue
            parts[int(entry["node"].removeprefix(str(disk)))] = subprocess.run(
                ["losetup", "-f", "--show", *(["--read-only"] if read_only else []), "--offset",
                 str(entry["start"] * 512), "--sizelimit", str(entry["size"] * 512), str(disk)],
                capture_output=True, text=True, check=True, timeout=30,
            ).stdout.strip()  # fmt: skip
        yield parts
    finally:
        for device in parts.values():
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30, check=False)


def ext4_file(device: str | Path, path: str) -> str | None:
    """A file in an ext4 file system, read with debugfs without mounting it."""
    out = subprocess.run(["debugfs", "-R", f"cat {path}", str(device)], capture_output=True, text=True, timeout=30,
                         check=False)  # fmt: skip
    return out.stdout if out.returncode == 0 and "File not found" not in out.stderr else None
