"""The voicemail recorder with end-of-message silence detection.

Writes PCM16 as it arrives into a ``.part`` file in the spool folder, so a
crash mid-recording leaves a salvageable file, never a half-visible message.
"""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path

from zentrale.media.dsp import rms_dbfs
from zentrale.media.frames import FRAME_MS, Frame

WAV_HEADER_SIZE = 44
FLUSH_EVERY = 1000 // FRAME_MS


def wav_header(data_bytes: int, rate: int) -> bytes:
    """RIFF/WAVE header for mono PCM16."""
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        rate,
        rate * 2,
        2,
        16,
        b"data",
        data_bytes,
    )


class Recorder:
    """A frame sink that records until max length or a run of silence.

    ``done`` resolves with the reason ("max" or "silence"); other reasons
    (an end digit, the caller hanging up) are given to ``stop``.
    """

    def __init__(
        self,
        path: Path,
        rate: int,
        max_seconds: float,
        silence_seconds: float,
        silence_dbfs: float = -45.0,
        voice_dbfs: float = -55.0,
    ) -> None:
        self.path = path
        self.rate = rate
        self._max_frames = int(max_seconds * 1000 / FRAME_MS)
        self._silence_frames = int(silence_seconds * 1000 / FRAME_MS)
        self._silence_dbfs = silence_dbfs
        self._voice_dbfs = voice_dbfs
        self._file = path.open("wb", buffering=64 * 1024)
        self._file.write(wav_header(0, rate))
        self.frames = 0
        self._quiet_run = 0
        self._last_loud = 0  # frame count after the last loud frame
        self.heard_voice = False
        self.error: OSError | None = None
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def write(self, frame: Frame) -> None:
        if self.done.done():
            return
        pcm = frame.pcm
        try:
            self._file.write(pcm)
            if (self.frames + 1) % FLUSH_EVERY == 0:
                # hand the audio to the kernel every second: a crashed daemon then
                # loses at most a second of a message (salvaged at the next start)
                self._file.flush()
        except OSError as err:  # disk full: keep what is written, end the recording
            self.error = err
            self.done.set_result("write_error")
            return
        self.frames += 1
        level = rms_dbfs(pcm)
        if level > self._voice_dbfs:
            self.heard_voice = True
        if level > self._silence_dbfs:
            self._quiet_run = 0
            self._last_loud = self.frames
        else:
            self._quiet_run += 1
        if self.frames >= self._max_frames:
            self.done.set_result("max")
        elif self._quiet_run >= self._silence_frames:
            self.done.set_result("silence")

    def stop(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_MS / 1000

    def finish(self, trim_silence: bool) -> int:
        """Close the file with a correct header; returns the duration in ms.

        Blocking (fsync): run it in a worker thread.
        """
        keep = self.frames
        if trim_silence:
            keep = min(self.frames, self._last_loud + int(500 / FRAME_MS))
        data_bytes = keep * self.rate * FRAME_MS // 1000 * 2
        self._file.flush()
        self._file.truncate(WAV_HEADER_SIZE + data_bytes)
        self._file.seek(0)
        self._file.write(wav_header(data_bytes, self.rate))
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        return keep * FRAME_MS

    def abandon(self) -> None:
        self._file.close()
        self.path.unlink(missing_ok=True)


def salvage_part_file(path: Path, rate: int) -> int:
    """Give a ``.part`` recording left by a crash a correct header; returns ms of audio."""
    size = path.stat().st_size
    data_bytes = max(0, size - WAV_HEADER_SIZE)
    data_bytes -= data_bytes % 2
    with path.open("r+b") as f:
        f.truncate(WAV_HEADER_SIZE + data_bytes)
        f.seek(0)
        f.write(wav_header(data_bytes, rate))
        f.flush()
        os.fsync(f.fileno())
    return data_bytes * 1000 // (2 * rate)
