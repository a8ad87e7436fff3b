"""In-band DTMF: tone generation, a Goertzel detector held to ITU-T Q.24, and a
call-progress (busy / dial tone) detector for analog lines whose hardware
reports nothing itself.

Detector design (Q.24 §3, the limits most administrations in its tables
share): tones of 40 ms and longer are accepted, tones shorter than 23 ms
rejected; each frequency within ±(1.5 % + 2 Hz) is accepted, ±3.5 % and
beyond rejected; twist up to 8 dB (low group louder) or 4 dB (high group
louder) is accepted. Goertzel windows of 102 samples (12.75 ms) every 17
samples find the key; the tone's duration then comes from its envelope
(to ~2 ms), and both frequencies are measured over the whole tone
(≥ 250 samples), which is what separates 1.5 % from 3.5 %.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import numpy.typing as npt

from zentrale.media.frames import Frame, samples_per_frame

LOW = (697.0, 770.0, 852.0, 941.0)
HIGH = (1209.0, 1336.0, 1477.0, 1633.0)
KEYS = ("123A", "456B", "789C", "*0#D")
FREQS = LOW + HIGH

Floats = npt.NDArray[np.float64]


def digit_frequencies(digit: str) -> tuple[float, float]:
    for row, keys in enumerate(KEYS):
        col = keys.find(digit.upper())
        if col >= 0:
            return LOW[row], HIGH[col]
    raise ValueError(f"not a DTMF digit: {digit!r}")


def dtmf_pcm(
    digit: str,
    ms: float,
    rate: int = 8000,
    *,
    level_dbfs: float = -9.0,
    twist_db: float = 0.0,
    deviation: float = 0.0,
) -> bytes:
    """A DTMF tone pair as PCM16. ``level_dbfs`` per tone (full-scale sine = 0 dBFS);
    ``twist_db`` > 0 makes the high tone louder; ``deviation`` shifts both frequencies
    by that fraction (0.02 = +2 %)."""
    low, high = digit_frequencies(digit)
    n = int(rate * ms / 1000)
    t = np.arange(n) / rate
    a_low = 10 ** (level_dbfs / 20)
    a_high = 10 ** ((level_dbfs + twist_db) / 20)
    x = a_low * np.sin(2 * np.pi * low * (1 + deviation) * t) + a_high * np.sin(2 * np.pi * high * (1 + deviation) * t)
    pcm: bytes = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2").tobytes()
    return pcm


def dtmf_frames(digit: str, ms: float, rate: int = 8000, level_dbfs: float = -9.0) -> list[Frame]:
    """A tone cut into 20 ms frames (the last one padded with silence)."""
    pcm = dtmf_pcm(digit, ms, rate, level_dbfs=level_dbfs)
    size = 2 * samples_per_frame(rate)
    pcm += bytes(-len(pcm) % size)
    return [Frame(pcm[i : i + size], rate) for i in range(0, len(pcm), size)]


@functools.cache
def _basis(window: int, rate: int) -> tuple[Floats, Floats]:
    """Cosine and sine of each key frequency and ±1.5 % of it over one window (shared by
    every detector: a tone at the edge of the accepted band still reads at full power, so
    its share of the window's power stays right)."""
    n = np.arange(window)
    freqs = np.concatenate([np.array(FREQS) * (1 + d) for d in (0.0, -0.015, 0.015)])
    cos = np.cos(2 * np.pi * np.outer(n, freqs) / rate)
    sin = np.sin(2 * np.pi * np.outer(n, freqs) / rate)
    cos.setflags(write=False)
    sin.setflags(write=False)
    return cos, sin


class DtmfDetector:
    """Feed PCM16 frames at 8 kHz; digits come out once per key press."""

    WINDOW = 102
    HOP = 17
    MIN_LEVEL_DBFS = -36.0  # per tone
    MAX_NORMAL_TWIST_DB = 8.0  # low group louder
    MAX_REVERSE_TWIST_DB = 4.0  # high group louder
    MIN_TONE_SHARE = 0.85  # the two tones' share of the window's power (music chords stay below)
    MIN_RELATIVE_PEAK_DB = 6.0  # over the other frequencies of the same group
    ACCEPT_MS = 31.5  # halfway between Q.24's 23 ms (reject) and 40 ms (accept)
    MAX_DEVIATION = 0.025  # halfway between 1.5 % + 2 Hz (accept) and 3.5 % (reject)
    ENVELOPE = 32
    RELEASE_WINDOWS = 15  # ~32 ms without the tone ends a key press (bridges 10 ms breaks)

    def __init__(self, rate: int = 8000) -> None:
        if rate != 8000:
            raise ValueError("the DTMF detector works at 8 kHz")
        self.rate = rate
        self._cos, self._sin = _basis(self.WINDOW, rate)
        self._buffer: Floats = np.zeros(0)
        self._history: Floats = np.zeros(0)  # recent samples for the frequency check
        self._history_start = 0  # absolute index of _history[0]
        self._consumed = 0  # absolute index of _buffer[0]
        self._run_key: tuple[int, int] | None = None
        self._run_start = 0  # absolute sample index of the first hit window
        self._run_end = 0
        self._run_levels: list[tuple[float, float]] = []
        self._misses = 0
        self._reported = False
        self.digits: list[str] = []

    def feed(self, pcm: bytes) -> list[str]:
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0
        self._history = np.concatenate([self._history, x])
        self._buffer = np.concatenate([self._buffer, x])
        found: list[str] = []
        count = (len(self._buffer) - self.WINDOW) // self.HOP + 1
        if count <= 0:
            return found
        idx = np.arange(self.WINDOW)[None, :] + self.HOP * np.arange(count)[:, None]
        windows = self._buffer[idx]
        re = windows @ self._cos
        im = windows @ self._sin
        # amplitude of a sine at each frequency: 2|X|/N, as power (A²/2)
        tone_power = (2.0 * (re * re + im * im) / (self.WINDOW * self.WINDOW)).reshape(count, 3, 8).max(axis=1)
        total_power = np.mean(windows * windows, axis=1)
        for i in range(count):
            start = self._consumed + i * self.HOP
            digit = self._window(start, tone_power[i], float(total_power[i]))
            if digit:
                found.append(digit)
        used = count * self.HOP
        self._buffer = self._buffer[used:]
        self._consumed += used
        keep = len(self._buffer) + 1200  # enough for the frequency check of a run still open
        if len(self._history) > keep:
            cut = len(self._history) - keep
            self._history = self._history[cut:]
            self._history_start += cut
        self.digits.extend(found)
        return found

    def _window(self, start: int, power: Floats, total: float) -> str | None:
        hit = self._classify(power, total)
        if hit is None or (self._run_key is not None and hit[0] != self._run_key):
            self._misses += 1
            if self._run_key is not None and self._misses >= self.RELEASE_WINDOWS:
                self._run_key = None
            if hit is None:
                return None
            if self._run_key is not None:
                return None
        key, levels, _ = hit
        if self._run_key is None:
            self._run_key = key
            self._run_start = start
            self._run_levels = []
            self._reported = False
        self._misses = 0
        self._run_levels.append(levels)
        self._run_end = start + self.WINDOW
        if self._reported or self._tone_ms() < self.ACCEPT_MS:
            return None
        self._reported = True
        if not self._frequencies_ok(key):
            return None
        return KEYS[key[0]][key[1]]

    def _segment(self) -> Floats:
        start = max(self._run_start, self._history_start)
        end = min(self._run_end, self._history_start + len(self._history))
        return self._history[start - self._history_start : end - self._history_start]

    def _tone_ms(self) -> float:
        """How long the tone lasts within the windows that saw it.

        Window powers swing with the tones' phases, so the duration comes from
        the signal's envelope instead: a 32-sample moving power (longer than the
        slowest DTMF beat, 941/1209 Hz = 30 samples) above a quarter of its
        peak; the average's ramps add 16 samples, which are taken off again.
        """
        segment = self._segment()
        if len(segment) < self.ENVELOPE:
            return 0.0
        envelope = np.convolve(segment * segment, np.ones(self.ENVELOPE) / self.ENVELOPE, mode="valid")
        above = int(np.count_nonzero(envelope >= 0.25 * float(envelope.max())))
        return (above + self.ENVELOPE - 1 - self.ENVELOPE // 2) * 1000 / self.rate

    def _classify(self, power: Floats, total: float) -> tuple[tuple[int, int], tuple[float, float], float] | None:
        if total <= 1e-9:
            return None
        low, high = power[:4], power[4:]
        r, c = int(np.argmax(low)), int(np.argmax(high))
        p_low, p_high = float(low[r]), float(high[c])
        floor = 10 ** (self.MIN_LEVEL_DBFS / 10) / 2
        if p_low < floor or p_high < floor:
            return None
        twist = 10 * math.log10(p_high / p_low)
        if twist > self.MAX_REVERSE_TWIST_DB + 1.5 or -twist > self.MAX_NORMAL_TWIST_DB + 1.5:
            return None
        if (p_low + p_high) < self.MIN_TONE_SHARE * total:
            return None
        ratio = 10 ** (self.MIN_RELATIVE_PEAK_DB / 10)
        if any(float(v) * ratio > p_low for i, v in enumerate(low) if i != r):
            return None
        if any(float(v) * ratio > p_high for i, v in enumerate(high) if i != c):
            return None
        return (r, c), (p_low, p_high), p_low + p_high

    def _frequencies_ok(self, key: tuple[int, int]) -> bool:
        """Measure both tones over the steady part of the run (Q.24 frequency limits)."""
        segment = self._segment()
        if len(segment) < 200:
            return False
        levels = np.array(self._run_levels)
        p_low, p_high = float(np.mean(levels[:, 0])), float(np.mean(levels[:, 1]))
        twist = 10 * math.log10(p_high / p_low)
        tolerance = 1.0  # the windows' leakage reads a little more twist than there is
        if twist > self.MAX_REVERSE_TWIST_DB + tolerance or -twist > self.MAX_NORMAL_TWIST_DB + tolerance:
            return False
        window = np.hanning(len(segment))
        y = segment * window
        t = np.arange(len(segment)) / self.rate
        for nominal in (LOW[key[0]], HIGH[key[1]]):
            grid = nominal * (1 + np.linspace(-0.06, 0.06, 97))
            spectrum = np.abs(np.exp(-2j * np.pi * np.outer(grid, t)) @ y)
            k = int(np.argmax(spectrum))
            peak = float(grid[k])
            if 0 < k < len(grid) - 1:  # parabolic refinement between grid points
                a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
                denom = a - 2 * b + c
                if denom != 0:
                    peak += float(0.5 * (a - c) / denom) * float(grid[1] - grid[0])
            if abs(peak - nominal) / nominal > self.MAX_DEVIATION:
                return False
        return True


class CallProgressDetector:
    """Busy tone and dial tone on an analog line (the far end hung up).

    Defaults are the German/European tones (425 Hz; busy 480 ms on/off,
    ETSI TR 101 041); US lines use 480+620 Hz busy and 350+440 Hz dial tone.
    """

    def __init__(
        self,
        rate: int = 8000,
        freqs: tuple[float, ...] = (425.0,),
        busy_on_ms: tuple[float, float] = (300.0, 650.0),
        busy_off_ms: tuple[float, float] = (300.0, 650.0),
        busy_cycles: int = 2,
        dial_tone_ms: float = 2500.0,
        min_level_dbfs: float = -40.0,
    ) -> None:
        self.rate = rate
        n = samples_per_frame(rate)
        t = np.arange(n) / rate
        self._basis = np.exp(-2j * np.pi * np.outer(np.array(freqs), t))
        self._n = n
        self.busy_on_ms = busy_on_ms
        self.busy_off_ms = busy_off_ms
        self.busy_cycles = busy_cycles
        self.dial_tone_ms = dial_tone_ms
        self._floor = 10 ** (min_level_dbfs / 10) / 2
        self._on = False
        self._run_ms = 0.0
        self._segments: list[tuple[bool, float]] = []  # finished (tone on?, ms) runs
        self.result: str | None = None

    def feed(self, frame: Frame) -> str | None:
        """Returns "busy" or "dial_tone" once, when recognised."""
        x = np.frombuffer(frame.pcm, dtype="<i2").astype(np.float64) / 32768.0
        if len(x) != self._n or self.result is not None:
            return None
        power = 2.0 * np.abs(self._basis @ x) ** 2 / (self._n * self._n)
        total = float(np.mean(x * x))
        tone = float(power.sum())
        on = tone > self._floor and tone >= 0.6 * total
        ms = 1000 * self._n / self.rate
        if on == self._on:
            self._run_ms += ms
            if on and self._run_ms >= self.dial_tone_ms:
                self.result = "dial_tone"
            return self.result
        self._segments = [*self._segments[-8:], (self._on, self._run_ms)]
        self._on = on
        self._run_ms = ms
        if self._is_busy():
            self.result = "busy"
        return self.result

    def _is_busy(self) -> bool:
        """The last finished runs alternate tone/pause within the busy cadence."""
        need = 2 * self.busy_cycles
        recent = self._segments[-need:]
        if len(recent) < need:
            return False
        for tone_on, ms in recent:
            lo, hi = self.busy_on_ms if tone_on else self.busy_off_ms
            if not lo <= ms <= hi:
                return False
        return all(a[0] != b[0] for a, b in itertools.pairwise(recent))
