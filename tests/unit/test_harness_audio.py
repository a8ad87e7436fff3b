"""The harness's audio check: what it finds and what it refuses (tests/harness/audio.py)."""

from __future__ import annotations

import numpy as np

from tests.harness.audio import PROMPTS, best_correlation, read_wav


def with_gap(x: np.ndarray, rate: int, at: float, seconds: float) -> np.ndarray:
    cut = int(at * rate)
    return np.concatenate([np.zeros(rate // 2, np.float32), x[:cut], np.zeros(int(seconds * rate), np.float32),
                           x[cut:], np.zeros(rate // 2, np.float32)])  # fmt: skip


def test_a_prompt_with_a_gap_from_a_stalled_sender_is_still_found_and_other_speech_is_not() -> None:
    greeting, rate = read_wav(PROMPTS / "greeting.wav")
    goodbye, _ = read_wav(PROMPTS / "goodbye.wav")
    for gap in (0.15, 0.4, 0.9):  # stalls the media clock survives by skipping ticks
        stalled = with_gap(greeting, rate, at=1.3, seconds=gap)
        assert best_correlation(stalled, greeting, rate)[0] > 0.9, gap
        assert best_correlation(stalled, goodbye, rate)[0] < 0.3, gap


def test_the_clean_copy_scores_as_before_and_a_cut_off_prompt_scores_lower() -> None:
    greeting, rate = read_wav(PROMPTS / "greeting.wav")
    padded = with_gap(greeting, rate, at=0, seconds=0)
    assert best_correlation(padded, greeting, rate)[0] > 0.99
    half = padded[: padded.size // 2]
    assert best_correlation(half, greeting, rate)[0] < 0.7


def test_position_two_is_told_apart_from_position_one() -> None:
    two, rate = read_wav(PROMPTS / "queue_position_2.wav")
    one, _ = read_wav(PROMPTS / "queue_position_1.wav")
    heard = with_gap(two, rate, at=0, seconds=0)
    assert best_correlation(heard, two, rate)[0] - best_correlation(heard, one, rate)[0] >= 0.1
