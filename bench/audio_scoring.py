"""Speech references and PESQ scores for ``bench.audio_quality``.

The references are German speech from ``espeak-ng -v de+f2`` (deterministic;
the female voice, since a male espeak voice tops out near 3.7 even through
plain µ-law, TESTING-NOTES), resampled by sox to 8 and 16 kHz and set to an
active speech level of -26 dBFS (AES17, as in ``tests/audio_check``: a
full-scale sine is 0 dBFS; "active" = the 20 ms frames within 30 dB of the
loudest, a simple stand-in for ITU-T P.56).

A recording is scored against its reference with ITU-T P.862 (``pesq``:
narrowband MOS-LQO at 8 kHz, P.862.2 wideband at 16 kHz) after aligning it by
cross-correlation and trimming the leading silence of both, as P.862 §8
expects roughly aligned files; P.862 itself then follows the delay changes
within the file (a jitter buffer growing or shrinking).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from pesq import pesq
from tests.harness.audio import read_wav, resample, write_wav

Samples = npt.NDArray[np.float32]

TEXTS = {
    "caller": (
        "Guten Tag, hier spricht Petra Schneider aus der Buchhaltung. Seit heute Morgen startet unser "
        "Warenwirtschaftssystem nicht mehr. Können Sie mich bitte bald zurückrufen?"
    ),
    "agent": (
        "Vielen Dank für Ihren Anruf. Ich habe die Störung aufgenommen und gebe sie an den Kollegen aus der "
        "Systembetreuung weiter. Er meldet sich innerhalb der nächsten halben Stunde bei Ihnen."
    ),
}
VOICE = "de+f2"
LEVEL_DBFS = -26.0
RATES = (8000, 16000)
# codec -> (ffmpeg encoder, raw format, rate): the codec's own ceiling on this speech
CODECS = {"PCMU": ("pcm_mulaw", "mulaw", 8000), "PCMA": ("pcm_alaw", "alaw", 8000), "G722": ("g722", "g722", 16000)}


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()[-500:]}")


def active_level_dbfs(x: npt.ArrayLike, rate: int) -> float:
    """Level of the active speech: RMS of the 20 ms frames within 30 dB of the loudest, in dBFS (AES17)."""
    a = np.asarray(x, dtype=np.float64)
    n = rate // 50
    frames = a[: a.size // n * n].reshape(-1, n)
    power = np.mean(frames * frames, axis=1)
    if power.size == 0 or power.max() <= 0:
        return -120.0
    active = power[power >= power.max() * 1e-3]
    return float(10 * np.log10(np.mean(active) * 2))


def make_speech(folder: Path) -> dict[tuple[str, int], Path]:
    """``{(who, rate): wav}`` for who in caller/agent and rate in 8000/16000, made once per folder."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[tuple[str, int], Path] = {}
    for who, text in TEXTS.items():
        raw = folder / f"{who}-espeak.wav"
        if not raw.exists():
            _run(["espeak-ng", "-v", VOICE, "-w", str(raw), text])
        for rate in RATES:
            path = folder / f"{who}-{rate}.wav"
            if not path.exists():
                tmp = folder / f"{who}-{rate}-sox.wav"
                _run(["sox", "-R", "-D", str(raw), "-b", "16", "-c", "1", str(tmp), "rate", "-v", str(rate)])
                x, got = read_wav(tmp)
                assert got == rate
                write_wav(path, x * 10 ** ((LEVEL_DBFS - active_level_dbfs(x, rate)) / 20), rate)
                tmp.unlink()
            out[who, rate] = path
    return out


def codec_ceiling(reference: Path, codec: str, folder: Path) -> float:
    """PESQ of the reference through the codec alone (ffmpeg encode + decode): the best a call can score."""
    encoder, fmt, rate = CODECS[codec]
    coded, decoded = folder / f"ceiling-{codec}.raw", folder / f"ceiling-{codec}.wav"
    _run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(reference), "-c:a", encoder, "-f", fmt, str(coded)])
    head = ["-ar", str(rate), "-ac", "1"] if fmt != "g722" else []
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", fmt, *head, "-i", str(coded), "-c:a", "pcm_s16le", str(decoded)])
    ref, ref_rate = read_wav(reference)
    deg, _ = read_wav(decoded)
    return score(ref, deg, ref_rate).mos


@dataclass(frozen=True)
class Score:
    mos: float  # P.862 MOS-LQO (P.862.1 mapping; P.862.2 for wideband)
    lag_s: float  # where the reference starts in the recording
    correlation: float  # peak normalised cross-correlation (signed: < 0 is inverted polarity)
    level_dbfs: float  # active level of the aligned recording


def _xcorr_lag(rec: npt.NDArray[np.float64], ref: npt.NDArray[np.float64]) -> tuple[int, float]:
    """Lag of ``ref`` in ``rec`` (ref[0] at rec[lag]) with the largest |correlation|, and its signed value."""
    size = 1 << int(np.ceil(np.log2(rec.size + ref.size)))
    full = np.fft.irfft(np.fft.rfft(rec, size) * np.conj(np.fft.rfft(ref, size)), size)[: rec.size]
    lag = int(np.argmax(np.abs(full)))
    seg = rec[lag : lag + ref.size]
    norm = float(np.sqrt(np.dot(seg, seg) * np.dot(ref[: seg.size], ref[: seg.size]))) or 1.0
    return lag, float(full[lag] / norm)


def score(reference: npt.ArrayLike, recording: npt.ArrayLike, rate: int, recording_rate: int | None = None) -> Score:
    """PESQ of ``recording`` against ``reference`` (8 kHz: narrowband, 16 kHz: wideband)."""
    ref = np.asarray(reference, dtype=np.float64)
    rec = np.asarray(resample(recording, recording_rate or rate, rate), dtype=np.float64)
    if rec.size < rate // 2 or not np.any(rec):
        raise ValueError("the recording is empty or silent")
    lag, corr = _xcorr_lag(rec, ref)
    # the reference's own length, and a little more: a jitter buffer may have stretched the speech
    deg = rec[lag : lag + ref.size + rate // 4]
    # leading silence: from 20 ms before the reference's first active 10 ms frame, in both
    n = rate // 100
    frames = ref[: ref.size // n * n].reshape(-1, n)
    power = np.mean(frames * frames, axis=1)
    first = int(np.argmax(power >= power.max() * 1e-4))
    start = max(0, first * n - 2 * n)
    ref_t, deg_t = ref[start:], deg[start:]
    mos = float(pesq(rate, ref_t.astype(np.float32), deg_t.astype(np.float32), "wb" if rate == 16000 else "nb"))
    return Score(mos=mos, lag_s=lag / rate, correlation=corr, level_dbfs=active_level_dbfs(deg_t, rate))


def score_file(reference: Path, recording: Path, skip_s: float = 0.0) -> Score:
    """``score`` of two WAV files; the first ``skip_s`` seconds of the recording are not searched
    (hold music before the speech), and ``lag_s`` counts from the recording's start."""
    ref, rate = read_wav(reference)
    rec, rec_rate = read_wav(recording)
    skip = max(0, int(skip_s * rec_rate))
    result = score(ref, rec[skip:], rate, rec_rate)
    return Score(result.mos, result.lag_s + skip / rec_rate, result.correlation, result.level_dbfs)
