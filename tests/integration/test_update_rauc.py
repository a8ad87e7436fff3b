"""Updates from the web page with the real RAUC (Debian's rauc): the daemon hands an
uploaded or fetched bundle to RAUC's service, which checks its signature against the
keyring and writes the other root slot.

What is real here: rauc (client and service, on a private system D-Bus the test starts),
bundles signed with keys from image-build/update/update-keys.sh and made by
make-bundle.sh, two ext4 slots on loop devices, the daemon's HTTP API; the set-up and what
differs from the appliance: tests/harness/rauc.py. Needs root (loop devices).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket as sockets
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.rauc import UPDATE, bundle, rauc_system, slot_release
from tests.harness.waits import wait_until


def free_tcp_port() -> int:
    with sockets.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("rauc")
    with (
        rauc_system(work) as rauc,
        running_daemon(work / "daemon", env={"DBUS_SYSTEM_BUS_ADDRESS": rauc.bus_address}) as daemon,
    ):
        yield {"daemon": daemon, "work": work, "keys": rauc.keys, "other_keys": rauc.other_keys,
               "devices": rauc.devices, "state": rauc.state, "env": rauc.env,
               "start_service": rauc.start_service}  # fmt: skip


def wait_for_install(daemon: Daemon) -> dict[str, Any]:
    return wait_until(
        lambda: (info := daemon.http.get("/api/update").json())["state"] not in ("receiving", "installing") and info,
        120, "the installation to end",
    )  # fmt: skip


def test_the_update_page_shows_the_running_version_and_both_slots(box: dict[str, Any]) -> None:
    info = box["daemon"].http.get("/api/update").json()
    assert info["available"] is True, info
    assert info["unavailable_code"] is None
    assert info["booted"] == "A"
    assert {s["bootname"]: s["state"] for s in info["slots"]} == {"A": "booted", "B": "inactive"}
    assert info["state"] == "idle"
    assert info["version"]


def test_an_uploaded_signed_bundle_is_written_to_the_other_slot_and_made_the_next_boot(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    raucb = bundle(box["work"], "2", box["keys"])
    r = daemon.http.post("/api/update/bundle", content=raucb.read_bytes(), timeout=120)
    assert r.status_code == 202, r.text
    info = wait_for_install(daemon)
    assert info["state"] == "installed", info
    assert "restart" in info["message"]
    assert info["progress"] == 100 and info["code"] is None  # RAUC's "100% Installing done."

    def b_is_written_and_primary() -> bool:
        # RAUC's service writes the slot's status (bundle version) and marks it primary a
        # moment after its client reported "Installing done"; every /api/update re-reads it.
        slots = daemon.http.get("/api/update").json()["slots"]
        return any(s["bootname"] == "B" and s["version"] == "2" and s["primary"] is True for s in slots)

    wait_until(b_is_written_and_primary, 10, "slot B to show version 2 and be the bootloader's next (primary)")
    assert slot_release(box["devices"][1]) == "2"  # the bytes are in slot B
    assert slot_release(box["devices"][0]) == "1"  # the running slot is untouched
    assert (box["state"] / "primary").read_text().strip() == "B"
    assert not list((daemon.data_dir / "update").glob("*.raucb"))  # the upload does not stay on the data partition


def test_the_slots_stay_shown_while_rauc_is_busy_installing(box: dict[str, Any]) -> None:
    """RAUC's service answers one D-Bus method at a time; the page polls during the installation."""
    daemon: Daemon = box["daemon"]
    raucb = bundle(box["work"] / "big", "2b", box["keys"], noise=6_000_000)
    answers: list[dict[str, Any]] = []

    def done() -> bool:
        answers.append(daemon.http.get("/api/update").json())
        return answers[-1]["state"] not in ("receiving", "installing")

    assert daemon.http.post("/api/update/bundle", content=raucb.read_bytes(), timeout=120).status_code == 202
    wait_until(done, 120, "the installation to end")
    assert answers[-1]["state"] == "installed", answers[-1]
    assert any(a["state"] == "installing" for a in answers)
    assert all(a["available"] and len(a["slots"]) == 2 for a in answers), [a["unavailable_reason"] for a in answers]


