"""One contract for every Line driver: the SIP line (a second SIP user agent
calls it), the modem line (on the simulated modem) and the ALSA line (ALSA's
file plugin on a FIFO and a file, gpiozero's mock pins). Each far end rings,
speaks, presses keys and hangs up; each line must deliver the same Call."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pytest

from tests.harness.audio import tone_level
from tests.harness.waits import until
from zentrale.config import AlsaLineConfig, ModemConfig, SipConfig
from zentrale.lines.base import Call, Line
from zentrale.lines.modem.line import ModemLine
from zentrale.lines.modem.simulator import ModemSimulator
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.media.clock import MediaClock
from zentrale.media.dsp import tone
from zentrale.media.dtmf import dtmf_pcm
from zentrale.media.frames import Frame
from zentrale.media.library import clip_from_pcm
from zentrale.media.players import ClipPlayer, FrameQueue

ALSA_DIR = Path(f"/tmp/zentrale-alsa-contract-{os.getpid()}")
ASOUNDRC = f"""
pcm.zline_play {{ type file; slave.pcm "null"; file "{ALSA_DIR}/heard.raw"; format "raw" }}
pcm.zline_capture {{ type file; slave.pcm "null"; file "/dev/null"; infile "{ALSA_DIR}/says.fifo"; format "raw" }}
"""


class Collector:
    def __init__(self) -> None:
        self.pcm = bytearray()

    def write(self, frame: Frame) -> None:
        self.pcm += frame.pcm


def level_of(pcm: bytes, freq: float) -> float:
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768
    return tone_level(x, 8000, freq)


class FarEnd(Protocol):
    line: Line
    shows_caller: str

    async def ring(self) -> Call: ...
    async def connected(self) -> None: ...
    def say(self, pcm: bytes) -> None: ...
    def press(self, digit: str) -> None: ...
    async def hang_up(self) -> None: ...
    def heard(self) -> bytes: ...
    def sees_hang_up(self) -> bool: ...


class SipFarEnd:
    shows_caller = "0301234567"

    def __init__(self, clock: MediaClock) -> None:
        self.line = SipUserAgent(SipConfig(bind="127.0.0.1", port=0, tcp=False), clock)
        self.far = SipUserAgent(SipConfig(bind="127.0.0.1", port=0, tcp=False, codecs=["PCMU"]), clock)
        self.calls: list[Call] = []
        self.line.on_incoming(self.calls.append)
        self._dial: asyncio.Task[Call] | None = None
        self.far_call: Call | None = None
        self.sink = Collector()
        self.queue = FrameQueue(max_frames=10_000)

    async def start(self) -> None:
        await self.line.start()
        await self.far.start()

    async def stop(self) -> None:
        await self.far.stop()
        await self.line.stop()

    async def ring(self) -> Call:
        target = f"sip:100@127.0.0.1:{self.line.transport.port}"
        self._dial = asyncio.ensure_future(self.far.originate(target, caller=self.shows_caller))
        return await until(lambda: self.calls and self.calls[-1])  # type: ignore[no-any-return]

    async def connected(self) -> None:
        assert self._dial is not None
        self.far_call = await asyncio.wait_for(self._dial, 5)
        self.far_call.set_sink(self.sink)
        self.far_call.set_source(self.queue)

    def say(self, pcm: bytes) -> None:
        for i in range(0, len(pcm) - 319, 320):
            self.queue.write(Frame(pcm[i : i + 320], 8000))

    def press(self, digit: str) -> None:
        assert self.far_call is not None
        self.far_call.send_digit(digit)

    async def hang_up(self) -> None:
        assert self.far_call is not None
        await self.far_call.hangup()

    def heard(self) -> bytes:
        return bytes(self.sink.pcm)

    def sees_hang_up(self) -> bool:
        return self.far_call is not None and self.far_call.ended.done()


class ModemFarEnd:
    shows_caller = "0301234567"

    def __init__(self, clock: MediaClock, tmp: Path) -> None:
        self.sim = ModemSimulator(tmp / "ttyModem", ring_interval=0.2)
        self.line = ModemLine(ModemConfig(device=str(self.sim.path), reopen_seconds=0.2), clock)
        self.calls: list[Call] = []
        self.line.on_incoming(self.calls.append)

    async def start(self) -> None:
        self.sim.start()
        await self.line.start()
        await until(lambda: self.line.status()["state"] == "idle", 10)

    async def stop(self) -> None:
        await self.line.stop()
        self.sim.stop()

    async def ring(self) -> Call:
        self.sim.ring(self.shows_caller, "Erika Mustermann")
        return await until(lambda: self.calls and self.calls[-1])  # type: ignore[no-any-return]

    async def connected(self) -> None:
        await until(lambda: self.sim.far.state == "connected")

    def say(self, pcm: bytes) -> None:
        self.sim.say(pcm)

    def press(self, digit: str) -> None:
        self.sim.press(digit)

    async def hang_up(self) -> None:
        self.sim.hang_up("busy")

    def heard(self) -> bytes:
        return self.sim.heard()

    def sees_hang_up(self) -> bool:
        return self.sim.far.state == "hung_up_by_box"


class AlsaFarEnd:
    """The line board's far side: what the caller says goes into a FIFO that ALSA's
    file plugin reads as capture (paced by this writer, 20 ms at a time); what the
    box plays lands in a file; ring and hook are gpiozero mock pins."""

    shows_caller = "unknown"

    def __init__(self, clock: MediaClock) -> None:
        from zentrale.lines.alsa.line import AlsaLine

        self.line = AlsaLine(
            AlsaLineConfig(playback_device="zline_play", capture_device="zline_capture", pin_factory="mock"), clock
        )
        self.calls: list[Call] = []
        self.line.on_incoming(self.calls.append)
        self._speech = bytearray()
        self._lock = threading.Lock()
        self._writer: threading.Thread | None = None
        self._ringer: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    async def start(self) -> None:
        fifo = ALSA_DIR / "says.fifo"
        fifo.unlink(missing_ok=True)
        os.mkfifo(fifo)
        (ALSA_DIR / "heard.raw").unlink(missing_ok=True)
        await self.line.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._ringer is not None:
            self._ringer.cancel()
        await self.line.stop()

    def _write_loop(self) -> None:
        try:
            fd = os.open(ALSA_DIR / "says.fifo", os.O_WRONLY)  # blocks until capture opens
        except OSError:
            return
        try:
            deadline = time.monotonic()
            while not self._stop.is_set():
                with self._lock:
                    chunk = bytes(self._speech[:320])
                    del self._speech[:320]
                os.write(fd, chunk + bytes(320 - len(chunk)))
                deadline += 0.02
                time.sleep(max(0.0, deadline - time.monotonic()))
        except OSError:
            pass  # the line closed its capture (on hook)
        finally:
            os.close(fd)

    async def _ring_loop(self) -> None:
        pin = self.line.ring_input.pin  # type: ignore[union-attr]
        while self.line.call is None:
            pin.drive_high()
            await asyncio.sleep(0.1)
            pin.drive_low()
            await asyncio.sleep(0.6)

    async def ring(self) -> Call:
        self._writer = threading.Thread(target=self._write_loop, daemon=True)
        self._writer.start()
        self._ringer = asyncio.ensure_future(self._ring_loop())
        return await until(lambda: self.calls and self.calls[-1])  # type: ignore[no-any-return]

    async def connected(self) -> None:
        await until(lambda: self.line.hook_output is not None and self.line.hook_output.value == 1)

    def say(self, pcm: bytes) -> None:
        with self._lock:
            self._speech += pcm

    def press(self, digit: str) -> None:
        self.say(dtmf_pcm(digit, 80, level_dbfs=-10) + bytes(2 * 800))

    async def hang_up(self) -> None:
        on, off = tone(425, 0.48, 8000, level_dbfs=-20), bytes(2 * int(0.48 * 8000))
        self.say((on + off) * 4)

    def heard(self) -> bytes:
        path = ALSA_DIR / "heard.raw"
        return path.read_bytes() if path.exists() else b""

    def sees_hang_up(self) -> bool:
        return self.line.hook_output is not None and self.line.hook_output.value == 0


# scripts/setup --test installs pyalsaaudio (the "alsa" extra): no driver is skipped
DRIVERS = ["sip", "modem", "alsa"]


def _prepare_alsa() -> None:
    """alsa-lib reads its configuration once per process: point it at ours before the first open."""
    ALSA_DIR.mkdir(exist_ok=True)
    (ALSA_DIR / "asoundrc").write_text(ASOUNDRC)
    os.environ["ALSA_CONFIG_PATH"] = f"/usr/share/alsa/alsa.conf:{ALSA_DIR}/asoundrc"


@pytest.fixture(params=DRIVERS)
async def far(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[FarEnd]:
    clock = MediaClock()
    clock.start()
    end: Any
    if request.param == "sip":
        end = SipFarEnd(clock)
    elif request.param == "modem":
        end = ModemFarEnd(clock, tmp_path)
    else:
        _prepare_alsa()
        end = AlsaFarEnd(clock)
    await end.start()
    try:
        yield end
    finally:
        await end.stop()
        clock.stop()


async def answered_call(far: FarEnd) -> Call:
    call = await far.ring()
    await call.answer()
    await far.connected()
    return call


async def test_an_incoming_call_is_offered_then_answered(far: FarEnd) -> None:
    call = await far.ring()
    assert (call.direction, call.line) == ("in", far.line.name if hasattr(far.line, "name") else call.line)
    assert call.caller == far.shows_caller
    assert not call.answered
    assert not call.ended.done()
    await call.answer()
    await far.connected()
    assert call.answered
    assert call.sample_rate in (8000, 16000)
    info = call.info()
    assert {"call_id", "line", "direction", "caller", "state"} <= set(info)
    # every line's status counts the call (SIP: calls it carries; modem and ALSA: calls so far)
    assert far.line.status()["calls"] == 1, far.line.status()
    await call.hangup()


async def test_what_the_line_plays_is_heard_at_the_far_end(far: FarEnd) -> None:
    call = await answered_call(far)
    player = ClipPlayer(clip_from_pcm("tone", tone(1000, 1.0, call.sample_rate, level_dbfs=-12), call.sample_rate))
    call.set_source(player)
    await asyncio.wait_for(player.done, 5)
    await until(lambda: level_of(far.heard()[-2 * 8000 :], 1000) > 0.5, 3, "the 1 kHz tone at the far end")
    await call.hangup()


async def test_what_the_far_end_says_reaches_the_sink(far: FarEnd) -> None:
    call = await answered_call(far)
    sink = Collector()
    call.set_sink(sink)
    far.say(tone(600, 1.0, 8000, level_dbfs=-12))
    await until(lambda: level_of(bytes(sink.pcm), 600) > 0.5, 5, "the caller's 600 Hz tone in the sink")
    await call.hangup()


async def test_digits_reach_on_digit(far: FarEnd) -> None:
    call = await answered_call(far)
    digits: list[str] = []
    call.on_digit(digits.append)
    await asyncio.sleep(0.3)
    for digit in "1#":
        far.press(digit)
        await asyncio.sleep(0.3)
    await until(lambda: digits == ["1", "#"], 5)
    await call.hangup()


async def test_the_far_end_hanging_up_ends_the_call(far: FarEnd) -> None:
    call = await answered_call(far)
    await asyncio.sleep(0.2)
    await far.hang_up()
    reason = await asyncio.wait_for(call.ended, 8)
    assert "hangup" in reason


async def test_hanging_up_ends_the_call_at_the_far_end(far: FarEnd) -> None:
    call = await answered_call(far)
    await call.hangup()
    assert call.ended.done()
    await until(far.sees_hang_up, 5)
    await call.hangup()  # twice is harmless
