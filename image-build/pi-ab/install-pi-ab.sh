#!/bin/bash
# Put the Raspberry Pi's A/B update support into an image root (on the build host):
#   image-build/pi-ab/install-pi-ab.sh ROOTFS_DIR KEYRING.pem
# What every A/B root gets (install-update-support.sh: keyring, D-Bus policy, the
# confirmation after boot, the restart the web page asks for), and the Pi's own part:
# RAUC's system.conf for the layout of partition.sh, rauc-tryboot as RAUC's bootloader
# backend, and the restart into a try (zentrale-reboot.service drop-in).
# And what one root image in either slot needs:
#  - /etc/fstab without the boot partition and without /: pi-gen's names them by PARTUUID,
#    but the same root runs from p5 or p6 with boot slot p2 or p3; the kernel mounts root=
#    of the slot's command line, zentrale-boot-slot-generator mounts that slot's boot
#    partition at /boot/firmware (read-only); the data partition p7 (by its label) and the
#    journal on it are in fstab from the start (zentrale-firstboot finds them there);
#  - the read-only root set in the image: /etc/overlayroot.conf (overlayroot, tmpfs,
#    recurse=0), not raspi-config's cmdline.txt edit;
#  - zentrale-firstboot and zentrale-console write the set-up token and the CA
#    certificate to the control partition p1 (drop-ins with ZENTRALE_CTL_DEVICE).
# The root needs the packages rauc and rauc-service, mtools and overlayroot
# (stage-zentrale/01-readonly and 02-ab).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="${1:?usage: install-pi-ab.sh ROOTFS_DIR KEYRING.pem}"
keyring="${2:?keyring}"

"${HERE}/../update/install-update-support.sh" "${root}" "${keyring}"
install -m 755 "${HERE}/rauc-tryboot" "${root}/usr/lib/zentrale/rauc-tryboot"
install -m 644 "${HERE}/system.conf" "${root}/etc/rauc/system.conf"
install -d "${root}/etc/systemd/system/zentrale-reboot.service.d"
install -m 644 "${HERE}/zentrale-reboot-tryboot.conf" "${root}/etc/systemd/system/zentrale-reboot.service.d/tryboot.conf"

install -d "${root}/usr/lib/systemd/system-generators"
install -m 755 "${HERE}/zentrale-boot-slot-generator" "${root}/usr/lib/systemd/system-generators/zentrale-boot-slot"
install -m 644 "${HERE}/overlayroot.conf" "${root}/etc/overlayroot.conf"
for unit in zentrale-firstboot zentrale-console; do
	install -d "${root}/etc/systemd/system/${unit}.service.d"
	install -m 644 "${HERE}/${unit}-ab.conf" "${root}/etc/systemd/system/${unit}.service.d/ab.conf"
done

# fstab: every line but those of /, /boot and /boot/firmware (comments kept), then the
# data partition and the journal on it, as zentrale-firstboot would add them
fstab="${root}/etc/fstab"
touch "${fstab}"
awk '/^[[:space:]]*#/ || NF < 2 || ($2 != "/" && $2 != "/boot" && $2 != "/boot/firmware")' "${fstab}" >"${fstab}.new"
if ! grep -q '^LABEL=zentrale-data ' "${fstab}.new"; then
	cat >>"${fstab}.new" <<'FSTAB'
# A/B card (image-build/pi-ab): / is root= of the slot's command line (read-only, overlayroot),
# /boot/firmware the slot's boot partition (zentrale-boot-slot-generator), p7 the data; the
# journal's folder is made by zentrale-firstboot at the first boot (nofail until then):
LABEL=zentrale-data /var/lib/zentrale ext4 defaults,noatime,errors=remount-ro 0 2
/var/lib/zentrale/journal /var/log/journal none bind,nofail,x-systemd.requires-mounts-for=/var/lib/zentrale 0 0
FSTAB
fi
mv "${fstab}.new" "${fstab}"
