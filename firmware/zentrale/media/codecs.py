"""Codecs between PCM16 frames and RTP payloads (G.711 µ/A-law, G.722).

The G.711 tables come from the pinned ``aiortp``; G.722 is stateful ADPCM,
so each call gets its own instance and its payloads are never shared.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortp.codecs import get_codec


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


class Codec:
    """Encoder and decoder for one call's media stream."""

    def __init__(self, info: CodecInfo) -> None:
        self.info = info
        self.name = info.name
        self.stateless = info.name != "G722"
        self._impl = get_codec(info.payload_type)
        # G.722 keeps separate state per direction
        self._decoder = get_codec(info.payload_type) if not self.stateless else self._impl

    def encode(self, pcm: bytes) -> bytes:
        return bytes(self._impl.encode(pcm))

    def decode(self, payload: bytes) -> bytes:
        return bytes(self._decoder.decode(payload))


def codec_for(name: str) -> Codec:
    return Codec(CODECS[name.upper()])
