#!/bin/bash -e
# On the build host: A/B updates from the web page (RAUC, the Pi firmware's tryboot) and what
# one root image in either slot needs -- image-build/pi-ab/install-pi-ab.sh: RAUC's
# system.conf, rauc-tryboot, the update CA as RAUC's keyring, the confirmation after boot,
# fstab without the boot partition (zentrale-boot-slot-generator mounts the running slot's),
# the read-only root in /etc/overlayroot.conf, the set-up token to the control partition.
# ZENTRALE_UPDATE_KEYRING: the update CA's certificate (update/update-keys.sh DIR ->
# DIR/ca.cert.pem; pi-gen.config exports it). Every bundle for these boxes is checked
# against it; a box without it can never be updated from the web page.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${ROOTFS_DIR:?ROOTFS_DIR must name the image root}"
keyring="${ZENTRALE_UPDATE_KEYRING:?ZENTRALE_UPDATE_KEYRING must name the update CA certificate (update-keys.sh)}"
if ! grep -q 'BEGIN CERTIFICATE' "${keyring}" 2>/dev/null; then
	echo "02-ab/01-run.sh: ${keyring} is not a PEM certificate (update-keys.sh DIR makes DIR/ca.cert.pem)" >&2
	exit 1
fi
"${HERE}/../../pi-ab/install-pi-ab.sh" "${ROOTFS_DIR}" "${keyring}"
