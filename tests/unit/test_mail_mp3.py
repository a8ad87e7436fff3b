"""MP3 for e-mail: exact length after decoding, the caller's tone intact, ID3v2.3 tags readable."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from tests.harness.audio import make_tone_wav, tone_level
from tests.harness.mp3 import decode_mp3, probe
from zentrale.mail.mp3 import Mp3Error, Mp3Tags, encode_pcm, encode_wav, id3v23

TAGS = Mp3Tags(
    title="Nachricht von +49 30 1234567",
    artist="+49 30 1234567 (Jörg Müller)",
    album="SAP – Team B",  # the en dash is not Latin-1: UTF-16 frame
    recorded=datetime(2026, 1, 5, 9, 7),
    comment="20260105-090700-abc123",
)


def parse_id3v23(data: bytes) -> dict[str, str]:
    """A tiny independent reader for the frames we write."""
    assert data[:3] == b"ID3"
    assert data[3:5] == b"\x03\x00"
    size = sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(data[6:10]))
    assert all(b < 0x80 for b in data[6:10])  # syncsafe
    frames, pos, end = {}, 10, 10 + size
    while pos < end:
        frame_id = data[pos : pos + 4].decode("ascii")
        length, flags = struct.unpack(">IH", data[pos + 4 : pos + 10])
        assert flags == 0
        body = data[pos + 10 : pos + 10 + length]
        encoding, payload = body[0], body[1:]
        codec = "latin-1" if encoding == 0 else "utf-16"
        if frame_id == "COMM":
            payload = payload[3:]  # language
            sep = b"\x00" if encoding == 0 else b"\x00\x00"
            payload = payload.split(sep, 1)[1] if encoding == 0 else payload[payload.index(sep, 2) + 2 :]
        frames[frame_id] = payload.decode(codec)
        pos += 10 + length
    assert pos == end
    return frames


def test_id3v23_tag_holds_caller_team_and_date() -> None:
    frames = parse_id3v23(id3v23(TAGS))
    assert frames == {
        "TIT2": "Nachricht von +49 30 1234567",
        "TPE1": "+49 30 1234567 (Jörg Müller)",
        "TALB": "SAP – Team B",
        "TYER": "2026",
        "TDAT": "0501",
        "TIME": "0907",
        "TCON": "(101)",
        "COMM": "20260105-090700-abc123",
    }


@pytest.mark.parametrize(("rate", "seconds"), [(8000, 3.0), (8000, 42.37), (16000, 7.01), (8000, 0.3)])
def test_decoded_mp3_has_exactly_the_recordings_length_and_tone(tmp_path: Path, rate: int, seconds: float) -> None:
    wav = make_tone_wav(tmp_path / "m.wav", 600, seconds, rate=rate, level_dbfs=-12)
    mp3 = encode_wav(wav, 32, TAGS)
    path = tmp_path / "m.mp3"
    path.write_bytes(mp3.data)
    samples, decoded_rate = decode_mp3(path)
    assert decoded_rate == rate
    assert len(samples) == round(seconds * rate)  # the LAME info frame trims delay and padding exactly
    assert tone_level(samples, rate, 600) > 0.9
    # the tone starts at the first sample, not after the encoder's delay
    assert np.sqrt(np.mean(samples[: rate // 100] ** 2)) > 0.05
    assert mp3.seconds == pytest.approx(seconds, abs=1 / rate)


def test_ffprobe_reads_our_tags_and_the_bit_rate(tmp_path: Path) -> None:
    path = tmp_path / "m.mp3"
    path.write_bytes(encode_wav(make_tone_wav(tmp_path / "m.wav", 600, 2.0), 32, TAGS).data)
    info = probe(path)
    tags = info["format"]["tags"]
    assert (tags["title"], tags["artist"], tags["album"]) == (TAGS.title, TAGS.artist, TAGS.album)
    assert tags["date"].startswith("2026-01-05")
    assert tags["genre"] == "Speech"
    stream = info["streams"][0]
    assert (stream["codec_name"], stream["channels"], stream["bit_rate"]) == ("mp3", 1, "32000")


def test_a_broken_wav_is_an_mp3_error_not_a_crash(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(Mp3Error, match=r"cannot read bad\.wav"):
        encode_wav(bad, 32)
    with pytest.raises(Mp3Error, match="cannot read"):
        encode_wav(tmp_path / "missing.wav", 32)


def test_silence_of_zero_length_is_refused() -> None:
    with pytest.raises(Mp3Error):
        encode_pcm(b"", 8000, 32)
