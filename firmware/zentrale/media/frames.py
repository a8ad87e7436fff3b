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


class Frame:
    """One 20 ms frame; ``encoded`` caches stateless encodings (G.711).

    A frame received from the network keeps its payload (``received``): bridged
    to a leg with the same codec it is sent on as it came, also for G.722,
    whose ADPCM would lose quality in a second decode and encode.
    """

    __slots__ = ("_encoded", "_pcm", "_wire", "rate")

    def __init__(self, pcm: bytes, rate: int) -> None:
        self._pcm = pcm
        self.rate = rate
        self._encoded: dict[str, bytes] | None = None
        self._wire: tuple[str, bytes] | None = None

    @classmethod
    def received(cls, pcm: bytes, payload: bytes, codec: str, rate: int) -> Frame:
        """A frame decoded from ``payload`` of ``codec``; the payload is sent on untouched."""
        frame = cls(pcm, rate)
        frame._wire = (codec, payload)
        return frame

    @property
    def pcm(self) -> bytes:
        return self._pcm

    @property
    def wire(self) -> tuple[str, bytes] | None:
        return self._wire

    def encoded(self, encoder: Encoder) -> bytes:
        wire = self._wire
        if wire is not None and wire[0] == encoder.name:
            if not encoder.stateless:
                # keep this leg's ADPCM encoder in step with what the far decoder
                # follows, so a frame we do encode later (concealment) fits in
                encoder.encode(self._pcm)
            return wire[1]
        if not encoder.stateless:
            return encoder.encode(self._pcm)
        cache = self._encoded
        if cache is None:
            cache = self._encoded = {}
        payload = cache.get(encoder.name)
        if payload is None:
            payload = cache[encoder.name] = encoder.encode(self._pcm)
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


class PacketRelay(Protocol):
    """A sending leg that takes received RTP payloads as they arrive (a bridge
    between two legs with the same codec): True if it took the packet."""

    def relay(self, codec: str, payload: bytes, seq: int, ts: int, ssrc: int, marker: bool) -> bool: ...

    def end_relay(self) -> None:
        """No more packets for now: send frames on the media clock again."""


class FrameSink(Protocol):
    """Something that takes the frames a call receives."""

    def write(self, frame: Frame) -> None: ...
