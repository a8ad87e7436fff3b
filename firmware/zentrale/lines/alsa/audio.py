"""ALSA audio of one line in two threads: capture reads (paced by the sound
card) are posted into the loop as 20 ms frames; playback frames queued by
the media clock are written by the other thread, which the card's buffer
holds back. A PCM with no clock of its own (ALSA's null/file plugins in
tests) is paced against the system clock instead of spinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from zentrale.errors import LineError

log = logging.getLogger(__name__)

FRAME_BYTES = 320  # 20 ms of PCM16 at 8 kHz


class AlsaAudio:
    def __init__(
        self,
        playback: str,
        capture: str,
        *,
        loop: asyncio.AbstractEventLoop,
        on_frame: Callable[[bytes], None],
        on_error: Callable[[str], None],
        max_pending: int = 10,
    ) -> None:
        self.playback_device = playback
        self.capture_device = capture
        self._loop = loop
        self._on_frame = on_frame
        self._on_error = on_error
        self._play: Any = None
        self._capture: Any = None
        self._queue: deque[bytes] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self.max_pending = max_pending
        self.dropped = 0
        self.frames_in = 0
        self.frames_out = 0

    def open(self) -> None:
        """Blocking: run in an executor."""
        try:
            import alsaaudio  # optional extra "alsa"; only this driver needs it
        except ImportError as err:
            raise LineError("pyalsaaudio is not installed (pip install 'zentrale[alsa]')") from err
        common: dict[str, Any] = {
            "channels": 1,
            "rate": 8000,
            "format": alsaaudio.PCM_FORMAT_S16_LE,
            "periodsize": FRAME_BYTES // 2,
            "periods": 4,
        }
        try:
            self._play = alsaaudio.PCM(alsaaudio.PCM_PLAYBACK, device=self.playback_device, **common)
            self._capture = alsaaudio.PCM(alsaaudio.PCM_CAPTURE, device=self.capture_device, **common)
        except alsaaudio.ALSAAudioError as err:
            self.close()
            raise LineError(f"cannot open ALSA {self.playback_device}/{self.capture_device}: {err}") from err
        self._closing = False
        self._threads = [
            threading.Thread(target=self._capture_loop, name="alsa-capture", daemon=True),
            threading.Thread(target=self._playback_loop, name="alsa-playback", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._queue.clear()
            self._cond.notify_all()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2.0)
        self._threads = []
        for pcm in (self._play, self._capture):
            if pcm is not None:
                with contextlib.suppress(Exception):
                    pcm.close()
        self._play = self._capture = None

    def write(self, pcm: bytes) -> None:
        with self._cond:
            if self._closing:
                return
            if len(self._queue) >= self.max_pending:
                self.dropped += 1
                return
            self._queue.append(pcm)
            self._cond.notify()

    def _playback_loop(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if self._closing:
                        return
                    pcm = self._queue.popleft()
                self._play.write(pcm)  # blocks while the card's buffer is full
                self.frames_out += 1
        except Exception as err:  # ALSAAudioError and friends: the card went away
            self._failed(f"playback: {err}")

    def _capture_loop(self) -> None:
        start = time.monotonic()
        frames = 0
        pending = bytearray()
        try:
            while not self._closing:
                length, data = self._capture.read()
                if length <= 0:
                    continue  # overrun (-EPIPE): ALSA recovers on the next read
                pending += data
                while len(pending) >= FRAME_BYTES:
                    frame = bytes(pending[:FRAME_BYTES])
                    del pending[:FRAME_BYTES]
                    self.frames_in += 1
                    self._loop.call_soon_threadsafe(self._on_frame, frame)
                    frames += 1
                ahead = start + frames * 0.02 - time.monotonic()
                if ahead > 0.04:  # a PCM without a clock (null/file plugin): keep real time
                    time.sleep(ahead - 0.02)
        except Exception as err:
            self._failed(f"capture: {err}")

    def _failed(self, why: str) -> None:
        if self._closing:
            return
        log.warning("alsa %s: %s", self.capture_device, why)
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_error, why)
