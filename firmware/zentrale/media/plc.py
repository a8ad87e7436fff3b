"""Packet loss concealment by pitch waveform repetition, after ITU-T G.711 Appendix I.

A lost frame is replaced by the last pitch period of the signal, repeated
(Appendix I §I.2.2): the pitch is the lag of best normalised correlation
in the last 48.75 ms of history (66-200 Hz); the repeated stretch grows to
two and three periods after 10 and 20 ms of loss so it does not buzz, each
change blended in over a quarter period; from 10 ms on the signal fades
by 20 % per 10 ms and is silent after 60 ms. The first good frame after a
loss is blended with the continued synthetic signal over a quarter period
plus 4 ms per further 10 ms lost (§I.2.4), so no click marks the seam.

Works at 8 kHz (G.711) and 16 kHz (G.722, lengths doubled). One instance
per incoming stream; frames are PCM16 bytes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]


class Concealer:
    def __init__(self, rate: int = 8000, frame_samples: int | None = None) -> None:
        scale = rate // 8000
        self.rate = rate
        self.frame = frame_samples or rate // 50
        self._history_len = 390 * scale  # 48.75 ms
        self._pitch_min = 40 * scale  # 200 Hz
        self._pitch_max = 120 * scale  # 66.7 Hz
        self._corr_len = 160 * scale  # 20 ms compared at each lag
        self._ten_ms = 80 * scale
        self._history: Floats = np.zeros(self._history_len)
        self._before: Floats = self._history
        self._erased = 0  # samples concealed in this loss so far
        self._cycle: Floats = np.zeros(0)
        self._pos = 0
        self._periods = 0
        self._pitch = self._pitch_max
        self.concealed = 0  # frames concealed in all

    def good(self, pcm: bytes) -> bytes:
        """A frame that arrived; blended with the concealment if it ends a loss."""
        x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if self._erased:
            blocks = (self._erased + self._ten_ms - 1) // self._ten_ms
            length = min(len(x), self._pitch // 4 + max(0, blocks - 1) * (self.rate // 250))
            if length > 0:
                synthetic = self._synthesise(length) * self._gain_ramp(length)
                w = np.linspace(0.0, 1.0, length, endpoint=False)
                x = x.copy()
                x[:length] = (1 - w) * synthetic + w * x[:length]
                pcm = _to_pcm(x)
            self._erased = 0
        self._remember(x)
        return pcm

    def conceal(self) -> bytes:
        """A frame in place of a lost one."""
        n = self.frame
        if self._erased == 0:
            self._before = self._history.copy()  # the real signal: the source of every cycle
            self._pitch = self._find_pitch()
            self._periods = 1
            self._cycle = self._make_cycle(1)
            self._pos = 0
        out = np.empty(n)
        done = 0
        while done < n:
            # switch to 2, then 3 periods at 10 and 20 ms of loss (Appendix I §I.2.3)
            boundary = (self._erased // self._ten_ms + 1) * self._ten_ms
            take = min(n - done, boundary - self._erased)
            out[done : done + take] = self._synthesise(take) * self._gains(self._erased, take)
            done += take
            self._erased += take
            wanted = min(3, 1 + self._erased // self._ten_ms)
            if wanted != self._periods:
                self._switch_cycle(wanted)
        self.concealed += 1
        self._remember(out)
        return _to_pcm(out)

    # --- pieces --------------------------------------------------------------------

    def _find_pitch(self) -> int:
        h = self._history
        target = h[-self._corr_len :]
        best, best_lag = -1.0, self._pitch_max
        energy_t = float(np.dot(target, target))
        if energy_t <= 0:
            return self._pitch_max
        for lag in range(self._pitch_min, self._pitch_max + 1):
            seg = h[-self._corr_len - lag : -lag]
            energy = float(np.dot(seg, seg))
            if energy <= 0:
                continue
            score = float(np.dot(seg, target)) / np.sqrt(energy * energy_t)
            if score > best:
                best, best_lag = score, lag
        return best_lag

    def _make_cycle(self, periods: int) -> Floats:
        """The last ``periods`` pitch periods, their end blended into what preceded
        their start over a quarter period, so repeating them has no seam."""
        length = periods * self._pitch
        quarter = max(1, self._pitch // 4)
        h = self._before
        cycle = h[-length:].copy()
        before = h[-length - quarter : -length]
        w = np.linspace(0.0, 1.0, quarter, endpoint=False)
        cycle[-quarter:] = (1 - w) * cycle[-quarter:] + w * before
        return cycle

    def _switch_cycle(self, periods: int) -> None:
        """Repeat more periods from here on, blended in over a quarter period at the same phase."""
        quarter = max(1, self._pitch // 4)
        old_len, at = len(self._cycle), self._pos
        old = self._synthesise(quarter)
        self._periods = periods
        cycle = self._make_cycle(periods)
        # the old cycle is the newest part of the new one: same phase, further in
        self._pos = (at + len(cycle) - old_len) % len(cycle)
        idx = np.arange(self._pos, self._pos + quarter) % len(cycle)
        w = np.linspace(0.0, 1.0, quarter, endpoint=False)
        cycle[idx] = (1 - w) * old + w * cycle[idx]
        self._cycle = cycle

    def _synthesise(self, n: int) -> Floats:
        if len(self._cycle) == 0:
            return np.zeros(n)
        idx = (self._pos + np.arange(n)) % len(self._cycle)
        self._pos = int((self._pos + n) % len(self._cycle))
        out: Floats = self._cycle[idx]
        return out

    def _gains(self, start: int, n: int) -> Floats:
        """1 for the first 10 ms, then -20 % per 10 ms, 0 from 60 ms (§I.2.3)."""
        t = (start + np.arange(n)) / self._ten_ms
        gains: Floats = np.clip(1.0 - 0.2 * (t - 1.0), 0.0, 1.0)
        return gains

    def _gain_ramp(self, n: int) -> Floats:
        return self._gains(self._erased, n)

    def _remember(self, x: Floats) -> None:
        self._history = np.concatenate((self._history, x))[-self._history_len :]


def _to_pcm(x: Floats) -> bytes:
    pcm: bytes = np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()
    return pcm
