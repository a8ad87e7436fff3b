"""The voicemail recorder with end-of-message silence detection.

Writes PCM16 as it arrives into a ``.part`` file in the spool folder, so a
crash mid-recording leaves a salvageable file, never a half-visible message;
a write the disk refuses ends the recording with what it holds, finished at
once (not at the next start).
"""

from __future__ import annotations

import asyncio
import errno
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

    ``done`` resolves with the reason ("max", "silence" or "write_error");
    other reasons (an end digit, the caller hanging up) are given to ``stop``.

    The file is written unbuffered from our own buffer, so the recorder always
    knows how many bytes are on the disk: when a write fails (disk full), the
    recording ends, and ``finish`` gives what reached the disk a correct header
    at once -- it only overwrites and shrinks, which needs no new space.
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
        self._buffer = bytearray()
        self._on_disk = 0  # bytes of the file (header included) the kernel has taken
        self._fd: int | None = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o640)
        try:
            self._write_out(wav_header(0, rate))
        except OSError:
            self.abandon()
            raise
        self.frames = 0
        self._quiet_run = 0
        self._last_loud = 0  # frame count after the last loud frame
        self.heard_voice = False
        self.error: OSError | None = None
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def _write_out(self, data: bytes | bytearray) -> None:
        """Write all of ``data`` or raise; ``_on_disk`` counts what got there (a write may be partial)."""
        assert self._fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            self._on_disk += n
            view = view[n:]

    def write(self, frame: Frame) -> None:
        if self.done.done():
            return
        pcm = frame.pcm
        self._buffer += pcm
        self.frames += 1
        # hand the audio to the kernel every second: a crashed daemon then
        # loses at most a second of a message (salvaged at the next start)
        if self.frames % FLUSH_EVERY == 0 and not self._flush():
            return
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

    def _flush(self) -> bool:
        """Buffered audio to the file; on a failed write (disk full) the recording ends
        with what is on the disk. False if the write failed."""
        if not self._buffer or self._fd is None:
            return self.error is None
        data, self._buffer = self._buffer, bytearray()
        try:
            self._write_out(data)
        except OSError as err:
            self.error = err
            if not self.done.done():
                self.done.set_result("write_error")
            return False
        return True

    def stop(self, reason: str) -> None:
        if not self.done.done():
            self.done.set_result(reason)

    @property
    def seconds(self) -> float:
        return self.frames * FRAME_MS / 1000

    @property
    def frames_on_disk(self) -> int:
        frame_bytes = self.rate * FRAME_MS // 1000 * 2
        return max(0, self._on_disk - WAV_HEADER_SIZE) // frame_bytes

    def finish(self, trim_silence: bool) -> int:
        """Close the file with a correct header; returns the duration in ms.

        What is still buffered is written first; if that fails (disk full), the
        message is what reached the disk. Blocking (fsync): run it in a worker thread.
        """
        if self._fd is None:
            raise OSError(errno.EBADF, "recording already finished")
        self._flush()
        keep = min(self.frames, self.frames_on_disk)
        if trim_silence:
            keep = min(keep, self._last_loud + int(500 / FRAME_MS))
        data_bytes = keep * self.rate * FRAME_MS // 1000 * 2
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, WAV_HEADER_SIZE + data_bytes)
            os.pwrite(fd, wav_header(data_bytes, self.rate), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        return keep * FRAME_MS

    def abandon(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
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
