"""BS.1770-4 integrated loudness, used to normalise uploads where ffmpeg is not installed."""

from __future__ import annotations

import math

import numpy as np
import pytest

from zentrale.media import loudness


def sine(freq: float, peak: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return peak * np.sin(2 * math.pi * freq * t)


@pytest.mark.parametrize("rate", [8000, 16000, 44100, 48000])
def test_a_full_scale_997_hz_sine_in_one_channel_reads_minus_3_01_lufs(rate: int) -> None:
    # BS.1770-4 §2.1's calibration: a 0 dBFS sine of 997 Hz in one channel reads -3.01 LKFS
    assert loudness.integrated_loudness(sine(997, 1.0, 5, rate), rate) == pytest.approx(-3.01, abs=0.05)


def test_loudness_follows_the_level_and_the_k_weighting_rises_above_1500_hz() -> None:
    quiet = loudness.integrated_loudness(sine(997, 10 ** (-26 / 20), 5, 16000), 16000)
    assert quiet == pytest.approx(-29.01, abs=0.05)
    # the high shelf adds ~4 dB at high frequencies, the high pass takes away deep ones
    assert loudness.integrated_loudness(sine(5000, 1.0, 5, 16000), 16000) > -3.01 + 3.0
    assert loudness.integrated_loudness(sine(20, 1.0, 5, 16000), 16000) < -3.01 - 10.0


def test_the_gates_leave_out_silence_between_speech() -> None:
    tone = sine(997, 0.1, 3, 16000)
    with_pauses = np.concatenate((tone, np.zeros(16000 * 10), tone))
    gated = loudness.integrated_loudness(with_pauses, 16000)
    # without the gates the 10 s pause would pull it down by 10*log10(16/6) = 4.3 dB; the blocks
    # that straddle an edge (partly tone) pass the relative gate and cost a few tenths
    assert gated == pytest.approx(loudness.integrated_loudness(tone, 16000), abs=0.5)


def test_normalising_reaches_the_target_unless_the_peak_ceiling_comes_first() -> None:
    quiet = sine(997, 0.01, 4, 16000)
    louder = loudness.normalised(quiet, 16000, target_lufs=-19.0, ceiling_dbfs=-2.0)
    assert loudness.integrated_loudness(louder, 16000) == pytest.approx(-19.0, abs=0.05)
    # a click train: loud peaks, little loudness -> the ceiling decides
    clicks = np.zeros(16000 * 4)
    clicks[::4000] = 0.05
    limited = loudness.normalised(clicks, 16000, target_lufs=-19.0, ceiling_dbfs=-2.0)
    assert 20 * math.log10(float(np.max(np.abs(limited)))) == pytest.approx(-2.0, abs=0.01)
    assert loudness.integrated_loudness(limited, 16000) < -19.0


def test_silence_and_a_too_short_file_are_left_alone() -> None:
    assert loudness.integrated_loudness(np.zeros(16000 * 2), 16000) == -math.inf
    assert loudness.integrated_loudness(sine(997, 0.5, 0.2, 16000), 16000) == -math.inf
    silence = np.zeros(16000)
    assert loudness.normalised(silence, 16000, -19.0, -2.0) is silence
