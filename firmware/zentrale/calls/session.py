"""A ``CallSession`` (what the flow engine needs) over a line ``Call``.

Plays shared prompt/music frames into the call, buffers digits, records
voicemail through the message store, bridges to an agent's leg. Every
wait also watches ``call.ended``, so a hang-up surfaces as ``CallGone``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path
from typing import Any

from zentrale.calls.dialer import AgentHandOver
from zentrale.core.clock import Clock
from zentrale.core.flow import RecordingImpossible, RecordingRequest, StoredMessage
from zentrale.core.handover import HookFlashTransfer, TransferredByPbx
from zentrale.errors import CallGone, StoreError
from zentrale.lines.base import Call, TransferableCall
from zentrale.media.dsp import tone
from zentrale.media.frames import Frame
from zentrale.media.library import AudioLibrary, Clip, clip_from_pcm
from zentrale.media.players import ClipPlayer, FrameQueue, LoopPlayer
from zentrale.media.rate import RateConverter
from zentrale.media.recorder import Recorder
from zentrale.store.disk import DataDisk
from zentrale.store.messages import MessageMeta, MessageRepository

log = logging.getLogger(__name__)

MIN_MESSAGE_MS = 1000
_BEEPS: dict[int, Clip] = {}


def beep_clip(rate: int) -> Clip:
    clip = _BEEPS.get(rate)
    if clip is None:
        clip = _BEEPS[rate] = clip_from_pcm("beep", tone(1000, 0.4, rate, level_dbfs=-9), rate)
    return clip


class LineSession:
    def __init__(
        self,
        call: Call,
        *,
        clock: Clock,
        library: AudioLibrary,
        messages: MessageRepository,
        silence_dbfs: float = -45.0,
        disk: DataDisk | None = None,
    ) -> None:
        self.call = call
        self.call_id = call.call_id
        self.caller = call.caller
        self.caller_name = call.caller_name
        self._clock = clock
        self._library = library
        self._messages = messages
        self._silence_dbfs = silence_dbfs
        self._disk = disk
        self._digits: list[str] = []
        self._digit_waiter: asyncio.Future[None] | None = None
        self.digit_listeners: list[Any] = []  # e.g. the bench measuring digit -> prompt stop
        call.on_digit(self._on_digit)

    @property
    def gone(self) -> bool:
        return self.call.ended.done()

    def _on_digit(self, digit: str) -> None:
        log.info("call %s: digit %s", self.call_id, digit)
        self._digits.append(digit)
        if self._digit_waiter is not None and not self._digit_waiter.done():
            self._digit_waiter.set_result(None)
        for listener in self.digit_listeners:
            listener(digit)

    def _check(self) -> None:
        if self.call.ended.done():
            raise CallGone(self.call_id)

    async def _until(self, done: asyncio.Future[Any], *, digits: bool, timeout: float | None = None) -> str | None:
        """Wait for ``done``, a digit (if ``digits``), the end of the call or the timeout."""
        self._check()
        if digits and self._digits:
            return self._digits.pop(0)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._digit_waiter = waiter if digits else None
        waits: set[asyncio.Future[Any]] = {done, self.call.ended}
        if digits:
            waits.add(waiter)
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._digit_waiter = None
            if not waiter.done():
                waiter.cancel()
        self._check()
        if digits and self._digits:
            return self._digits.pop(0)
        return None

    async def _play(self, player: ClipPlayer | LoopPlayer, *, barge_in: bool) -> str | None:
        self.call.set_source(player)
        try:
            return await self._until(player.done, digits=barge_in)
        finally:
            self.call.set_source(None)

    async def play(self, prompt: str, *, barge_in: bool = False) -> str | None:
        self._check()
        if barge_in and self._digits:
            return self._digits.pop(0)
        clip = self._library.clip(prompt, self.call.sample_rate)
        return await self._play(ClipPlayer(clip), barge_in=barge_in)

    async def play_music(self, music: str, seconds: float, *, barge_in: bool = False) -> str | None:
        self._check()
        if barge_in and self._digits:
            return self._digits.pop(0)
        clip = self._library.clip(music, self.call.sample_rate)
        return await self._play(LoopPlayer(clip, seconds), barge_in=barge_in)

    async def next_digit(self, timeout: float) -> str | None:
        never: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        try:
            return await self._until(never, digits=True, timeout=timeout)
        finally:
            never.cancel()

    async def collect_digits(self, prompt: str, *, max_len: int, timeout: float) -> str:
        """Play ``prompt`` (a key stops it) and collect digits up to ``#``, ``max_len`` or
        ``timeout`` seconds without one (a PIN, a number on a service call)."""
        self.clear_digits()
        digit = await self.play(prompt, barge_in=True)
        entered = ""
        while True:
            if digit is None:
                digit = await self.next_digit(timeout)
                if digit is None:
                    return entered
            if digit == "#":
                return entered
            if digit.isdigit():
                entered += digit
                if len(entered) >= max_len:
                    return entered
            digit = None

    def take_digit(self) -> str | None:
        return self._digits.pop(0) if self._digits else None

    def clear_digits(self) -> None:
        self._digits.clear()

    async def beep(self) -> None:
        await self._play(ClipPlayer(beep_clip(self.call.sample_rate)), barge_in=False)

    async def play_clip(self, clip: Clip, *, barge_in: bool = False) -> str | None:
        """Play audio that is not in the library (e.g. a recording played back)."""
        self._check()
        return await self._play(ClipPlayer(clip), barge_in=barge_in)

    async def record_to(self, path: Path, max_seconds: float, silence_seconds: float, end_digits: str = "#") -> int:
        """Record what the caller says into a WAV at ``path`` until silence, an end digit or
        ``max_seconds``; trailing silence is cut. Returns the length in ms (0: nothing said)."""
        self._check()
        recorder = Recorder(path, self.call.sample_rate, max_seconds, silence_seconds, self._silence_dbfs)
        await self._record(recorder, end_digits)
        duration_ms = await asyncio.get_running_loop().run_in_executor(None, recorder.finish, True)
        self._check()
        return duration_ms if recorder.heard_voice else 0

    def recording_refused(self) -> str | None:
        return self._disk.recording_refused() if self._disk is not None else None

    def _disk_refused(self, what: str, err: OSError) -> None:
        if self._disk is not None:
            self._disk.write_failed(what, err)

    async def record_message(self, request: RecordingRequest) -> StoredMessage | None:
        self._check()
        rate = self.call.sample_rate
        meta = MessageMeta(
            id=f"{self._clock.now():%Y%m%d-%H%M%S}-{secrets.token_hex(3)}",
            created_at=self._clock.now().isoformat(),
            caller=self.caller,
            caller_name=self.caller_name,
            called=self.call.called,
            team=request.team,
            mode=request.mode,
            node=request.node,
            rate=rate,
            email=list(request.email) if request.email else None,
        )
        try:
            path = self._messages.begin(meta)
            recorder = Recorder(path, rate, request.max_seconds, request.silence_seconds, self._silence_dbfs)
        except OSError as err:
            log.warning("call %s: cannot start recording: %s", self.call_id, err)
            self._disk_refused("recording", err)
            self._messages.discard(meta.id)
            raise RecordingImpossible(f"cannot start recording: {err.strerror or err}") from err
        reason = await self._record(recorder, request.end_digits)
        stored = await asyncio.shield(self._store(recorder, meta, reason))
        if stored is None and recorder.error is not None:
            raise RecordingImpossible(f"the disk refused the recording: {recorder.error.strerror or recorder.error}")
        return stored

    async def _record(self, recorder: Recorder, end_digits: str) -> str:
        """What the caller sends goes to ``recorder`` until it is done (silence, length),
        an end digit comes or the caller hangs up; returns why it ended."""
        self.call.set_sink(recorder)
        try:
            while not recorder.done.done():
                waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                self._digit_waiter = waiter
                waits: set[asyncio.Future[Any]] = {recorder.done, self.call.ended, waiter}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                self._digit_waiter = None
                if self.call.ended.done():
                    recorder.stop("hangup")
                if any(d in end_digits for d in self._digits):
                    recorder.stop("digit")
                self._digits.clear()
        finally:
            self.call.set_sink(None)
        return recorder.done.result()

    async def _store(self, recorder: Recorder, meta: MessageMeta, reason: str) -> StoredMessage | None:
        loop = asyncio.get_running_loop()
        if recorder.error is not None:
            # finished now, with what reached the disk: not left as a part file for the next start
            log.warning("call %s: recording %s cut short, the disk refused a write: %s", self.call_id, meta.id,
                        recorder.error)  # fmt: skip
            self._disk_refused("recording", recorder.error)
        try:
            duration_ms = await loop.run_in_executor(None, recorder.finish, reason == "silence")
        except OSError as err:
            # the disk fails even to shrink the file: the part and sidecar stay for the salvage at start-up
            log.error("call %s: recording %s could not be finished: %s", self.call_id, meta.id, err)
            self._disk_refused("recording", err)
            return None
        if duration_ms < MIN_MESSAGE_MS or not recorder.heard_voice:
            log.info("call %s: discarding empty recording (%d ms, %s)", self.call_id, duration_ms, reason)
            self._messages.discard(meta.id)
            return None
        try:
            await self._messages.commit(meta, duration_ms)
        except (StoreError, OSError) as err:
            # The WAV and its sidecar stay in the spool; stored once the database takes writes
            # again (commit_pending), or at the next start (recover).
            log.warning("call %s: message %s kept in the spool, not yet stored: %s", self.call_id, meta.id, err)
            self._messages.keep_pending(meta, duration_ms)
        log.info("call %s: recorded message %s (%d ms, ended by %s)", self.call_id, meta.id, duration_ms, reason)
        return StoredMessage(meta.id, duration_ms)

    async def bridge(self, handover: AgentHandOver) -> None:
        """Audio both ways between the caller and the agent's leg, DTMF passed on;
        or, after a transfer by the caller's line, leave the call."""
        if isinstance(handover, TransferredByPbx):  # REFER: our leg is no longer needed
            log.info("call %s: put through to %s by the PBX, leaving the call", self.call_id, handover.target)
            await self.call.hangup()
            raise CallGone(self.call_id)
        if isinstance(handover, HookFlashTransfer):
            log.info("call %s: blind transfer to %s", self.call_id, handover.target)
            if not isinstance(self.call, TransferableCall):
                raise TypeError(f"call {self.call_id} on line {self.call.line} cannot hand calls on")
            await self.call.transfer(handover.target)
            raise CallGone(self.call_id)
        other = handover
        to_agent = bridge_queue(self.call.sample_rate, other.sample_rate)
        to_caller = bridge_queue(other.sample_rate, self.call.sample_rate)
        self.call.set_sink(to_agent)
        other.set_source(to_agent)
        other.set_sink(to_caller)
        self.call.set_source(to_caller)
        self.call.on_digit(other.send_digit)
        other.on_digit(self.call.send_digit)
        try:
            await asyncio.wait({self.call.ended, other.ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.call.on_digit(self._on_digit)
            for c in (self.call, other):
                c.set_source(None)
                c.set_sink(None)
            with contextlib.suppress(Exception):
                await other.hangup()
        self._check()

    async def hangup(self) -> None:
        await self.call.hangup()


def bridge_queue(from_rate: int, to_rate: int) -> FrameQueue | Resampling:
    """The FIFO from one leg to the other; converting only where the rates differ."""
    return FrameQueue() if from_rate == to_rate else Resampling(FrameQueue(), to_rate)


class Resampling:
    """A FrameQueue that converts between 8 and 16 kHz on the way (codec translation)."""

    def __init__(self, queue: FrameQueue, rate: int) -> None:
        self.queue = queue
        self.rate = rate
        self._converter: RateConverter | None = None

    def write(self, frame: Frame) -> None:
        if frame.rate != self.rate:
            if self._converter is None or self._converter.src != frame.rate:
                self._converter = RateConverter(frame.rate, self.rate)
            frame = self._converter.convert(frame)
        self.queue.write(frame)

    def read(self) -> Frame | None:
        return self.queue.read()
