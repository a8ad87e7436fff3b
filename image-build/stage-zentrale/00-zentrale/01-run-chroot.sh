#!/bin/bash -e
# Inside the image root (pi-gen pipes NN-run-chroot.sh into a shell in the
# chroot; the arm64 proof does the same): install the firmware into its own
# virtualenv from the wheels 00-run.sh brought, create the user, enable the units.
set -euo pipefail

# --system-site-packages: lgpio comes from the OS package python3-lgpio (Raspberry Pi OS);
# everything the firmware names is installed into the venv and wins over the system's
python3 -m venv --system-site-packages /opt/zentrale
/opt/zentrale/bin/pip install --quiet --no-index --no-cache-dir --find-links /tmp/zentrale-wheels zentrale
rm -rf /tmp/zentrale-wheels
ln -sf /opt/zentrale/bin/zentrale /usr/local/bin/zentrale # zentrale backup/restore/switch for the admin
/opt/zentrale/bin/zentrale --version

systemd-sysusers /usr/lib/sysusers.d/zentrale.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/zentrale.conf
systemctl enable zentrale.service zentrale-firstboot.service zentrale-console.service zentrale-console.path
