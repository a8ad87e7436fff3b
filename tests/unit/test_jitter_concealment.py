"""Loss concealment (G.711 Appendix I style) and the playout chain it sits in:
a lost frame of voiced sound is filled with its continuation, long losses fade
to silence, and nothing clicks where concealment and real audio meet."""

from __future__ import annotations

import numpy as np
import pytest

from zentrale.media.codecs import codec_for
from zentrale.media.playout import Playout
from zentrale.media.plc import Concealer


def voiced(seconds: float, rate: int, pitch: float = 140.0) -> np.ndarray:
    """A vowel-like signal: a pitch with falling harmonics, -12 dBFS or so."""
    t = np.arange(int(seconds * rate)) / rate
    x = sum((0.25 / k) * np.sin(2 * np.pi * pitch * k * t + k) for k in range(1, 8))
    return np.asarray(x * 32767 * 0.5)


def frames_of(x: np.ndarray, rate: int) -> list[bytes]:
    n = rate // 50
    pcm = np.round(x).astype("<i2").tobytes()
    return [pcm[i : i + 2 * n] for i in range(0, len(pcm) - 2 * n + 1, 2 * n)]


def run(frames: list[bytes], lost: set[int], rate: int) -> np.ndarray:
    plc = Concealer(rate)
    out = [plc.conceal() if i in lost else plc.good(f) for i, f in enumerate(frames)]
    return np.frombuffer(b"".join(out), dtype="<i2").astype(np.float64)


def largest_step(x: np.ndarray) -> float:
    return float(np.max(np.abs(np.diff(x))))


@pytest.mark.parametrize("rate", [8000, 16000])
def test_a_lost_frame_of_a_vowel_is_filled_with_its_continuation(rate: int) -> None:
    x = voiced(1.0, rate)
    frames = frames_of(x, rate)
    y = run(frames, {20}, rate)
    n = rate // 50
    lost = slice(20 * n, 21 * n)
    assert np.corrcoef(y[lost], x[lost])[0, 1] > 0.9
    level = np.sqrt(np.mean(y[lost] ** 2)) / np.sqrt(np.mean(x[lost] ** 2))
    assert 0.8 < level < 1.2
    # no click at either seam: no step bigger than the signal itself has
    assert largest_step(y[19 * n : 22 * n]) <= 1.5 * largest_step(x)


def test_silence_in_place_of_the_lost_frame_would_click_and_be_heard() -> None:
    """The counter-check: what the box did before (nothing in the gap)."""
    x = voiced(1.0, 8000)
    y = x.copy()
    y[3200:3360] = 0
    assert largest_step(y[3100:3500]) > 1.5 * largest_step(x)


def test_a_long_loss_fades_out_within_60_ms() -> None:
    x = voiced(1.0, 8000)
    y = run(frames_of(x, 8000), set(range(20, 30)), 8000)
    ms = 8  # samples per ms
    start = 20 * 160
    first_10 = np.sqrt(np.mean(y[start : start + 10 * ms] ** 2))
    at_40 = np.sqrt(np.mean(y[start + 40 * ms : start + 50 * ms] ** 2))
    after_60 = y[start + 60 * ms : start + 200 * ms]
    assert at_40 < 0.6 * first_10
    assert np.max(np.abs(after_60)) == 0


def test_the_first_frame_after_a_loss_is_blended_in() -> None:
    x = voiced(1.0, 8000)
    frames = frames_of(x, 8000)
    plc = Concealer(8000)
    for f in frames[:20]:
        assert plc.good(f) is f  # no loss: frames pass untouched
    plc.conceal()
    plc.conceal()
    after = plc.good(frames[22])
    assert after != frames[22]  # blended
    assert after[-40:] == frames[22][-40:]  # only its start


def test_the_playout_chain_conceals_losses_and_keeps_intact_payloads_for_a_bridge() -> None:
    codec = codec_for("PCMU")
    x = voiced(2.0, 8000)
    payloads = [codec.encode(f) for f in frames_of(x, 8000)]
    playout = Playout(codec_for("PCMU"))
    out = []
    for i, payload in enumerate(payloads):
        if i not in (30, 31, 70):
            playout.put(1000 + 160 * i, payload, 0.02 * i + 0.03)
        frame = playout.pop(0.02 * i + 0.04)
        if frame is not None:
            out.append((i, frame))
    assert len(out) >= len(payloads) - 2
    frames = [f for _, f in out]
    assert all(len(f.pcm) == 320 for f in frames)
    kept = [f for f in frames if f.wire is not None]
    assert len(kept) >= len(frames) - 6  # lost ones and the one blended after each loss
    assert all(f.encoded(codec) == f.wire[1] for f in kept if f.wire)  # sent on as they came
    y = np.frombuffer(b"".join(f.pcm for f in frames), dtype="<i2").astype(np.float64)
    assert largest_step(y) <= 1.5 * largest_step(x)


def test_the_playout_shrinks_the_buffer_in_the_pauses_of_speech() -> None:
    """A sender whose clock runs 0.5 % fast fills the buffer by a frame every four seconds:
    the frames dropped to keep the delay are pauses, never speech."""
    codec = codec_for("PCMU")
    rng = np.random.default_rng(4)
    # one second of talk (noise at about -20 dBFS), one second of pause (about -60 dBFS), and so on
    levels = [3000.0 if (i // 50) % 2 == 0 else 30.0 for i in range(1500)]
    payloads = [codec.encode(np.clip(rng.normal(0, lv, 160), -32768, 32767).astype("<i2").tobytes()) for lv in levels]
    index = {p: i for i, p in enumerate(payloads)}
    playout = Playout(codec_for("PCMU"))
    played: list[int] = []
    now, sent = 0.0, 0
    while now < 1500 * 0.02 / 1.005:
        while sent < len(payloads) and sent * 0.02 / 1.005 + 0.005 <= now:
            playout.put(1000 + 160 * sent, payloads[sent], sent * 0.02 / 1.005 + 0.005)
            sent += 1
        frame = playout.pop(now)
        if frame is not None and frame.wire is not None:
            played.append(index[frame.wire[1]])
        now += 0.02
    dropped = sorted(set(range(played[0], played[-1])) - set(played))
    assert 4 <= len(dropped) <= 10, dropped
    assert all(levels[i] < 100 for i in dropped), [(i, levels[i]) for i in dropped]
    assert played == sorted(played)
