#!/bin/bash -e
# On the build host, the stage's last step: write the A/B card (seven partitions,
# image-build/pi-ab/export-ab.sh) from this stage's root and its boot files, and put it
# into pi-gen's deploy folder. This stage has no EXPORT_IMAGE: pi-gen's export-image
# would write its one-boot-one-root card and name the boot partition by PARTUUID in
# /etc/fstab and cmdline.txt, which the A/B card must not have (image-build/README.md).
# Sizes: ZENTRALE_BOOT_MB, ZENTRALE_ROOT_MB, ZENTRALE_DATA_MB (pi-gen.config).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ROOTFS_DIR:?ROOTFS_DIR must name the image root}"
work="${STAGE_WORK_DIR:-$(dirname "${ROOTFS_DIR}")}"
name="${IMG_FILENAME:-zentrale}-ab"
deploy="${DEPLOY_DIR:-${work}/deploy}"

card="${work}/${name}.img"
parts="${work}/${name}-parts"
BOOT_MB="${ZENTRALE_BOOT_MB:-256}" DATA_MB="${ZENTRALE_DATA_MB:-1024}" ROOT_MB="${ZENTRALE_ROOT_MB:-}" \
	WORK="${work}" PARTS_DIR="${parts}" "${HERE}/../../pi-ab/export-ab.sh" "${ROOTFS_DIR}" "${card}"
# the card, and the slot images of the same release for its bundle (update/make-bundle.sh
# NAME-rootfs.ext4 VERSION OUT.raucb with BOOT_IMAGE=NAME-boot.vfat)
install -d "${deploy}"
deploy_file() { # SOURCE TARGET_NAME
	case "${DEPLOY_COMPRESSION:-none}" in
	none) mv "$1" "${deploy}/$2" ;;
	xz) xz --force --threads=0 --stdout "$1" >"${deploy}/$2.xz" && rm -f "$1" ;;
	gz) gzip --force --stdout "$1" >"${deploy}/$2.gz" && rm -f "$1" ;;
	*)
		echo "03-export-ab: DEPLOY_COMPRESSION=${DEPLOY_COMPRESSION} is not none, xz or gz" >&2
		exit 1
		;;
	esac
}
deploy_file "${card}" "${name}.img"
deploy_file "${parts}/rootfs.ext4" "${name}-rootfs.ext4"
deploy_file "${parts}/boot.vfat" "${name}-boot.vfat"
rmdir "${parts}"
echo "03-export-ab: the A/B card and its slot images are in ${deploy}"
