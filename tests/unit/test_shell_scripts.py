"""Every shell script of the project passes shellcheck (the image's too: pi-gen
cannot run here, so lint is what stands between a typo and a broken image)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


SOURCED = ["image-build/pi-gen.config"]  # bash fragments pi-gen sources


def shell_scripts() -> list[Path]:
    found = [ROOT / name for name in SOURCED]
    for folder in ("scripts", "image-build", ".ci", "hw", "systemd"):
        for path in sorted((ROOT / folder).rglob("*")):
            if (
                path.is_file()
                and path.read_bytes()[:64].split(b"\n")[0].startswith(b"#!")
                and b"sh" in (path.read_bytes()[:64].split(b"\n")[0])
            ):
                found.append(path)
    return found


def test_the_image_scripts_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in shell_scripts()}
    assert {
        "image-build/prove-arm64.sh",
        "image-build/stage-zentrale/prerun.sh",
        "image-build/stage-zentrale/00-zentrale/00-run.sh",
        "image-build/stage-zentrale/00-zentrale/01-run-chroot.sh",
        "image-build/stage-zentrale/00-zentrale/files/zentrale-firstboot",
        "image-build/stage-zentrale/01-readonly/00-run.sh",
        "image-build/stage-zentrale/02-ab/01-run.sh",
        "image-build/stage-zentrale/03-export-ab/00-run-chroot.sh",
        "image-build/stage-zentrale/03-export-ab/01-run.sh",
        "image-build/pi-ab/export-ab.sh",
        "image-build/pi-ab/zentrale-boot-slot-generator",
        "scripts/test",
    } <= names


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck not installed (scripts/setup --test)")
@pytest.mark.parametrize("script", shell_scripts(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shellcheck(script: Path) -> None:
    result = subprocess.run(
        ["shellcheck", "--external-sources", "--severity=style", script.name],
        cwd=script.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "script", [s for s in shell_scripts() if s not in [ROOT / n for n in SOURCED]], ids=lambda p: p.name
)
def test_scripts_are_executable(script: Path) -> None:
    assert script.stat().st_mode & 0o111, f"{script} is not executable (pi-gen runs only executable NN-run.sh)"
