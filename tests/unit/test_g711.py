"""G.711 A-law and µ-law held to the standard, not to a round trip.

A round trip cannot see an inverted sign or a shifted decision value (the
A-law tables we used to take from a library were inverted: every A-law call
arrived with its polarity flipped). So: every one of the 256 codes of each
law decodes to the value ITU-T G.711 Tables 1a/2a give it, with the sign
its polarity bit says; the encoder switches code exactly at the standard's
decision values; and an independent implementation (ffmpeg's) agrees.
"""

from __future__ import annotations

import itertools
import subprocess

import numpy as np
import pytest

from zentrale.media.codecs import codec_for

# G.711 Table 1a (A-law, positive half) in 13-bit uniform PCM units and Table 2a
# (µ-law) in 14-bit units: per segment (chord bits 000..111) its first decision
# value and its step; 16 intervals per segment, each decoded to its middle,
# except µ-law's first interval (0..1), which decodes to 0.
ALAW_TABLE_1A = [(0, 2), (32, 2), (64, 4), (128, 8), (256, 16), (512, 32), (1024, 64), (2048, 128)]
ULAW_TABLE_2A = [(-1, 2), (31, 4), (95, 8), (223, 16), (479, 32), (991, 64), (2015, 128), (4063, 256)]
SCALE = {"PCMA": 8, "PCMU": 4}  # 13-bit and 14-bit uniform PCM to PCM16


def intervals(law: str) -> list[tuple[int, int, int]]:
    """(transmitted code, lowest input, decoded value) of the 128 positive intervals, in PCM16."""
    out = []
    table = ALAW_TABLE_1A if law == "PCMA" else ULAW_TABLE_2A
    for chord, (first, step) in enumerate(table):
        for q in range(16):
            low = max(0, first + q * step)
            value = 0 if low == 0 and law == "PCMU" else first + q * step + step // 2
            bits = chord << 4 | q
            # bit 1 = 1 for positive; A-law inverts the even bits in transmission,
            # µ-law the magnitude bits
            code = (0x80 | bits) ^ 0x55 if law == "PCMA" else 0x80 | (bits ^ 0x7F)
            out.append((code, low * SCALE[law], value * SCALE[law]))
    return out


def negative(law: str, code: int) -> int:
    return code & 0x7F


def standard_values(law: str) -> dict[int, int]:
    """Code (as transmitted) -> decoder output in PCM16, from the tables above."""
    values: dict[int, int] = {}
    for code, _, value in intervals(law):
        values[code] = value
        values[negative(law, code)] = -value
    return values


def decode_all(law: str) -> np.ndarray:
    return np.frombuffer(codec_for(law).decode(bytes(range(256))), dtype="<i2").astype(np.int64)


def encode(law: str, values: list[int]) -> list[int]:
    return list(codec_for(law).encode(np.array(values, dtype="<i2").tobytes()))


@pytest.mark.parametrize("law", ["PCMA", "PCMU"])
def test_every_code_decodes_to_the_value_and_sign_of_the_standard(law: str) -> None:
    expected = standard_values(law)
    assert len(expected) == 256
    decoded = decode_all(law)
    wrong = [(code, int(decoded[code]), value) for code, value in expected.items() if decoded[code] != value]
    assert wrong == []


def test_the_landmark_codes_have_the_polarity_g711_gives_them() -> None:
    alaw, ulaw = decode_all("PCMA"), decode_all("PCMU")
    assert (alaw[0xD5], alaw[0x55]) == (8, -8)  # smallest positive / negative A-law value
    assert (alaw[0xAA], alaw[0x2A]) == (32256, -32256)  # A-law full scale
    assert (ulaw[0xFF], ulaw[0x7F]) == (0, 0)  # µ-law's two zeros
    assert (ulaw[0x80], ulaw[0x00]) == (32124, -32124)  # µ-law full scale
    assert encode("PCMA", [1000, -1000]) == [0xFA, 0x7A]
    assert encode("PCMU", [1000, -1000]) == [0xCE, 0x4E]


@pytest.mark.parametrize("law", ["PCMA", "PCMU"])
def test_the_encoder_changes_code_exactly_at_the_decision_values(law: str) -> None:
    """An input just below a decision value gives the lower interval's code, the
    decision value itself the upper one. Negative inputs mirror this through the
    one's complement (ITU-T G.191), so -d-1 and -d straddle the same boundary."""
    table = intervals(law)
    problems = []
    for (low_code, _, _), (high_code, boundary, _) in itertools.pairwise(table):
        got = encode(law, [boundary - 1, boundary, -boundary, -boundary - 1])
        want = [low_code, high_code, negative(law, low_code), negative(law, high_code)]
        if got != want:
            problems.append((boundary, got, want))
    assert problems == []


@pytest.mark.parametrize("law", ["PCMA", "PCMU"])
def test_every_pcm16_input_decodes_within_its_own_interval(law: str) -> None:
    codec = codec_for(law)
    x = np.arange(-32768, 32768, dtype=np.int64)
    y = np.frombuffer(codec.decode(codec.encode(x.astype("<i2").tobytes())), dtype="<i2").astype(np.int64)
    table = intervals(law)
    lows = np.array([low for _, low, _ in table])
    values = np.array([value for _, _, value in table])
    magnitude = np.where(x >= 0, x, ~x)
    index = np.searchsorted(lows, magnitude, side="right") - 1
    assert np.array_equal(np.abs(y), values[index])
    assert np.all(np.sign(y) * np.sign(x) >= 0)  # never the wrong sign
    top = int(values.max())
    assert y[0] == -top and y[-1] == top  # saturation at full scale


@pytest.mark.parametrize(("law", "fmt"), [("PCMA", "alaw"), ("PCMU", "mulaw")])
def test_ffmpeg_decodes_every_code_as_we_do(law: str, fmt: str) -> None:
    """An independent implementation (ffmpeg is a runtime package, scripts/setup)."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", fmt, "-ar", "8000", "-ac", "1", "-i", "-", "-f", "s16le", "-"],
        input=bytes(range(256)),
        capture_output=True,
        check=True,
        timeout=30,
    )
    theirs = np.frombuffer(proc.stdout, dtype="<i2").astype(np.int64)
    assert np.array_equal(theirs, decode_all(law))
