#!/bin/bash
# Put what A/B updates need into an image root (on the build host):
#   image-build/update/install-update-support.sh ROOTFS_DIR KEYRING.pem
# RAUC's keyring (the update CA's certificate, update-keys.sh), the D-Bus policy that lets
# the daemon's user talk to RAUC's service, the confirm service (good after a healthy
# start, else back to the other slot) and the restart the web page asks for. The slots
# and the bootloader (/etc/rauc/system.conf) are the platform's: image-build/emulate/ (GRUB),
# image-build/pi-ab/ (the Raspberry Pi firmware's tryboot: install-pi-ab.sh calls this script).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/../.." && pwd)"
root="${1:?usage: install-update-support.sh ROOTFS_DIR KEYRING.pem}"
keyring="${2:?keyring}"

install -d "${root}/etc/rauc" "${root}/etc/dbus-1/system.d" "${root}/usr/lib/zentrale" \
	"${root}/usr/lib/systemd/system"
install -m 644 "${keyring}" "${root}/etc/rauc/keyring.pem"
install -m 644 "${HERE}/dbus-zentrale-rauc.conf" "${root}/etc/dbus-1/system.d/zentrale-rauc.conf"
install -m 755 "${HERE}/zentrale-update-confirm" "${root}/usr/lib/zentrale/zentrale-update-confirm"
install -m 644 "${REPO}/systemd/zentrale-update-confirm.service" "${REPO}/systemd/zentrale-reboot.path" \
	"${REPO}/systemd/zentrale-reboot.service" "${root}/usr/lib/systemd/system/"
systemctl --root="${root}" enable zentrale-update-confirm.service zentrale-reboot.path
