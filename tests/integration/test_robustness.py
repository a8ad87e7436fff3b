"""Bad input gets a clear error and loses nothing: kill -9 while recording,
broken mode documents, broken configuration files."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.harness.audio import make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.daemon import DEMO, ROOT, Daemon, free_port, start_daemon
from tests.harness.modes import demo_mode, fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def recording_mode() -> dict[str, object]:
    """Straight into voicemail: a short prompt, then the recording."""
    mode = fast_mode()
    mode["start"] = "voicemail_lvs"
    mode["nodes"]["voicemail_lvs"]["prompt"] = "goodbye"  # type: ignore[index]
    mode["nodes"]["voicemail_lvs"]["silence_seconds"] = 10  # type: ignore[index]
    return mode


def speaking_caller(tmp_path: Path, phone: Phone, daemon: Daemon, seconds: float) -> int:
    """``phone`` calls the box, waits for the recording's prompt and beep, then speaks (a
    700 Hz tone) for ``seconds``; returns the call."""
    tone = tmp_path / "tone.wav"
    make_tone_wav(tone, 700, 10.0, rate=8000, level_dbfs=-12)
    call = phone.call(daemon.uri)
    phone.wait_event("media_active", call=call, timeout=5)
    wait_until(lambda: [c for c in daemon.http.get("/api/calls").json() if c["node"] == "voicemail_lvs"], 5, "vm")
    spool = daemon.data_dir / "spool"  # the recorder opens <id>.wav.part after the prompt and the beep
    wait_until(lambda: any(p.name.endswith(".wav.part") for p in spool.iterdir()), prompt_seconds("goodbye") + 5,
               "the recording to begin")  # fmt: skip
    phone.play(call, tone)
    time.sleep(seconds)  # the caller speaks
    return call


@pytest.mark.parametrize(("speak", "expect_message"), [(3.0, True), (0.4, False)])
def test_kill_9_during_a_recording_leaves_a_complete_message_or_nothing(
    tmp_path: Path, sip_phones: Callable[..., Phone], speak: float, expect_message: bool
) -> None:
    daemon = start_daemon(tmp_path / "box", mode=recording_mode())
    try:
        speaking_caller(tmp_path, sip_phones(name="kill9"), daemon, speak)
        spool = list((daemon.data_dir / "spool").iterdir())
        assert any(p.name.endswith(".wav.part") for p in spool), spool
        daemon.kill9()
    finally:
        daemon.stop()
    # the next start cleans up
    again = start_daemon(tmp_path / "box", data_dir=daemon.data_dir, mode=None, sip_port=daemon.sip_port)
    try:
        messages = again.http.get("/api/messages").json()
        assert list((again.data_dir / "spool").iterdir()) == []
        if not expect_message:
            assert messages == []
            return
        assert len(messages) == 1
        assert "recovered message" in again.log()
        wav = tmp_path / "m.wav"
        wav.write_bytes(again.http.get(f"/api/messages/{messages[0]['id']}/audio").content)
        x, rate = read_wav(wav)
        assert abs(len(x) / rate - messages[0]["duration_ms"] / 1000) < 0.05
        assert 1.5 < len(x) / rate < speak + 1.0
        assert tone_level(x[int(0.3 * rate) :], rate, 700) > 0.5
    finally:
        again.stop()


def test_a_broken_mode_document_is_refused_with_file_path_and_reason_and_the_active_mode_keeps_running(
    tmp_path: Path,
) -> None:
    daemon = start_daemon(tmp_path / "box")
    try:
        r = daemon.http.put("/api/modes/hotline", content=b"nodes: [unclosed")
        assert r.status_code == 422
        assert "not valid YAML" in r.json()["problem"]
        broken = demo_mode()
        broken["nodes"]["main_menu"]["choices"]["4"] = "queue_nowhere"
        r = daemon.http.put("/api/modes/hotline", content=yaml.safe_dump(broken).encode())
        assert r.status_code == 422
        assert r.json()["path"] == "nodes.main_menu.choices.4"
        assert "queue_nowhere" in r.json()["problem"]
        missing_prompt = demo_mode()
        missing_prompt["nodes"]["greeting"]["prompt"] = "no_such_prompt"
        r = daemon.http.put("/api/modes/hotline", content=yaml.safe_dump(missing_prompt).encode())
        assert r.status_code == 422
        assert "no_such_prompt" in r.json()["problem"]
        # a broken file dropped into the modes folder cannot be activated
        (daemon.data_dir / "modes" / "night.yaml").write_text("start: x\nnodes: {x: {type: jump}}\n")
        r = daemon.http.post("/api/modes/night/activate", json={"by": "test"})
        assert r.status_code == 422
        assert r.json()["source"].endswith("night.yaml")
        assert r.json()["path"].startswith("name") or r.json()["path"].startswith("nodes.x")
        assert daemon.http.get("/api/modes").json()["active"] == "hotline"
        assert daemon.http.get("/api/switches").json()[0]["id"] == "sap_outage"
        assert daemon.alive()
        # the manual-control switch from the command line
        url = f"http://127.0.0.1:{daemon.http_port}"
        # it logs in with the API token from the daemon's data folder (found through --config)
        cfg = str(daemon.config_path)
        flipped = zentrale("switch", "sap_outage", "on", "--by", "cli-test", "--config", cfg, cwd=tmp_path)
        assert flipped.returncode == 0, flipped.stderr
        assert "SAP-Störung: on (by cli-test)" in flipped.stdout
        assert daemon.http.get("/api/switches").json()[0]["on"]
        unknown = zentrale("switch", "nope", "on", "--config", cfg, cwd=tmp_path)
        assert unknown.returncode == 1
        assert "404" in unknown.stderr
        # without the token the daemon refuses; with a wrong one too
        (tmp_path / "wrong-token").write_text("not-the-token\n")
        wrong = zentrale("switch", "sap_outage", "off", "--url", url, "--token-file", str(tmp_path / "wrong-token"),
                         cwd=tmp_path)  # fmt: skip
        assert wrong.returncode == 1
        assert "401" in wrong.stderr
    finally:
        daemon.stop()


def zentrale(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "zentrale", *args], capture_output=True, text=True, cwd=cwd, timeout=30, check=False
    )


def test_check_config_names_the_file_the_field_and_the_problem(tmp_path: Path) -> None:
    good = zentrale("check-config", str(ROOT / "firmware/zentrale/demo/config.yaml"), cwd=tmp_path)
    assert good.returncode == 0, good.stderr
    mode = zentrale("check-config", str(ROOT / "firmware/zentrale/demo/hotline.yaml"), cwd=tmp_path)
    assert mode.returncode == 0
    assert "mode 'Hotline' is valid" in mode.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("sip:\n  port: 99999\n")
    result = zentrale("check-config", str(bad), cwd=tmp_path)
    assert result.returncode == 1
    assert str(bad) in result.stderr
    assert "sip.port" in result.stderr
    serve = zentrale("serve", "--config", str(bad), cwd=tmp_path)
    assert serve.returncode == 2
    assert "sip.port" in serve.stderr
    assert "ready" not in serve.stdout
    bad.write_text("sip:\n  allowed_peers: [everyone]\n")
    result = zentrale("check-config", str(bad), cwd=tmp_path)
    assert "sip.allowed_peers" in result.stderr
    assert "'everyone' is not a network" in result.stderr


def test_a_stop_during_a_recording_hangs_up_keeps_the_message_and_logs_no_error(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """SIGTERM (systemd's stop, an update's restart) with a caller speaking a message: the parts
    stop in the reverse order of their start (zentrale/lifecycle.py), so the call is ended while
    its line still carries the BYE and the message is kept before the database closes."""
    daemon = start_daemon(tmp_path / "box", mode=recording_mode())
    try:
        phone = sip_phones(name="stop")
        call = speaking_caller(tmp_path, phone, daemon, 3.0)
        assert daemon.stop() == 0
        phone.wait_event("disconnected", call=call, timeout=5)  # the box said BYE before its line stopped
    finally:
        daemon.stop()
    log = daemon.log()
    assert "Traceback" not in log and "did not stop" not in log and "failed" not in log, log[-3000:]
    again = start_daemon(tmp_path / "box", data_dir=daemon.data_dir, mode=None, sip_port=daemon.sip_port)
    try:
        messages = again.http.get("/api/messages").json()
        assert len(messages) == 1 and 2.5 < messages[0]["duration_ms"] / 1000 < 5.0, messages
        assert "recovered message" not in again.log()  # kept at the stop, not pieced together at the start
        (row,) = again.http.get("/api/calllog").json()
        assert row["outcome"] == "voicemail" and row["message_id"] == messages[0]["id"], row
        assert list((again.data_dir / "spool").iterdir()) == []
    finally:
        again.stop()


def test_a_box_whose_web_port_is_taken_says_so_and_releases_what_it_had_started(tmp_path: Path) -> None:
    """A start that fails half-way (the web page's port taken by another program) stops the parts
    already started -- the SIP line's ports are free again at once -- and ends with one line that
    says why (exit code 1), not uvicorn's exit code 3 and no traceback."""
    sip_port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        http_port = taken.getsockname()[1]
        cfg = yaml.safe_load((DEMO / "config.yaml").read_text(encoding="utf-8"))
        cfg["data_dir"] = str(tmp_path / "data")
        cfg["sip"] |= {"bind": "127.0.0.1", "port": sip_port}
        cfg["http"] |= {"bind": "127.0.0.1", "port": http_port}
        (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg), encoding="utf-8")
        box = subprocess.run(
            [sys.executable, "-m", "zentrale", "serve", "--config", str(tmp_path / "config.yaml")],
            capture_output=True, text=True, timeout=60, cwd=tmp_path,
        )  # fmt: skip
    out = box.stdout + box.stderr
    assert box.returncode == 1, out
    assert f"zentrale: cannot start: the web page cannot listen on 127.0.0.1:{http_port}" in box.stderr, out
    assert f"SIP listening on 127.0.0.1:{sip_port}" in out and "Traceback" not in out
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):  # the SIP line was stopped, its sockets closed
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", sip_port))
