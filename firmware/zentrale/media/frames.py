"""Frames: 20 ms of mono PCM16 (little-endian) at 8 or 16 kHz.

A frame can carry its encodings: prompts and music are decoded once and
shared by all calls, so a G.711 payload is computed once per frame, not
once per caller.
"""

from __future__ import annotations

from typing import Protocol

FRAME_MS = 20
FRAMES_PER_SECOND = 1000 // FRAME_MS


def samples_per_frame(rate: int) -> int:
    return rate * FRAME_MS // 1000


def bytes_per_frame(rate: int) -> int:
    return 2 * samples_per_frame(rate)


class Encoder(Protocol):
    name: str
    stateless: bool

    def encode(self, pcm: bytes) -> bytes: ...


class Decoder(Protocol):
    name: str

    def decode(self, payload: bytes) -> bytes: ...


class Frame:
    """One 20 ms frame; ``encoded`` caches stateless encodings (G.711).

    A frame received with a stateless codec can stay encoded (``from_payload``):
    bridged to a leg with the same codec it is sent on as it came, and decoded
    only if someone reads ``pcm`` (a recorder, a leg with another codec).
    """

    __slots__ = ("_decoder", "_encoded", "_pcm", "rate")

    def __init__(self, pcm: bytes, rate: int) -> None:
        self._pcm: bytes | None = pcm
        self.rate = rate
        self._encoded: dict[str, bytes] | None = None
        self._decoder: Decoder | None = None

    @classmethod
    def from_payload(cls, payload: bytes, decoder: Decoder, rate: int) -> Frame:
        frame = cls(b"", rate)
        frame._pcm = None
        frame._encoded = {decoder.name: payload}
        frame._decoder = decoder
        return frame

    @property
    def pcm(self) -> bytes:
        if self._pcm is None:
            assert self._decoder is not None and self._encoded is not None
            self._pcm = self._decoder.decode(self._encoded[self._decoder.name])
        return self._pcm

    def encoded(self, encoder: Encoder) -> bytes:
        if not encoder.stateless:
            return encoder.encode(self.pcm)
        cache = self._encoded
        if cache is None:
            cache = self._encoded = {}
        payload = cache.get(encoder.name)
        if payload is None:
            payload = cache[encoder.name] = encoder.encode(self.pcm)
        return payload


_SILENCE: dict[int, Frame] = {}


def silence(rate: int) -> Frame:
    """A shared frame of digital silence."""
    frame = _SILENCE.get(rate)
    if frame is None:
        frame = _SILENCE[rate] = Frame(bytes(bytes_per_frame(rate)), rate)
    return frame


class FrameSource(Protocol):
    """Something that gives a frame every tick of the media clock."""

    def read(self) -> Frame | None:
        """The next frame, or None when there is nothing to send (silence)."""


class FrameSink(Protocol):
    """Something that takes the frames a call receives."""

    def write(self, frame: Frame) -> None: ...
