"""Programme loudness (ITU-R BS.1770-4, EBU R128) and a gain to a target, for uploads
converted without ffmpeg.

Where ffmpeg is installed, an upload is normalised by its ``loudnorm`` filter
(prompts.py). The appliance's image has no ffmpeg (it would add ~100 MB), so
there the same target is reached by one linear gain: the integrated loudness is
measured as BS.1770-4 §2 describes it -- K-weighting (a high shelf near 1.5 kHz,
+4 dB, and a high pass at 38 Hz), mean square over 400 ms blocks overlapping by
75 %, an absolute gate at -70 LUFS and a relative gate 10 LU below the
loudness of the blocks above it -- and the gain is limited so the peak stays
below the ceiling. Unlike loudnorm this never compresses: a very dynamic file
ends up quieter than the target rather than squashed (prompts and hold music
rarely are).

BS.1770 gives the K-weighting's coefficients for 48 kHz only; here they are
made for any rate from their analogue parameters (as pyloudnorm does); they
run in the frequency domain (one FFT of the zero-padded signal), so a long file
costs numpy's FFT, not a Python loop per sample.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]

BLOCK_S = 0.4  # BS.1770-4 §2.4: gating blocks of 400 ms
STEP = 0.25  # overlapping by 75 %
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE = -10.0  # LU below the absolutely gated loudness
SILENT = -math.inf


def _k_filters(rate: int) -> list[tuple[Samples, Samples]]:
    """The two K-weighting biquads (numerator, denominator) for any sample rate, from the
    analogue parameters Brecht De Man derived from BS.1770's 48 kHz coefficients (they give
    those coefficients back exactly at 48 kHz)."""
    # stage 1: the high shelf modelling the head
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10 ** (gain_db / 20)
    vb = vh**0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (
        np.array([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]),
        np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]),
    )
    # stage 2: the RLB high pass
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1 + k / q + k * k
    high_pass = (np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    return [shelf, high_pass]


def k_weighted(samples: Samples, rate: int) -> Samples:
    """The signal through BS.1770's K-weighting (both stages), computed with one FFT."""
    n = len(samples)
    # the high pass at 38 Hz rings for a few hundred ms: pad so its tail does not wrap around
    size = 1 << max(1, (n + rate).bit_length())
    freqs = np.fft.rfftfreq(size, 1 / rate)
    z = np.exp(-1j * 2 * np.pi * freqs / rate)
    response = np.ones(len(freqs), dtype=np.complex128)
    for b, a in _k_filters(rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    out: Samples = np.fft.irfft(np.fft.rfft(samples, size) * response, size)[:n]
    return out


def integrated_loudness(samples: Samples, rate: int) -> float:
    """Integrated loudness of a mono signal in LUFS (-inf for silence or less than one block)."""
    block = round(BLOCK_S * rate)
    if len(samples) < block:
        return SILENT
    weighted = k_weighted(np.asarray(samples, dtype=np.float64), rate)
    step = round(block * STEP)
    squares = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    starts = np.arange(0, len(weighted) - block + 1, step)
    energy = (squares[starts + block] - squares[starts]) / block
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10 * np.log10(energy)
    kept = energy[loudness > ABSOLUTE_GATE]
    if not len(kept):
        return SILENT
    relative = -0.691 + 10 * math.log10(float(np.mean(kept))) + RELATIVE_GATE
    kept = energy[(loudness > ABSOLUTE_GATE) & (loudness > relative)]
    return -0.691 + 10 * math.log10(float(np.mean(kept)))


def normalised(samples: Samples, rate: int, target_lufs: float, ceiling_dbfs: float) -> Samples:
    """The signal with one gain: its loudness to ``target_lufs`` unless its peak would pass
    ``ceiling_dbfs`` (then the peak decides); silence stays silence."""
    loudness = integrated_loudness(samples, rate)
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if loudness == SILENT or peak == 0.0:
        return samples
    gain_db = min(target_lufs - loudness, ceiling_dbfs - 20 * math.log10(peak))
    out: Samples = samples * 10 ** (gain_db / 20)
    return out
