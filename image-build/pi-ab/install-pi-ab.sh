#!/bin/bash
# Put the Raspberry Pi's A/B update support into an image root (on the build host):
#   image-build/pi-ab/install-pi-ab.sh ROOTFS_DIR KEYRING.pem
# What every A/B root gets (install-update-support.sh: keyring, D-Bus policy, the
# confirmation after boot, the restart the web page asks for), and the Pi's own part:
# RAUC's system.conf for the layout of partition.sh, rauc-tryboot as RAUC's bootloader
# backend, and the restart into a try (zentrale-reboot.service drop-in).
# The root needs the packages rauc and rauc-service (trixie; bookworm: rauc) and mtools.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${1:?usage: install-pi-ab.sh ROOTFS_DIR KEYRING.pem}"
keyring="${2:?keyring}"

"${HERE}/../update/install-update-support.sh" "${root}" "${keyring}"
install -m 755 "${HERE}/rauc-tryboot" "${root}/usr/lib/zentrale/rauc-tryboot"
install -m 644 "${HERE}/system.conf" "${root}/etc/rauc/system.conf"
install -d "${root}/etc/systemd/system/zentrale-reboot.service.d"
install -m 644 "${HERE}/zentrale-reboot-tryboot.conf" "${root}/etc/systemd/system/zentrale-reboot.service.d/tryboot.conf"
