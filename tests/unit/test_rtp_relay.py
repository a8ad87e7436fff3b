"""Bridged legs on real loopback sockets and the real media clock: packets of a
leg with the same codec relayed as they come (order, gaps and timing kept, on
the other leg's SSRC and numbering), re-clocked through the jitter buffer when
the line is jittery or the codecs differ, DTMF sent between relayed packets."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np
import pytest
from pydantic import ValidationError

from tests.harness.rtp import Phone, negotiated
from tests.harness.waits import until
from zentrale.config import SipConfig
from zentrale.lines.sip import rtp
from zentrale.lines.sip.rtp import PortPool, RtpStream, relay_wanted
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import CODECS, codec_for
from zentrale.media.players import FrameQueue


@dataclass
class Bridge:
    caller: Phone
    agent: Phone
    a: RtpStream  # the caller's leg
    b: RtpStream  # the agent's leg
    a_clock: MediaClock


@pytest.fixture
async def bridge_of(clock: MediaClock) -> AsyncIterator[Callable[..., object]]:
    made: list[Bridge] = []

    async def make(relay: str = "auto", caller_codec: str = "PCMU", agent_codec: str = "PCMU") -> Bridge:
        ports = PortPool("127.0.0.1", 30000, 40000)
        caller, agent = Phone(), Phone()
        # deep enough from the start for a swapped pair (a shallow buffer would conceal the late one)
        a, b = (RtpStream(clock, relay=relay, jitter_ms=(60.0, 120.0)) for _ in range(2))
        for stream, phone, codec in ((a, caller, caller_codec), (b, agent, agent_codec)):
            await stream.open(ports)
            stream.configure(negotiated(phone.port, codec=codec), codec_for(codec))
        # as calls/session.py bridges two legs: one queue each way
        to_agent, to_caller = FrameQueue(), FrameQueue()
        a.sink, b.source = to_agent, to_agent
        b.sink, a.source = to_caller, to_caller
        a.start()
        b.start()
        made.append(Bridge(caller, agent, a, b, clock))
        return made[-1]

    yield make
    for br in made:
        br.a.close()
        br.b.close()
        br.caller.close()
        br.agent.close()


class Pace:
    """Sends on absolute 20 ms deadlines, as a phone's clock does (sleeps alone would drift)."""

    def __init__(self) -> None:
        self.start = asyncio.get_running_loop().time()

    async def at(self, frame: int) -> None:
        await asyncio.sleep(max(0.0, self.start + 0.02 * frame - asyncio.get_running_loop().time()))


def tone(i: int) -> bytes:
    return bytes([(0x10 + i) & 0x7F]) * 160


