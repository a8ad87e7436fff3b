"""Frame sources that play prompts and music, and a mixer-free queue for bridging.

Players are read by the media clock once per tick, on the event loop's
thread; ``done`` resolves on the tick after the last frame went out.
"""

from __future__ import annotations

import asyncio
from collections import deque

from zentrale.media.frames import Frame, PacketRelay
from zentrale.media.library import Clip


class ClipPlayer:
    """Plays a clip once."""

    def __init__(self, clip: Clip) -> None:
        self._frames = clip.frames
        self._pos = 0
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def read(self) -> Frame | None:
        if self._pos < len(self._frames):
            frame = self._frames[self._pos]
            self._pos += 1
            return frame
        if not self.done.done():
            self.done.set_result(None)
        return None


class LoopPlayer:
    """Plays a clip in a loop for ``seconds`` (music on hold)."""

    def __init__(self, clip: Clip, seconds: float) -> None:
        self._frames = clip.frames
        self._pos = 0
        self._left = max(1, int(seconds * 50))
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def read(self) -> Frame | None:
        if self._left <= 0 or not self._frames:
            if not self.done.done():
                self.done.set_result(None)
            return None
        frame = self._frames[self._pos]
        self._pos = (self._pos + 1) % len(self._frames)
        self._left -= 1
        return frame


class FrameQueue:
    """A short FIFO between a call's receiver and another call's sender (bridging).

    Bounded: if the reader falls behind (clock drift between legs), the
    oldest frames are dropped so the delay stays small.

    ``relay_to`` is the leg that sends what is written here, set by that leg:
    a writer whose packets can go on as they are (same codec) hands them to
    it on arrival instead (``PacketRelay``), and the frames are only kept
    for whoever else needs samples.
    """

    def __init__(self, max_frames: int = 6) -> None:
        self._frames: deque[Frame] = deque(maxlen=max_frames)
        self.relay_to: PacketRelay | None = None

    def write(self, frame: Frame) -> None:
        self._frames.append(frame)

    def read(self) -> Frame | None:
        return self._frames.popleft() if self._frames else None
