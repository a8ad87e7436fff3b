"""Small signal helpers on PCM16 frames (numpy)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float64]


def to_float(pcm: bytes) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0


def to_pcm(samples: Samples) -> bytes:
    clipped = np.clip(np.round(samples * 32767.0), -32768, 32767)
    return clipped.astype("<i2").tobytes()


def rms_dbfs(pcm: bytes) -> float:
    """Level of a frame in dBFS (-120 for digital silence)."""
    if not pcm:
        return -120.0
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    mean_square = float(np.dot(x, x)) / len(x)
    if mean_square <= 0:
        return -120.0
    return 10 * math.log10(mean_square / (32768.0 * 32768.0))


def tone(freq: float, seconds: float, rate: int, level_dbfs: float = -10.0, fade_ms: float = 5.0) -> bytes:
    """A sine tone with short fades (no clicks)."""
    n = int(rate * seconds)
    t = np.arange(n) / rate
    amp = 10 ** (level_dbfs / 20)
    x = amp * np.sin(2 * np.pi * freq * t)
    fade = min(n // 2, int(rate * fade_ms / 1000))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return to_pcm(x)
