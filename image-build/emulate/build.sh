#!/bin/bash
# Build the emulated A/B appliance (qemu-system-aarch64, machine "virt"): the same
# Debian trixie arm64 root with the firmware as the arm64 proof installs it, plus a
# kernel, GRUB (EFI) and RAUC; three releases of it; a disk with two root slots and a
# data partition; signed update bundles of releases 2 and 3.
#
#   image-build/emulate/build.sh        (as root; then image-build/emulate/prove.py)
#   ZENTRALE_EMU_BOOT_ONLY=1 image-build/emulate/build.sh   (release 1 and the disk only: for
#                                       prove.py --boot-only; no bundles)
#
# Release 3 is broken on purpose: its configuration names a SIP port that cannot exist,
# so its daemon never starts -- the update must roll back.
#
# Output in $ZENTRALE_EMU_DIR (default /var/cache/zentrale-emulate):
#   disk.img            GPT: 1 EFI (GRUB + grubenv), 2 slot A (release 1), 3 slot B (empty),
#                       4 data (ext4, label zentrale-data)
#   zentrale-2.raucb    release 2, verity, signed
#   zentrale-3.raucb    release 3 (broken), verity, signed
#   keys/               the update keys if $ZENTRALE_UPDATE_KEYS names none (update-keys.sh)
# Needs the arm64 proof's cached trixie root (image-build/prove-arm64.sh, once).
# Caches: the installed root (base/, rebuilt when pyproject.toml or a package list changes;
# 813 s under qemu-user on the shared machine; a change of the firmware, the stage's scripts
# or the systemd units only runs the stage's scripts again on it); the rest of the build
# from it takes about 3 minutes (image-build/PROOF.md).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/../.." && pwd)"
OUT="${ZENTRALE_EMU_DIR:-/var/cache/zentrale-emulate}"
KEYS="${ZENTRALE_UPDATE_KEYS:-${OUT}/keys}"
SLOT_MB=2048
DATA_MB=512
ESP_MB=64
# what the emulated box adds to the appliance's packages: a kernel for virt, GRUB to build
# the EFI loader (and grub-editenv, which RAUC's grub backend calls), RAUC, networkd
EXTRA_PACKAGES=(linux-image-cloud-arm64 grub-efi-arm64-bin rauc rauc-service systemd-sysv udev e2fsprogs
	dosfstools iproute2 initramfs-tools)
started=${SECONDS}
say() {
	printf '[%4ds] %s\n' "$((SECONDS - started))" "$*"
}
[ "$(id -u)" = 0 ] || {
	echo "build.sh: run as root (chroot, mkfs)" >&2
	exit 2
}
for tool in mkfs.ext4 mkfs.vfat mcopy sfdisk rauc mksquashfs systemctl; do
	command -v "${tool}" >/dev/null || {
		echo "build.sh: ${tool} missing (scripts/setup --test)" >&2
		exit 2
	}
done
mkdir -p "${OUT}"
"${REPO}/image-build/update/update-keys.sh" "${KEYS}" >&2

in_root=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
	DEBIAN_FRONTEND=noninteractive)
mounted=()
cleanup() {
	set +e
	for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
		umount -l "${mounted[i]}"
	done
}
trap cleanup EXIT
bind_system() {
	local root="$1"
	mount -t proc proc "${root}/proc" && mounted+=("${root}/proc")
	mount --bind /dev "${root}/dev" && mounted+=("${root}/dev")
	mount --bind /dev/pts "${root}/dev/pts" && mounted+=("${root}/dev/pts")
}
unbind_system() {
	cleanup
	mounted=()
}

# --- 1. the base root: the firmware installed by the image's own stage scripts --------------
# The Debian trixie arm64 root is the arm64 proof's cached debootstrap (prove-arm64.sh makes
# it: minbase + the stage's package list); the stage's own scripts install the firmware into
# a copy, as pi-gen does, then the emulated board's extras come from apt.
PROVE_CACHE="${ZENTRALE_PROVE_CACHE:-/var/cache/zentrale-prove}"
debootstrapped="$(find "${PROVE_CACHE}" -mindepth 2 -maxdepth 2 -path '*/trixie-arm64-*/.complete' 2>/dev/null | head -n 1)"
[ -n "${debootstrapped}" ] || {
	echo "build.sh: no trixie arm64 root in ${PROVE_CACHE}: run image-build/prove-arm64.sh once" >&2
	exit 2
}
debootstrapped="$(dirname "${debootstrapped}")"
PYTHON="${PYTHON:-python3}"
if [ -x "${REPO}/.venv/bin/python" ]; then
	PYTHON="${REPO}/.venv/bin/python"
