#!/bin/bash
# Write the A/B card from an image root (pi-gen's stage rootfs, with install-pi-ab.sh's
# part in it):
#
#   image-build/pi-ab/export-ab.sh ROOTFS_DIR CARD.img
#
# What pi-gen's export-image does for its one-boot-one-root card, for the seven
# partitions of partition.sh instead (stage-zentrale/03-export-ab calls this; the stage
# has no EXPORT_IMAGE, so pi-gen's own export does not run -- image-build/README.md says why):
#  1. the boot slot's FAT image from ROOTFS_DIR/boot/firmware (make-boot-image.sh:
#     config-ab.txt in front of config.txt, cmdline-a/b.txt with each slot's root=);
#  2. a copy of the root without the boot files (they live in the boot slot; the root's
#     /boot/firmware stays an empty mount point), tidied like pi-gen's export-image
#     05-finalise (an empty machine-id, so every box makes its own at first boot; no
#     D-Bus machine-id, no emulator binary, no backup files of passwd & co., empty logs),
#     made into an ext4 image with mkfs.ext4 -d (no mount needed);
#  3. partition.sh CARD.img with both: slot A filled, slot B empty, p1 autoboot.txt, p7
#     the data partition.
# It refuses, with the reason, a root that is not ready for the A/B card (no RAUC
# system.conf or rauc-tryboot from install-pi-ab.sh, the boot partition still in fstab,
# no read-only root in /etc/overlayroot.conf), boot files too big for BOOT_MB and a boot
# partition whose config.txt loads no initramfs (overlayroot lives there); a step that
# fails later leaves no card behind.
#
# Sizes (MiB, environment): BOOT_MB boot slot (256), ROOT_MB root slot (default: the
# root's size + 50 %, at least 2048, a whole number of 256 MiB -- room for later
# releases, which must fit the slot), DATA_MB (1024; zentrale-firstboot does not grow it),
# CTL_MB (8). WORK: a folder for the copies (default: beside CARD.img). PARTS_DIR: keep
# the slot images there too (rootfs.ext4, boot.vfat): the same release as a bundle
# (update/make-bundle.sh PARTS_DIR/rootfs.ext4 VERSION OUT.raucb, BOOT_IMAGE=PARTS_DIR/boot.vfat)
# for boxes that run an older one. Needs root (loop
# devices, the root's owners) and sfdisk, mkfs.vfat, mtools, mkfs.ext4 (e2fsprogs >= 1.43).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${1:?usage: export-ab.sh ROOTFS_DIR CARD.img}"
card="${2:?usage: export-ab.sh ROOTFS_DIR CARD.img}"
boot_mb="${BOOT_MB:-256}"
data_mb="${DATA_MB:-1024}"
ctl_mb="${CTL_MB:-8}"

fail() {
	echo "export-ab.sh: $*" >&2
	exit 1
}

for tool in sfdisk mkfs.vfat mcopy mkfs.ext4 losetup tar; do
	command -v "${tool}" >/dev/null || fail "${tool} missing on the build host"
done
[[ -d "${src}" ]] || fail "${src} is not a folder"
boot="${src}/boot/firmware"
[[ -f "${boot}/config.txt" ]] || fail "${boot}/config.txt missing: no boot partition's files in the root"
# the read-only root is overlayroot's, which runs in the initramfs: a config.txt that loads
# none would boot a writable root without telling anyone
grep -Eq '^[[:space:]]*(auto_initramfs=1|initramfs[[:space:]])' "${boot}/config.txt" ||
	fail "${boot}/config.txt loads no initramfs (auto_initramfs=1): the read-only root (overlayroot) would not start"
[[ -f "${src}/etc/rauc/system.conf" && -x "${src}/usr/lib/zentrale/rauc-tryboot" ]] ||
	fail "${src} has no RAUC system.conf / rauc-tryboot: run image-build/pi-ab/install-pi-ab.sh on it first"
