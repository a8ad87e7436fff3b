"""Codecs between PCM16 frames and RTP payloads (G.711 µ/A-law, G.722).

G.711 is our own (``g711.py``, checked code by code against the standard);
G.722 is the ``G722`` package's C implementation of ITU-T G.722 (64 kbit/s
mode 1). G.722 is stateful ADPCM, so each call gets its own encoder and
decoder, one per direction, and its payloads are never shared between calls.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

from G722 import G722

from zentrale.media import g711


@dataclass(frozen=True)
class CodecInfo:
    name: str  # SDP encoding name
    payload_type: int  # static RTP payload type
    rtp_clock: int  # RTP timestamp rate (8000 for G.722, RFC 3551 §4.5.2)
    sample_rate: int  # PCM rate of the frames


CODECS: dict[str, CodecInfo] = {
    "PCMU": CodecInfo("PCMU", 0, 8000, 8000),
    "PCMA": CodecInfo("PCMA", 8, 8000, 8000),
    "G722": CodecInfo("G722", 9, 8000, 16000),
}

_G711_TABLES = {
    "PCMU": (g711.ULAW_ENCODE, g711.ULAW_DECODE),
    "PCMA": (g711.ALAW_ENCODE, g711.ALAW_DECODE),
}


class Codec:
    """Encoder and decoder for one call's media stream."""

    def __init__(self, info: CodecInfo) -> None:
        self.info = info
        self.name = info.name
        self.stateless = info.name in _G711_TABLES
        if self.stateless:
            self._encode_table, self._decode_table = _G711_TABLES[info.name]
        else:
            # one ADPCM state per direction (G.722 §3, §4: encoder and decoder adapt separately)
            self._encoder = G722(info.sample_rate, 64000)
            self._decoder = G722(info.sample_rate, 64000)

    def encode(self, pcm: bytes) -> bytes:
        if self.stateless:
            return g711.encode(pcm, self._encode_table)
        samples = array("h")
        samples.frombytes(pcm[: len(pcm) // 2 * 2])
        return bytes(self._encoder.encode(samples))

    def decode(self, payload: bytes) -> bytes:
        if self.stateless:
            return g711.decode(payload, self._decode_table)
        return bytes(self._decoder.decode(payload).tobytes())

    def samples(self, payload: bytes) -> int:
        """PCM samples a payload decodes to (G.722: two per byte at 16 kHz)."""
        return len(payload) if self.stateless else 2 * len(payload)


def codec_for(name: str) -> Codec:
    return Codec(CODECS[name.upper()])
