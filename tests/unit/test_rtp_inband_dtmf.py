"""In-band DTMF on SIP calls is only worth having if speech and music do not
press keys (talk-off, ITU-T Q.24 §4): every prompt and every piece of hold
music the demo ships, through µ-law and A-law and at G.722's 16 kHz via the
resampler, as a caller's phone would send it, produces no digit; a real key
press in the middle of the same audio is still found."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zentrale
from zentrale.media.codecs import codec_for
from zentrale.media.dtmf import DtmfDetector, dtmf_pcm
from zentrale.media.library import AudioLibrary
from zentrale.media.rate import RateConverter

DEMO = Path(zentrale.__file__).parent / "demo"
LIBRARY = AudioLibrary([DEMO / "prompts", DEMO / "music"])


def heard(name: str, codec: str) -> list[str]:
    detector = DtmfDetector()
    rate = 16000 if codec == "G722" else 8000
    encoder, decoder = codec_for(codec), codec_for(codec)
    down = RateConverter(16000, 8000) if rate == 16000 else None
    digits: list[str] = []
    for frame in LIBRARY.clip(name, rate).frames:
        received = frame.__class__(decoder.decode(encoder.encode(frame.pcm)), rate)
        if down is not None:
            received = down.convert(received)
        digits += detector.feed(received.pcm)
    return digits


@pytest.mark.parametrize("codec", ["PCMU", "PCMA", "G722"])
@pytest.mark.parametrize("name", sorted(LIBRARY.names()))
def test_the_demo_prompts_and_music_press_no_key(name: str, codec: str) -> None:
    assert heard(name, codec) == []


def test_a_key_pressed_over_the_hold_music_is_still_found() -> None:
    detector = DtmfDetector()
    music = b"".join(f.pcm for f in LIBRARY.clip("music_a", 8000).frames[:100])
    # the tone at -9 dBFS per frequency over the music turned down by 12 dB
    x = bytearray(music)
    tone = dtmf_pcm("7", 120)
    mixed = np.frombuffer(bytes(x[16000 : 16000 + len(tone)]), dtype="<i2").astype(np.int32) // 4
    mixed += np.frombuffer(tone, dtype="<i2")
    x[16000 : 16000 + len(tone)] = np.clip(mixed, -32768, 32767).astype("<i2").tobytes()
    assert detector.feed(bytes(x)) == ["7"]