grep -Eq '^[[:space:]]*overlayroot="?tmpfs' "${src}/etc/overlayroot.conf" 2>/dev/null ||
	fail "${src}/etc/overlayroot.conf does not make the root read-only (install-pi-ab.sh)"
boot_used_mb=$(($(du -s --apparent-size --block-size=1M "${boot}" | cut -f1)))
# FAT's own tables and cluster slack: a few per cent on top
if ((boot_used_mb * 105 / 100 + 1 > boot_mb)); then
	fail "the boot files (${boot_used_mb} MiB) do not fit a boot slot of ${boot_mb} MiB (BOOT_MB)"
fi
if awk '!/^[[:space:]]*#/ && ($2 == "/boot/firmware" || $2 == "/boot")' "${src}/etc/fstab" | grep -q .; then
	fail "${src}/etc/fstab mounts a boot partition: one root image serves both slots (install-pi-ab.sh)"
fi

work="${WORK:-$(dirname "${card}")}/export-ab.$$"
rm -rf "${work}"
mkdir -p "${work}/root"
cleanup() {
	local status=$?
	rm -rf "${work}"
	if ((status != 0)); then
		rm -f "${card}" # no half-written card left to be flashed
	fi
}
trap cleanup EXIT

# 1. the boot slot
SIZE_MB="${boot_mb}" "${HERE}/make-boot-image.sh" "${boot}" "${work}/boot.vfat"

# 2. the root slot: a copy without the boot files, owners, modes, links and xattrs kept;
# --one-file-system: pi-gen keeps /proc, /sys, /dev (and /run, /tmp) of the stage's root
# mounted until the stage ends, which is after this step (as its export's rsync -x does)
tar -C "${src}" --one-file-system --numeric-owner --xattrs --xattrs-include='*' --acls \
	--exclude='./boot/firmware/*' --exclude='./var/cache/apt/archives/*.deb' -cf - . |
	tar -C "${work}/root" --numeric-owner --xattrs --xattrs-include='*' --acls -xpf -
r="${work}/root"
: >"${r}/etc/machine-id"
rm -f "${r}/var/lib/dbus/machine-id" "${r}"/usr/bin/qemu-*-static
rm -f "${r}"/etc/{passwd,group,shadow,gshadow,subuid,subgid}- "${r}/etc/apt/sources.list~" "${r}/etc/apt/trusted.gpg~"
rm -f "${r}"/var/cache/debconf/*-old "${r}"/var/lib/dpkg/*-old
ln -nsf /proc/mounts "${r}/etc/mtab"
find "${r}/var/log" -type f -exec truncate -s 0 {} + 2>/dev/null || true

used_mb=$(($(du -s --block-size=1M "${r}" | cut -f1)))
root_mb="${ROOT_MB:-$(((used_mb * 3 / 2 + 255) / 256 * 256))}"
if [[ -z "${ROOT_MB:-}" && "${root_mb}" -lt 2048 ]]; then
	root_mb=2048
fi
((root_mb > used_mb)) || fail "ROOT_MB=${root_mb} is smaller than the root (${used_mb} MiB)"
# no label: the same image goes into either slot (the slots are told apart by partition)
mkfs.ext4 -q -F -O ^huge_file -d "${r}" "${work}/rootfs.ext4" "${root_mb}M"

# 3. the card
rm -f "${card}"
CTL_MB="${ctl_mb}" BOOT_MB="${boot_mb}" ROOT_MB="${root_mb}" DATA_MB="${data_mb}" \
	BOOT_IMAGE="${work}/boot.vfat" ROOTFS="${work}/rootfs.ext4" "${HERE}/partition.sh" "${card}"
if [[ -n "${PARTS_DIR:-}" ]]; then
	mkdir -p "${PARTS_DIR}"
	mv "${work}/rootfs.ext4" "${work}/boot.vfat" "${PARTS_DIR}/"
fi
echo "export-ab.sh: ${card}: root ${used_mb} MiB in a slot of ${root_mb} MiB, boot slots ${boot_mb} MiB, data ${data_mb} MiB"
