"""The serial port of one modem and its two threads.

pyserial blocks, so it never runs on the event loop: a reader thread turns
bytes into protocol items (``codec.ModemReceiver``), cuts voice data into
20 ms frames, decodes the samples to PCM16 and posts batches into the loop
with ``call_soon_threadsafe``; a writer thread drains a bounded queue into
the port, so a modem that holds us back with CTS or XOFF blocks that
thread only. Losing the port (USB unplugged, EIO) is posted as ``on_lost``.
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

import serial

from zentrale.errors import LineError
from zentrale.lines.modem.codec import Line, ModemOutput, ModemReceiver, VoiceData, VoiceEnd, VoiceEvent
from zentrale.lines.modem.samples import SampleFormat
from zentrale.media.frames import samples_per_frame

log = logging.getLogger(__name__)

FRAME_SAMPLES = samples_per_frame(8000)


class VoiceFrame:
    """20 ms of received audio, decoded to PCM16 in the reader thread."""

    __slots__ = ("pcm",)

    def __init__(self, pcm: bytes) -> None:
        self.pcm = pcm


Item = Line | VoiceEvent | VoiceEnd | VoiceFrame


class SerialLink:
    """Owns the port; ``write`` never blocks the caller."""

    def __init__(
        self,
        device: str,
        *,
        baud: int,
        rtscts: bool,
        loop: asyncio.AbstractEventLoop,
        on_items: Callable[[list[Item]], None],
        on_lost: Callable[[str], None],
        max_pending_audio: int = 10,
    ) -> None:
        self.device = device
        self.baud = baud
        self.rtscts = rtscts
        self._loop = loop
        self._on_items = on_items
        self._on_lost = on_lost
        self._port: Any = None
        self._receiver = ModemReceiver()
        self.sample_format: SampleFormat | None = None  # set by the driver before voice starts
        self._rx_audio = bytearray()
        self._queue: deque[tuple[bytes, bool]] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._threads: list[threading.Thread] = []
        self.max_pending_audio = max_pending_audio
        self.audio_dropped = 0
        self.bytes_in = 0
        self.bytes_out = 0
        self.reader_cpu = 0.0  # thread CPU seconds of the reader and writer threads
        self.writer_cpu = 0.0

    # --- life cycle (open/close are blocking: run them in an executor) ----------------

    def open(self) -> None:
        try:
            self._port = serial.serial_for_url(
                self.device,
                baudrate=self.baud,
                timeout=0.05,
                write_timeout=None,
                rtscts=self.rtscts,
                xonxoff=False,
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as err:
            raise LineError(f"cannot open {self.device}: {err}") from err
        self._closing = False
        self._receiver = ModemReceiver()
        self._threads = [
            threading.Thread(target=self._read_loop, name=f"modem-rx {self.device}", daemon=True),
            threading.Thread(target=self._write_loop, name=f"modem-tx {self.device}", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def close(self) -> None:
        with self._cond:
            self._closing = True
            self._queue.clear()
            self._cond.notify_all()
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.cancel_read()
            with contextlib.suppress(Exception):
                port.cancel_write()
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(2.0)
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()
        self._threads = []

    @property
    def is_open(self) -> bool:
        return self._port is not None and not self._closing

    # --- writing ---------------------------------------------------------------------

    def write(self, data: bytes, *, audio: bool = False) -> None:
        """Queue bytes for the port. Audio beyond ``max_pending_audio`` chunks is
        dropped (the modem is not taking it: flow control held, or its clock is
        slower than ours), so the delay to the caller stays bounded."""
        with self._cond:
            if self._closing:
                return
            if audio and sum(1 for _, a in self._queue if a) >= self.max_pending_audio:
                self.audio_dropped += 1
                return
            self._queue.append((data, audio))
            self._cond.notify()

    def clear_audio(self) -> None:
        with self._cond:
            self._queue = deque(item for item in self._queue if not item[1])

    def pending_audio(self) -> int:
        with self._cond:
            return sum(1 for _, a in self._queue if a)

    def _write_loop(self) -> None:
        port = self._port
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing:
                        self._cond.wait()
                    if self._closing:
                        return
                    chunks = [self._queue.popleft()[0] for _ in range(len(self._queue))]
                data = b"".join(chunks)
                port.write(data)  # blocks while the modem holds CTS low / sent XOFF
                self.bytes_out += len(data)
                self.writer_cpu = time.thread_time()
        except (serial.SerialException, OSError, TypeError, AttributeError) as err:
            self._lost(f"write failed: {err}")

    # --- reading ---------------------------------------------------------------------

    def _read_loop(self) -> None:
        port = self._port
        try:
            while not self._closing:
                data = port.read(max(1, min(4096, port.in_waiting or 1)))
                if not data:
                    continue
                self.bytes_in += len(data)
                items = self._items(self._receiver.feed(data))
                if items:
                    self._loop.call_soon_threadsafe(self._on_items, items)
                self.reader_cpu = time.thread_time()
        except (serial.SerialException, OSError, TypeError, AttributeError) as err:
            self._lost(f"read failed: {err}")

    def _items(self, outputs: list[ModemOutput]) -> list[Item]:
        items: list[Item] = []
        fmt = self.sample_format
        for out in outputs:
            if isinstance(out, VoiceData):
                if fmt is None:
                    continue
                self._rx_audio += out.data
                size = FRAME_SAMPLES * fmt.bytes_per_sample
                while len(self._rx_audio) >= size:
                    items.append(VoiceFrame(fmt.decode(bytes(self._rx_audio[:size]))))
                    del self._rx_audio[:size]
            else:
                if isinstance(out, VoiceEnd):
                    self._rx_audio.clear()
                items.append(out)
        return items

    def _lost(self, why: str) -> None:
        if self._closing:
            return
        self._closing = True
        with self._cond:
            self._cond.notify_all()
        log.warning("modem %s: port lost: %s", self.device, why)
        with contextlib.suppress(RuntimeError):  # the loop may be closed at shutdown
            self._loop.call_soon_threadsafe(self._on_lost, why)
