#!/bin/bash -e
# On the build host (pi-gen runs NN-run.sh outside the chroot, with ROOTFS_DIR
# set): put the firmware, its wheels for the target and the system files into
# the image root. 01-run-chroot.sh then installs them inside the root.
# The arm64 proof (image-build/prove-arm64.sh) runs this same script.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="${ZENTRALE_REPO:-$(cd "${HERE}/../../.." && pwd)}"
: "${ROOTFS_DIR:?ROOTFS_DIR must name the image root}"
PYTHON="${PYTHON:-python3}"
# The target's Python follows the release (bookworm: 3.11, trixie: 3.13): read from the
# image root's python3 link, so the wheels fit the interpreter the venv will use.
target_python="$(readlink "${ROOTFS_DIR}/usr/bin/python3" || true)"
PY_VERSION="${ZENTRALE_TARGET_PYTHON:-${target_python#python}}"
if ! [[ "${PY_VERSION}" =~ ^3\.[0-9]+$ ]]; then
	echo "00-run.sh: cannot tell the image's Python version (${ROOTFS_DIR}/usr/bin/python3 -> '${target_python}')" >&2
	exit 1
fi
PLATFORMS=(manylinux_2_34_aarch64 manylinux_2_28_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64)

wheels="${ROOTFS_DIR}/tmp/zentrale-wheels"
rm -rf "${wheels}"
mkdir -p "${wheels}"

# The firmware is pure Python: build its wheel here; then fetch every
# dependency as a wheel for the target (no compiler needed in the image).
# lgpio (gpiozero's backend on the Pi 4 and 5) is not among them: its last release has
# no wheel for Python 3.13; the image takes Raspberry Pi OS's own python3-lgpio
# (00-packages), which the venv sees (--system-site-packages, 01-run-chroot.sh).
"${PYTHON}" -m pip wheel --quiet --no-deps --wheel-dir "${wheels}" "${REPO}"
firmware_wheel="$(find "${wheels}" -name 'zentrale-*.whl' | head -n 1)"
platform_args=()
for platform in "${PLATFORMS[@]}"; do
	platform_args+=(--platform "${platform}")
done
"${PYTHON}" -m pip download --quiet --only-binary=:all: --implementation cp \
	--python-version "${PY_VERSION}" "${platform_args[@]}" \
	--dest "${wheels}" "${firmware_wheel}"

# systemd: the service, first boot, the user and the data folder
install -d "${ROOTFS_DIR}/usr/lib/systemd/system" "${ROOTFS_DIR}/usr/lib/sysusers.d" \
	"${ROOTFS_DIR}/usr/lib/tmpfiles.d" "${ROOTFS_DIR}/usr/lib/zentrale" \
	"${ROOTFS_DIR}/etc/zentrale" "${ROOTFS_DIR}/opt/zentrale/share"
install -m 644 "${REPO}/systemd/zentrale.service" "${REPO}/systemd/zentrale-firstboot.service" \
	"${REPO}/systemd/zentrale-console.service" "${REPO}/systemd/zentrale-console.path" \
	"${ROOTFS_DIR}/usr/lib/systemd/system/"
install -d "${ROOTFS_DIR}/usr/lib/systemd/system/zentrale.service.d"
install -m 644 "${REPO}/systemd/zentrale-web-ports.conf" \
	"${ROOTFS_DIR}/usr/lib/systemd/system/zentrale.service.d/10-web-ports.conf"
install -m 644 "${REPO}/systemd/zentrale.sysusers" "${ROOTFS_DIR}/usr/lib/sysusers.d/zentrale.conf"
install -m 644 "${REPO}/systemd/zentrale.tmpfiles" "${ROOTFS_DIR}/usr/lib/tmpfiles.d/zentrale.conf"
install -m 755 "${HERE}/files/zentrale-firstboot" "${HERE}/files/zentrale-console" "${ROOTFS_DIR}/usr/lib/zentrale/"
# the console: address, set-up token and CA fingerprint (written to /run by zentrale-console)
install -d "${ROOTFS_DIR}/etc/issue.d" "${ROOTFS_DIR}/etc/update-motd.d" "${ROOTFS_DIR}/etc/avahi/services"
ln -sfn /run/zentrale-console/zentrale.issue "${ROOTFS_DIR}/etc/issue.d/zentrale.issue"
install -m 755 "${HERE}/files/60-zentrale.motd" "${ROOTFS_DIR}/etc/update-motd.d/60-zentrale"
# mDNS: zentrale.local and the web page as a DNS-SD service
install -m 644 "${HERE}/files/avahi-zentrale.service" "${ROOTFS_DIR}/etc/avahi/services/zentrale.service"
# the configuration is the admin's: an existing one is kept
if [ ! -e "${ROOTFS_DIR}/etc/zentrale/config.yaml" ]; then
	install -m 640 "${HERE}/files/config.yaml" "${ROOTFS_DIR}/etc/zentrale/config.yaml"
fi
install -m 644 "${REPO}/README.md" "${ROOTFS_DIR}/opt/zentrale/share/README.md"
install -m 644 "${REPO}/image-build/README.md" "${ROOTFS_DIR}/opt/zentrale/share/image-build.md"
