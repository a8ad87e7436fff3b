"""Checks on recorded call audio, for integration tests (numpy only).

Levels are in dBFS as in AES17: a full-scale sine reads 0 dBFS, so
``rms_dbfs`` of a ``make_tone_wav(..., level_dbfs=-12)`` tone reads -12.
"""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.float32]

FRAME_SECONDS = 0.02  # 20 ms, the usual RTP packetisation time
TELEPHONE_BAND = (300.0, 3400.0)  # ITU-T G.711/G.712 pass band
_SILENCE_DBFS = -120.0

# the shipped prompts and music (a plain path: this module also runs beside the phone scripts)
DEMO = Path(__file__).resolve().parents[2] / "firmware" / "zentrale" / "demo"
PROMPTS = DEMO / "prompts"
MUSIC = DEMO / "music"

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def read_wav(path: str | os.PathLike[str]) -> tuple[Samples, int]:
    """Read a 16-bit PCM WAV as mono float32 in [-1, 1) and its sample rate.

    Parses RIFF chunks itself rather than using ``wave`` so that
    WAVE_FORMAT_EXTENSIBLE headers work, and so that a file whose writer never
    patched the sizes (a pjsua recorder still alive: data size 0) is read to
    its end instead of looking empty. Several channels are averaged.
    """
    data = Path(path).read_bytes()
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path}: not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            tag, channels, rate = struct.unpack_from("<HHI", data, body)
            bits = struct.unpack_from("<H", data, body + 14)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise ValueError(f"{path}: data chunk before fmt chunk")
            tag, channels, rate, bits = fmt
            if tag not in (_WAVE_FORMAT_PCM, _WAVE_FORMAT_EXTENSIBLE) or bits != 16:
                raise ValueError(f"{path}: need 16-bit PCM, got format {tag:#x}/{bits} bit")
            end = len(data) if size == 0 or body + size > len(data) else body + size
            usable = (end - body) // (2 * channels) * (2 * channels)
            pcm = np.frombuffer(data, dtype="<i2", count=usable // 2, offset=body)
            mono = pcm.reshape(-1, channels).mean(axis=1) if channels > 1 else pcm
            return (mono / 32768.0).astype(np.float32), int(rate)
        pos = body + size + (size & 1)  # chunks are word-aligned
    raise ValueError(f"{path}: no data chunk")


def write_wav(path: str | os.PathLike[str], samples: npt.ArrayLike, rate: int) -> None:
    """Write mono float samples in [-1, 1] as 16-bit PCM."""
    pcm = np.clip(np.asarray(samples, dtype=np.float64), -1.0, 32767 / 32768) * 32768
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(np.round(pcm).astype("<i2").tobytes())


def make_tone_wav(
    path: str | os.PathLike[str],
    freq: float,
    seconds: float,
    rate: int = 8000,
    level_dbfs: float = -12.0,
) -> Path:
    """Write a sine tone (peak = ``level_dbfs`` re full scale) as a mono WAV."""
    t = np.arange(round(seconds * rate)) / rate
    write_wav(path, 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * freq * t), rate)
    return Path(path)


def rms_dbfs(x: npt.ArrayLike) -> float:
    """RMS level in dBFS (full-scale sine = 0 dBFS); -120 for silence/empty."""
    a = np.asarray(x, dtype=np.float64)
    if a.size == 0:
        return _SILENCE_DBFS
    rms = float(np.sqrt(np.mean(a * a)))
    return max(_SILENCE_DBFS, 20 * np.log10(rms * np.sqrt(2))) if rms > 0 else _SILENCE_DBFS


