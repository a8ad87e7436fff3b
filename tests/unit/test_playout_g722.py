"""G.722's decoder follows the caller's encoder through every payload it sent.

G.722 is ADPCM (ITU-T G.722 §3.6, §4): the decoder adapts its predictor and
step size from the codes alone, so it reproduces the encoder's signal only
while it decodes every payload in order. One payload left out garbles the
next ~100 ms and leaves it off for ~300 ms. What the box hears of a G.722
caller (a recording, the concealment's history, the in-band DTMF detector)
must therefore come from a decoder that saw all of it: also while the caller
waited in a queue with nobody listening, and where the jitter buffer dropped
frames to catch up after a stall.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import numpy as np

from tests.harness.rtp import Phone, negotiated
from tests.harness.waits import until
from zentrale.lines.sip.rtp import PortPool, RtpStream
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import codec_for
from zentrale.media.frames import Frame
from zentrale.media.playout import Playout

FRAMES = 80


def g722_stream(frames: int = FRAMES) -> tuple[list[bytes], list[bytes]]:
    """A caller's G.722 payloads (noise: every frame differs) and what a decoder that saw
    all of them makes of each, as the caller's own encoder intends."""
    rng = np.random.default_rng(14)
    pcm = [np.clip(rng.normal(0, 4000, 320), -32768, 32767).astype("<i2").tobytes() for _ in range(frames)]
    encoder, reference = codec_for("G722"), codec_for("G722")
    payloads = [encoder.encode(x) for x in pcm]
    return payloads, [reference.decode(p) for p in payloads]


class Heard:
    """The stream's sink: what the box hears (a recording, a bridge), frame by frame."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def write(self, frame: Frame) -> None:
        self.frames.append(frame)


def checked(frames: list[Frame], payloads: list[bytes], decoded: list[bytes]) -> Iterator[tuple[int, bool]]:
    """(index of the caller's frame, whether the box heard it as the caller's encoder meant)."""
    index = {p: i for i, p in enumerate(payloads)}
    for frame in frames:
        if frame.wire is not None and frame.wire[1] in index:
            i = index[frame.wire[1]]
            yield i, frame.pcm == decoded[i]


async def test_a_g722_caller_is_heard_right_from_the_first_frame_after_waiting_with_nobody_listening(
    clock: MediaClock,
) -> None:
    """A caller waits in the queue (nobody needs their samples), then the bridge or the
    recording starts: the first frames the box hears are already the caller's audio as
    their encoder meant it, not a fresh decoder finding its way in mid-stream."""
    payloads, decoded = g722_stream()
    stream = RtpStream(clock, jitter_ms=(60.0, 120.0))  # deep: a loaded machine must lose nothing here
    phone = Phone()
    try:
        await stream.open(PortPool("127.0.0.1", 30000, 40000))
        stream.configure(negotiated(phone.port, codec="G722"), codec_for("G722"))
        stream.start()

        def caller() -> None:  # its own thread and clock, 20 ms a packet
            start = time.monotonic()
            for i, payload in enumerate(payloads):
                phone.send(stream.local_port, 100 + i, 5000 + 160 * i, payload, pt=9)
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))

        sender = threading.Thread(target=caller)
        sender.start()
        assert stream.playout is not None
        jb = stream.playout.buffer
        await until(lambda: jb.stats.played >= 25, what="the caller's first half second played to nobody")
        heard = Heard()
        stream.sink = heard
        await asyncio.to_thread(sender.join)
        await until(lambda: any(i == FRAMES - 1 for i, _ in checked(heard.frames, payloads, decoded)))
        got = list(checked(heard.frames, payloads, decoded))
        assert got[0][0] >= 20  # the box began listening mid-stream
        assert len(got) >= 30 and jb.stats.lost == 0
        assert [i for i, right in got if not right] == []
    finally:
        stream.close()
        phone.close()


def test_frames_dropped_to_catch_up_after_a_stall_are_still_decoded() -> None:
    """The box stalls for 300 ms: the jitter buffer cuts back to its depth in one go. The
    frames it drops are not played, but G.722's decoder still decodes them, so what is
    played after the cut is the caller's audio, not garble."""
    payloads, decoded = g722_stream()
    playout = Playout(codec_for("G722"), min_ms=40.0, max_ms=120.0)
    played: list[Frame] = []
    sent = 0
    ticks = [0.05 + 0.02 * n for n in range(20)] + [0.75 + 0.02 * n for n in range(40)]
    for now in ticks:  # the clock did not tick between 0.43 and 0.75 s
        while sent < FRAMES and 0.02 * sent <= now:
            playout.put(160 * sent, payloads[sent], 0.02 * sent)
            sent += 1
        frame = playout.pop(now)
        if frame is not None:
            played.append(frame)
    assert playout.buffer.stats.dropped >= 5  # the cut happened
    got = list(checked(played, payloads, decoded))
    assert got[-1][0] >= 60
    assert [i for i, right in got if not right] == []


def test_a_g722_decoder_that_misses_one_payload_is_garbled_then_finds_the_encoder_again() -> None:
    """Why the box decodes every payload: a decoder that missed one 20 ms payload (or decoded
    one more) is garbled in the next frames and follows its encoder again only after ~300 ms."""
    payloads, decoded = g722_stream(60)

    def snr_db(got: bytes, want: bytes) -> float:
        g, w = (np.frombuffer(x, dtype="<i2").astype(np.float64) for x in (got, want))
        return float(10 * np.log10((w @ w + 1) / ((g - w) @ (g - w) + 1)))

    decoder = codec_for("G722")
    out = [decoder.decode(p) for i, p in enumerate(payloads) if i != 20]  # payload 20 left out
    after = [snr_db(out[k], decoded[k + 1]) for k in range(20, 59)]  # out[k] stands for frame k + 1
    assert after[0] < 10  # garbled
    assert max(after[20:]) > 40  # found its way back within 400 ms (it decodes the encoder's own signal)
    assert all(snr_db(a, b) > 90 for a, b in zip(out[:20], decoded[:20], strict=True))  # before: exact
