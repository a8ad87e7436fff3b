"""The arm64 proof (image-build/prove-arm64.sh): a Debian bookworm arm64 root
under qemu-user-static, the firmware installed by the image stage's own
scripts, the daemon started there and answering SIP OPTIONS over loopback.

Slow (see image-build/PROOF.md for the measured times): it runs only with
ZENTRALE_PROVE_ARM64=1, as root, e.g. ``ZENTRALE_PROVE_ARM64=1 scripts/test
tests/integration/test_arm64_proof.py``. The debootstrap root is cached
under /var/cache/zentrale-prove, keyed by the package list.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.skipif(os.environ.get("ZENTRALE_PROVE_ARM64") != "1", reason="set ZENTRALE_PROVE_ARM64=1 to run"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (debootstrap, chroot, binfmt_misc)"),
]


@pytest.mark.timeout(3600)
def test_the_firmware_installs_and_answers_sip_on_arm64(tmp_path: Path) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [str(ROOT / "image-build" / "prove-arm64.sh")], capture_output=True, text=True, timeout=3500, check=False
    )
    (tmp_path / "prove-arm64.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    assert "inside: aarch64" in result.stdout
    assert "answered: SIP/2.0 200 OK" in result.stdout
    assert "PROOF OK" in result.stdout
    print(f"arm64 proof took {time.monotonic() - started:.0f} s")
