#!/bin/bash
# Make a signed RAUC bundle of a root file system image (A/B update of the appliance).
#
#   image-build/update/make-bundle.sh ROOTFS.ext4 VERSION OUT.raucb [KEYDIR]
#
# COMPATIBLE (environment, default zentrale-rpi-arm64) must equal the image's
# /etc/rauc/system.conf "compatible": RAUC refuses a bundle for another kind of box.
# The bundle format is verity (RAUC checks each block while it reads, the signature
# covers the root hash; needs device-mapper on the box); FORMAT=plain for a kernel
# without it (the host test: tests/integration/test_update_rauc.py). KEYDIR: from update-keys.sh (default $ZENTRALE_UPDATE_KEYS).
set -euo pipefail

image="${1:?usage: make-bundle.sh ROOTFS.ext4 VERSION OUT.raucb [KEYDIR]}"
version="${2:?version}"
out="${3:?output bundle}"
keys="${4:-${ZENTRALE_UPDATE_KEYS:?KEYDIR or ZENTRALE_UPDATE_KEYS}}"
compatible="${COMPATIBLE:-zentrale-rpi-arm64}"
format="${FORMAT:-verity}"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT

cp --sparse=always "${image}" "${work}/rootfs.ext4"
boot_section=""
if [[ -n "${BOOT_IMAGE:-}" ]]; then
	cp "${BOOT_IMAGE}" "${work}/boot.vfat"
	boot_section=$'\n[image.boot]\nfilename=boot.vfat'
fi
cat >"${work}/manifest.raucm" <<MANIFEST
[update]
compatible=${compatible}
version=${version}
description=Zentrale ${version}
build=$(date -u +%Y%m%dT%H%M%SZ)

[bundle]
format=${format}

[image.rootfs]
filename=rootfs.ext4
${boot_section}
MANIFEST
rm -f "${out}"
rauc bundle --cert="${keys}/signing.cert.pem" --key="${keys}/signing.key.pem" \
	--keyring="${keys}/ca.cert.pem" "${work}" "${out}" >&2
echo "${out}"
