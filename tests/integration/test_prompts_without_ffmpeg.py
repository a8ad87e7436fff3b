"""MP3/OGG/FLAC prompts where ffmpeg is not installed (the appliance's image): libsndfile
from the soundfile wheel decodes them, one gain normalises the loudness.

ffmpeg is hidden by giving the daemon a PATH without it; the files are made with ffmpeg
beforehand (the test's tool, not the daemon's)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.harness.audio import dominant_frequency, read_wav, tone_level
from tests.harness.daemon import Daemon, running_daemon
from zentrale.media import library, loudness


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def tone_file(path: Path, freq: int, seconds: float, rate: int, volume: float, channels: int = 1) -> Path:
    ffmpeg("-f", "lavfi", "-i", f"sine=frequency={freq}:duration={seconds}:sample_rate={rate}",
           "-af", f"volume={volume}", "-ac", str(channels), str(path))  # fmt: skip
    return path


@pytest.fixture
def no_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    empty = tmp_path / "bin-without-ffmpeg"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return str(empty)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    empty = tmp_path_factory.mktemp("bin-without-ffmpeg")
    with running_daemon(tmp_path_factory.mktemp("no-ffmpeg"), env={"PATH": str(empty)}) as d:
        yield d


@pytest.mark.parametrize(("ext", "rate", "channels"), [("mp3", 44100, 2), ("ogg", 22050, 1), ("flac", 48000, 2)])
def test_the_library_decodes_compressed_prompts_with_libsndfile_when_ffmpeg_is_missing(
    tmp_path: Path, ext: str, rate: int, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tone_file(tmp_path / f"tone.{ext}", 700, 3, rate, 0.3, channels)
    monkeypatch.setenv("PATH", str(tmp_path))  # no ffmpeg from here on
    assert library.decoder() == "libsndfile"
    samples, got_rate = library.decode_file(source)
    assert got_rate == rate
    assert len(samples) / rate == pytest.approx(3.0, abs=0.06)  # MP3's encoder delay and padding
    assert dominant_frequency(samples, rate) == pytest.approx(700, abs=2)
    assert tone_level(samples, rate, 700) > 0.95
    seconds, what = library.probe_file(source)
    assert seconds == pytest.approx(3.0, abs=0.06)
    assert {"mp3": "MPEG", "ogg": "OGG", "flac": "FLAC"}[ext] in what
    clip = library.AudioLibrary([tmp_path]).clip("tone", 8000)
    assert clip.duration == pytest.approx(3.0, abs=0.06)


def test_without_ffmpeg_or_libsndfile_the_error_names_both(tmp_path: Path, no_ffmpeg: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    source = tmp_path / "x.mp3"
    source.write_bytes(b"ID3" + bytes(200))
    monkeypatch.setattr(library, "soundfile", None)
    assert library.decoder() == "none"
    with pytest.raises(library.AudioDecodeError, match="ffmpeg or libsndfile is needed"):
        library.decode_file(source)


def test_garbage_named_mp3_is_not_audio_for_libsndfile(tmp_path: Path, no_ffmpeg: str) -> None:
    source = tmp_path / "x.mp3"
    source.write_bytes(bytes(range(256)) * 40)
    with pytest.raises(library.AudioDecodeError, match=r"x\.mp3: not audio"):
        library.decode_file(source)


@pytest.mark.parametrize("ext", ["mp3", "ogg", "flac"])
def test_an_upload_without_ffmpeg_is_converted_to_16_khz_and_normalised_to_minus_19_lufs(
    daemon: Daemon, tmp_path: Path, ext: str
) -> None:
    source = tone_file(tmp_path / f"tone.{ext}", 700, 3, 44100, 0.05, 2)
    r = daemon.http.post(f"/api/prompts/nf_{ext}", params={"filename": source.name}, content=source.read_bytes())
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "uploaded"
    assert 2.8 <= r.json()["seconds"] <= 3.2
    x, rate = read_wav(daemon.data_dir / "prompts" / f"nf_{ext}.wav")
    assert rate == 16000
    assert tone_level(x, rate, 700) > 0.9
    level = loudness.integrated_loudness(x.astype(np.float64), rate)
    assert level == pytest.approx(-19.0, abs=0.3)
    assert "Traceback" not in daemon.log()


def test_an_upload_that_is_not_audio_is_refused_without_ffmpeg_and_nothing_is_kept(
    daemon: Daemon, tmp_path: Path
) -> None:
    for name, data in (("fake.mp3", b"ID3\x04" + bytes(5000)), ("text.ogg", b"hello " * 500), ("empty.wav", b"RIFF")):
        r = daemon.http.post("/api/prompts/broken", params={"filename": name}, content=data)
        assert r.status_code == 422, r.text
        assert f"'{name}' is not an audio file" in r.json()["error"]
    assert not list((daemon.data_dir / "prompts").glob("broken*"))
    assert "Traceback" not in daemon.log()
