"""The jitter buffer on generated packet traces: a sender every 20 ms (by its own
clock), a network that delays, reorders, loses and duplicates, and our media
clock popping one frame every 20 ms. Every payload names its frame, so the
played sequence shows exactly what was played, concealed or skipped."""

from __future__ import annotations

import itertools
import random
import struct
from dataclasses import dataclass, field

import pytest

from zentrale.media.jitter import JitterBuffer, Pop

FRAME = 160


@dataclass
class Packet:
    send: float
    ts: int
    index: int  # the frame's number in the sender's stream
    ssrc: int = 1
    marker: bool = False
    delay: float = 0.03


@dataclass
class Run:
    played: list[int | str] = field(default_factory=list)  # frame index, "lost" or "idle"
    buffer: JitterBuffer | None = None
    delays: list[float] = field(default_factory=list)  # playout delay over the shortest transit, per frame played

    @property
    def max_delay_ms(self) -> float:
        return max(self.delays)

    @property
    def frames(self) -> list[int]:
        return [p for p in self.played if isinstance(p, int)]


def payload(index: int) -> bytes:
    return struct.pack("!I", index) * (FRAME // 4)


def stream(n: int, *, clock: float = 1.0, ts0: int = 1000, ssrc: int = 1, start: float = 0.0) -> list[Packet]:
    """``clock`` > 1: the sender's clock runs fast (packets come more often)."""
    return [Packet(start + i * 0.02 / clock, (ts0 + i * FRAME) & 0xFFFFFFFF, i, ssrc, i == 0) for i in range(n)]


def play(packets: list[Packet], seconds: float | None = None, phase: float = 0.007, **options: float) -> Run:
    """Tick until ``seconds`` (default: long enough after the last arrival to play it)."""
    jb = JitterBuffer(**options)  # type: ignore[arg-type]
    arrivals = sorted(packets, key=lambda p: p.send + p.delay)
    if seconds is None:
        seconds = arrivals[-1].send + arrivals[-1].delay + 0.25
    run = Run(buffer=jb)
    i = 0
    tick = phase
    while tick < seconds:
        while i < len(arrivals) and arrivals[i].send + arrivals[i].delay <= tick:
            p = arrivals[i]
            jb.put(p.ts, payload(p.index), p.send + p.delay, ssrc=p.ssrc, marker=p.marker)
            i += 1
        got = jb.pop(tick)
        if got is Pop.IDLE:
            run.played.append("idle")
        elif got is Pop.LOST:
            run.played.append("lost")
        else:
            assert len(got) == FRAME
            run.played.append(struct.unpack_from("!I", got)[0])
            run.delays.append(jb.stats.delay_ms)
        tick += 0.02
    return run


def in_order(frames: list[int]) -> bool:
    return all(b > a for a, b in itertools.pairwise(frames))


def test_a_steady_stream_plays_every_frame_in_order_with_one_frame_of_delay() -> None:
    run = play(stream(500))
    assert run.frames == list(range(500))
    assert run.buffer is not None
    assert run.buffer.stats.lost == run.buffer.stats.late == 0
    assert run.max_delay_ms <= 25.0  # at most one tick behind the packets


def test_reordered_packets_are_put_back_in_order() -> None:
    rng = random.Random(5)
    packets = stream(1000)
    for p in packets:
        p.delay = 0.03 + (0.025 if rng.random() < 0.05 else 0.0)  # 5 % come one frame late
    run = play(packets)
    assert run.frames == list(range(1000))
    assert run.buffer is not None and run.buffer.stats.lost == 0


def test_lost_packets_are_concealed_in_their_place_and_nothing_else_is() -> None:
    packets = [p for p in stream(300) if p.index not in (40, 100, 101, 102)]
    run = play(packets)
    start = run.played.index(0)
    played = run.played[start : start + 300]
    assert [i for i, p in enumerate(played) if p == "lost"] == [40, 100, 101, 102]
    assert [p for p in played if p != "lost"] == [i for i in range(300) if i not in (40, 100, 101, 102)]
    assert run.buffer is not None and run.buffer.stats.lost == 4


def test_duplicates_are_played_once_and_counted() -> None:
    packets = stream(300)
    packets += [Packet(p.send + 0.001, p.ts, p.index, delay=0.035) for p in packets if p.index % 7 == 0]
    run = play(packets)
    assert run.frames == list(range(300))
    assert run.buffer is not None and run.buffer.stats.duplicates == len(range(0, 300, 7))


def test_a_new_ssrc_starts_over_and_its_audio_plays() -> None:
    first = stream(100, ts0=5000, ssrc=1)
    second = [Packet(p.send, p.ts, 1000 + p.index, 2, p.marker) for p in stream(100, ts0=900_000, start=2.0)]
    run = play(first + second)
    assert run.frames == list(range(100)) + [1000 + i for i in range(100)]
    assert run.buffer is not None and run.buffer.stats.resets == 1 and run.buffer.stats.lost == 0


def test_a_pause_with_a_marker_after_it_is_not_counted_as_loss() -> None:
    """Silence suppression: the sender stops for a second; its timestamps run on
    (RFC 3550 §5.1) and the next talkspurt starts with the marker bit."""
    talk = stream(100)
    later = stream(100, ts0=1000 + 150 * FRAME, start=3.0)
    for p in later:
        p.index += 150
    run = play(talk + later)
    assert run.frames == list(range(100)) + list(range(150, 250))
    assert run.buffer is not None and run.buffer.stats.lost == 0


def test_timestamps_that_wrap_around_play_on() -> None:
    run = play(stream(200, ts0=(1 << 32) - 50 * FRAME), 4.5)
    assert run.frames == list(range(200))


@pytest.mark.parametrize("clock", [1.001, 0.999])
def test_a_sender_clock_off_by_a_thousandth_is_followed_without_loss(clock: float) -> None:
    """Two minutes at ±0.1 %: 120 ms of difference. The buffer drops (fast sender)
    or stretches (slow sender) about six frames and never loses or delays more."""
    packets = stream(6000, clock=clock)
    run = play(packets, packets[-1].send + packets[-1].delay)  # stop with the stream (no tail)
    assert run.buffer is not None
    stats = run.buffer.stats
    assert in_order(run.frames)
    assert stats.lost == 0 and stats.late == 0
    if clock > 1:
        assert 4 <= stats.dropped <= 8 and stats.stretched <= 1
    else:
        assert 4 <= stats.stretched <= 8 and stats.dropped == 0
    assert run.max_delay_ms <= stats.target_ms + 2 * 20


def test_the_depth_follows_the_jitter_and_few_packets_come_too_late() -> None:
    """A home-office line: 40 ms ± 20 ms (uniform). Hardly anything is late
    for its turn, and the buffer is not deeper than it needs to be."""
    rng = random.Random(11)
    packets = stream(3000)
    for p in packets:
        p.delay = 0.04 + rng.uniform(-0.02, 0.02)
    run = play(packets)
    assert run.buffer is not None
    stats = run.buffer.stats
    assert in_order(run.frames)
    assert stats.late + stats.lost <= 0.01 * 3000
    assert 35.0 <= stats.target_ms <= 70.0, stats


def test_the_depth_stays_within_its_configured_bounds() -> None:
    rng = random.Random(12)
    packets = stream(1500)
    for p in packets:
        p.delay = 0.05 + rng.uniform(-0.045, 0.25)  # wild: up to 300 ms
    run = play(packets, 31.0, min_ms=20.0, max_ms=80.0)
    assert run.buffer is not None
    assert run.buffer.stats.target_ms == 80.0
    settled = run.delays[100:]  # after two seconds: the shortest transit is known by then
    assert max(settled) <= 80.0 + 20.0
    quiet = play(stream(500), 10.5, min_ms=60.0, max_ms=120.0)
    assert quiet.buffer is not None and quiet.buffer.stats.target_ms == 60.0


def test_packets_of_10_and_30_ms_are_cut_into_20_ms_frames() -> None:
    jb = JitterBuffer()
    data = bytes(range(256)) * 8
    ts = 0
    for size in (80, 240, 80, 240, 80, 80, 160, 240, 240):  # 10 and 30 ms packets, on time
        jb.put(ts, data[ts : ts + size], ts / 8000)
        ts += size
    out = b""
    now = 0.0
    while len(out) < ts:
        got = jb.pop(now)
        assert isinstance(got, bytes), (len(out), got)
        out += got
        now += 0.02
    assert out == data[:ts]


def test_bounds_that_make_no_sense_are_refused() -> None:
    with pytest.raises(ValueError, match="bounds"):
        JitterBuffer(min_ms=100, max_ms=50)


@pytest.mark.parametrize(
    ("profile", "low", "high"),
    [("steady", 0.0, 2.0), ("p1", 30.0, 40.0), ("p2r", 35.0, 41.0)],
)
def test_the_spread_tells_a_steady_line_from_a_jittery_one(profile: str, low: float, high: float) -> None:
    """What decides relaying a bridged leg (lines/sip/rtp.py: above 20 ms the box re-clocks):
    the bench's profiles p1 (40 ± 20 ms) and p2r (40 ms, 5 % sent at once) against a LAN line."""
    rng = random.Random(3)
    packets = stream(500)
    for p in packets:
        if profile == "p1":
            p.delay = 0.04 + rng.uniform(-0.02, 0.02)
        elif profile == "p2r":
            p.delay = 0.0 if rng.random() < 0.05 else 0.04
        else:
            p.delay = 0.001 + rng.uniform(0, 0.001)
    run = play(packets)
    assert run.buffer is not None
    assert low <= run.buffer.stats.spread_ms <= high, run.buffer.stats


def test_skipping_ahead_plays_on_from_there_and_nothing_before_it() -> None:
    """After relaying, the far phone has heard up to a point: the buffer goes on from there."""
    jb = JitterBuffer(min_ms=60.0)
    now, played = 0.0, []
    for i in range(50):
        jb.put(1000 + FRAME * i, payload(i), now)
        if i == 30:
            jb.skip_to(1000 + FRAME * 30)  # frames 0-29 went out as they came
        got = jb.pop(now)
        if isinstance(got, bytes):
            played.append(struct.unpack_from("!I", got)[0])
        now += 0.02
    assert played and played[0] < 30  # before the skip it played what it had
    after = played[played.index(max(p for p in played if p < 30)) + 1 :]
    assert after == list(range(30, 30 + len(after))) and len(after) >= 15
    assert jb.stats.late == 0


def test_after_a_stall_of_the_box_the_buffer_cuts_back_to_its_depth_at_once() -> None:
    """The media clock stalled for 300 ms (the box was descheduled): the packets of that time
    wait in the buffer. It drops them in one cut, not one frame every half second for seconds
    (each drop a slip the listener hears), and loses nothing else."""
    jb = JitterBuffer()
    played: list[int] = []
    tick = 0.007
    for i in range(300):
        jb.put(1000 + FRAME * i, payload(i), i * 0.02 + 0.001)
        if 100 <= i < 115:
            continue  # no tick for 300 ms
        got = jb.pop(tick + i * 0.02)
        if isinstance(got, bytes):
            played.append(struct.unpack_from("!I", got)[0])
    gaps = [(a, b) for a, b in itertools.pairwise(played) if b != a + 1]
    assert len(gaps) == 1 and 12 <= gaps[0][1] - gaps[0][0] - 1 <= 15, gaps  # one cut of the stall's frames
    assert played[-1] >= 298 and jb.stats.lost == jb.stats.late == 0
