#!/bin/bash -e
# Inside the image root, before the card is written: the initramfs with overlayroot's hook
# (01-readonly installs it; the read-only root of /etc/overlayroot.conf is set up there) for
# every kernel, as pi-gen's export-image does before its card (05-finalise); Raspberry Pi
# OS's hook copies it to /boot/firmware, which becomes the boot slot.
set -euo pipefail
if [ -f /etc/initramfs-tools/update-initramfs.conf ]; then
	sed -i 's/^update_initramfs=.*/update_initramfs=all/' /etc/initramfs-tools/update-initramfs.conf
fi
update-initramfs -u -k all
