"""An adaptive jitter buffer for one incoming RTP stream, played out by the media clock.

Packets go in as they arrive (``put``, with their arrival time); the media
clock takes one 20 ms frame per tick (``pop``). In between, the buffer puts
them back in timestamp order, drops duplicates and packets that come after
their turn (late), and tells the caller which frames are missing (lost:
conceal them, ``plc.py``).

Its depth follows the network: every packet's transit time (arrival minus
its RTP timestamp) is compared with the shortest transit of the last few
seconds; the 95th percentile of that excess, plus one frame for the phase
between arrivals and ticks, is the target delay, held within
[min_ms, max_ms]. When the playout runs later than target + one frame for
half a second, the buffer wants to shrink by a frame and the playout drops
the next quiet one (a pause, where the slip is not heard; after two more
seconds without one, a frame goes anyway); more than three frames late (a
stall of the box, a burst after a delay spike) it cuts back at once. When a
frame is due and nothing at all is buffered, the frame is concealed without
moving on (the buffer grows by 20 ms, and the late packet still plays).
That also follows a sender whose clock runs faster or slower than ours
(RFC 3550 §6.4.1's jitter would not: it measures, it does not decide).

The timeline is in RTP timestamp units. For our codecs one payload byte is
one timestamp unit (G.711: a sample; G.722: two 16 kHz samples, RTP clock
8000 by RFC 3551 §4.5.2), so a frame is ``frame_ts`` bytes of payload and
packets of 10 or 30 ms are cut into 20 ms frames exactly.

A new SSRC or a timestamp jump of more than a second starts over; a marker
bit (a new talkspurt, RFC 3551 §4.1) after the buffer ran dry re-anchors
the playout, so silence suppression does not count as loss.
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass
from enum import Enum

AUDIO = "audio"


SHRINK_AFTER = 0.5  # s deeper than the target before the buffer wants to shrink
FORCE_AFTER = 2.0  # s more without a quiet frame to drop: one goes anyway
CATCH_UP_FRAMES = 3  # more frames than this over the target: cut back at once


class Pop(Enum):
    IDLE = "idle"  # nothing to play (not started, paused, sender silent): play silence
    LOST = "lost"  # a frame is missing: conceal it


@dataclass
class JitterStats:
    received: int = 0
    played: int = 0
    lost: int = 0  # frames concealed in place of audio that was not there in time (each counted once)
    late: int = 0  # of those, packets that came after all (already in ``lost``)
    duplicates: int = 0
    dropped: int = 0  # frames dropped to shrink the buffer
    stretched: int = 0  # frames concealed to let the buffer grow (a late packet then still plays)
    resets: int = 0  # new SSRC or timestamp jump
    target_ms: float = 0.0
    delay_ms: float = 0.0  # playout delay over the shortest transit seen
    spread_ms: float = 0.0  # 90th percentile of the transit over the shortest (how jittery the line is)


class JitterBuffer:
    def __init__(
        self,
        *,
        clock_rate: int = 8000,
        frame_ts: int = 160,
        min_ms: float = 20.0,
        max_ms: float = 120.0,
        window: int = 250,
    ) -> None:
        if not 0 < min_ms <= max_ms:
            raise ValueError(f"jitter buffer bounds {min_ms}-{max_ms} ms make no sense")
        self.clock_rate = clock_rate
        self.frame_ts = frame_ts
        self.frame_ms = 1000.0 * frame_ts / clock_rate
        self.min_ms = min_ms
        self.max_ms = max_ms
        self.stats = JitterStats(target_ms=max(min_ms, self.frame_ms))
        self._window = window
        self._packets: dict[int, bytes] = {}  # unwrapped timestamp -> payload
        self._order: list[int] = []  # sorted keys of _packets
        self._ssrc: int | None = None
        self._last_full: int | None = None  # newest unwrapped timestamp
        self._base = 0.0  # shortest transit in the window
        self._cursor: int | None = None  # the timestamp played next; None: not playing
        self._first_arrival = 0.0
        self._transits: deque[float] = deque(maxlen=window)
        self._surplus_since: float | None = None
        self.shrink_wanted = False  # deeper than needed for a while: drop a quiet frame (``take_next``)
        self._empty_pops = 0
        self._credit = 0  # frames concealed while waiting at the cursor
        self._passed = 0  # frames passed over while nothing came (lost, or a pause of the sender)
        self._puts = 0
        # frames dropped to shrink or catch up, for a stateful decoder (G.722's ADPCM) to decode all the
        # same: it must see every payload the sender's encoder made, or it no longer follows it
        self.keep_skipped = False
        self.skipped: list[bytes] = []

    # --- in ------------------------------------------------------------------------

    def put(self, ts: int, payload: bytes, arrival: float, *, ssrc: int = 0, marker: bool = False) -> None:
        if not payload:
            return
        if ssrc != self._ssrc:
            if self._ssrc is not None:
                self.stats.resets += 1
            self._restart(ssrc)
        full = self._unwrap(ts)
        if self._cursor is not None and abs(full - self._cursor) > self.clock_rate:
            # the sender's timeline jumped (a restart, a re-INVITE): begin again
            self.stats.resets += 1
            self._restart(ssrc)
            full = self._unwrap(ts)
        self.stats.received += 1
        if self._cursor is not None and marker and not self._packets and full > self._cursor:
            self._cursor = None  # a talkspurt after silence: buffer up again, then play
        if self._cursor is not None and full + len(payload) <= self._cursor:
            self.stats.late += 1
            return
        if full in self._packets:
            self.stats.duplicates += 1
            return
        self._packets[full] = payload
        bisect.insort(self._order, full)
        if len(self._order) > 4 * self._window:  # a sender far ahead of us: keep memory bounded
            oldest = self._order.pop(0)
            del self._packets[oldest]
        transit = arrival - full / self.clock_rate
        self._transits.append(transit)
        self._puts += 1
        if self._puts % 10 == 0 or len(self._transits) < 10 or transit < self._base:
            self._retarget()  # also at once for a new shortest transit: the delay is measured over it
        if self._cursor is None and len(self._packets) == 1:
            self._first_arrival = arrival

    def _unwrap(self, ts: int) -> int:
        """The 32-bit timestamp on a timeline that does not wrap (RFC 3550 §5.1: it may)."""
        if self._last_full is None:
            full = ts
        else:
            delta = (ts - self._last_full) & 0xFFFFFFFF
            full = self._last_full + (delta - (1 << 32) if delta >= 1 << 31 else delta)
        if self._last_full is None or full > self._last_full:
            self._last_full = full
        return full

    def _restart(self, ssrc: int) -> None:
        self._ssrc = ssrc
        self._packets.clear()
        self._order.clear()
        self._cursor = None
        self._last_full = None
        self._transits.clear()
        self._surplus_since = None

    def _retarget(self) -> None:
        if not self._transits:
            return
        ordered = sorted(self._transits)
        base = self._base = ordered[0]
        p95 = ordered[int(0.95 * (len(ordered) - 1))] - base
        self.stats.spread_ms = 1000.0 * (ordered[int(0.9 * (len(ordered) - 1))] - base)
        target = 1000.0 * p95 + self.frame_ms
        self.stats.target_ms = min(self.max_ms, max(self.min_ms, target))

    # --- out (one frame per media clock tick) --------------------------------------

    def pop(self, now: float) -> bytes | Pop:
        if self._cursor is None:
            if not self._order:
                return Pop.IDLE
            if 1000.0 * (now - self._first_arrival) < self.stats.target_ms - self.frame_ms:
                return Pop.IDLE  # filling up to the target first
            self._cursor = self._order[0]
            # packets that came very late (a burst after a stall) start nearer the present
            ideal = int((now - self._base - self.stats.target_ms / 1000.0) * self.clock_rate)
            if self._transits and ideal > self._cursor + self.frame_ts:
                self._cursor += (ideal - self._cursor) // self.frame_ts * self.frame_ts
                self._discard_before(self._cursor)
            self._empty_pops = 0
            self._surplus_since = None
        self._measure(now)
        for _ in range(self._surplus(now)):
            self._skip_frame()
        frame = self._take()
        while frame is None and self._order and self._credit > 0:
            # we already concealed a frame while waiting for this one: it stands for it
            self._credit -= 1
            self.stats.lost += 1
            self._advance()
            frame = self._take()
        if frame is not None or self._order:
            # audio again: frames we passed while waiting were lost, not a pause of the sender
            self.stats.lost += self._passed
            self._passed = 0
        if frame is not None:
            self._credit = 0  # what we waited for came: the stretch is now delay
            self._empty_pops = 0
            self.stats.played += 1
            return frame
        if self._order:  # later packets are here: this one is lost
            self._advance()
            self.stats.lost += 1
            return Pop.LOST
        # nothing buffered at all: late, lost, or the sender paused
        self._empty_pops += 1
        if self._empty_pops > 10:  # 200 ms without a packet: a pause; buffer up again when it ends
            self._cursor = None
            self._credit = 0
            self._passed = 0  # the sender paused (or stopped): nothing was lost
            return Pop.IDLE
        if self.stats.delay_ms + self.frame_ms <= self.max_ms:
            self.stats.stretched += 1  # wait for it: conceal without moving on
            self._credit += 1
        else:
            self._advance()  # too late already: if it still comes, it counts as late
            self._passed += 1  # lost, unless the sender turns out to have paused
        return Pop.LOST

    def skip_to(self, ts: int) -> None:
        """Play on from RTP timestamp ``ts``: what comes before it was heard another way (relayed)."""
        if self._cursor is None or self._last_full is None:
            return
        delta = (ts - self._last_full) & 0xFFFFFFFF
        full = self._last_full + (delta - (1 << 32) if delta >= 1 << 31 else delta)
        if full > self._cursor:
            self._cursor = full
            self._credit = 0
            self._discard_before(full)

    def _measure(self, now: float) -> None:
        if self._transits and self._cursor is not None:
            self.stats.delay_ms = 1000.0 * (now - (self._base + self._cursor / self.clock_rate))

    def _surplus(self, now: float) -> int:
        """Frames to drop now. Far behind (a stall of ours, a burst after a delay spike): back
        to the target at once, one cut instead of many. A frame or two behind for half a second:
        ``shrink_wanted`` asks the playout to drop a quiet frame (a pause, where a slip is not
        heard); if none comes within two more seconds, one frame goes anyway."""
        excess = self.stats.delay_ms - self.stats.target_ms
        buffered = len(self._order)
        # late by the delay over the shortest transit *and* by the audio buffered without a gap
        # from the cursor on: the first alone also jumps when the shortest transit changes, the
        # second alone is large for a sender of long packets, and what lies beyond a gap (a packet
        # that came early, p2r) is no surplus; a stall or a burst makes both large
        limit = CATCH_UP_FRAMES * self.frame_ms
        if buffered >= 2 and excess > limit and (ahead := self._contiguous_ms() - self.stats.target_ms) > limit:
            ahead = min(excess, ahead)
            self._surplus_since = None
            self.shrink_wanted = False
            return min(int(ahead / self.frame_ms), buffered - 1)
        if buffered >= 2 and self.stats.delay_ms > self.max_ms + self.frame_ms:
            return 1  # e.g. the first packet came very late: catch up at once
        if excess <= self.frame_ms or buffered < 2:
            self._surplus_since = None
            self.shrink_wanted = False
            return 0
        if self._surplus_since is None:
            self._surplus_since = now
            return 0
        waited = now - self._surplus_since
        self.shrink_wanted = waited >= SHRINK_AFTER
        if waited < SHRINK_AFTER + FORCE_AFTER:
            return 0
        self._surplus_since = now
        self.shrink_wanted = False
        return 1

    def take_next(self) -> bytes | None:
        """The frame after the one just popped, in its place (the playout drops a quiet frame
        to shrink the buffer); None, and nothing changes, if it is not here."""
        if self._cursor is None:
            return None
        frame = self._take()
        if frame is not None:
            self.stats.dropped += 1
            self._surplus_since = None
            self.shrink_wanted = False
        return frame

    def _skip_frame(self) -> None:
        self.stats.dropped += 1
        frame = self._take()
        if frame is None:  # the frame at the cursor, or a gap: either way 20 ms less delay
            self._advance()
        elif self.keep_skipped:
            self.skipped.append(frame)

    def _advance(self) -> None:
        assert self._cursor is not None
        self._cursor += self.frame_ts
        self._discard_before(self._cursor)

    def _discard_before(self, ts: int) -> None:
        while self._order and self._order[0] + len(self._packets[self._order[0]]) <= ts:
            del self._packets[self._order.pop(0)]

    def _take(self) -> bytes | None:
        """The frame at the cursor, from one packet or cut from several; None if any part is missing."""
        assert self._cursor is not None
        start, end = self._cursor, self._cursor + self.frame_ts
        payload = self._packets.get(start)
        if payload is not None and len(payload) == self.frame_ts:  # the usual 20 ms packet
            del self._packets[start]
            self._order.remove(start)
            self._cursor = end
            return payload
        parts = []
        at = start
        for key in self._order:
            data = self._packets[key]
            if key + len(data) <= at:
                continue
            if key > at:
                break
            parts.append(data[at - key : end - key])
            at = key + len(data)
            if at >= end:
                break
        if at < end:
            return None
        self._advance()
        return b"".join(parts)

    def _contiguous_ms(self) -> float:
        """Audio buffered from the cursor on up to the first gap."""
        if self._cursor is None:
            return 0.0
        at = self._cursor
        for key in self._order:
            if key > at:
                break
            at = max(at, key + len(self._packets[key]))
        return 1000.0 * (at - self._cursor) / self.clock_rate

    @property
    def measured(self) -> int:
        """Packets the line's transit figures stand on (the last few seconds of this SSRC)."""
        return len(self._transits)

    @property
    def buffered_ms(self) -> float:
        if self._cursor is None or not self._order:
            return 0.0
        last = self._order[-1]
        return 1000.0 * (last + len(self._packets[last]) - self._cursor) / self.clock_rate
