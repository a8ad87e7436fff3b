"""The appliance's first boot hands the set-up token to the daemon, and its console says
where to go: the image's own scripts (zentrale-firstboot, zentrale-console) run for real
against a data folder and a boot partition in a temporary folder, with the real daemon."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import httpx

from tests.harness.daemon import ROOT, running_daemon

FILES = ROOT / "image-build" / "stage-zentrale" / "00-zentrale" / "files"
ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # the daemon's (accounts/service.py SETUP_ALPHABET)


def run(script: str, data: Path, boot: Path, console: Path, *args: str) -> str:
    env = {**os.environ, "ZENTRALE_DATA_DIR": str(data), "ZENTRALE_BOOT_DIR": str(boot),
           "ZENTRALE_CONSOLE_DIR": str(console)}  # fmt: skip
    # restore_signals=False: SIGPIPE stays ignored, as systemd starts services (IgnoreSIGPIPE=yes)
    done = subprocess.run([str(FILES / script), *args], env=env, capture_output=True, text=True, timeout=30,
                          restore_signals=False)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "error" not in done.stderr, done.stderr  # e.g. "tr: write error: Broken pipe" from a pipe cut short
    return done.stdout


def test_the_token_of_the_first_boot_is_the_one_the_daemon_accepts_and_the_console_follows_the_set_up(
    tmp_path: Path,
) -> None:
    data, boot, console = tmp_path / "data", tmp_path / "boot", tmp_path / "console"
    data.mkdir()
    boot.mkdir()
    run("zentrale-firstboot", data, boot, console, "token")
    token_file = data / "setup-token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    token = token_file.read_text().strip()
    assert re.fullmatch(rf"[{ALPHABET}]{{4}}(-[{ALPHABET}]{{4}}){{3}}", token), token
    on_the_card = (boot / "zentrale-setup.txt").read_text(encoding="utf-8")
    assert token in on_the_card
    assert "https://zentrale.local/" in on_the_card
    run("zentrale-firstboot", data, boot, console, "token")  # a second run keeps the token
    assert token_file.read_text().strip() == token

    run("zentrale-console", data, boot, console)
    issue = (console / "zentrale.issue").read_text(encoding="utf-8")
    assert token in issue
    assert "\\4" in issue  # agetty writes the box's IPv4 address there
    assert token in (console / "motd").read_text(encoding="utf-8")

    with running_daemon(tmp_path / "box", data_dir=data) as box:
        assert box.setup_token() == token  # the daemon took the first boot's token, made none of its own
        guess = {"token": "AAAA-BBBB-CCCC-DDDD", "name": "chef", "password": "chef-password"}
        wrong = httpx.post(f"{box.base_url}/api/auth/setup", timeout=10, json=guess)
        assert wrong.status_code == 401
        typed = token.lower().replace("-", " ")  # as a person may type it off the screen
        r = httpx.post(f"{box.base_url}/api/auth/setup", timeout=10,
                       json={"token": typed, "name": "chef", "password": "chef-password"})  # fmt: skip
        assert r.status_code == 200, r.text
        assert not token_file.exists()
        ca = data / "tls" / "ca.crt"
        run("zentrale-console", data, boot, console)
    issue = (console / "zentrale.issue").read_text(encoding="utf-8")
    assert token not in issue
    assert "set up" in issue
    # the local CA (web/tls.py): its fingerprint on the screen, its certificate on the card
    assert "CA SHA-256:" in issue
    assert (boot / "zentrale-ca.crt").read_bytes() == ca.read_bytes()
