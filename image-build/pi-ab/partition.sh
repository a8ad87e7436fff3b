#!/bin/bash
# Lay out a Raspberry Pi appliance disk image for A/B updates with the firmware's tryboot:
#
#   image-build/pi-ab/partition.sh DISK.img
#
# DISK.img: an image file (made if missing, with the sizes below), flashed to the card
# afterwards. MBR (the firmware's autoboot.txt counts primary partitions 1-4):
#   p1 ZBOOTCTL FAT   CTL_MB   autoboot.txt (A is the default, nothing to try)
#   p2 ZBOOTA   FAT   BOOT_MB  boot slot A (BOOT_IMAGE from make-boot-image.sh, if given)
#   p3 ZBOOTB   FAT   BOOT_MB  boot slot B (empty until the first update)
#   p4          extended
#   p5 zroot-a  ext4  ROOT_MB  root slot A (ROOTFS, an ext4 image, if given; else empty ext4)
#   p6 zroot-b  ext4  ROOT_MB  root slot B
#   p7 zentrale-data ext4 DATA_MB  the data partition (no slot: RAUC never writes it)
# RAUC's view of it: system.conf beside this script. Needs root (loop devices) and
# sfdisk, mkfs.vfat, mtools, mkfs.ext4.
set -euo pipefail

disk="${1:?usage: partition.sh DISK.img}"
ctl_mb="${CTL_MB:-8}"
boot_mb="${BOOT_MB:-256}"
root_mb="${ROOT_MB:-2048}"
data_mb="${DATA_MB:-512}"
export MTOOLS_SKIP_CHECK=1

mib=2048 # sectors of 512 bytes
total_mb=$((1 + ctl_mb + 2 * boot_mb + 3 + 2 * root_mb + data_mb + 1))
# a new image file is all holes (zeros): the slot images can be copied sparsely into it
# (zero blocks skipped, a 2 GB root slot with 300 MB in it writes 300 MB); an existing disk
# or a card gets every block written
dd_sparse=""
if [[ ! -e "${disk}" ]]; then
	truncate -s "${total_mb}M" "${disk}"
	dd_sparse=",sparse"
fi
# Logical partitions start one MiB behind the previous one (room for their EBR).
sfdisk --quiet --wipe always "${disk}" <<TABLE
label: dos
unit: sectors

start=${mib}, size=$((ctl_mb * mib)), type=c, bootable
size=$((boot_mb * mib)), type=c
size=$((boot_mb * mib)), type=c
type=5
size=$((root_mb * mib)), type=83
size=$((root_mb * mib)), type=83
size=$((data_mb * mib)), type=83
TABLE

loop=""
trap '[[ -n "${loop}" ]] && losetup -d "${loop}"' EXIT
# attach partition N of the image as a loop device of its own (no partition scan needed)
attach() {
	local start size
	read -r start size < <(sfdisk --dump "${disk}" | sed -n "s|^${disk}$1 : start= *\([0-9]*\), size= *\([0-9]*\),.*|\1 \2|p")
	loop="$(losetup -f --show --offset $((start * 512)) --sizelimit $((size * 512)) "${disk}")"
}
detach() {
	losetup -d "${loop}"
	loop=""
}

attach 1
mkfs.vfat -n ZBOOTCTL "${loop}" >/dev/null
printf '[all]\ntryboot_a_b=1\nboot_partition=2\n[tryboot]\nboot_partition=2\n' >"${disk}.autoboot"
mcopy -i "${loop}" "${disk}.autoboot" ::autoboot.txt
rm -f "${disk}.autoboot"
detach

# boot slot A gets the same FAT image a bundle would write into it
attach 2
if [[ -n "${BOOT_IMAGE:-}" ]]; then
	dd if="${BOOT_IMAGE}" of="${loop}" bs=1M conv="fsync${dd_sparse}" status=none
else
	mkfs.vfat -n ZBOOTA "${loop}" >/dev/null
fi
detach
attach 3
mkfs.vfat -n ZBOOTB "${loop}" >/dev/null
detach

attach 5
if [[ -n "${ROOTFS:-}" ]]; then
	dd if="${ROOTFS}" of="${loop}" bs=1M conv="fsync${dd_sparse}" status=none
else
	mkfs.ext4 -q -L zroot-a "${loop}"
fi
detach
attach 6
mkfs.ext4 -q -L zroot-b "${loop}"
detach
attach 7
mkfs.ext4 -q -L zentrale-data "${loop}"
detach
sfdisk --dump "${disk}"
