#!/bin/bash -e
# On the build host: prepare the root for running read-only.
#  - keep the SD card's free space for the data partition: Raspberry Pi OS
#    would grow the root partition over it on first boot (init=... firstboot
#    in cmdline.txt); zentrale-firstboot makes the data partition instead;
#  - the journal is persistent, on the data partition (zentrale-firstboot
#    bind-mounts it on /var/log/journal), capped at 64 MB;
#  - overlayroot (00-packages): its initramfs script makes the root read-only with
#    a RAM overlay; the A/B card has it on in the image (02-ab: /etc/overlayroot.conf,
#    via install-pi-ab.sh), a card with one boot partition through raspi-config at
#    the first boot (zentrale-firstboot).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ROOTFS_DIR:?ROOTFS_DIR must name the image root}"

for cmdline in "${ROOTFS_DIR}/boot/firmware/cmdline.txt" "${ROOTFS_DIR}/boot/cmdline.txt"; do
	if [ -f "${cmdline}" ]; then
		sed -i 's| init=/usr/lib/raspberrypi-sys-mods/firstboot||; s| init=/usr/lib/raspi-config/init_resize.sh||' "${cmdline}"
	fi
done
install -d "${ROOTFS_DIR}/etc/systemd/journald.conf.d"
install -m 644 "${HERE}/files/journald-zentrale.conf" "${ROOTFS_DIR}/etc/systemd/journald.conf.d/zentrale.conf"
