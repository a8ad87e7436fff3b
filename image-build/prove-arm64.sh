#!/bin/bash
# Prove the firmware installs and runs on arm64, as the image installs it.
#
#  1. debootstrap a Debian bookworm arm64 root (minbase + the stage's package
#     list) from the Debian mirror apt uses here; cached under
#     $ZENTRALE_PROVE_CACHE keyed by suite, mirror and package list;
#  2. run arm64 binaries through qemu-user-static (binfmt_misc);
#  3. install the firmware with the stage's own scripts (00-run.sh on the
#     host, 01-run-chroot.sh inside the root);
#  4. start the daemon inside the root as user zentrale, with a fake systemd
#     notify socket; wait for READY=1;
#  5. send it a SIP OPTIONS over loopback from the host and expect 200 OK.
#
# Needs root, debootstrap, qemu-user-static, binfmt-support. Network: only the
# Debian mirror (debootstrap) and PyPI (pip download); the daemon binds
# 127.0.0.1 and gets no registration, so it sends nothing anywhere.
# Usage: image-build/prove-arm64.sh   (timing and output: image-build/PROOF.md)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${HERE}/.." && pwd)"
STAGE="${HERE}/stage-zentrale/00-zentrale"
SUITE="${ZENTRALE_SUITE:-trixie}" # today's Raspberry Pi OS base; bookworm still works (ZENTRALE_SUITE=bookworm)
ARCH=arm64
CACHE="${ZENTRALE_PROVE_CACHE:-/var/cache/zentrale-prove}"
WORK="$(mktemp -d /var/tmp/zentrale-prove.XXXXXX)"
ROOT="${WORK}/root"
PYTHON="${PYTHON:-python3}"
if [ -x "${REPO}/.venv/bin/python" ]; then
	PYTHON="${REPO}/.venv/bin/python"
fi
daemon_pid=""
listener_pid=""
# what runs inside the root sees a clean environment (as under pi-gen), not this machine's pip settings
in_root=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8)
started=${SECONDS}

say() {
	printf '[%4ds] %s\n' "$((SECONDS - started))" "$*"
}

cleanup() {
	set +e
	if [ -n "${daemon_pid}" ] && kill -0 "${daemon_pid}" 2>/dev/null; then
		kill -KILL "${daemon_pid}"
	fi
	if [ -n "${listener_pid}" ]; then
		kill "${listener_pid}" 2>/dev/null
	fi
	for mount in dev/pts dev proc; do
		if mountpoint -q "${ROOT}/${mount}"; then
			umount -l "${ROOT}/${mount}"
		fi
	done
	rm -rf "${WORK}"
}
trap cleanup EXIT

[ "$(id -u)" = 0 ] || {
	echo "prove-arm64: run as root (debootstrap, chroot)" >&2
	exit 2
}
for tool in debootstrap qemu-aarch64-static update-binfmts; do
	command -v "${tool}" >/dev/null || {
		echo "prove-arm64: ${tool} missing (apt-get install debootstrap qemu-user-static binfmt-support)" >&2
		exit 2
	}
done

# --- binfmt_misc: the kernel hands aarch64 binaries to qemu ---------------------------------
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
	mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
	update-binfmts --enable qemu-aarch64
fi
say "binfmt: $(head -n 1 /proc/sys/fs/binfmt_misc/qemu-aarch64), $(grep -m1 flags /proc/sys/fs/binfmt_misc/qemu-aarch64)"

# --- the Debian root, cached ---------------------------------------------------------------
mirror="${ZENTRALE_DEBIAN_MIRROR:-}"
if [ -z "${mirror}" ]; then
	mirror="$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
		head -n 1 | tr -d ' ')" || true
fi
mirror="${mirror:-http://deb.debian.org/debian}"
# python3-lgpio is Raspberry Pi OS's (not Debian's): without a GPIO chip under qemu the
# panel reports itself degraded either way
packages="$(grep -v -e '^#' -e '^python3-lgpio$' "${STAGE}/00-packages" | tr -s ' \n' ',' | sed 's/,$//')"
# debootstrap does not resolve a dependency on a virtual package: avahi-daemon's
# "default-dbus-system-bus | dbus-system-bus" is dbus (Raspberry Pi OS Lite has it already)
packages="${packages},dbus"
key="$(printf '%s\n' "${SUITE}" "${ARCH}" minbase "${mirror}" "${packages}" | sha256sum | cut -c1-16)"
cached="${CACHE}/${SUITE}-${ARCH}-${key}"
if [ ! -f "${cached}/.complete" ]; then
	say "debootstrap ${SUITE} ${ARCH} from ${mirror} with ${packages} (not cached yet)"
	rm -rf "${cached}"
	mkdir -p "${CACHE}"
	debootstrap --arch="${ARCH}" --variant=minbase --include="${packages}" \
		"${SUITE}" "${cached}" "${mirror}" >"${WORK}/debootstrap.log" 2>&1 || {
		tail -n 30 "${WORK}/debootstrap.log" >&2
		exit 1
	}
	rm -rf "${cached}/var/cache/apt/archives/"*.deb
	touch "${cached}/.complete"
	say "debootstrap done"
