"""ITU-T G.711 A-law and µ-law, built from the standard's segment tables.

G.711 defines both laws on uniform PCM of 13 bits (A-law, ±4096) and
14 bits (µ-law, ±8192): Tables 1a/2a list, per segment, the decision
values of the encoder and the decoder's output value in the middle of each
interval. We scale that uniform range to PCM16 (A-law ×8, µ-law ×4) and
take the sign of a negative 16-bit input as the one's complement (``~x``),
as the ITU-T G.191 software tools do: each negative interval then mirrors
its positive twin exactly, and every encoded sample decodes to the output
value nearest to it.

Polarity (G.711 §2): bit 1 of a character is 1 for positive values, for
both laws. A-law then inverts the even bits (XOR 0x55), µ-law the seven
magnitude bits (XOR 0x7F), so µ-law's +0 is 0xFF, its largest positive
value 0x80, and A-law's smallest positive value 0xD5.

Encoding and decoding are table lookups on whole frames (numpy), a few
microseconds per 20 ms frame.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

U8 = npt.NDArray[np.uint8]
I16 = npt.NDArray[np.int16]

# (first decision value, step) of the 8 segments of the positive half, in the
# standard's own units (A-law: 13-bit uniform PCM, µ-law: 14-bit).
ALAW_SEGMENTS = ((0, 2), (32, 2), (64, 4), (128, 8), (256, 16), (512, 32), (1024, 64), (2048, 128))
ULAW_SEGMENTS = ((0, 2), (31, 4), (95, 8), (223, 16), (479, 32), (991, 64), (2015, 128), (4063, 256))
ALAW_SCALE = 8  # 13-bit -> 16-bit
ULAW_SCALE = 4  # 14-bit -> 16-bit


def _alaw_magnitudes() -> list[int]:
    """Decoder output for the 128 positive codes (segment << 4 | step), 13-bit units."""
    return [start + step * q + step // 2 for start, step in ALAW_SEGMENTS for q in range(16)]


def _ulaw_magnitudes() -> list[int]:
    # µ-law's first interval is half as wide: 0 decodes to 0 (Table 2a, "0" row),
    # every other interval decodes to its middle.
    out = []
    for seg, (start, step) in enumerate(ULAW_SEGMENTS):
        for q in range(16):
            out.append(0 if seg == 0 and q == 0 else start + step * q + step // 2 - (1 if seg == 0 else 0))
    return out


def _decode_table(magnitudes: list[int], scale: int, positive_code: list[int], negative_code: list[int]) -> I16:
    table = np.zeros(256, dtype=np.int16)
    for index, magnitude in enumerate(magnitudes):
        table[positive_code[index]] = magnitude * scale
        table[negative_code[index]] = -magnitude * scale
    return table


def _encode_table(decision: list[int], scale: int, positive_code: list[int], negative_code: list[int]) -> U8:
    """Code for every PCM16 value (indexed by the value as unsigned 16 bits)."""
    x = np.arange(-32768, 32768, dtype=np.int64)
    magnitude = np.where(x >= 0, x, ~x)  # one's complement for negatives (G.191)
    # index of the interval: the number of decision values (scaled) not above the input
    bounds = np.array(decision[1:], dtype=np.int64) * scale
    index = np.searchsorted(bounds, magnitude, side="right")
    index = np.minimum(index, 127)
    codes = np.where(x >= 0, np.array(positive_code)[index], np.array(negative_code)[index]).astype(np.uint8)
    table = np.zeros(65536, dtype=np.uint8)
    table[(x & 0xFFFF)] = codes
    return table


def _alaw_decisions() -> list[int]:
    """Lower decision value of each of the 128 positive intervals (13-bit units)."""
    return [start + step * q for start, step in ALAW_SEGMENTS for q in range(16)]


def _ulaw_decisions() -> list[int]:
    out = []
    for seg, (start, step) in enumerate(ULAW_SEGMENTS):
        for q in range(16):
            out.append(0 if seg == 0 and q == 0 else start + step * q - (1 if seg == 0 else 0))
    return out


_ALAW_POS = [(0x80 | i) ^ 0x55 for i in range(128)]
_ALAW_NEG = [i ^ 0x55 for i in range(128)]
_ULAW_POS = [0x80 | (i ^ 0x7F) for i in range(128)]
_ULAW_NEG = [i ^ 0x7F for i in range(128)]

ALAW_DECODE = _decode_table(_alaw_magnitudes(), ALAW_SCALE, _ALAW_POS, _ALAW_NEG)
ULAW_DECODE = _decode_table(_ulaw_magnitudes(), ULAW_SCALE, _ULAW_POS, _ULAW_NEG)
ALAW_ENCODE = _encode_table(_alaw_decisions(), ALAW_SCALE, _ALAW_POS, _ALAW_NEG)
ULAW_ENCODE = _encode_table(_ulaw_decisions(), ULAW_SCALE, _ULAW_POS, _ULAW_NEG)
# µ-law has two zeros: 0xFF (+0) and 0x7F (-0, for inputs -1..-4).


def encode(pcm: bytes, table: U8) -> bytes:
    samples = np.frombuffer(pcm, dtype="<u2", count=len(pcm) // 2)
    encoded: bytes = table[samples].tobytes()
    return encoded


def decode(payload: bytes, table: I16) -> bytes:
    pcm: bytes = table[np.frombuffer(payload, dtype=np.uint8)].astype("<i2").tobytes()
    return pcm
