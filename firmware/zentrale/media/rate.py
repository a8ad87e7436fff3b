"""Sample-rate conversion with libsoxr: 8 kHz <-> 16 kHz for bridged legs with
different codecs (G.722 <-> G.711), and any rate to the call's rate for prompts.

A bridge converts frame by frame with its own filter state (one converter
per direction of one bridge), so the filter runs across frame edges and
nothing clicks 50 times a second. soxr's streaming resampler in its
variable-rate mode hands out steady 20 ms blocks (its fixed-rate mode
works in large FFT blocks, which would burst 60-80 ms at a time); its
HQ filter keeps images and aliases ~120 dB down (measured in
tests/unit/test_resample.py). The price is latency: 30 ms for 8 -> 16 kHz,
15 ms for 16 -> 8 kHz (docs/audio.md).

Prompts and music are converted whole, once, at soxr's best quality.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import soxr

from zentrale.media.frames import Frame, samples_per_frame

Samples = npt.NDArray[np.float64]


def resample(samples: Samples, src_rate: int, dst_rate: int) -> Samples:
    """A whole signal (float samples) from one rate to another, linear phase, no delay."""
    if src_rate == dst_rate or len(samples) == 0:
        return samples
    out: Samples = soxr.resample(np.asarray(samples, dtype=np.float64), src_rate, dst_rate, quality="VHQ")
    return out


class RateConverter:
    """One stream of 20 ms frames from ``src`` to ``dst`` Hz, one frame out per frame in."""

    def __init__(self, src: int, dst: int) -> None:
        if src == dst:
            raise ValueError(f"no conversion from {src} to {dst} Hz")
        self.src = src
        self.dst = dst
        self._size = samples_per_frame(dst)
        self._stream = soxr.ResampleStream(src, dst, 1, dtype="float32", quality="HQ", vr=True)
        self._pending: npt.NDArray[np.float32] = np.zeros(0, dtype=np.float32)

    def convert(self, frame: Frame) -> Frame:
        x = np.frombuffer(frame.pcm, dtype="<i2").astype(np.float32) / np.float32(32768.0)
        y = np.concatenate((self._pending, self._stream.resample_chunk(x)))
        if len(y) < self._size:
            # the filter's start-up: lead with silence once; from then on one frame in, one out
            y = np.concatenate((np.zeros(self._size - len(y), dtype=np.float32), y))
        if len(y) > 3 * self._size:
            y = y[-2 * self._size :]  # never let the delay grow (cannot happen at a fixed ratio)
        self._pending = y[self._size :]
        pcm = np.clip(np.round(y[: self._size] * 32768.0), -32768, 32767).astype("<i2").tobytes()
        return Frame(pcm, self.dst)
