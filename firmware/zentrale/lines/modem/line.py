"""The voice-modem ``Line``: one analog line through one V.253 modem.

All state lives on the event loop; the serial port's threads (``port.py``)
only post what they read. One task keeps the modem usable: open the port,
initialise (model detection, +FCLASS=8, +VSM, caller ID, flash time), wait
for rings, and after any error or an unplugged modem start again after
``reopen_seconds``; ``status()`` says where it is for ``/status``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from zentrale.config import ModemConfig
from zentrale.errors import LineError
from zentrale.lines.base import Call, IncomingHandler, OriginateFailed
from zentrale.lines.modem.call import ModemCall
from zentrale.lines.modem.codec import (
    END_DUPLEX,
    FINAL_CONNECT,
    FINAL_OK,
    CallerId,
    Line,
    VoiceEnd,
    VoiceEvent,
    add_caller_id_item,
    caller_id_item,
    command,
    is_final,
)
from zentrale.lines.modem.port import Item, SerialLink, VoiceFrame
from zentrale.lines.modem.profiles import ModemProfile, detect, flash_commands, profile_by_id
from zentrale.lines.modem.samples import FORMATS, SampleFormat
from zentrale.media.clock import MediaClock

log = logging.getLogger(__name__)

RING_GAP = 8.0  # seconds without RING: the caller gave up (ring cadence is ~5 s)


class ModemError(LineError):
    """The modem answered ERROR, something else than expected, or nothing."""


class ModemLine:
    def __init__(self, config: ModemConfig, media_clock: MediaClock) -> None:
        self.config = config
        self.name = config.name
        self._clock = media_clock
        self._incoming: IncomingHandler | None = None
        self._link: SerialLink | None = None
        self._task: asyncio.Task[None] | None = None
        self._lost: asyncio.Future[str] | None = None
        self._pending: asyncio.Future[tuple[list[str], str]] | None = None
        self._pending_lines: list[str] = []
        self._lock = asyncio.Lock()
        self._stopping = False
        self.profile: ModemProfile | None = None
        self.sample_format: SampleFormat | None = None
        self.identity = ""
        self.state = "closed"
        self.call: ModemCall | None = None
        self._rings = 0
        self._last_ring = -1e9
        self._caller_id = CallerId()
        self._cid_timer: asyncio.TimerHandle | None = None
        self._ring_watch: asyncio.TimerHandle | None = None
        self.opened = 0
        self.last_error: str | None = None
        self.calls_total = 0
        self.rings_total = 0
        self.events: dict[str, int] = {}
        self._tasks: set[asyncio.Future[Any]] = set()
        self._in_voice = False  # the modem is in the voice duplex data state
        self._refused = False  # the ringing call was refused: let it ring out

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the Line port -----------------------------------------------------------------

    def on_incoming(self, handler: IncomingHandler) -> None:
        self._incoming = handler

    async def start(self) -> None:
        self._stopping = False
        self._task = asyncio.ensure_future(self._run())

    async def stop(self) -> None:
        self._stopping = True
        call = self.call
        if call is not None and not call.ended.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.hangup(call, "shutdown"), 3)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._close_link()
        self.state = "closed"

    def status(self) -> dict[str, Any]:
        link = self._link
        return {
            "name": self.name,
            "type": "modem",
            "device": self.config.device,
            "state": self.state,
            "ready": self.state in ("idle", "ringing", "in_call"),
            "profile": self.profile.id if self.profile else None,
            "identity": self.identity,
            "sample_format": self.sample_format.name if self.sample_format else None,
            "call": self.call.call_id if self.call else None,
            "calls": self.calls_total,
            "rings": self.rings_total,
            "opened": self.opened,
            "last_error": self.last_error,
            "events": dict(self.events),
            "audio_dropped": link.audio_dropped if link else 0,
            "bytes_in": link.bytes_in if link else 0,
            "bytes_out": link.bytes_out if link else 0,
        }

    async def originate(
        self,
        target: str,
        *,
        display: str = "",
        caller: str = "",
        ring_timeout: float = 30.0,
        on_ringing: Callable[[], None] | None = None,
        cancel: asyncio.Future[None] | None = None,
    ) -> Call:
        """Dial out on the line (voice dial, V.253 §10.1.2: VCON when answered)."""
        number = target.removeprefix("tel:")
        if not number or any(ch not in "0123456789*#,!W" for ch in number):
            raise OriginateFailed(484, f"cannot dial {target!r} on an analog line")
        if self.state != "idle" or self.call is not None:
            raise OriginateFailed(486, "the analog line is busy")
        call = ModemCall(self, direction="out", caller=caller or self.config.number, caller_name=None, called=number)
        self.call = call
        self.state = "in_call"
        try:
            dial = asyncio.ensure_future(self._command(f"ATD{number}", timeout=ring_timeout, final=FINAL_OK))
            waits: set[asyncio.Future[Any]] = {dial} | ({cancel} if cancel is not None else set())
            if on_ringing is not None:
                on_ringing()
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            if not dial.done():
                dial.cancel()
                call._end("cancelled")
                self.call = None
                await self._reset_line()
                self.state = "idle"
                raise OriginateFailed(487, "cancelled")
            await dial
            await self._start_voice(call)
        except ModemError as err:
            call._end(f"failed: {err}")
            self.call = None
            with contextlib.suppress(LineError):
                await self._reset_line()
            self.state = "idle"
            text = str(err)
            code = 486 if "BUSY" in text else 480 if "NO ANSWER" in text or "timed out" in text else 503
            raise OriginateFailed(code, text) from err
        call.state = "answered"
        self.calls_total += 1
        return call

    # --- used by ModemCall ---------------------------------------------------------------

    async def answer(self, call: ModemCall) -> None:
        """Go off hook on the ringing line (+VLS=1, V.253 §10.3.3) and start full duplex."""
        try:
            await self._command("AT+VLS=1", timeout=5, final=FINAL_OK)
            await self._start_voice(call)
        except LineError as err:
            log.warning("call %s: answering failed: %s", call.call_id, err)
            self._call_lost(call, f"answer failed: {err}")
            self._fail(str(err))
            return
        call.state = "answered"
        self.calls_total += 1

    async def hangup(self, call: ModemCall, reason: str) -> None:
        call._end(reason)
        if self.call is call:
            await self._finish(call)

    def remote_hangup(self, call: ModemCall, reason: str) -> None:
        call._end(reason)
        self._spawn(self._finish(call))

    def forget(self, call: ModemCall) -> None:
        """A call refused before answering: let the line ring out, do not offer it again."""
        if self.call is call:
            self.call = None
            self.state = "idle" if self._link else self.state
            self._refused = True

    async def transfer(self, call: ModemCall, extension: str) -> None:
        """Hook flash (the ``!`` dial modifier, flash time set by S29 at start-up),
        the extension's digits, then on hook: the PBX connects the caller to the
        extension (blind transfer as on any analog PBX extension)."""
        call.stop_media()
        log.info("call %s: transfer to %s by hook flash", call.call_id, extension)
        try:
            await self._leave_voice()
            dial = self.config.transfer_dial.format(extension=extension)
            await self._command(f"ATD{dial};", timeout=10 + len(dial), final=FINAL_OK)
            await asyncio.sleep(self.config.transfer_hangup_delay)
            await self._command("ATH", timeout=5, final=FINAL_OK)
        except LineError as err:
            self._call_lost(call, f"transfer failed: {err}")
            self._fail(str(err))
            raise
        call._end(f"transferred to {extension}")
        self.call = None
        self.state = "idle"

    def write_audio(self, data: bytes) -> None:
        if self._link is not None:
            self._link.write(data, audio=True)

    # --- the modem's life cycle ------------------------------------------------------------

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self._open()
                await self._initialise()
                self.state = "idle"
                log.info("modem %s ready: %s (%s)", self.config.device, self.profile.id if self.profile else "?",
                         self.identity or "no identity")  # fmt: skip
                assert self._lost is not None
                why = await self._lost
                raise ModemError(why)
            except LineError as err:
                self.last_error = str(err)
                log.warning("modem %s: %s; reopening in %.1f s", self.config.device, err, self.config.reopen_seconds)
            if self.call is not None:
                self._call_lost(self.call, "modem lost")
            await self._close_link()
            self.state = "recovering"
            await asyncio.sleep(self.config.reopen_seconds)

    async def _open(self) -> None:
        self.state = "opening"
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        link = SerialLink(
            self.config.device,
            baud=self.config.baud,
            rtscts=self.config.flow_control == "rtscts",
            loop=loop,
            on_items=self._on_items,
            on_lost=self._fail,
        )
        await loop.run_in_executor(None, link.open)
        self._link = link
        self.opened += 1

    async def _close_link(self) -> None:
        link, self._link = self._link, None
        self._in_voice = False
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(ModemError("port closed"))
        if link is not None:
            await asyncio.get_running_loop().run_in_executor(None, link.close)

    def _fail(self, why: str) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(why)
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(ModemError(why))

    async def _initialise(self) -> None:
        self.state = "initialising"
        assert self._link is not None
        # A modem left in a voice data state by a crash first gets the ways out of it.
        self._link.write(END_DUPLEX + b"\x10!\x10\x03\r")
        await asyncio.sleep(0.1)
        for attempt in range(3):
            try:
                await self._command("AT", timeout=1.0)
                break
            except ModemError:
                if attempt == 2:
                    raise
        await self._command("ATZ", timeout=3.0)
        await self._command("ATE0V1Q0", timeout=1.0)
        self.identity = await self._identify()
        cfg = self.config
        self.profile = detect(self.identity) if cfg.profile == "auto" else profile_by_id(cfg.profile)
        self.sample_format = FORMATS[self.profile.sample_format]
        try:
            await self._command("AT+FCLASS=8")
        except ModemError as err:
            raise ModemError(f"not a voice modem (+FCLASS=8 refused): {err}") from err
        await self._command("AT+IFC=2,2" if cfg.flow_control == "rtscts" else "AT+IFC=1,1")
        await self._command(f"AT+VSM={self.profile.vsm}")
        optional = [
            self.profile.caller_id if cfg.caller_id else "",
            f"+VSD=128,{round(cfg.silence_hangup_seconds * 10)}",
        ]
        optional += flash_commands(self.profile, cfg.flash_ms) + list(self.profile.init) + ["+VLS=0"]
        for extra in filter(None, optional):
            try:
                await self._command("AT" + extra)
            except ModemError as err:
                log.warning("modem %s: AT%s refused (%s); going on", cfg.device, extra, err)

    async def _identify(self) -> str:
        parts: list[str] = []
        for query in ("ATI3", "AT+FMI?", "AT+FMM?", "AT+FMR?"):
            try:
                lines, _ = await self._command(query, timeout=1.0)
            except ModemError:
                continue
            parts += [text.removeprefix("+FMI:").removeprefix("+FMM:").removeprefix("+FMR:").strip() for text in lines]
        return " / ".join(p for p in parts if p)

    async def _command(
        self, text: str | bytes, *, timeout: float = 2.0, final: tuple[str, ...] = FINAL_OK
    ) -> tuple[list[str], str]:
        """Send one command and wait for its final result code; ``ModemError`` otherwise."""
        async with self._lock:
            link = self._link
            if link is None or not link.is_open:
                raise ModemError("the modem is not open")
            loop = asyncio.get_running_loop()
            self._pending = loop.create_future()
            self._pending_lines = []
            link.write(command(text) if isinstance(text, str) else text)
            shown = text if isinstance(text, str) else repr(text)
            try:
                lines, result = await asyncio.wait_for(self._pending, timeout)
            except TimeoutError:
                raise ModemError(f"{shown}: timed out after {timeout:.1f} s") from None
            finally:
                self._pending = None
            if result not in final and not any(result.startswith(f) for f in final):
                raise ModemError(f"{shown}: {result}")
            log.debug("modem %s: %s -> %s %s", self.config.device, shown, lines, result)
            return lines, result

    # --- what the modem says (on the loop, posted by the reader thread) --------------------

    def _on_items(self, items: list[Item]) -> None:
        call = self.call
        for item in items:
            if isinstance(item, VoiceFrame):
                if call is not None and not call.ended.done():
                    call.received(item.pcm)
            elif isinstance(item, VoiceEvent):
                self.events[item.name] = self.events.get(item.name, 0) + 1
                if call is not None and not call.ended.done():
                    call.event(item)
            elif isinstance(item, VoiceEnd):
                log.debug("modem %s: voice data state ended", self.config.device)
            elif isinstance(item, Line):
                self._line(item.text)

    def _line(self, text: str) -> None:
        if text == "RING" or text.startswith("RING "):
            self._ring()
            return
        item = caller_id_item(text)
        if item is not None:
            add_caller_id_item(self._caller_id, *item)
            return
        if text.startswith(("DRON", "DROF", "CIDM")):
            return
        pending = self._pending
        if pending is not None and not pending.done():
            if is_final(text):
                pending.set_result((self._pending_lines, text))
            else:
                self._pending_lines.append(text)
            return
        log.debug("modem %s: unsolicited %r", self.config.device, text)

    def _ring(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self.rings_total += 1
        if self.call is not None or self.state not in ("idle", "ringing"):
            return
        if now - self._last_ring > RING_GAP:
            self._rings = 0
            self._refused = False
            self._caller_id = CallerId()
        self._last_ring = now
        self._rings += 1
        self.state = "ringing"
        if self._ring_watch is not None:
            self._ring_watch.cancel()
        self._ring_watch = loop.call_later(RING_GAP, self._rings_stopped)
        if self._rings >= self.config.answer_after_rings and not self._refused:
            self._offer()

    def _rings_stopped(self) -> None:
        self._refused = False
        if self.state == "ringing" and self.call is None:
            log.info("modem %s: caller gave up after %d ring(s)", self.config.device, self._rings)
            self.state = "idle"
        self._rings = 0

    def _offer(self) -> None:
        if self._ring_watch is not None:
            self._ring_watch.cancel()
            self._ring_watch = None
        cid = self._caller_id
        call = ModemCall(
            self,
            direction="in",
            caller=cid.display_number if self.config.caller_id else "unknown",
            caller_name=cid.display_name,
            called=self.config.number,
            caller_id=dict(cid.raw),
        )
        self.call = call
        self.state = "in_call"
        log.info("call %s: ring from %s (%s)", call.call_id, call.caller, call.caller_name or "no name")
        if self._incoming is None:
            self._spawn(call.reject())
            return
        self._incoming(call)

    # --- voice state -------------------------------------------------------------------------

    async def _start_voice(self, call: ModemCall) -> None:
        assert self._link is not None
        assert self.sample_format is not None
        assert self.profile is not None
        self._link.sample_format = self.sample_format
        if not self.profile.full_duplex:
            raise ModemError(f"profile {self.profile.id}: half-duplex modems (+VTX/+VRX only) are not supported yet")
        await self._command("AT+VTR", timeout=3, final=FINAL_CONNECT)
        self._in_voice = True
        call.start_media(self._clock, self.sample_format)

    async def _leave_voice(self) -> None:
        """<DLE>^ ends the voice duplex state; the modem answers <DLE><ETX> then OK."""
        if self._link is not None:
            self._link.clear_audio()
        await self._command(END_DUPLEX, timeout=3, final=FINAL_OK)
        self._in_voice = False

    async def _finish(self, call: ModemCall) -> None:
        """After a call: leave the voice state, go on hook, wait for the next ring."""
        if self.call is not call:
            return
        try:
            if self._in_voice:
                with contextlib.suppress(ModemError):
                    await self._leave_voice()
            await self._reset_line()
        except LineError as err:
            self._fail(f"cannot hang up: {err}")
        finally:
            if self.call is call:
                self.call = None
                if self.state == "in_call":
                    self.state = "idle"
            self._rings = 0
            self._last_ring = -1e9

    async def _reset_line(self) -> None:
        await self._command("ATH", timeout=5, final=FINAL_OK)
        with contextlib.suppress(ModemError):
            await self._command("AT+VLS=0", timeout=2)

    def _call_lost(self, call: ModemCall, reason: str) -> None:
        call._end(reason)
        if self.call is call:
            self.call = None