def active_seconds(x: npt.ArrayLike, rate: int, threshold_dbfs: float = -40.0) -> float:
    """Total duration of the 20 ms frames whose level is above ``threshold_dbfs``."""
    a = np.asarray(x, dtype=np.float64)
    n = int(rate * FRAME_SECONDS)
    frames = a[: a.size // n * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0
    rms = np.sqrt(np.mean(frames * frames, axis=1)) * np.sqrt(2)
    with np.errstate(divide="ignore"):
        levels = 20 * np.log10(rms)
    return float(np.count_nonzero(levels > threshold_dbfs) * FRAME_SECONDS)


def _power_spectrum(x: npt.ArrayLike, rate: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean()
    spectrum = (np.abs(np.fft.rfft(a * np.hanning(a.size))) ** 2).astype(np.float64)
    return np.fft.rfftfreq(a.size, 1 / rate).astype(np.float64), spectrum


def tone_level(x: npt.ArrayLike, rate: int, freq: float, bandwidth: float | None = None) -> float:
    """Share (0..1) of the signal's power within ``freq`` ± ``bandwidth`` Hz.

    A clean tone gives ~1; a tone buried in speech or another tone gives ~0.
    Silence gives 0. Default bandwidth: max(20 Hz, 2 % of ``freq``), wide enough
    for resampling and codec effects, narrow enough to separate 440 from 1000 Hz.
    """
    if np.asarray(x).size < 16:
        return 0.0
    freqs, power = _power_spectrum(x, rate)
    total = float(power[freqs > 20].sum())  # ignore DC and rumble
    if total <= 0:
        return 0.0
    half = bandwidth if bandwidth is not None else max(20.0, 0.02 * freq)
    return float(power[np.abs(freqs - freq) <= half].sum() / total)


def dominant_frequency(x: npt.ArrayLike, rate: int) -> float:
    """Frequency (Hz) of the strongest spectral peak above 20 Hz."""
    freqs, power = _power_spectrum(x, rate)
    power[freqs <= 20] = 0
    k = int(np.argmax(power))
    if 0 < k < power.size - 1:
        # Parabolic interpolation on log power refines the peak between bins.
        a, b, c = np.log(power[k - 1 : k + 2] + 1e-30)
        denom = a - 2 * b + c
        if denom != 0:
            return float(freqs[k] + 0.5 * (a - c) / denom * (freqs[1] - freqs[0]))
    return float(freqs[k])


def resample(x: npt.ArrayLike, rate_in: int, rate_out: int) -> Samples:
    """Band-limited resampling by FFT (whole signal; fine for test recordings)."""
    a = np.asarray(x, dtype=np.float64)
    if rate_in == rate_out or a.size == 0:
        return a.astype(np.float32)
    n_out = round(a.size * rate_out / rate_in)
    spectrum = np.fft.rfft(a)
    keep = min(spectrum.size, n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / a.size)
    return out.astype(np.float32)


def _band_limit(x: npt.NDArray[np.float64], rate: int, band: tuple[float, float]) -> npt.NDArray[np.float64]:
    spectrum = np.fft.rfft(x)
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    spectrum[(freqs < band[0]) | (freqs > band[1])] = 0
    return np.fft.irfft(spectrum, x.size)


def _prepare(x: npt.ArrayLike, rate: int) -> npt.NDArray[np.float64]:
    a = np.asarray(x, dtype=np.float64)
    return _band_limit(a - a.mean(), rate, TELEPHONE_BAND) if a.size else a


def _normalised_xcorr(
    rec: npt.NDArray[np.float64], ref: npt.NDArray[np.float64], min_overlap: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Correlation coefficient of ``ref`` against ``rec`` at every lag.

    Lag k means ref[0] sits at rec[k]; k runs from -(len(ref)-1) to
    len(rec)-1. At each lag the products are normalised by the energy of both
    signals in the overlapping part only; lags with fewer than
    ``min_overlap`` overlapping samples score 0, since a few samples
    correlate by chance.
    """
    n, m = rec.size, ref.size
    size = 1 << int(np.ceil(np.log2(n + m - 1)))
    full = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)
    lags = np.arange(-(m - 1), n)
    corr = np.concatenate([full[size - (m - 1) :], full[:n]]) if m > 1 else full[:n]
    rec_cum = np.concatenate([[0.0], np.cumsum(rec * rec)])
    ref_cum = np.concatenate([[0.0], np.cumsum(ref * ref)])
    rec_start = np.clip(lags, 0, n)
    rec_end = np.clip(lags + m, 0, n)
    energy = (rec_cum[rec_end] - rec_cum[rec_start]) * (ref_cum[rec_end - lags] - ref_cum[rec_start - lags])
    # A floor keeps near-silent overlaps from producing big ratios out of noise.
    floor = 1e-6 * rec_cum[-1] * ref_cum[-1] + 1e-20
    score = np.abs(corr) / np.sqrt(energy + floor)
    score[rec_end - rec_start < min_overlap] = 0.0
    return score, lags


def best_correlation(
    recorded: npt.ArrayLike,
    reference: npt.ArrayLike | str | os.PathLike[str],
    rate: int,
    reference_rate: int | None = None,
    chunk_seconds: float = 0.5,
    max_drift_seconds: float = 0.1,
    max_gap_seconds: float = 1.0,
) -> tuple[float, float]:
    """How well ``reference`` is found in ``recorded``: (0..1, offset seconds).

    ``reference`` is samples at ``reference_rate`` (default ``rate``) or a WAV
    path. Both are band-limited to 300-3400 Hz (what survives any telephone
    codec) and the reference is resampled to ``rate``.

    One lag for the whole file is not enough for audio that crossed a real RTP
    path: the receiver's jitter buffer inserts or drops 20 ms frames to follow
    the sender's clock, so a 5 s prompt arrives in pieces shifted by tens of
    milliseconds (the whole-file peak falls to ~0.55 although every piece
    matches at ~0.98). So: the whole-file peak gives the rough position, then
    each ``chunk_seconds`` piece of the reference is looked for within
    ``max_drift_seconds`` of where the previous piece was found. The result
    is the mean of the pieces' correlation coefficients weighted by their
    energy (pauses hardly count); pieces that fall outside the recording
    count as 0, so a cut-off prompt scores lower. A piece not found near the
    previous one is looked for up to ``max_gap_seconds`` before or after and taken
    there only when it clearly matches: a sender that stalled leaves a gap in the
    stream and goes on with the prompt after it. A G.711 copy of a speech
    file gives > 0.9, a different speech file < 0.2.

    The offset is where the reference starts in ``recorded`` (negative if
    the recording starts inside it).
    """
    if isinstance(reference, (str, os.PathLike)):
        ref_samples, reference_rate = read_wav(reference)
    else:
        ref_samples = np.asarray(reference, dtype=np.float32)
    ref = _prepare(resample(ref_samples, reference_rate or rate, rate), rate)
    rec = _prepare(recorded, rate)
    if rec.size == 0 or ref.size == 0:
        return 0.0, 0.0

    score, lags = _normalised_xcorr(rec, ref, min_overlap=min(rec.size, ref.size) // 2)
    lag = int(lags[int(np.argmax(score))])
    chunk = max(1, int(chunk_seconds * rate))
    if ref.size < 2 * chunk:
        return float(min(1.0, score.max())), lag / rate

    drift = int(max_drift_seconds * rate)
    gap = int(max_gap_seconds * rate)
    pieces = [(s, ref[s : s + chunk]) for s in range(0, ref.size - chunk // 2, chunk)]
    energies = np.array([float(np.dot(p, p)) for _, p in pieces])
    total = 0.0
    first_lag: int | None = None
    for (start, piece), energy in zip(pieces, energies, strict=True):
        if energy < 1e-4 * energies.max():
            continue  # silence in the reference: nothing to find
        lo = max(0, lag + start - drift)
        hi = min(rec.size, lag + start + drift + piece.size)
        if hi - lo < piece.size:
            continue  # outside the recording: counts as 0
        window_score, window_lags = _normalised_xcorr(rec[lo:hi], piece, min_overlap=piece.size)
        best = int(np.argmax(window_score))
        piece_score = float(min(1.0, window_score[best]))
        near = max(0, lag + start - gap)
        if piece_score < 0.5 and (far := min(rec.size, lag + start + gap + piece.size)) - near >= piece.size:
            # Not where it should be: a stall of the sender leaves a gap in the stream (the
            # box's timeline jumps, the prompt goes on after it), so the pieces before or after
            # the gap are ``gap`` away from where the whole-file peak put them. Taken only when
            # the piece is clearly there (>= 0.8): other speech never is.
            far_score, far_lags = _normalised_xcorr(rec[near:far], piece, min_overlap=piece.size)
            far_best = int(np.argmax(far_score))
            if far_score[far_best] >= 0.8:
                lo, window_lags, best = near, far_lags, far_best
                piece_score = float(min(1.0, far_score[far_best]))
        total += energy * piece_score
        if piece_score >= 0.5:  # follow the drift only where the piece was found
            lag = lo + int(window_lags[best]) - start
            if first_lag is None:
                first_lag = lag
    weighted = total / float(energies[energies >= 1e-4 * energies.max()].sum())
    return float(weighted), (first_lag if first_lag is not None else lag) / rate


def heard(recording: Samples, rate: int, around: float, prompt: Path, length: float | None = None) -> float:
    """How well ``prompt`` (or its first ``length`` seconds) is found in ``recording`` within
    1.5 s of ``around`` seconds: the best correlation of its 0.5 s pieces (``best_correlation``)."""
    ref, ref_rate = read_wav(prompt)
    if length is not None:
        ref = ref[: int(length * ref_rate)]
    seconds = len(ref) / ref_rate
    window = recording[int(max(0.0, around - 1.5) * rate) : int((around + seconds + 1.5) * rate)]
    score, _ = best_correlation(window, ref, rate, reference_rate=ref_rate)
    return score


def prompt_seconds(name: str) -> float:
    """The length of a shipped prompt (``PROMPTS/<name>.wav``) in seconds."""
    x, rate = read_wav(PROMPTS / f"{name}.wav")
    return len(x) / rate
