"""The ALSA ``Line``: one analog line through a line-interface board.

The board gives the line's audio as an ALSA sound card and two GPIOs: the
ring detector (input) and the hook relay (output). The board reports
nothing else, so digits come from the in-band DTMF detector and the far
end's hang-up from busy or dial tone on the line (``media/dtmf.py``).
Caller ID (FSK between the rings) is not decoded: calls show "unknown".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zentrale.config import AlsaLineConfig
from zentrale.errors import LineError
from zentrale.lines.alsa.audio import AlsaAudio
from zentrale.lines.analog import AnalogCall
from zentrale.lines.base import Call, IncomingHandler, OriginateFailed
from zentrale.media.clock import MediaClock
from zentrale.media.dtmf import CallProgressDetector, DtmfDetector, dtmf_frames
from zentrale.media.frames import Frame, silence

if TYPE_CHECKING:
    from gpiozero import DigitalInputDevice, DigitalOutputDevice

log = logging.getLogger(__name__)

RING_GAP = 8.0
TONE_PLANS: dict[str, dict[str, Any]] = {
    "eu": {"freqs": (425.0,), "busy_on_ms": (300.0, 650.0), "busy_off_ms": (300.0, 650.0)},
    "us": {"freqs": (480.0, 620.0), "busy_on_ms": (400.0, 600.0), "busy_off_ms": (400.0, 600.0)},
}


class AlsaCall(AnalogCall):
    def __init__(self, line: AlsaLine, *, direction: str, caller: str, called: str) -> None:
        super().__init__(line, direction=direction, caller=caller, caller_name=None, called=called)
        self._line: AlsaLine = line
        self._tones_done = asyncio.Event()
        self._dtmf = DtmfDetector()
        self._progress = CallProgressDetector(**TONE_PLANS[line.config.tones])

    def send_digit(self, digit: str) -> None:
        self._tones.extend(dtmf_frames(digit, 80, 8000))
        self._tones.extend([silence(8000)] * 4)
        self._tones_done.clear()

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None:
        self._line.forget(self)
        self._end(f"rejected {code}")

    # --- driven by the line ----------------------------------------------------------------

    def tick(self) -> Frame:
        return self.next_frame()

    def tones_finished(self) -> None:
        self._tones_done.set()

    async def tones_sent(self) -> None:
        """Until every queued DTMF tone went out (or the call ended)."""
        waiter: asyncio.Future[Any] = asyncio.ensure_future(self._tones_done.wait())
        waits: set[asyncio.Future[Any]] = {waiter, self.ended}
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()

    def received(self, pcm: bytes) -> None:
        frame = Frame(pcm, 8000)
        if self._sink is not None:
            self._sink.write(frame)
        for digit in self._dtmf.feed(pcm):
            log.info("call %s: DTMF %s (in-band)", self.call_id, digit)
            self._digit(digit)
        signal = self._progress.feed(frame)
        if signal is not None and self.answered:
            log.info("call %s: %s on the line: far end gone", self.call_id, signal)
            self._line.remote_hangup(self, f"remote hangup ({signal})")


class AlsaLine:
    def __init__(self, config: AlsaLineConfig, media_clock: MediaClock, pin_factory: Any = None) -> None:
        self.config = config
        self.name = config.name
        self._clock = media_clock
        if pin_factory is None and config.pin_factory == "mock":
            from gpiozero.pins.mock import MockFactory

            pin_factory = MockFactory()
        self._pin_factory = pin_factory
        self.ring_input: DigitalInputDevice | None = None
        self.hook_output: DigitalOutputDevice | None = None
        self._incoming: IncomingHandler | None = None
        self._audio: AlsaAudio | None = None
        self._tick_key: int | None = None
        self.call: AlsaCall | None = None
        self.state = "closed"
        self.last_error: str | None = None
        self._rings = 0
        self._last_ring = -1e9
        self.calls_total = 0
        self._tasks: set[asyncio.Future[Any]] = set()

    def on_incoming(self, handler: IncomingHandler) -> None:
        self._incoming = handler

    async def start(self) -> None:
        # gpiozero (~30 ms natively, more on the emulated appliance) only
        # where an analog line is configured; imported here, at start, never mid-call
        from gpiozero import DigitalInputDevice, DigitalOutputDevice

        loop = asyncio.get_running_loop()
        try:
            self.ring_input = DigitalInputDevice(self.config.ring_gpio, pull_up=False, pin_factory=self._pin_factory)
            self.hook_output = DigitalOutputDevice(self.config.hook_gpio, pin_factory=self._pin_factory)
        except Exception as err:  # gpiozero raises many kinds (no pin factory, pin in use, ...)
            self.state = "failed"
            self.last_error = f"GPIO: {err}"
            raise LineError(f"line {self.name}: GPIO: {err}") from err
        self.ring_input.when_activated = lambda: loop.call_soon_threadsafe(self._ring)
        self.state = "idle"

    async def stop(self) -> None:
        if self.call is not None and not self.call.ended.done():
            await self.hangup(self.call, "shutdown")
        for device in (self.ring_input, self.hook_output):
            if device is not None:
                device.close()
        self.state = "closed"

    def status(self) -> dict[str, Any]:
        audio = self._audio
        return {
            "name": self.name,
            "type": "alsa",
            "device": f"{self.config.playback_device} / {self.config.capture_device}",
            "state": self.state,
            "ready": self.state in ("idle", "ringing", "in_call"),
            "hook": "off" if self.hook_output is not None and self.hook_output.value else "on",
            "call": self.call.call_id if self.call else None,
            "calls": self.calls_total,
            "last_error": self.last_error,
            "audio_dropped": audio.dropped if audio else 0,
        }

    async def originate(
        self,
        target: str,
        *,
        display: str = "",
        caller: str = "",
        ring_timeout: float = 30.0,
        on_ringing: Callable[[], None] | None = None,
        cancel: asyncio.Future[None] | None = None,
    ) -> Call:
        """Off hook, dial by DTMF; a plain analog line has no answer signal, so the
        call counts as connected once the digits are out."""
        if not target or any(ch not in "0123456789*#" for ch in target):
            raise OriginateFailed(484, f"cannot dial {target!r} on an analog line")
        if self.call is not None or self.state != "idle":
            raise OriginateFailed(486, "the analog line is busy")
        call = AlsaCall(self, direction="out", caller=caller or self.config.number, called=target)
        self.call = call
        try:
            await self._off_hook(call)
        except LineError as err:
            raise OriginateFailed(503, str(err)) from err
        await asyncio.sleep(0.5)  # dial tone
        for digit in target:
            call.send_digit(digit)
        await call.tones_sent()
        call.state = "answered"
        return call

    # --- used by AlsaCall ------------------------------------------------------------------

    async def answer(self, call: AlsaCall) -> None:
        try:
            await self._off_hook(call)
        except LineError as err:
            call._end(f"answer failed: {err}")
            return
        call.state = "answered"
        self.calls_total += 1

    async def hangup(self, call: AlsaCall, reason: str) -> None:
        call._end(reason)
        await self._on_hook(call)

    def remote_hangup(self, call: AlsaCall, reason: str) -> None:
        call._end(reason)
        task = asyncio.ensure_future(self._on_hook(call))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def forget(self, call: AlsaCall) -> None:
        if self.call is call:
            self.call = None
            self.state = "idle"

    async def transfer(self, call: AlsaCall, extension: str) -> None:
        call.set_source(None)
        assert self.hook_output is not None
        self.hook_output.off()  # the flash: loop open for flash_ms
        await asyncio.sleep(self.config.flash_ms / 1000)
        self.hook_output.on()
        await asyncio.sleep(0.3)  # the PBX's second dial tone
        for digit in extension:
            call.send_digit(digit)
        await call.tones_sent()
        await asyncio.sleep(0.3)
        call._end(f"transferred to {extension}")
        await self._on_hook(call)

    # --- internals ---------------------------------------------------------------------------

    async def _off_hook(self, call: AlsaCall) -> None:
        assert self.hook_output is not None
        loop = asyncio.get_running_loop()
        self.hook_output.on()
        audio = AlsaAudio(
            self.config.playback_device,
            self.config.capture_device,
            loop=loop,
            on_frame=self._frame,
            on_error=lambda why: self._audio_failed(call, why),
        )
        try:
            await loop.run_in_executor(None, audio.open)
        except LineError as err:
            self.hook_output.off()
            self.last_error = str(err)
            self.call = None
            self.state = "idle"
            raise
        self._audio = audio
        self.state = "in_call"
        self._tick_key = self._clock.add(self._tick)

    async def _on_hook(self, call: AlsaCall) -> None:
        if self.call is not call:
            return
        if self._tick_key is not None:
            self._clock.remove(self._tick_key)
            self._tick_key = None
        audio, self._audio = self._audio, None
        if audio is not None:
            await asyncio.get_running_loop().run_in_executor(None, audio.close)
        if self.hook_output is not None:
            self.hook_output.off()
        self.call = None
        self.state = "idle"
        self._rings = 0

    def _tick(self) -> None:
        call, audio = self.call, self._audio
        if call is not None and audio is not None:
            audio.write(call.tick().pcm)

    def _frame(self, pcm: bytes) -> None:
        call = self.call
        if call is not None and not call.ended.done():
            call.received(pcm)

    def _audio_failed(self, call: AlsaCall, why: str) -> None:
        self.last_error = why
        self.remote_hangup(call, f"sound card failed: {why}")

    def _ring(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._last_ring < 0.5:
            return  # the same ring burst (25 Hz ripple through the opto)
        if now - self._last_ring > RING_GAP:
            self._rings = 0
        self._last_ring = now
        if self.call is not None or self.state not in ("idle", "ringing"):
            return
        self._rings += 1
        self.state = "ringing"
        if self._rings < self.config.answer_after_rings:
            return
        call = AlsaCall(self, direction="in", caller="unknown", called=self.config.number)
        self.call = call
        self.state = "in_call"
        log.info("call %s: ring on %s", call.call_id, self.name)
        if self._incoming is not None:
            self._incoming(call)