fi
# Two layers, each rebuilt only when what it is made of changes: the root with the
# dependencies and the emulated board's packages (base_key; 813 s under qemu-user), and the
# firmware with its units and stage files on top (firmware_key; the stage's scripts run
# again, pip replaces only the firmware's own wheel: a minute or two).
base_key="$( (
	printf '%s\n' "${EXTRA_PACKAGES[@]}" "${debootstrapped}"
	cat "${REPO}/pyproject.toml" "${REPO}"/image-build/stage-zentrale/*/00-packages
) 2>/dev/null | sha256sum | cut -c1-16)"
firmware_key="$( (
	cat "${REPO}"/image-build/stage-zentrale/*/*.sh "${REPO}"/image-build/stage-zentrale/*/files/* \
		"${REPO}"/systemd/* "${REPO}/README.md" "${REPO}/image-build/README.md"
	cd "${REPO}" && find firmware -type f -not -name '*.pyc' -not -path '*/__pycache__/*' | sort | xargs cat
) 2>/dev/null | sha256sum | cut -c1-16)"
base="${OUT}/base"
# the stage's scripts: on the host (firmware wheel, dependency wheels, units, files), then in
# the root (venv, pip install -- which compiles every module to bytecode with the root's own
# Python, so the read-only root never needs to write a __pycache__ -- users, enable)
run_stage() {
	ROOTFS_DIR="${base}" PYTHON="${PYTHON}" ZENTRALE_REPO="${REPO}" \
		nice -n 15 "${REPO}/image-build/stage-zentrale/00-zentrale/00-run.sh" >"${OUT}/stage.log" 2>&1 || {
		tail -n 30 "${OUT}/stage.log" >&2
		exit 1
	}
	ROOTFS_DIR="${base}" "${REPO}/image-build/stage-zentrale/01-readonly/00-run.sh"
	bind_system "${base}"
	nice -n 15 chroot "${base}" "${in_root[@]}" /bin/bash <"${REPO}/image-build/stage-zentrale/00-zentrale/01-run-chroot.sh" >&2
	unbind_system
	# every start would compile a module without fitting bytecode again (read-only root,
	# PYTHONDONTWRITEBYTECODE=1): about a second per large module under emulation
	python3 "${HERE}/check-bytecode.py" "${base}" >&2
}
if [ "$(cat "${base}/.key" 2>/dev/null)" != "${base_key}" ]; then
	say "base root: ${debootstrapped} + the stage's scripts + ${EXTRA_PACKAGES[*]}"
	rm -rf "${base}"
	cp -a "${debootstrapped}" "${base}"
	rm -f "${base}/.complete"
	run_stage
	say "the stage's scripts ran: $(chroot "${base}" /opt/zentrale/bin/zentrale --version)"
	cp /etc/resolv.conf "${base}/etc/resolv.conf" 2>/dev/null || true
	bind_system "${base}"
	chroot "${base}" "${in_root[@]}" apt-get update -qq
	nice -n 15 chroot "${base}" "${in_root[@]}" apt-get install -y -qq --no-install-recommends "${EXTRA_PACKAGES[@]}" \
		>"${OUT}/apt.log" 2>&1 || {
		tail -n 30 "${OUT}/apt.log" >&2
		exit 1
	}
	chroot "${base}" "${in_root[@]}" apt-get clean
	rm -rf "${base}/var/lib/apt/lists/"*
	unbind_system
	echo "${base_key}" >"${base}/.key"
	echo "${firmware_key}" >"${base}/.firmware-key"
	say "base root ready: $(du -sh --exclude=proc "${base}" | cut -f1)"
elif [ "$(cat "${base}/.firmware-key" 2>/dev/null)" != "${firmware_key}" ]; then
	say "base root from the cache (${base}); the firmware, units and stage files changed: the stage's scripts again"
	# same version number: pip would keep the old firmware ("already satisfied")
	bind_system "${base}"
	chroot "${base}" "${in_root[@]}" /opt/zentrale/bin/pip uninstall --quiet --yes zentrale
	unbind_system
	run_stage
	echo "${firmware_key}" >"${base}/.firmware-key"
	say "firmware installed again: $(chroot "${base}" /opt/zentrale/bin/zentrale --version)"
else
	say "base root from the cache (${base})"
fi
if [ -n "${ZENTRALE_EMU_BASE_ONLY:-}" ]; then
	exit 0
fi
# GRUB as an EFI program with its script inside (the EFI partition holds it and grubenv)
cp "${HERE}/grub.cfg" "${base}/tmp/grub.cfg"
chroot "${base}" "${in_root[@]}" grub-mkstandalone -O arm64-efi -o /tmp/BOOTAA64.EFI \
	--modules="part_gpt fat ext2 normal linux loadenv test echo" "boot/grub/grub.cfg=/tmp/grub.cfg"
mv "${base}/tmp/BOOTAA64.EFI" "${OUT}/BOOTAA64.EFI"
rm -f "${base}/tmp/grub.cfg"
say "GRUB: BOOTAA64.EFI with grub.cfg inside ($(du -k "${OUT}/BOOTAA64.EFI" | cut -f1) kB)"

# --- 2. three releases of the root ---------------------------------------------------------
release_root() {
	local n="$1" root="${OUT}/release-$1"
	rm -rf "${root}"
	cp -a "${base}" "${root}"
	rm -f "${root}/.key"
	# what the arm64 proof left: its daemon's data, the test configuration, the probe files
	rm -rf "${root}/var/lib/zentrale/"* "${root}/tmp/"* "${root}/run/"*
	install -m 640 "${REPO}/image-build/stage-zentrale/00-zentrale/files/config.yaml" "${root}/etc/zentrale/config.yaml"
	chroot "${root}" chgrp zentrale /etc/zentrale/config.yaml
	# no GPIO on virt: the front panel off (else /status is "degraded" and never "ok")
	sed -i 's/^  enabled: true$/  enabled: false/' "${root}/etc/zentrale/config.yaml"
	# RAUC keeps the slots' status on the data partition (system.conf statusfile=); the daemon
	# puts an uploaded bundle into the same folder
	printf 'd /var/lib/zentrale/update 0750 zentrale zentrale -\n' >"${root}/usr/lib/tmpfiles.d/zentrale-update.conf"
	if [ "${n}" != 1 ]; then
		# a bundle's root goes to a box that had its first boot (data partition, token): the
		# first-boot service must not run (and reboot) before the new slot is confirmed
		touch "${root}/etc/zentrale/firstboot.done"
	fi
	if [ "${n}" = 3 ]; then
		# broken on purpose: the daemon refuses this configuration and never starts
		sed -i 's/^  port: 5060$/  port: 99999/' "${root}/etc/zentrale/config.yaml"
	fi
	echo "2026.12.${n}" >"${root}/etc/zentrale-release"
	install -d "${root}/usr/share/zentrale"
	awk -v n="${n}" '/^## 2026\.12\./ { split($2, v, "."); keep = (v[3] <= n) } keep || !/^##|^-/' \
		"${HERE}/CHANGELOG.md" >"${root}/usr/share/zentrale/CHANGELOG.md"
	"${REPO}/image-build/update/install-update-support.sh" "${root}" "${KEYS}/ca.cert.pem"
	install -m 644 "${HERE}/system.conf" "${root}/etc/rauc/system.conf"
	# the proof waits 1 minute of /status ok (the appliance's default: 5) and gives up after 4
	printf '%s\n' ZENTRALE_CONFIRM_MINUTES=1 ZENTRALE_CONFIRM_DEADLINE_MINUTES=4 >"${root}/etc/zentrale/update.conf"
	cat >"${root}/etc/fstab" <<-FSTAB
		/dev/vda1 /boot/firmware vfat defaults,umask=0077 0 2
		LABEL=zentrale-data /var/lib/zentrale ext4 defaults,noatime,errors=remount-ro 0 2
		/var/lib/zentrale/journal /var/log/journal none bind,x-systemd.requires-mounts-for=/var/lib/zentrale 0 0
	FSTAB
	install -d "${root}/boot/firmware" "${root}/var/log/journal" "${root}/etc/systemd/network"
	printf '[Match]\nName=eth0\n\n[Network]\nDHCP=yes\nMulticastDNS=no\n' >"${root}/etc/systemd/network/10-lan.network"
	echo zentrale >"${root}/etc/hostname"
	systemctl --root="${root}" enable systemd-networkd.service serial-getty@ttyAMA0.service >/dev/null 2>&1
	# the console login of pi-gen's user is locked; root has no password either
	chroot "${root}" passwd -l root >/dev/null
	local mb
	mb=$(($(du -sm --exclude=proc "${root}" | cut -f1) * 13 / 10 + 64))
	rm -f "${OUT}/rootfs-${n}.ext4"
	nice -n 15 mkfs.ext4 -q -L "rootfs" -d "${root}" "${OUT}/rootfs-${n}.ext4" "${mb}M"
	rm -rf "${root}"
	say "release 2026.12.${n}: root file system image of ${mb} MB"
}
releases=(1 2 3)
if [ -n "${ZENTRALE_EMU_BOOT_ONLY:-}" ]; then
	# only what prove.py --boot-only boots: release 1 on the disk; bundles of an older
	# firmware would not fit it, so none are left
	releases=(1)
	rm -f "${OUT}"/zentrale-[23].raucb "${OUT}"/rootfs-[23].ext4
fi
for n in "${releases[@]}"; do
	release_root "${n}"
done

# --- 3. the bundles --------------------------------------------------------------------------
for n in "${releases[@]:1}"; do
	COMPATIBLE=zentrale-emu-arm64 nice -n 15 "${REPO}/image-build/update/make-bundle.sh" "${OUT}/rootfs-${n}.ext4" \
		"2026.12.${n}" "${OUT}/zentrale-${n}.raucb" "${KEYS}" >/dev/null
	say "bundle zentrale-${n}.raucb: $(du -m "${OUT}/zentrale-${n}.raucb" | cut -f1) MB"
done

# --- 4. the disk ---------------------------------------------------------------------------
esp="${OUT}/esp.img"
rm -f "${esp}"
mkfs.vfat -C -n BOOT "${esp}" $((ESP_MB * 1024)) >/dev/null
mmd -i "${esp}" ::/EFI ::/EFI/BOOT
mcopy -i "${esp}" "${OUT}/BOOTAA64.EFI" ::/EFI/BOOT/BOOTAA64.EFI
# GRUB's environment block: exactly 1024 bytes, "# GRUB Environment Block" then the
# variables, padded with '#'; slot A good, B empty
python3 - "${OUT}/grubenv" <<'PY'
import sys
text = "# GRUB Environment Block\nORDER=A B\nA_OK=1\nA_TRY=0\nB_OK=0\nB_TRY=0\n"
open(sys.argv[1], "w").write(text + "#" * (1024 - len(text)))
PY
mcopy -i "${esp}" "${OUT}/grubenv" ::/EFI/BOOT/grubenv
data="${OUT}/data.img"
rm -f "${data}"
mkfs.ext4 -q -L zentrale-data "${data}" "${DATA_MB}M"
disk="${OUT}/disk.img"
rm -f "${disk}"
truncate -s $(((1 + ESP_MB + 2 * SLOT_MB + DATA_MB + 1) * 1024 * 1024)) "${disk}"
sfdisk -q "${disk}" <<-PARTS
	label: gpt
	start=1MiB, size=${ESP_MB}MiB, type=uefi, name=boot
	size=${SLOT_MB}MiB, type=linux, name=rootfs-A
	size=${SLOT_MB}MiB, type=linux, name=rootfs-B
	size=${DATA_MB}MiB, type=linux, name=zentrale-data
PARTS
put() {
	dd if="$1" of="${disk}" bs=1M seek="$2" conv=notrunc,sparse status=none
}
put "${esp}" 1
put "${OUT}/rootfs-1.ext4" $((1 + ESP_MB))
put "${data}" $((1 + ESP_MB + 2 * SLOT_MB))
rm -f "${esp}" "${data}" "${OUT}/grubenv"
say "disk.img: $(du -h --apparent-size "${disk}" | cut -f1) ($(du -h "${disk}" | cut -f1) used): EFI, slot A = 2026.12.1, slot B empty, data"
say "BUILD OK in $((SECONDS - started)) s"
