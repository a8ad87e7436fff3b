#!/bin/bash -e
# Inside the image root (pi-gen pipes NN-run-chroot.sh into a shell in the
# chroot; the arm64 proof does the same): install the firmware into its own
# virtualenv from the wheels 00-run.sh brought, create the user, enable the units.
set -euo pipefail

python3 -m venv /opt/zentrale
/opt/zentrale/bin/pip install --quiet --no-index --no-cache-dir --find-links /tmp/zentrale-wheels 'zentrale[pi]'
rm -rf /tmp/zentrale-wheels
ln -sf /opt/zentrale/bin/zentrale /usr/local/bin/zentrale # zentrale backup/restore/switch for the admin
/opt/zentrale/bin/zentrale --version

systemd-sysusers /usr/lib/sysusers.d/zentrale.conf
systemd-tmpfiles --create /usr/lib/tmpfiles.d/zentrale.conf
systemctl enable zentrale.service zentrale-firstboot.service zentrale-console.service zentrale-console.path