async def test_relayed_packets_keep_their_order_and_gaps_on_the_agent_legs_numbering(
    bridge_of: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    # relay "always": whether a line is steady enough is ``relay_wanted``'s (below), and what
    # waited out a stall of the loop is a test of its own: a loaded test machine has both
    monkeypatch.setattr(rtp, "RELAY_STALE_S", 60.0)
    br = await bridge_of("always")  # type: ignore[misc]
    assert isinstance(br, Bridge)
    # steady first, then one packet lost and a pair swapped
    pace = Pace()
    for i in range(40):
        br.caller.send(br.a.local_port, 1000 + i, 8000 + 160 * i, tone(i))
        await pace.at(i + 1)
    sent = [40, 42, 44, 43, 45]  # 41 lost, 43 and 44 swapped on the way
    for i in sent:
        br.caller.send(br.a.local_port, 1000 + i, 8000 + 160 * i, tone(i))
        await pace.at(i + 1)
    await until(lambda: tone(45) in [p.payload for p in br.agent.audio()])
    got = br.agent.audio()
    tail = got[-len(sent) :]
    assert [p.payload for p in tail] == [tone(i) for i in sent]  # as they came: not reordered, nothing made up
    base = tail[0]
    assert [(p.seq - base.seq) & 0xFFFF for p in tail] == [i - 40 for i in sent]  # the gap and the swap kept
    assert [(p.ts - base.ts) & 0xFFFFFFFF for p in tail] == [160 * (i - 40) for i in sent]
    assert {p.ssrc for p in got} == {tail[0].ssrc} != {0x1234}  # the agent leg's own SSRC throughout
    # the agent leg's numbering runs on from what it sent before the caller's packets came: no
    # jump, but for ticks the media clock skipped while it sent on its own (this machine stalled)
    seqs = [p.seq for p in got[: -len(sent)]]
    assert sum((b - a - 1) & 0xFFFF for a, b in itertools.pairwise(seqs)) <= br.a_clock.skipped
    assert br.a.quality()["packets_lost"] == 1


def steady_phone(phone: Phone, to: int, frames: range, seq0: int, ts0: int) -> threading.Thread:
    """A phone on its own thread and clock (the loop's stalls do not shift it), 20 ms a packet."""

    def run() -> None:
        start = time.monotonic()
        for n, i in enumerate(frames):
            phone.send(to, seq0 + i, ts0 + 160 * i, tone(i))
            time.sleep(max(0.0, start + 0.02 * (n + 1) - time.monotonic()))

    thread = threading.Thread(target=run)
    thread.start()
    return thread


async def test_a_jittery_line_is_re_clocked_through_the_jitter_buffer(
    bridge_of: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    br = await bridge_of()  # type: ignore[misc]
    assert isinstance(br, Bridge)
    # three packets at once every 60 ms: up to 40 ms of jitter; every 10th packet lost
    for burst in range(40):
        for i in range(3 * burst, 3 * burst + 3):
            if i % 10 != 9:
                br.caller.send(br.a.local_port, 2000 + i, 4000 + 160 * i, tone(i))
        await asyncio.sleep(0.06)
    await until(lambda: len(br.agent.audio()) >= 100)
    got = br.agent.audio()
    # one packet per tick, in order, no gaps: the losses were concealed (not passed on as gaps);
    # only ticks the media clock skipped (this machine stalled) leave a gap, numbers and time alike
    steps = [((b.seq - a.seq) & 0xFFFF, (b.ts - a.ts) & 0xFFFFFFFF) for a, b in itertools.pairwise(got)]
    assert all(ts == 160 * seq for seq, ts in steps), steps
    assert sum(seq - 1 for seq, _ in steps) <= br.a_clock.skipped, steps
    assert br.a.playout is not None and br.a.playout.concealer.concealed >= 6
    assert not any("relayed" in r.getMessage() for r in caplog.records)


async def test_a_steady_line_is_re_clocked_until_it_is_known_then_relayed(
    bridge_of: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    br = await bridge_of()  # type: ignore[misc]
    assert isinstance(br, Bridge)
    await asyncio.to_thread(steady_phone(br.caller, br.a.local_port, range(100), 700, 100).join)
    await until(lambda: tone(99) in [p.payload for p in br.agent.audio()])
    assert any("steady line" in r.getMessage() and "relayed" in r.getMessage() for r in caplog.records)
    got = br.agent.audio()
    relayed = [p for p in got if p.payload in {tone(i) for i in range(100)}]
    assert len(relayed) >= 50 and relayed[-1].payload == tone(99)
    # the switch keeps the agent leg's numbering whole: one timeline, no jump back (gaps only
    # where this machine stalled: ticks the clock skipped, packets that waited out a stall)
    assert all(0 < (b.seq - a.seq) & 0xFFFF < 100 for a, b in itertools.pairwise(got))
    assert all(0 < (b.ts - a.ts) & 0xFFFFFFFF < 160 * 100 for a, b in itertools.pairwise(got))


async def test_a_steady_g722_line_stays_re_clocked_the_far_decoder_follows_one_encoder(
    bridge_of: Callable[..., object], caplog: pytest.LogCaptureFixture
) -> None:
    # G.722 is ADPCM: the agent's decoder adapts to the encoder it hears. Switched from our
    # encoder (re-clocked while the line was unknown) to the caller's (relayed once steady),
    # clean G.722 bridges scored 2.97 PESQ against 3.70 relayed and 3.71 re-clocked throughout.
    caplog.set_level(logging.INFO)
    br = await bridge_of(caller_codec="G722", agent_codec="G722")  # type: ignore[misc]
    assert isinstance(br, Bridge)
    sent = {tone(i) for i in range(100)}

    def caller() -> None:
        start = time.monotonic()
        for i in range(100):
            br.caller.send(br.a.local_port, 700 + i, 100 + 160 * i, tone(i), pt=9)
            time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))

    await asyncio.to_thread(caller)
    await until(lambda: len([p for p in br.agent.receive() if p.pt == 9]) >= 60, what="G.722 to the agent")
    assert not any("steady line" in r.getMessage() for r in caplog.records)
    assert br.a._relay_on is False  # still re-clocked: the way it began
    assert [p for p in br.agent.receive() if p.pt == 9 and p.payload in sent]  # the caller's G.722, re-timed


@pytest.mark.parametrize(("relay", "codecs"), [("never", ("PCMU", "PCMU")), ("auto", ("PCMA", "PCMU"))])
async def test_audio_is_re_clocked_in_order_when_relaying_is_off_or_the_codecs_differ(
    bridge_of: Callable[..., object], relay: str, codecs: tuple[str, str]
) -> None:
    br = await bridge_of(relay, *codecs)  # type: ignore[misc]
    assert isinstance(br, Bridge)
    caller_codec, agent_codec = codec_for(codecs[0]), codec_for(codecs[1])
    # each frame noise of its own, so every frame that comes out can be told apart
    noise = np.random.default_rng(7).normal(0, 3000, (40, 160))
    pcm = [np.clip(x, -32768, 32767).astype("<i2").tobytes() for x in noise]
    sent = [caller_codec.encode(x) for x in pcm]
    # what the agent gets for each: the payload itself, or transcoded (the box decodes and encodes)
    expected = {
        (p if codecs[0] == codecs[1] else agent_codec.encode(caller_codec.decode(p))): i for i, p in enumerate(sent)
    }
    order = [*list(range(30)), 31, 30, *list(range(32, 40))]
    pace = Pace()
    for n, i in enumerate(order):
        br.caller.send(br.a.local_port, 300 + i, 9000 + 160 * i, sent[i], pt=CODECS[codecs[0]].payload_type)
        await pace.at(n + 1)

    def heard() -> list[int]:
        return [expected[p.payload] for p in br.agent.audio() if p.payload in expected]

    await until(lambda: 39 in heard())
    assert 30 in heard() and 31 in heard()
    assert heard() == sorted(heard())  # in order: 30 went out before 31


async def test_dtmf_to_a_relayed_leg_goes_out_between_the_packets_and_the_numbering_stays_whole(
    bridge_of: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rtp, "RELAY_STALE_S", 60.0)  # as above
    br = await bridge_of("always")  # type: ignore[misc]
    assert isinstance(br, Bridge)
    pace = Pace()
    for i in range(60):
        br.caller.send(br.a.local_port, 500 + i, 100 + 160 * i, tone(i))
        if i == 20:
            br.b.send_dtmf("7", 100)
        await pace.at(i + 1)
    await until(lambda: tone(59) in [p.payload for p in br.agent.receive()])
    got = br.agent.receive()
    events = [p for p in got if p.pt == 101]
    assert events and events[0].payload[0] == 7 and events[0].marker
    seqs = [p.seq for p in got]
    assert sum((b - a - 1) & 0xFFFF for a, b in itertools.pairwise(seqs)) <= br.a_clock.skipped
    after = [p for p in got if p.pt == 0 and p.seq > events[-1].seq]
    assert after and after[0].marker and after[0].ts >= events[-1].ts  # audio resumes, marked, not in the past


@pytest.mark.parametrize(
    ("mode", "relaying", "spread_ms", "wanted"),
    [
        ("auto", None, 3.0, True),  # a new bridge on a steady line
        ("auto", None, 15.0, False),  # ... on a line already known to be jittery
        ("auto", True, 15.0, True),  # within the hysteresis: stays as it is
        ("auto", False, 15.0, False),
        ("auto", True, 25.0, False),
        ("auto", False, 8.0, True),
        ("always", True, 200.0, True),
        ("never", None, 0.0, False),
    ],
)
def test_relaying_follows_the_lines_spread_with_hysteresis(
    mode: str, relaying: bool | None, spread_ms: float, wanted: bool
) -> None:
    assert relay_wanted(mode, relaying, spread_ms) is wanted


async def test_the_line_settings_reach_the_stream(clock: MediaClock) -> None:
    config = SipConfig.model_validate(
        {"jitter_buffer": {"min_ms": 40, "max_ms": 200, "relay": "never"}, "inband_dtmf": "always"}
    )
    stream = RtpStream.configured(clock, config)
    assert (stream.jitter_ms, stream.relay_mode, stream.inband_dtmf) == ((40, 200), "never", "always")
    with pytest.raises(ValidationError, match=r"min_ms .* is above max_ms"):
        SipConfig.model_validate({"jitter_buffer": {"min_ms": 200, "max_ms": 100}})
    with pytest.raises(ValidationError, match="inband_dtmf"):
        SipConfig.model_validate({"inband_dtmf": "sometimes"})
    with pytest.raises(ValueError, match="relay must be one of"):
        RtpStream(clock, relay="maybe")


async def test_packets_that_waited_out_a_stall_of_the_box_are_not_relayed_late(
    bridge_of: Callable[..., object],
) -> None:
    """The loop stalls for 300 ms while the caller's phone sends on: what waited in the socket
    would reach the agent's phone 40-300 ms late in one burst (its jitter buffer would slip for
    seconds); it is left out, a gap the phone conceals, and relaying goes on."""
    br = await bridge_of("always")  # type: ignore[misc]
    assert isinstance(br, Bridge)
    sender = steady_phone(br.caller, br.a.local_port, range(80), 900, 0)
    await until(lambda: len(br.agent.audio()) >= 20)
    time.sleep(0.3)  # noqa: ASYNC251 - the box stalls
    await asyncio.to_thread(sender.join)
    await until(lambda: tone(79) in [p.payload for p in br.agent.audio()])
    seqs = [p.seq for p in br.agent.audio() if p.payload in {tone(i) for i in range(80)}]
    gaps = [(b - a) & 0xFFFF for a, b in itertools.pairwise(seqs) if (b - a) & 0xFFFF != 1]
    assert len(gaps) == 1 and 10 <= gaps[0] <= 17, gaps  # the stall's packets, less the last 40 ms


async def test_a_relayed_leg_whose_codec_changes_sends_transcoded_frames_again(
    bridge_of: Callable[..., object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A re-INVITE gives the agent's leg PCMA while the caller stays on PCMU: nothing can be
    relayed any more, and the leg goes back to sending its own frames on the clock."""
    monkeypatch.setattr(rtp, "RELAY_STALE_S", 60.0)  # as above
    br = await bridge_of("always")  # type: ignore[misc]
    assert isinstance(br, Bridge)
    pace = Pace()
    for i in range(100):
        if i == 30:
            br.b.configure(negotiated(br.agent.port, codec="PCMA"), codec_for("PCMA"))
        br.caller.send(br.a.local_port, 100 + i, 160 * i, tone(i))
        await pace.at(i + 1)
    await asyncio.sleep(0.2)
    got = br.agent.receive()
    assert any(p.pt == 0 and p.payload == tone(10) for p in got)  # relayed before
    pcma = [p for p in got if p.pt == 8]
    assert len(pcma) >= 50  # transcoded after, one per tick
