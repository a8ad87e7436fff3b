"""Where a call's RTP may come from: symmetric latching that cannot be hijacked by a stray packet.

A phone behind NAT sends from an address its SDP does not name, so the box answers to where
the audio really comes from (symmetric RTP, RFC 4961). Latching on the first packet from
anywhere, as before, let anyone who guessed a call's port take its audio (the fuzzer's RTP
got the greeting sent to it) and speak into it (a recording, the agent's ear, DTMF into a
menu). The rules here, the way Asterisk's ``strictrtp`` learns a source:

- a packet from the address the SDP announced (host and port) is the far end's at once;
- any other source is learned only after ``LEARN_PACKETS`` packets in sequence from it
  (consecutive RTP sequence numbers, RFC 3550 §A.1's probation), packets before that are
  dropped: a burst of random packets does not have them, a NAT'ed phone has them within
  its first 60-80 ms;
- once latched, packets from anyone else are dropped, unless the latched source has been
  quiet for ``QUIET_S``: then a source that passes probation takes over (a NAT rebinding,
  a phone that roamed from Wi-Fi to the mobile network without a re-INVITE);
- a new address in the SDP (a re-INVITE) starts over (RFC 3264 §8.3.1).

Sans-I/O: the stream asks ``accept`` with the source, the packet's sequence number and
its arrival time, and reads ``latched``.
"""

from __future__ import annotations

from dataclasses import dataclass

LEARN_PACKETS = 4  # consecutive sequence numbers from one source before it is believed
QUIET_S = 1.0  # the latched source this long silent: another may take over


@dataclass
class _Candidate:
    source: tuple[str, int]
    seq: int
    count: int


class RtpSource:
    def __init__(self, announced: tuple[str, int] | None = None) -> None:
        self.announced = announced
        self.latched: tuple[str, int] | None = None
        self.dropped = 0  # packets from sources that were not (or not yet) the far end
        self._last_heard = 0.0
        self._candidate: _Candidate | None = None

    def reset(self, announced: tuple[str, int] | None) -> None:
        """A new address in the SDP: learn afresh."""
        self.announced = announced
        self.latched = None
        self._candidate = None

    def accept(self, source: tuple[str, int], seq: int, arrival: float) -> bool:
        """Whether this packet is the far end's (and so may be played, recorded or answered to)."""
        if source == self.latched:
            self._last_heard = arrival
            return True
        if self.latched is not None and arrival - self._last_heard < QUIET_S:
            self.dropped += 1
            return False
        if source == self.announced:
            self._take(source, arrival)
            return True
        c = self._candidate
        if c is not None and c.source == source and seq == (c.seq + 1) & 0xFFFF:
            c.seq, c.count = seq, c.count + 1
        else:
            c = self._candidate = _Candidate(source, seq, 1)
        if c.count >= LEARN_PACKETS:
            self._take(source, arrival)
            return True
        self.dropped += 1
        return False

    def _take(self, source: tuple[str, int], arrival: float) -> None:
        self.latched = source
        self._last_heard = arrival
        self._candidate = None