def test_a_bundle_signed_with_another_key_is_refused_and_changes_nothing(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    before = slot_release(box["devices"][1])
    (box["work"] / "foreign").mkdir()
    foreign = bundle(box["work"] / "foreign", "666", box["other_keys"])
    assert daemon.http.post("/api/update/bundle", content=foreign.read_bytes(), timeout=120).status_code == 202
    info = wait_for_install(daemon)
    assert info["state"] == "failed"
    assert "signature" in info["message"].lower() or "verif" in info["message"].lower(), info
    assert info["code"] == "update_signature_refused", info  # what the page translates
    assert "verification failed" in info["params"]["detail"]  # RAUC's own words kept as the detail
    assert slot_release(box["devices"][1]) == before
    assert "Traceback" not in daemon.log()


def test_a_bundle_for_another_kind_of_box_is_refused_as_such(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    before = slot_release(box["devices"][1])
    other = bundle(box["work"] / "other-box", "7", box["keys"], compatible="zentrale-other-box")
    assert daemon.http.post("/api/update/bundle", content=other.read_bytes(), timeout=120).status_code == 202
    info = wait_for_install(daemon)
    assert info["state"] == "failed" and info["code"] == "update_incompatible", info
    assert "zentrale-other-box" in info["params"]["detail"]
    assert slot_release(box["devices"][1]) == before


def test_a_file_that_is_no_bundle_is_refused_with_rauc_s_reason(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    assert daemon.http.post("/api/update/bundle", content=os.urandom(50_000)).status_code == 202
    info = wait_for_install(daemon)
    assert info["state"] == "failed"
    assert info["code"] == "update_not_a_bundle", info
    assert info["params"]["detail"]
    r = daemon.http.post("/api/update/bundle", content=b"")
    assert r.status_code == 422
    assert "no bundle in the request" in r.json()["error"]


def test_a_bundle_from_an_address_is_fetched_and_installed(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    served = box["work"] / "served"
    served.mkdir()
    shutil.copy(bundle(box["work"], "3", box["keys"]), served / "zentrale-3.raucb")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/zentrale-3.raucb"
        r = daemon.http.post("/api/update/url", json={"url": url}, timeout=120)
        assert r.status_code == 202, r.text
        info = wait_for_install(daemon)
        assert info["state"] == "installed", info
        assert slot_release(box["devices"][1]) == "3"
        missing = daemon.http.post("/api/update/url", json={"url": url.replace("zentrale-3", "nothing")})
        assert missing.status_code == 422
        assert "download failed" in missing.json()["error"] and "404" in missing.json()["error"]
        assert daemon.http.post("/api/update/url", json={"url": "file:///etc/passwd"}).status_code == 422
    finally:
        server.shutdown()
        server.server_close()


def test_nobody_without_login_can_update_and_a_restart_is_refused_where_systemd_does_not_watch(
    box: dict[str, Any],
) -> None:
    daemon: Daemon = box["daemon"]
    anonymous = httpx.post(f"{daemon.base_url}/api/update/bundle", content=b"x", timeout=10)
    assert anonymous.status_code == 401
    r = daemon.http.post("/api/update/reboot")
    assert r.status_code in (403, 409), r.text  # no /run/zentrale here: says so instead of pretending
    assert "cannot be restarted from here" in r.json()["error"]


CONFIRM = UPDATE / "zentrale-update-confirm"


def confirm(box: dict[str, Any], **env: str) -> subprocess.CompletedProcess[str]:
    """The confirmation after a boot, as zentrale-update-confirm.service runs it (root), against
    the real RAUC service and the real daemon's /status; the reboot is a marker file here."""
    daemon: Daemon = box["daemon"]
    marker = box["work"] / "rebooted"
    marker.unlink(missing_ok=True)
    settings = {
        **box["env"], "ZENTRALE_DATA_DIR": str(daemon.data_dir), "ZENTRALE_STATUS_URL": f"{daemon.base_url}/status",
        "ZENTRALE_CONFIRM_POLL_SECONDS": "0.5", "ZENTRALE_REBOOT_COMMAND": f"touch {marker}", **env,
    }  # fmt: skip
    return subprocess.run([sys.executable, str(CONFIRM)], env=settings, capture_output=True, text=True, timeout=120)


def test_the_factory_slot_is_kept_at_once(box: dict[str, Any]) -> None:
    box["start_service"]("A")
    done = confirm(box)
    assert done.returncode == 0, done.stderr
    assert "slot A (factory) is known good: marked good" in done.stdout
    assert not (box["work"] / "rebooted").exists()


def test_a_new_slot_is_kept_after_status_was_ok_long_enough_and_then_known(box: dict[str, Any]) -> None:
    assert box["daemon"].status()["overall"] == "ok"
    box["start_service"]("B")  # the box started the slot the last update wrote
    (box["state"] / "state-B").write_text("bad\n")  # GRUB's backend reports a slot on trial as bad

    def slot_b() -> dict[str, Any]:
        return next(s for s in box["daemon"].http.get("/api/update").json()["slots"] if s["bootname"] == "B")

    assert slot_b()["boot_status"] == "trying"  # the page says "being checked", not "bad"
    done = confirm(box, ZENTRALE_CONFIRM_MINUTES="0.05", ZENTRALE_CONFIRM_DEADLINE_MINUTES="1")
    assert done.returncode == 0, done.stderr
    assert slot_b()["boot_status"] == "good"
    assert "slot B runs 3 for the first time" in done.stdout
    assert "slot B (3) healthy for 0.05 min: marked good" in done.stdout
    assert (box["state"] / "state-B").read_text().strip() == "good"
    again = confirm(box, ZENTRALE_CONFIRM_MINUTES="10")  # the next boot of the same slot: no waiting
    assert "slot B (3) is known good: marked good" in again.stdout


def test_a_new_slot_that_never_gets_healthy_is_marked_bad_and_the_box_restarts(box: dict[str, Any]) -> None:
    daemon: Daemon = box["daemon"]
    raucb = bundle(box["work"], "4", box["keys"])
    box["start_service"]("A")
    assert daemon.http.post("/api/update/bundle", content=raucb.read_bytes(), timeout=120).status_code == 202
    assert wait_for_install(daemon)["state"] == "installed"
    box["start_service"]("B")
    closed = f"http://127.0.0.1:{free_tcp_port()}/status"  # no daemon answers: never healthy
    done = confirm(box, ZENTRALE_STATUS_URL=closed, ZENTRALE_CONFIRM_MINUTES="0.05",
                   ZENTRALE_CONFIRM_DEADLINE_MINUTES="0.1")  # fmt: skip
    assert done.returncode == 1
    assert "slot B (4) not healthy within 0.1 min (last: no answer" in done.stdout
    assert "marked bad, restarting into the other slot" in done.stdout
    assert (box["state"] / "state-B").read_text().strip() == "bad"
    assert (box["work"] / "rebooted").exists()