else
	say "debootstrap root from the cache: ${cached}"
fi
cp -a "${cached}" "${ROOT}"
say "inside: $(chroot "${ROOT}" uname -m), $(chroot "${ROOT}" python3 --version)"

# --- install as the image does -------------------------------------------------------------
ROOTFS_DIR="${ROOT}" PYTHON="${PYTHON}" ZENTRALE_REPO="${REPO}" "${STAGE}/00-run.sh"
say "host part of the stage done (wheels for aarch64: $(find "${ROOT}/tmp/zentrale-wheels" -name '*.whl' | wc -l))"
mount -t proc proc "${ROOT}/proc"
mount --bind /dev "${ROOT}/dev"
mount --bind /dev/pts "${ROOT}/dev/pts"
chroot "${ROOT}" "${in_root[@]}" /bin/bash <"${STAGE}/01-run-chroot.sh"
say "chroot part of the stage done: $(chroot "${ROOT}" /opt/zentrale/bin/zentrale --version)"
say "user: $(chroot "${ROOT}" getent passwd zentrale), enabled: $(chroot "${ROOT}" systemctl is-enabled zentrale.service)"

# --- start the daemon in the root, with a fake systemd ------------------------------------
read -r sip_port http_port < <("${PYTHON}" - <<'PY'
import socket
ports = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    ports.append(s.getsockname()[1])
    s.close()
print(*ports)
PY
)
notify="${ROOT}/run/zentrale-notify"
mkdir -p "${ROOT}/run"
"${PYTHON}" - "${notify}" "${WORK}/notify.log" <<'PY' &
import os, socket, sys, time
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)  # the daemon runs as user zentrale
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = sock.recv(4096).decode()
        out.write(f"{time.monotonic():.3f} " + data.replace("\n", " | ") + "\n")
PY
listener_pid=$!
uid="$(chroot "${ROOT}" id -u zentrale)"
gid="$(chroot "${ROOT}" id -g zentrale)"
# loopback only; HTTPS on a free port (443 needs the image's capability drop-in, systemd is not running here)
sed -i 's/^  bind: 0.0.0.0/  bind: 127.0.0.1/; s/^    port: 443/    port: 0/' "${ROOT}/etc/zentrale/config.yaml"
install -d -o "${uid}" -g "${gid}" "${ROOT}/run/zentrale" # the unit's RuntimeDirectory=
launched=${SECONDS}
# the unit's environment (zentrale.service), plus systemd's notify variables
chroot --userspec="${uid}:${gid}" "${ROOT}" "${in_root[@]}" HOME=/var/lib/zentrale \
	PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 LG_WD=/run/zentrale \
	NOTIFY_SOCKET=/run/zentrale-notify WATCHDOG_USEC=20000000 \
	/opt/zentrale/bin/zentrale serve --config /etc/zentrale/config.yaml \
	--sip-port "${sip_port}" --http-port "${http_port}" >"${WORK}/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 1 600); do
	if grep -q 'READY=1' "${WORK}/notify.log" 2>/dev/null; then
		break
	fi
	if ! kill -0 "${daemon_pid}" 2>/dev/null; then
		cat "${WORK}/daemon.log" >&2
		echo "prove-arm64: the daemon exited" >&2
		exit 1
	fi
	sleep 0.5
done
grep -q 'READY=1' "${WORK}/notify.log" || {
	cat "${WORK}/daemon.log" >&2
	echo "prove-arm64: no READY=1 within 300 s" >&2
	exit 1
}
say "daemon READY=1 after $((SECONDS - launched)) s: $(grep 'READY=1' "${WORK}/notify.log" | head -n 1 | cut -d' ' -f2-)"
say "daemon process: $(readlink "/proc/${daemon_pid}/exe"); $(grep VmRSS "/proc/${daemon_pid}/status" | tr -s ' \t' ' ') (qemu included)"

