"""The modem driver against the simulated modem, in one process: caller ID
variants, DLE edge cases end to end, hook-flash transfer, dialling out, the
far end hanging up, and what the serial threads cost."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from tests.harness.waits import until
from zentrale.config import ModemConfig
from zentrale.lines.base import Call, OriginateFailed
from zentrale.lines.modem.call import ModemCall
from zentrale.lines.modem.line import ModemLine
from zentrale.lines.modem.simulator import ModemSimulator
from zentrale.media.clock import MediaClock
from zentrale.media.frames import Frame
from zentrale.media.library import clip_from_pcm
from zentrale.media.players import ClipPlayer


class Collector:
    def __init__(self) -> None:
        self.pcm = bytearray()

    def write(self, frame: Frame) -> None:
        self.pcm += frame.pcm


class Rig:
    def __init__(self, sim: ModemSimulator, line: ModemLine) -> None:
        self.sim = sim
        self.line = line
        self.calls: list[Call] = []

    async def incoming(self, **ring: object) -> ModemCall:
        before = len(self.calls)
        self.sim.ring(**ring)  # type: ignore[arg-type]
        await until(lambda: len(self.calls) > before)
        call = self.calls[-1]
        assert isinstance(call, ModemCall)
        return call


@pytest.fixture
async def rig(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Rig]:
    options = getattr(request, "param", {})
    sim = ModemSimulator(tmp_path / "ttyModem", ring_interval=0.2, model=options.pop("model", "usr5637")).start()
    clock = MediaClock()
    clock.start()
    line = ModemLine(ModemConfig(device=str(sim.path), reopen_seconds=0.2, **options), clock)
    r = Rig(sim, line)
    line.on_incoming(r.calls.append)
    await line.start()
    await until(lambda: line.state == "idle", 10)
    try:
        yield r
    finally:
        await line.stop()
        clock.stop()
        sim.stop()


@pytest.mark.parametrize(
    ("ring", "caller", "name"),
    [
        ({"number": "0301234567", "name": "Erika Mustermann"}, "0301234567", "Erika Mustermann"),
        ({"number": "", "private": True}, "private", None),
        ({"number": "", "unavailable": True}, "unavailable", None),
    ],
)
async def test_caller_id_reaches_the_call(rig: Rig, ring: dict[str, object], caller: str, name: str | None) -> None:
    call = await rig.incoming(**ring)
    assert (call.caller, call.caller_name, call.direction, call.line) == (caller, name, "in", "modem")
    await call.answer()
    await call.hangup()
    await until(lambda: rig.sim.far.state == "hung_up_by_box", 3)


async def test_audio_full_of_dle_bytes_round_trips_both_ways(rig: Rig) -> None:
    call = await rig.incoming(number="0301234567")
    await call.answer()
    # every 8-bit value (0x10 = DLE, 0x10 0x03 = DLE ETX, ...) as PCM16 the u8 format keeps exactly
    pattern = ((np.arange(256 * 10) % 256 - 128) << 8).astype("<i2").tobytes()
    sink = Collector()
    call.set_sink(sink)
    player = ClipPlayer(clip_from_pcm("pattern", pattern + bytes(-len(pattern) % 320), 8000))
    call.set_source(player)
    rig.sim.say(pattern)
    await asyncio.wait_for(player.done, 5)
    await until(lambda: pattern in rig.sim.heard(), 3, "what the box played, unchanged, at the far end")
    await until(lambda: pattern in bytes(sink.pcm), 3, "what the caller said, unchanged, in the sink")
    await call.hangup()


async def test_a_digit_in_the_middle_of_audio_is_reported_and_the_audio_goes_on(rig: Rig) -> None:
    call = await rig.incoming(number="0301234567")
    await call.answer()
    digits: list[str] = []
    call.on_digit(digits.append)
    sink = Collector()
    call.set_sink(sink)
    ramp = ((np.arange(8000) % 200 - 100) << 8).astype("<i2").tobytes()
    rig.sim.say(ramp)
    await asyncio.sleep(0.4)
    rig.sim.press("7")
    rig.sim.press("#")
    await until(lambda: digits == ["7", "#"], 2)
    # no byte lost or added around the events
    await until(lambda: ramp in bytes(sink.pcm), 3, "the whole ramp around the digits")
    assert call.frames_in >= 50
    await call.hangup()


@pytest.mark.parametrize("rig", [{"flash_ms": 100}, {"flash_ms": 600}], indirect=True)
async def test_transfer_flashes_the_hook_dials_the_extension_and_hangs_up(rig: Rig) -> None:
    call = await rig.incoming(number="0301234567")
    await call.answer()
    await call.transfer("22")
    assert call.ended.result() == "transferred to 22"
    flash_ms = rig.line.config.flash_ms
    assert [(t.flash_ms, t.extension) for t in rig.sim.transfers] == [(flash_ms, "22")]
    assert rig.sim.far.state == "transferred"
    assert rig.sim.info()["hook"] == "on"
    assert rig.line.state == "idle"


@pytest.mark.parametrize("signal", ["busy", "dial_tone", "loop"])
async def test_far_end_hang_up_ends_the_call_and_frees_the_line(rig: Rig, signal: str) -> None:
    call = await rig.incoming(number="0301234567")
    await call.answer()
    rig.sim.hang_up(signal)
    reason = await asyncio.wait_for(call.ended, 3)
    assert reason.startswith("remote hangup")
    await until(lambda: rig.line.state == "idle" and rig.sim.info()["hook"] == "on", 3)
    second = await rig.incoming(number="0301111")
    await second.answer()
    await until(lambda: rig.sim.far.state == "connected", 3)
    await second.hangup()


async def test_dialling_out_connects_or_reports_busy(rig: Rig) -> None:
    call = await rig.line.originate("0421555")
    assert call.answered
    assert rig.sim.far.state == "connected"
    assert rig.sim.far.number == "0421555"
    await call.hangup()
    await until(lambda: rig.sim.far.state == "hung_up_by_box", 3)
    rig.sim.outgoing = "busy"
    with pytest.raises(OriginateFailed) as err:
        await rig.line.originate("0421556")
    assert err.value.why == "busy"
    await until(lambda: rig.line.state == "idle", 3)


async def test_serial_threads_cost_little_per_call(rig: Rig) -> None:
    call = await rig.incoming(number="0301234567")
    await call.answer()
    link = rig.line._link
    assert link is not None
    cpu0 = link.reader_cpu + link.writer_cpu
    t0 = time.monotonic()
    rig.sim.say(bytes(2 * 8000 * 4))
    await asyncio.sleep(4.0)
    cpu = link.reader_cpu + link.writer_cpu - cpu0
    wall = time.monotonic() - t0
    print(f"serial threads: {100 * cpu / wall:.2f} % of one core per call; dropped {link.audio_dropped} frames")
    assert cpu / wall < 0.10
    assert link.audio_dropped == 0
    assert rig.sim.info()["max_buffered"] <= 1600
    await call.hangup()


async def test_a_refused_call_rings_out_without_being_offered_again(rig: Rig) -> None:
    call = await rig.incoming(number="0301234567")
    await call.reject(503, "Service Unavailable")
    assert call.ended.result() == "rejected 503"
    await asyncio.sleep(1.0)  # five more rings
    assert len(rig.calls) == 1
    assert rig.sim.far.state == "ringing"
    assert rig.sim.info()["hook"] == "on"
    rig.sim.cancel()
