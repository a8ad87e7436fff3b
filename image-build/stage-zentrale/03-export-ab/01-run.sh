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
BOOT_MB="${ZENTRALE_BOOT_MB:-256}" DATA_MB="${ZENTRALE_DATA_MB:-1024}" ROOT_MB="${ZENTRALE_ROOT_MB:-}" \
	WORK="${work}" "${HERE}/../../pi-ab/export-ab.sh" "${ROOTFS_DIR}" "${card}"
install -d "${deploy}"
case "${DEPLOY_COMPRESSION:-none}" in
none) mv "${card}" "${deploy}/" ;;
xz) xz --force --threads=0 --stdout "${card}" >"${deploy}/${name}.img.xz" && rm -f "${card}" ;;
gz) gzip --force --stdout "${card}" >"${deploy}/${name}.img.gz" && rm -f "${card}" ;;
*)
	echo "03-export-ab: DEPLOY_COMPRESSION=${DEPLOY_COMPRESSION} is not none, xz or gz" >&2
	exit 1
	;;
esac
echo "03-export-ab: the A/B card is in ${deploy}"
