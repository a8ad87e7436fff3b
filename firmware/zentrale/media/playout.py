"""What one incoming audio stream hands the media clock: one frame per tick.

Jitter buffer (``jitter.py``) -> decoder -> loss concealment (``plc.py``).
When the buffer wants to shrink, the playout drops a quiet frame (a pause).
Payloads are decoded in timestamp order, once each, so G.722's ADPCM state
follows the sender's: also the frames dropped to shrink or catch up, and
while nobody needs the samples (``keep_time``: a caller waiting in a queue
before the bridge or the recording starts). A decoder that skips payloads
no longer follows the encoder: its output is garbled for ~100 ms and exact
again only ~400 ms after each (``tests/unit/test_playout_g722.py``). A frame that
came intact keeps its payload for a bridged leg with the same codec
(``Frame.received``).
"""

from __future__ import annotations

import numpy as np

from zentrale.media.codecs import Codec
from zentrale.media.frames import FRAMES_PER_SECOND, Frame
from zentrale.media.jitter import JitterBuffer, Pop
from zentrale.media.plc import Concealer

QUIET_DBFS = -40.0  # a frame below this (RMS, AES17) is a pause in the speech: dropping it is not heard
_QUIET_POWER = (32768.0 * 10 ** (QUIET_DBFS / 20)) ** 2 / 2


def quiet(pcm: bytes) -> bool:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return bool(x.size) and float(np.dot(x, x)) / x.size < _QUIET_POWER


class Playout:
    def __init__(self, codec: Codec, *, min_ms: float = 20.0, max_ms: float = 120.0) -> None:
        self.codec = codec
        self.rate = codec.info.sample_rate
        self.buffer = JitterBuffer(
            clock_rate=codec.info.rtp_clock,
            frame_ts=codec.info.rtp_clock // FRAMES_PER_SECOND,
            min_ms=min_ms,
            max_ms=max_ms,
        )
        self.concealer = Concealer(self.rate)
        self.buffer.keep_skipped = not codec.stateless

    def keep_time(self, now: float) -> None:
        """This tick's frame, when nobody needs the samples: taken from the buffer, and decoded
        only by a stateful decoder (G.722), which has to follow the sender's encoder throughout."""
        got = self.buffer.pop(now)
        self._follow()
        if isinstance(got, bytes) and not self.codec.stateless:
            self.codec.decode(got)

    def _follow(self) -> None:
        """Decode, for the decoder's state only, the frames the buffer dropped (in their order)."""
        if self.buffer.skipped:
            for payload in self.buffer.skipped:
                self.codec.decode(payload)
            self.buffer.skipped.clear()

    def put(self, ts: int, payload: bytes, arrival: float, *, ssrc: int = 0, marker: bool = False) -> None:
        self.buffer.put(ts, payload, arrival, ssrc=ssrc, marker=marker)

    def pop(self, now: float) -> Frame | None:
        """The frame for this tick; None while there is nothing to play (silence)."""
        got = self.buffer.pop(now)
        self._follow()  # before this frame: the dropped ones came first
        if got is Pop.IDLE:
            return None
        if got is Pop.LOST:
            return Frame(self.concealer.conceal(), self.rate)
        pcm = self.codec.decode(got)
        if self.buffer.shrink_wanted and quiet(pcm):
            # a pause: drop this frame (decoded all the same, so G.722's decoder follows) and play the next
            after = self.buffer.take_next()
            if after is not None:
                got, pcm = after, self.codec.decode(after)
        played = self.concealer.good(pcm)
        if played is not pcm:  # blended into the end of a concealment: no longer the payload
            return Frame(played, self.rate)
        return Frame.received(pcm, got, self.codec.name, self.rate)