# --- the SIP OPTIONS, from the host over loopback ------------------------------------------
answer="$("${PYTHON}" "${REPO}/tests/harness/sip_probe.py" 127.0.0.1 "${sip_port}" 10)" || {
	cat "${WORK}/daemon.log" >&2
	echo "prove-arm64: no 200 to OPTIONS (${answer})" >&2
	exit 1
}
say "SIP OPTIONS to 127.0.0.1:${sip_port} answered: ${answer}"
# /status answers an admin or the API token only (the token local tools use, in the data folder)
status="$("${PYTHON}" -c 'import json, sys, urllib.request
token = open(sys.argv[2]).read().strip()
request = urllib.request.Request(sys.argv[1], headers={"Authorization": f"Bearer {token}"})
s = json.load(urllib.request.urlopen(request, timeout=10))
print(s["overall"], {k: v["state"] for k, v in s["components"].items()})' "http://127.0.0.1:${http_port}/status" \
	"${ROOT}/var/lib/zentrale/api-token")"
say "GET /status: ${status}"

kill -TERM "${daemon_pid}"
wait "${daemon_pid}" && code=0 || code=$?
daemon_pid=""
sleep 0.2
grep -q 'STOPPING=1' "${WORK}/notify.log" || {
	echo "prove-arm64: no STOPPING=1" >&2
	exit 1
}
say "daemon stopped on SIGTERM with exit code ${code} after STOPPING=1"
# --- step 4 of issue 18: MP3 prompts without ffmpeg (libsndfile from the soundfile wheel) ---
site="$(chroot "${ROOT}" /opt/zentrale/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
say "soundfile in the image: $(cd "${ROOT}${site}" && du -ck soundfile.py _soundfile.py _soundfile_data | tail -n 1 | cut -f1) kB" \
	"($(cd "${ROOT}${site}" && ls -d soundfile-*.dist-info)); ffmpeg in the image: $(chroot "${ROOT}" sh -c 'command -v ffmpeg || echo none')"
if command -v ffmpeg >/dev/null; then
	# three minutes of stereo 44.1 kHz at 128 kbit/s, as offices' hold music comes (made on the host)
	ffmpeg -v error -f lavfi -i "sine=frequency=440:duration=180:sample_rate=44100" -f lavfi \
		-i "anoisesrc=duration=180:sample_rate=44100:amplitude=0.05" -filter_complex amix=inputs=2 -ac 2 \
		-b:a 128k "${ROOT}/tmp/hold-music.mp3"
	chroot "${ROOT}" "${in_root[@]}" PATH=/usr/bin:/bin /opt/zentrale/bin/python - <<'PY' | while read -r line; do say "${line}"; done
import time
from pathlib import Path
from zentrale.media import library
from zentrale.prompts import PromptLibrary
mp3 = Path("/tmp/hold-music.mp3")
t = time.perf_counter(); samples, rate = library.decode_file(mp3); decoded = time.perf_counter() - t
print(f"decoder: {library.decoder()}; 3-minute MP3 ({mp3.stat().st_size // 1024} kB) decoded in {decoded:.1f} s: {len(samples) / rate:.1f} s at {rate} Hz")
t = time.perf_counter(); clip = library.make_clip("hold", samples, rate, 8000); made = time.perf_counter() - t
print(f"to 8 kHz frames for a call in {made:.1f} s ({len(clip.frames)} frames)")
t = time.perf_counter(); PromptLibrary._convert_without_ffmpeg(mp3, Path("/tmp/hold-music.wav")); upload = time.perf_counter() - t
print(f"an upload's conversion without ffmpeg (decode, 16 kHz, loudness to -19 LUFS, WAV) in {upload:.1f} s")
PY
fi
# what ffmpeg would add (Debian's packages, no recommends): the sum of their Installed-Size
if chroot "${ROOT}" "${in_root[@]}" apt-get update -qq >/dev/null 2>&1; then
	# shellcheck disable=SC2046 # one argument per package name
	ffmpeg_kb="$(chroot "${ROOT}" "${in_root[@]}" apt-cache show --no-all-versions \
		$(chroot "${ROOT}" "${in_root[@]}" apt-get install -s --no-install-recommends ffmpeg |
			sed -n 's/^Inst \([^ ]*\) .*/\1/p') | sed -n 's/^Installed-Size: //p' | awk '{ s += $1 } END { print s }')"
	say "ffmpeg with its libraries would add $((ffmpeg_kb / 1024)) MB to the image (apt, no recommends)"
fi
echo "--- daemon log (arm64) ---"
cat "${WORK}/daemon.log"
echo "--- end ---"
[ "${code}" = 0 ]
say "PROOF OK: firmware installed and answering SIP on ${ARCH} in $((SECONDS - started)) s"
