"""8 <-> 16 kHz conversion as a bridge does it (frame by frame, one converter
per direction) and as prompts are converted (whole clips): no images above
the narrow band when going up, no aliases when going down, the speech band
untouched, one frame out per frame in at a constant delay."""

from __future__ import annotations

import numpy as np
import pytest

from zentrale.media.dsp import to_float, to_pcm
from zentrale.media.frames import Frame, samples_per_frame
from zentrale.media.library import make_clip
from zentrale.media.rate import RateConverter


def stream(samples: np.ndarray, src: int, dst: int) -> np.ndarray:
    converter = RateConverter(src, dst)
    n = samples_per_frame(src)
    pcm = to_pcm(samples)
    out = []
    for i in range(0, len(pcm) - 2 * n + 1, 2 * n):
        frame = converter.convert(Frame(pcm[i : i + 2 * n], src))
        assert frame.rate == dst and len(frame.pcm) == 2 * samples_per_frame(dst)
        out.append(frame.pcm)
    return to_float(b"".join(out))


def sine(freq: float, seconds: float, rate: int, level_dbfs: float = -6.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t)


def band_power(x: np.ndarray, rate: int, low: float, high: float) -> float:
    x = x[rate // 10 :]  # past the filter's start-up
    spectrum = np.abs(np.fft.rfft(x * np.blackman(len(x)))) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(spectrum[(freqs >= low) & (freqs < high)].sum())


def level_db(x: np.ndarray) -> float:
    x = x[len(x) // 4 :]
    return 20 * np.log10(np.sqrt(np.mean(x * x)) * np.sqrt(2) + 1e-12)


def test_upsampling_a_tone_sweep_leaves_no_energy_above_the_narrow_band() -> None:
    """Each tone of a 200-3800 Hz sweep, 8 -> 16 kHz: 4.2-8 kHz stays 40 dB (and
    more) below the speech band. Linear interpolation left images 22 dB down."""
    worst = -200.0
    for freq in range(200, 3900, 100):
        y = stream(sine(freq, 0.5, 8000), 8000, 16000)
        ratio = band_power(y, 16000, 4200, 8000) / band_power(y, 16000, 0, 4000)
        worst = max(worst, 10 * np.log10(ratio + 1e-30))
    assert worst <= -40.0, worst
    assert worst <= -80.0, worst  # soxr HQ: images ~120 dB down; what is left is 16-bit rounding noise


def test_a_6_khz_tone_is_rejected_when_going_down_to_8_khz() -> None:
    y = stream(sine(6000, 1.0, 16000, -6.0), 16000, 8000)
    assert level_db(y) < -90.0  # was -26 dBFS (17 dB rejection) with the [1 2 1] filter


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000)])
@pytest.mark.parametrize("freq", [300.0, 1000.0, 3400.0])
def test_the_telephone_band_passes_at_its_level(src: int, dst: int, freq: float) -> None:
    y = stream(sine(freq, 1.0, src, -10.0), src, dst)
    assert abs(level_db(y) - -10.0) < 0.1


@pytest.mark.parametrize(("src", "dst"), [(8000, 16000), (16000, 8000)])
def test_the_delay_is_constant_from_frame_to_frame(src: int, dst: int) -> None:
    """Clicks at 0.5 s and 1.5 s come out the same number of samples late:
    the converter never slips, and its delay stays within 30 ms."""
    x = np.zeros(2 * src)
    x[src // 2] = x[3 * src // 2] = 0.5
    y = stream(x, src, dst)
    first = int(np.argmax(np.abs(y[:dst])))
    second = dst + int(np.argmax(np.abs(y[dst:])))
    delay = first - dst // 2
    assert second - 3 * dst // 2 == delay
    assert 0 <= delay <= 0.030 * dst


def test_a_prompt_converted_whole_has_no_images_and_no_delay() -> None:
    clip = make_clip("tone", sine(3000, 1.0, 8000, -6.0), 8000, 16000)
    y = to_float(b"".join(f.pcm for f in clip.frames))
    assert len(y) == 16000
    ratio = band_power(y[:15000], 16000, 4200, 8000) / band_power(y[:15000], 16000, 0, 4000)
    assert 10 * np.log10(ratio) < -90
    reference = sine(3000, 1.0, 16000, -6.0)
    middle = slice(2000, 14000)
    assert np.corrcoef(y[middle], reference[middle])[0, 1] > 0.999
