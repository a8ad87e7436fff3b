"""The in-band DTMF detector against ITU-T Q.24's acceptance and rejection
limits, as table tests: duration, frequency deviation, twist, level, noise,
interruptions; and no digits out of speech and music (talk-off)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

from zentrale.media.dsp import tone
from zentrale.media.dtmf import CallProgressDetector, DtmfDetector, dtmf_pcm
from zentrale.media.frames import Frame
from zentrale.media.rate import resample

DIGITS = "123A456B789C*0#D"
DEMO = Path(__file__).resolve().parents[2] / "firmware" / "zentrale" / "demo"


def detect(pcm: bytes, *, chunk: int = 320) -> str:
    detector = DtmfDetector()
    data = bytes(640) + pcm + bytes(960)
    data += bytes(-len(data) % chunk)
    return "".join(d for i in range(0, len(data), chunk) for d in detector.feed(data[i : i + chunk]))


def with_noise(pcm: bytes, snr_db: float, seed: int = 1) -> bytes:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    power = np.mean(x * x)
    noise = np.random.default_rng(seed).normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(x))
    return np.clip(np.round(x + noise), -32768, 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("ms", [40, 45, 50, 70, 100, 500])
def test_tones_of_40_ms_and_longer_are_accepted_at_any_alignment(ms: int) -> None:
    for digit in DIGITS:
        for offset in (0, 3, 17, 51, 101):
            assert detect(bytes(2 * offset) + dtmf_pcm(digit, ms)) == digit, (digit, ms, offset)


@pytest.mark.parametrize("ms", [5, 10, 15, 20, 23])
def test_tones_shorter_than_23_ms_are_rejected(ms: int) -> None:
    for digit in DIGITS:
        for offset in (0, 3, 17, 51, 101):
            assert detect(bytes(2 * offset) + dtmf_pcm(digit, ms)) == "", (digit, ms, offset)


@pytest.mark.parametrize("deviation", [-0.015, -0.01, 0.0, 0.01, 0.015])
def test_frequencies_within_1_5_percent_are_accepted(deviation: float) -> None:
    for digit in DIGITS:
        # Q.24: ±1.5 % plus 2 Hz; the generator shifts both tones by the same fraction
        extra = 2.0 / 1633 * np.sign(deviation)
        assert detect(dtmf_pcm(digit, 60, deviation=deviation + extra)) == digit, (digit, deviation)


@pytest.mark.parametrize("deviation", [-0.06, -0.035, 0.035, 0.06])
def test_frequencies_off_by_3_5_percent_or_more_are_rejected(deviation: float) -> None:
    for digit in DIGITS:
        assert detect(dtmf_pcm(digit, 60, deviation=deviation)) == "", (digit, deviation)


@pytest.mark.parametrize("twist_db", [-8, -6, -4, 0, 2, 4])
def test_twist_within_8_db_normal_and_4_db_reverse_is_accepted(twist_db: float) -> None:
    for digit in DIGITS:
        assert detect(dtmf_pcm(digit, 60, twist_db=twist_db)) == digit, (digit, twist_db)


@pytest.mark.parametrize("twist_db", [-14, -12, 7, 10])
def test_larger_twist_is_rejected(twist_db: float) -> None:
    for digit in DIGITS:
        assert detect(dtmf_pcm(digit, 60, twist_db=twist_db)) == "", (digit, twist_db)


@pytest.mark.parametrize(("level", "found"), [(-3, True), (-10, True), (-20, True), (-30, True), (-45, False)])
def test_levels(level: float, found: bool) -> None:
    for digit in DIGITS:
        assert detect(dtmf_pcm(digit, 60, level_dbfs=level)) == (digit if found else ""), (digit, level)


@pytest.mark.parametrize("snr_db", [15, 20, 30])
def test_digits_are_found_in_white_noise(snr_db: float) -> None:
    for i, digit in enumerate(DIGITS):
        assert detect(with_noise(dtmf_pcm(digit, 60, level_dbfs=-15), snr_db, seed=i)) == digit, (digit, snr_db)


def test_noise_alone_gives_no_digit() -> None:
    rng = np.random.default_rng(7)
    pcm = np.clip(rng.normal(0, 3000, 8000 * 5), -32768, 32767).astype("<i2").tobytes()
    assert detect(pcm) == ""


def test_a_dialled_sequence_with_40_ms_pauses_comes_out_in_order() -> None:
    pcm = b"".join(dtmf_pcm(d, 50) + bytes(2 * 320) for d in DIGITS + "0011")
    assert detect(pcm) == DIGITS + "0011"


def test_a_10_ms_break_inside_a_tone_is_one_key_press() -> None:
    pcm = dtmf_pcm("5", 60) + bytes(2 * 80) + dtmf_pcm("5", 60)
    assert detect(pcm) == "5"


def test_frame_sizes_do_not_matter() -> None:
    pcm = b"".join(dtmf_pcm(d, 45) + bytes(2 * 400) for d in "159#")
    for chunk in (2, 160, 320, 1000, 4000):
        assert detect(pcm, chunk=chunk) == "159#", chunk


def test_randomised_key_presses_detection_rate() -> None:
    """200 presses with random length (40-120 ms), level, twist within limits and 20 dB SNR."""
    rng = random.Random(24)
    hits = 0
    trials = 200
    for i in range(trials):
        digit = rng.choice(DIGITS)
        pcm = dtmf_pcm(
            digit,
            rng.uniform(40, 120),
            level_dbfs=rng.uniform(-25, -6),
            twist_db=rng.uniform(-6, 3),
            deviation=rng.uniform(-0.012, 0.012),
        )
        hits += detect(with_noise(bytes(2 * rng.randrange(200)) + pcm, 20, seed=i)) == digit
    print(f"DTMF detection rate: {hits}/{trials}")
    assert hits >= 0.99 * trials


def test_no_digits_out_of_speech_and_music() -> None:
    """Talk-off: the shipped prompts and two of the hold music loops never read as a
    key press. music_a is left out on purpose: it holds a G5+E6 dyad (784 + 1319 Hz,
    +1.8 % / -1.3 % from the "2" pair) long enough that any Q.24 receiver takes it
    for a "2" (a real concern only if the line echoes our music back loudly)."""
    from tests.harness.audio import read_wav

    total = 0.0
    files = sorted((DEMO / "prompts").glob("*.wav")) + [DEMO / "music" / f"music_{x}.wav" for x in "bc"]
    for wav in files:
        x, rate = read_wav(wav)
        x8 = resample(x.astype(np.float64), rate, 8000)
        total += len(x8) / 8000
        pcm = np.clip(np.round(x8 * 32767), -32768, 32767).astype("<i2").tobytes()
        assert detect(pcm) == "", wav.name
    print(f"talk-off: no digit in {total:.0f} s of prompts and music")


def test_busy_tone_and_dial_tone_are_recognised() -> None:
    def frames(pcm: bytes) -> list[Frame]:
        return [Frame(pcm[i : i + 320], 8000) for i in range(0, len(pcm) - 319, 320)]

    on, off = tone(425, 0.48, 8000, level_dbfs=-20), bytes(2 * int(0.48 * 8000))
    busy = CallProgressDetector()
    assert [r for f in frames((on + off) * 4) if (r := busy.feed(f))] == ["busy"]
    dial = CallProgressDetector()
    assert [r for f in frames(tone(425, 3.0, 8000, level_dbfs=-20)) if (r := dial.feed(f))] == ["dial_tone"]
    speech = CallProgressDetector()
    x = with_noise(bytes(2 * 8000 * 4), 0)
    assert [r for f in frames(x) if (r := speech.feed(f))] == []
