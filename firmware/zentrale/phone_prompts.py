"""Recording prompts by phone ("Ansagen per Telefon aufsprechen").

An admin calls the service number (``phone_recording.number``), enters the
PIN and ``#``, chooses a prompt number 1–99 and ``#``, speaks after the beep
(``#``, silence or the time limit ends it), hears the recording played back,
and presses 1 to keep it or 2 to record again. A kept recording goes through
the same conversion as an upload (loudness-normalised, 8 and 16 kHz) and is
the library prompt ``telefon_<n>``: a mode uses it like any other prompt, and
a mode already using it plays the new recording to the next caller.

Three wrong PINs end the call and count as a failed attempt of the source
(the SIP guard bans a source that keeps trying).
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from zentrale.calls.session import LineSession
from zentrale.config import PhoneRecordingConfig
from zentrale.errors import CallGone
from zentrale.lines.base import Call
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.media.library import decode_file, make_clip
from zentrale.prompts import PromptLibrary

log = logging.getLogger(__name__)

PREFIX = "telefon_"
PIN_TRIES = 3
DIGIT_TIMEOUT = 8.0  # seconds for each digit of the PIN or the prompt number
# The service's own prompts (shipped, German, made by tools/make_demo_audio.py).
PROMPTS = ("rec_enter_pin", "rec_wrong_pin", "rec_enter_number", "rec_after_beep", "rec_playback",
           "rec_keep_or_again", "rec_saved", "rec_nothing_heard", "goodbye")  # fmt: skip


def count_failed_attempts(sip: SipUserAgent) -> Callable[[Call, str], None]:
    """A failed attempt on a call (a wrong PIN) as one for the SIP guard, which bans a source
    that keeps trying; analog lines have no source to ban."""

    def failed(call: Call, reason: str) -> None:
        if isinstance(call, SipCall):
            sip.failed(call.peer, reason)

    return failed


class PhonePromptRecording:
    def __init__(
        self,
        config: PhoneRecordingConfig,
        prompts: PromptLibrary,
        audit: Callable[[str, str], Awaitable[None]],
        failed: Callable[[Call, str], None],
    ) -> None:
        self.config = config
        self.prompts = prompts
        self.audit = audit  # (action, detail)
        self.failed = failed  # a wrong PIN: one failed attempt of the caller's source

    def matches(self, call: Call) -> bool:
        return call.direction == "in" and call.called == self.config.number

    async def run(self, session: LineSession) -> str:
        """The whole service call; returns the call-log outcome."""
        if not await self._pin(session):
            await session.play("goodbye")
            return "refused"
        saved = 0
        try:
            while True:
                number = await session.collect_digits("rec_enter_number", max_len=2, timeout=DIGIT_TIMEOUT)
                if not number or not 1 <= int(number) <= 99:
                    await session.play("goodbye")
                    break
                if await self._record(session, f"{PREFIX}{int(number)}"):
                    saved += 1
        except CallGone:  # hanging up is how one finishes
            pass
        return "prompt_recorded" if saved else "hangup"

    async def _pin(self, session: LineSession) -> bool:
        for attempt in range(1, PIN_TRIES + 1):
            entered = await session.collect_digits(
                "rec_enter_pin", max_len=len(self.config.pin) + 4, timeout=DIGIT_TIMEOUT
            )
            if entered == self.config.pin:
                return True
            log.warning("call %s: wrong PIN for recording prompts (try %d)", session.call_id, attempt)
            await session.play("rec_wrong_pin")
        self.failed(session.call, "wrong PIN for recording prompts")
        await self.audit("prompt.phone_refused", f"{session.caller}: {PIN_TRIES} wrong PINs")
        return False

    async def _record(self, session: LineSession, name: str) -> bool:
        """Record, play back, keep (1) or again (2). True when kept."""
        with tempfile.TemporaryDirectory(prefix="zentrale-phone-prompt-") as tmp:
            wav = Path(tmp) / "recording.wav"
            while True:
                await session.play("rec_after_beep", barge_in=False)
                await session.beep()
                session.clear_digits()
                ms = await session.record_to(wav, self.config.max_seconds, self.config.silence_seconds)
                if ms == 0:
                    await session.play("rec_nothing_heard")
                    continue
                samples, rate = decode_file(wav)
                await session.play("rec_playback")
                await session.play_clip(make_clip("recording", samples, rate, session.call.sample_rate))
                choice = await session.collect_digits("rec_keep_or_again", max_len=1, timeout=DIGIT_TIMEOUT)
                if choice == "1":
                    await self.prompts.upload(name, "telefon.wav", wav.read_bytes())
                    log.info("call %s: prompt '%s' recorded by phone (%d ms)", session.call_id, name, ms)
                    await self.audit("prompt.phone_recorded", f"{name} ({ms / 1000:.1f} s) from {session.caller}")
                    await session.play("rec_saved")
                    return True
                if choice != "2":
                    return False
