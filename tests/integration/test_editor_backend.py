"""The mode editor's back end on the real daemon: prompt uploads, versions and
rollback (heard by a real caller), validation while editing, simulation."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.harness.audio import heard, prompt_seconds, read_wav, tone_level
from tests.harness.daemon import DEMO, Daemon, running_daemon
from tests.harness.modes import demo_mode
from tests.harness.peers.phone import Phone


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("editor")) as d:
        yield d


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.mark.parametrize("ext", ["mp3", "ogg", "flac"])
def test_compressed_uploads_are_converted_and_normalised(daemon: Daemon, tmp_path: Path, ext: str) -> None:
    source = tmp_path / f"tone.{ext}"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=700:duration=3:sample_rate=44100", "-af", "volume=0.05", str(source))
    r = daemon.http.post(f"/api/prompts/my_{ext}", params={"filename": source.name}, content=source.read_bytes())
    assert r.status_code == 200, r.text
    info = r.json()
    assert info["source"] == "uploaded"
    assert 2.8 <= info["seconds"] <= 3.2
    stored = daemon.data_dir / "prompts" / f"my_{ext}.wav"
    x, rate = read_wav(stored)
    assert rate == 16000
    assert tone_level(x, rate, 700) > 0.8
    # loudness normalised to about -19 LUFS: the quiet source (-29 dBFS RMS) comes out ~10 dB louder
    level = 20 * np.log10(float(np.sqrt(np.mean(x.astype(np.float64) ** 2))))
    assert -22 <= level <= -16, level
    listen = daemon.http.get(f"/api/prompts/my_{ext}/audio")
    assert listen.headers["content-type"] == "audio/wav"


def test_uploaded_hold_music_is_listed_as_music_and_can_replace_an_announcement_of_its_name(
    daemon: Daemon, tmp_path: Path
) -> None:
    source = tmp_path / "jingle.ogg"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=500:duration=2:sample_rate=22050", "-af", "volume=0.1", str(source))
    r = daemon.http.post("/api/prompts/jingle", params={"filename": source.name}, content=source.read_bytes())
    assert r.json()["kind"] == "prompt"
    r = daemon.http.post(
        "/api/prompts/jingle", params={"filename": source.name, "kind": "music"}, content=source.read_bytes()
    )
    assert r.status_code == 200, r.text
    assert (r.json()["kind"], r.json()["source"]) == ("music", "uploaded")
    assert (daemon.data_dir / "prompts" / "music" / "jingle.wav").is_file()
    assert not (daemon.data_dir / "prompts" / "jingle.wav").exists()  # one file per name
    assert daemon.http.delete("/api/prompts/jingle").status_code == 200
    assert "jingle" not in {p["name"] for p in daemon.http.get("/api/prompts").json()}


def test_a_picture_renamed_to_wav_is_refused_with_a_clear_message(daemon: Daemon, tmp_path: Path) -> None:
    png = tmp_path / "logo.png"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=32x32", "-frames:v", "1", str(png))
    r = daemon.http.post("/api/prompts/logo", params={"filename": "logo.wav"}, content=png.read_bytes())
    assert r.status_code == 422
    assert "'logo.wav' is not an audio file" in r.json()["error"]
    assert not (daemon.data_dir / "prompts" / "logo.wav").exists()


def test_a_two_hour_file_is_refused_as_too_long(daemon: Daemon, tmp_path: Path) -> None:
    long = tmp_path / "meeting.flac"
    ffmpeg("-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono", "-t", "7200", str(long))
    r = daemon.http.post("/api/prompts/meeting", params={"filename": long.name}, content=long.read_bytes())
    assert r.status_code == 422
    assert "too long: 2:00:00, at most 15:00" in r.json()["error"]


def test_prompts_list_which_modes_use_them_and_used_ones_cannot_be_deleted(daemon: Daemon) -> None:
    prompts = {p["name"]: p for p in daemon.http.get("/api/prompts").json()}
    assert prompts["greeting"]["used_by"] == ["hotline"]
    assert prompts["music_a"]["kind"] == "music"
    r = daemon.http.delete("/api/prompts/greeting")
    assert r.status_code == 409


def test_validation_while_editing_names_the_node(daemon: Daemon) -> None:
    document = demo_mode()
    document["nodes"]["main_menu"]["choices"]["4"] = "nowhere"
    r = daemon.http.post("/api/editor/validate", json=document).json()
    assert not r["ok"]
    assert {(p["node"], p["path"]) for p in r["problems"]} == {("main_menu", "nodes.main_menu.choices.4")}
    document = demo_mode()
    document["nodes"]["orphan"] = {"type": "hangup"}
    document["nodes"]["loop_a"] = {"type": "announcement", "prompt": "goodbye", "next": "loop_b"}
    document["nodes"]["loop_b"] = {"type": "announcement", "prompt": "goodbye", "next": "loop_a"}
    document["nodes"]["main_menu"]["choices"]["9"] = "loop_a"
    document["nodes"]["greeting"]["prompt"] = "no_such_prompt"
    r = daemon.http.post("/api/editor/validate", json=document).json()
    messages = {(p["node"], p["severity"], p["message"]) for p in r["problems"]}
    assert ("greeting", "error", "prompt 'no_such_prompt' is missing") in messages
    document["nodes"]["greeting"]["prompt"] = "greeting"
    r = daemon.http.post("/api/editor/validate", json=document).json()
    messages = {(p["node"], p["severity"], p["message"]) for p in r["problems"]}
    assert ("orphan", "warning", "node is not reachable from the start") in messages
    assert ("loop_a", "error", "loop without an exit: the call can never end here") in messages


def test_versions_create_duplicate_rename_delete(daemon: Daemon) -> None:
    r = daemon.http.post("/api/editor/modes/night")
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 1
    assert daemon.http.post("/api/editor/modes/night/duplicate", json={"to": "night2"}).status_code == 200
    assert daemon.http.post("/api/editor/modes/night2/rename", json={"to": "weekend"}).status_code == 200
    names = {m["name"] for m in daemon.http.get("/api/editor/modes").json()}
    assert {"hotline", "closed", "night", "weekend"} <= names
    assert "night2" not in names
    assert daemon.http.delete("/api/editor/modes/hotline").status_code == 409  # active
    assert daemon.http.delete("/api/editor/modes/weekend").status_code == 200
    export = daemon.http.get("/api/editor/modes/night/export", params={"format": "json"})
    assert export.json()["start"] == "greeting"


def test_rolling_back_a_version_changes_what_the_next_caller_hears(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    versions = daemon.http.get("/api/editor/modes/hotline/versions").json()
    first = versions[-1]["version"]
    changed = yaml.safe_load((DEMO / "hotline.yaml").read_text())
    changed["nodes"]["greeting"]["prompt"] = "closed"  # "Die Hotline ist zurzeit nicht besetzt ..."
    r = daemon.http.put("/api/modes/hotline", params={"by": "admin"}, content=yaml.safe_dump(changed).encode())
    assert r.status_code == 200, r.text
    second = r.json()["version"]
    assert second == first + 1
    diff = daemon.http.get("/api/editor/modes/hotline/diff", params={"a": first, "b": second}).text
    assert "-    prompt: greeting" in diff
    assert "+    prompt: closed" in diff
    phone = sip_phones(name="rollback")

    def first_seconds(name: str, seconds: float) -> tuple[object, int]:
        rx = tmp_path / f"{name}.wav"
        call = phone.call(daemon.uri, record=rx)
        phone.wait_event("media_active", call=call, timeout=5)
        time.sleep(seconds)
        phone.hangup(call)
        phone.wait_event("recording_done", call=call, timeout=5)
        return read_wav(rx)

    x, rate = first_seconds("v2", prompt_seconds("closed") + 0.5)
    assert heard(x, rate, 0.0, DEMO / "prompts" / "closed.wav") > 0.6  # type: ignore[arg-type]
    r = daemon.http.post("/api/editor/modes/hotline/rollback", json={"version": first, "by": "admin"})
    assert r.json()["version"] == second + 1
    x, rate = first_seconds("v3", prompt_seconds("greeting") + 0.5)
    assert heard(x, rate, 0.0, DEMO / "prompts" / "greeting.wav") > 0.6  # type: ignore[arg-type]
    saves = [(a["who"], a["detail"]) for a in daemon.http.get("/api/audit").json() if a["action"] == "mode.save"]
    assert saves[:2] == [("admin", f"hotline v{second + 1}"), ("admin", f"hotline v{second}")]


def test_walking_a_mode_without_a_phone(daemon: Daemon) -> None:
    sim = daemon.http.post("/api/simulations", json={"mode": "hotline"}).json()
    sid = sim["id"]
    assert sim["activity"]["name"] == "greeting"
    sim = daemon.http.post(f"/api/simulations/{sid}/skip").json()
    assert sim["activity"]["name"] == "main_menu"
    sim = daemon.http.post(f"/api/simulations/{sid}/digit", json={"digit": "3"}).json()
    assert sim["activity"]["name"] == "hold_notice"
    assert sim["waiting"][0]["team"] == "pc"
    for _ in range(40):  # skip through the looping hold sequence to team C's 5 minutes
        sim = daemon.http.post(f"/api/simulations/{sid}/skip").json()
        if sim["activity"]["name"] == "offer_message":
            break
    assert sim["activity"]["name"] == "offer_message"
    assert 303 <= sim["time"] <= 304  # greeting (3.1 s) + 5 minutes in the queue
    sim = daemon.http.post(f"/api/simulations/{sid}/skip").json()  # the offer
    sim = daemon.http.post(f"/api/simulations/{sid}/skip").json()  # the beep
    assert sim["activity"]["kind"] == "recording"
    sim = daemon.http.post(f"/api/simulations/{sid}/digit", json={"digit": "#"}).json()
    assert sim["activity"]["name"] == "message_saved"
    sim = daemon.http.post(f"/api/simulations/{sid}/skip").json()
    assert sim["ended"]
    assert sim["outcome"] == "voicemail"
    # the simulation never touched the box's real queues
    assert daemon.http.get("/api/queues").json() == []
    kinds = [(t["kind"], t["name"]) for t in sim["transcript"]][:4]
    assert kinds == [("prompt", "greeting"), ("prompt", "main_menu"), ("digit", "3"), ("prompt", "hold_notice")]
