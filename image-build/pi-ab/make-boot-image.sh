#!/bin/bash
# Make a boot slot's FAT image from a boot partition's files (pi-gen's /boot/firmware):
#
#   image-build/pi-ab/make-boot-image.sh BOOT_DIR OUT.vfat
#
# The same image serves slot A (p2) and slot B (p3): config.txt gets config-ab.txt in
# front ([boot_partition=N] picks cmdline-a.txt or cmdline-b.txt), and both command lines
# are made from BOOT_DIR's cmdline.txt with the slot's root (p5 / p6) and rauc.slot=,
# without a one-time init= (Raspberry Pi OS's first-boot resize). Without a cmdline.txt
# in BOOT_DIR, cmdline-a.txt / cmdline-b.txt beside this script are used.
# It goes into the bundle (make-bundle.sh BOOT_IMAGE=) and, for a new card, into slot A
# (partition.sh BOOT_IMAGE=). SIZE_MB: the image's size (default 256, at most the slots').
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="${1:?usage: make-boot-image.sh BOOT_DIR OUT.vfat}"
out="${2:?output image}"
size_mb="${SIZE_MB:-256}"
export MTOOLS_SKIP_CHECK=1
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

cp -r "${src}/." "${work}/"
if ! grep -q '^\[boot_partition=2\]' "${work}/config.txt" 2>/dev/null; then
	touch "${work}/config.txt"
	cat "${HERE}/config-ab.txt" "${work}/config.txt" >"${work}/config.new"
	mv "${work}/config.new" "${work}/config.txt"
fi
if [[ -f "${work}/cmdline.txt" ]]; then
	base="$(tr -s ' \n' ' ' <"${work}/cmdline.txt" |
		sed -e 's/\(^\| \)root=[^ ]*//g' -e 's/\(^\| \)init=[^ ]*//g' -e 's/\(^\| \)rauc\.slot=[^ ]*//g' -e 's/^ *//' -e 's/ *$//')"
	printf '%s root=/dev/mmcblk0p5 rauc.slot=A\n' "${base}" >"${work}/cmdline-a.txt"
	printf '%s root=/dev/mmcblk0p6 rauc.slot=B\n' "${base}" >"${work}/cmdline-b.txt"
else
	cp "${HERE}/cmdline-a.txt" "${HERE}/cmdline-b.txt" "${work}/"
fi

rm -f "${out}"
mkfs.vfat -C -n ZBOOT "${out}" $((size_mb * 1024)) >/dev/null
mcopy -s -i "${out}" "${work}"/* ::
