"""One call on a voice modem: the ``Call`` port over the modem's voice duplex state.

Outgoing audio: the media clock ticks this call every 20 ms; one frame is
pulled from ``source``, turned into the modem's sample format, DLE-shielded
and queued for the writer thread. The modem's own flow control (CTS/XOFF)
holds that thread back if the modem cannot take more; the queue is bounded,
so the caller never hears a growing delay (see ``SerialLink.write``). Pulling
on the one media clock keeps players, barge-in and bridging the same as on
SIP; pacing by the modem's buffer instead would fill the kernel's tty buffer
ahead (half a second of audio) and make barge-in sluggish.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from zentrale.lines.analog import AnalogCall
from zentrale.lines.modem.codec import HANGUP_EVENTS, VoiceEvent, shield
from zentrale.lines.modem.samples import SampleFormat
from zentrale.media.clock import MediaClock
from zentrale.media.dtmf import dtmf_frames
from zentrale.media.frames import Frame, silence

if TYPE_CHECKING:
    from zentrale.lines.modem.line import ModemLine

log = logging.getLogger(__name__)

PREFILL_FRAMES = 2  # 40 ms in the modem before the first tick absorbs tick jitter


class ModemCall(AnalogCall):
    def __init__(
        self,
        line: ModemLine,
        *,
        direction: str,
        caller: str,
        caller_name: str | None,
        called: str,
        caller_id: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(line, direction=direction, caller=caller, caller_name=caller_name, called=called)
        self._line: ModemLine = line
        self.caller_id = caller_id or {}
        self._tick_key: int | None = None
        self._clock: MediaClock | None = None
        self._format: SampleFormat | None = None
        self.frames_out = 0
        self.frames_in = 0
        self.events: list[str] = []

    @property
    def codec_name(self) -> str:
        return self._format.name if self._format else ""

    def send_digit(self, digit: str) -> None:
        """In-band DTMF: +VTS only works in command state, so the tone goes into the audio."""
        if not self.ended.done():
            self._tones.extend(dtmf_frames(digit, 100, 8000))
            self._tones.extend([silence(8000)] * 3)

    async def reject(self, code: int = 480, reason: str = "Temporarily Unavailable") -> None:
        """An analog line cannot refuse a call: we simply do not go off hook."""
        if self.state == "offered":
            self._line.forget(self)
        self._end(f"rejected {code}")

    def info(self) -> dict[str, Any]:
        return {
            **super().info(),
            "caller_id": self.caller_id,
            "frames_out": self.frames_out,
            "frames_in": self.frames_in,
            "events": self.events[-20:],
        }

    # --- driven by the line ------------------------------------------------------------

    def start_media(self, clock: MediaClock, fmt: SampleFormat) -> None:
        self._clock = clock
        self._format = fmt
        for _ in range(PREFILL_FRAMES):
            self._line.write_audio(shield(silence(8000).encoded(fmt)))
        if self._tick_key is None:
            self._tick_key = clock.add(self._tick)

    def stop_media(self) -> None:
        if self._tick_key is not None and self._clock is not None:
            self._clock.remove(self._tick_key)
        self._tick_key = None

    def _tick(self) -> None:
        fmt = self._format
        if fmt is None:
            return
        self._line.write_audio(shield(self.next_frame().encoded(fmt)))
        self.frames_out += 1

    def received(self, pcm: bytes) -> None:
        self.frames_in += 1
        if self._sink is not None:
            self._sink.write(Frame(pcm, 8000))

    def event(self, event: VoiceEvent) -> None:
        digit = event.digit
        if digit is not None:
            log.info("call %s: DTMF %s", self.call_id, digit)
            self._digit(digit)
            return
        self.events.append(event.name)
        if event.code in HANGUP_EVENTS:
            log.info("call %s: far end gone (%s)", self.call_id, event.name)
            self._line.remote_hangup(self, f"remote hangup ({event.name})")
        else:
            log.debug("call %s: modem event %s", self.call_id, event.name)

    def _end(self, reason: str) -> None:
        self.stop_media()
        super()._end(reason)
