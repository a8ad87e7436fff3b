"""Voice sample formats of +VSM (V.253 Table 17 and the chips' own numbers)
to and from the PCM16 frames every line speaks.

Encoders are stateless, so ``Frame.encoded`` caches a prompt's modem bytes
once for all calls, as it does for G.711 on SIP.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zentrale.media.codecs import codec_for


@dataclass
class SampleFormat:
    name: str  # "u8" | "s8" | "s16le" | "ulaw" | "alaw"
    bytes_per_sample: int
    stateless: bool = True

    def encode(self, pcm: bytes) -> bytes:
        """PCM16 little-endian -> modem samples."""
        if self.name == "s16le":
            return pcm
        if self.name in ("ulaw", "alaw"):
            return codec_for("PCMU" if self.name == "ulaw" else "PCMA").encode(pcm)
        x = np.frombuffer(pcm, dtype="<i2")
        # 8-bit linear keeps the high byte; +128 makes it unsigned (V.253 "UNSIGNED PCM")
        high = (x >> 8).astype(np.int16)
        if self.name == "u8":
            return (high + 128).astype(np.uint8).tobytes()
        return high.astype(np.int8).tobytes()

    def decode(self, data: bytes) -> bytes:
        """Modem samples -> PCM16 little-endian."""
        if self.name == "s16le":
            return data[: len(data) & ~1]
        if self.name in ("ulaw", "alaw"):
            return codec_for("PCMU" if self.name == "ulaw" else "PCMA").decode(data)
        if self.name == "u8":
            x = np.frombuffer(data, dtype=np.uint8).astype(np.int16) - 128
        else:
            x = np.frombuffer(data, dtype=np.int8).astype(np.int16)
        return (x << 8).astype("<i2").tobytes()


FORMATS = {
    "u8": SampleFormat("u8", 1),
    "s8": SampleFormat("s8", 1),
    "s16le": SampleFormat("s16le", 2),
    "ulaw": SampleFormat("ulaw", 1),
    "alaw": SampleFormat("alaw", 1),
}
