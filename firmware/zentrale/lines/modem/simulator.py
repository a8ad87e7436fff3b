"""A V.253 voice modem on a pseudo-terminal, with the telephone line behind it
played by a test (like OctoPrint's virtual printer).

The driver opens ``path`` (a symlink to the pty, like /dev/serial/by-id/...)
exactly as it would a USB modem. Behind the modem is one analog line whose
far end a test drives through this object's methods: ``ring`` (with caller
ID), ``say`` (audio into the line), ``press`` (a DTMF digit, reported as
``<DLE>digit`` in the middle of the audio stream), ``hang_up`` (busy tone,
dial tone or a loop break, reported as ``<DLE>b``/``d``/``l``), and
``unplug``/``replug``. What the box plays is kept in ``heard()``, paced by
the simulated modem's own 8 kHz clock. Hook flashes and the digits dialled
after them are kept as ``transfers``.

Flow control: the modem takes at most ``buffer_ms`` of audio ahead; beyond
that it stops reading the pty, so the driver's writes block exactly as they
would with CTS low (a pty has no CTS line). With +IFC=1,1 in +VTX it also
sends XOFF/XON.

Run ``python -m zentrale.lines.modem.simulator --link /tmp/modem0`` and
type ``ring 0301234 Name``, ``dtmf 1``, ``hangup``, ``unplug``, ``replug``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import select
import sys
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zentrale.lines.modem.codec import CAN, DLE, ETX, shield
from zentrale.lines.modem.samples import FORMATS, SampleFormat

log = logging.getLogger(__name__)

FRAME_SAMPLES = 160


@dataclass(frozen=True)
class SimulatedModel:
    ati3: str
    fmi: str
    fmm: str
    fmr: str
    vsm: dict[int, str]  # compression method -> sample format
    vsm_names: dict[int, str]
    vtr: bool = True


MODELS = {
    # identities as these chips are reported to answer; to be confirmed on the devices (hw/modems.md)
    "usr5637": SimulatedModel(
        "CX93001-EIS_V0.2013-V92", "U.S. Robotics", "USR5637", "V0.2013",
        {1: "u8", 130: "u8"}, {1: "UNSIGNED PCM", 129: "IMA ADPCM", 130: "UNSIGNED PCM"},
    ),
    "zoom3095": SimulatedModel(
        "CX93001-EIS_V0.2002-V92", "Conexant", "CX93010", "V0.2002",
        {1: "u8", 130: "u8"}, {1: "UNSIGNED PCM", 129: "IMA ADPCM", 130: "UNSIGNED PCM"},
    ),
    "hsf": SimulatedModel(
        "HSF 56K Data,Fax,Voice,Speakerphone", "Conexant", "HSF softK56", "7.80",
        {1: "u8", 130: "u8", 131: "ulaw", 132: "alaw", 133: "s16le"},
        {1: "UNSIGNED PCM", 130: "UNSIGNED PCM", 131: "ULAW", 132: "ALAW", 133: "LINEAR"},
    ),
    "generic": SimulatedModel("V.253 voice modem", "ACME", "VM-1", "1.0", {1: "u8", 4: "ulaw", 5: "alaw"},
                              {1: "UNSIGNED PCM", 4: "G.711U", 5: "G.711A"}, vtr=False),
}  # fmt: skip


@dataclass
class Transfer:
    flash_ms: int
    extension: str


@dataclass
class FarEnd:
    """The other side of the analog line."""

    state: str = "idle"  # idle | ringing | connected | gone | transferred
    number: str = ""
    name: str = ""
    speech: bytearray = field(default_factory=bytearray)  # PCM16 still to say
    events: list[bytes] = field(default_factory=list)  # DLE events to report next frame


class ModemSimulator:
    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        model: str = "usr5637",
        ring_interval: float = 5.0,
        buffer_ms: int = 200,
        outgoing: str = "answer",
    ) -> None:
        self.path = Path(path)
        self.model = MODELS[model]
        self.ring_interval = ring_interval
        self.buffer_ms = buffer_ms
        self.outgoing = outgoing  # how a dialled number reacts: answer | busy | noanswer
        self._lock = threading.RLock()
        self._write_lock = threading.Lock()
        self._master = -1
        self._slave = -1
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self.far = FarEnd()
        self.commands: list[str] = []
        self.transfers: list[Transfer] = []
        self.s_registers: dict[int, int] = {29: 70}
        self.plugged = False
        self.underruns = 0
        self.max_buffered = 0
        self._heard = bytearray()
        self._reset()

    def _reset(self) -> None:
        self.fclass = 0
        self.vsm = 1
        self.vcid = 0
        self.ifc = "2,2"
        self.hook = "on"
        self.voice = ""  # "" (command state) | "vtr" | "vtx" | "vrx"
        self._line = bytearray()
        self._tx = bytearray()  # audio from the DTE waiting to be "played"
        self._dle = False
        self._xoff = False
        self._flashed: Transfer | None = None

    # --- plugging --------------------------------------------------------------------------

    def start(self) -> ModemSimulator:
        self._stop.clear()
        self.plug()
        self._threads = [
            threading.Thread(target=self._read_loop, name="modem-sim rx", daemon=True),
            threading.Thread(target=self._clock_loop, name="modem-sim clock", daemon=True),
        ]
        for t in self._threads:
            t.start()
        return self

    def plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        with self._lock:
            self._master, self._slave = master, slave
            self._reset()
            self.plugged = True
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)

    def unplug(self) -> None:
        """Like pulling the USB stick: the device node goes away mid-whatever."""
        with self._lock:
            master, slave = self._master, self._slave
            self._master = self._slave = -1
            self.plugged = False
            if self.far.state == "connected":
                self.far.state = "gone"
        self.path.unlink(missing_ok=True)
        for fd in (master, slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def replug(self) -> None:
        self.plug()

    def stop(self) -> None:
        self._stop.set()
        self.unplug()
        for t in self._threads:
            t.join(2)

    def __enter__(self) -> ModemSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the far end (the test's side) ---------------------------------------------------------

    def ring(self, number: str = "", name: str = "", *, private: bool = False, unavailable: bool = False) -> None:
        """A call comes in: RING, the caller ID, RING ... until answered or ``cancel``."""
        with self._lock:
            self.far = FarEnd(state="ringing", number=number, name=name)
        cid = "P" if private else "O" if unavailable else number
        thread = threading.Thread(target=self._ringing, args=(cid, name), name="modem-sim ring", daemon=True)
        thread.start()

    def cancel(self) -> None:
        with self._lock:
            if self.far.state == "ringing":
                self.far.state = "idle"

    def say(self, pcm: bytes) -> None:
        """PCM16 at 8 kHz the far end says into the line (after what it still says)."""
        with self._lock:
            self.far.speech += pcm

    def press(self, digit: str) -> None:
        """The far end presses a key; the modem reports it as <DLE>digit inside the audio."""
        with self._lock:
            self.far.events.append(bytes([DLE, ord(digit)]))

    def hang_up(self, signal: str = "busy") -> None:
        """The far end hangs up; the exchange then plays busy or dial tone, or breaks the loop."""
        code = {"busy": b"b", "dial_tone": b"d", "loop": b"l"}[signal]
        with self._lock:
            self.far.state = "gone"
            self.far.events.append(b"\x10" + code)

    def heard(self) -> bytes:
        """PCM16 of everything the box played to the line since the far end got connected."""
        with self._lock:
            return bytes(self._heard)

    def wait_for(self, what: str, timeout: float = 10.0) -> bool:
        """Wait until the far end's state (or the hook) is ``what``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if what in (self.far.state, f"hook_{self.hook}", f"voice_{self.voice or 'none'}"):
                    return True
            time.sleep(0.01)
        return False

    # --- the modem: commands ---------------------------------------------------------------------

    def _send(self, data: bytes) -> None:
        with self._write_lock:
            fd = self._master
            if fd < 0:
                return
            with contextlib.suppress(OSError):
                os.write(fd, data)

    def _reply(self, *lines: str) -> None:
        self._send(b"".join(b"\r\n" + line.encode() + b"\r\n" for line in lines))

    def _ringing(self, cid: str, name: str) -> None:
        rings = 0
        while not self._stop.is_set():
            with self._lock:
                if self.far.state != "ringing" or not self.plugged:
                    return
                vcid = self.vcid
            self._reply("RING")
            rings += 1
            if rings == 1 and vcid:
                # Between the first and second ring (Bellcore GR-30 / ETSI EN 300 659-1).
                items = [f"DATE = {time.strftime('%m%d')}", f"TIME = {time.strftime('%H%M')}", f"NMBR = {cid}"]
                if name or cid in ("P", "O"):
                    items.append(f"NAME = {name or cid}")
                self._reply(*items)
            deadline = time.monotonic() + self.ring_interval
            while time.monotonic() < deadline:
                with self._lock:
                    if self.far.state != "ringing":
                        return
                time.sleep(0.01)

    def _command_line(self, text: str) -> None:
        self.commands.append(text)
        upper = text.strip()
        if not upper.upper().startswith("AT"):
            if upper:
                self._reply("ERROR")
            return
        body = upper[2:]
        out: list[str] = []
        pos = 0
        try:
            while pos < len(body):
                pos, lines, final = self._one(body, pos)
                out += lines
                if final:
                    if out:
                        self._reply(*out)
                    if final != "-":
                        self._reply(final)
                    return
        except ValueError:
            self._reply("ERROR")
            return
        self._reply(*out, "OK")

    def _one(self, body: str, pos: int) -> tuple[int, list[str], str]:
        """Execute the command at ``pos``; returns (next pos, info lines, early final code)."""
        ch = body[pos].upper()
        if ch == "+":
            end = body.find(";", pos)
            end = len(body) if end < 0 else end
            lines, final = self._extended(body[pos + 1 : end].upper())
            return end + 1, lines, final
        if ch == "D":
            return len(body), [], self._dial(body[pos + 1 :])
        if ch == "S":
            num = ""
            pos += 1
            while pos < len(body) and body[pos].isdigit():
                num += body[pos]
                pos += 1
            if pos < len(body) and body[pos] == "?":
                return pos + 1, [f"{self.s_registers.get(int(num), 0):03d}"], ""
            if pos < len(body) and body[pos] == "=":
                pos += 1
                value = ""
                while pos < len(body) and body[pos].isdigit():
                    value += body[pos]
                    pos += 1
                self.s_registers[int(num)] = int(value or 0)
                return pos, [], ""
            raise ValueError(body)
        if ch == "&":
            pos += 2
        elif ch in "EVQHIZLMX":
            pos += 1
        else:
            raise ValueError(body)
        arg = ""
        while pos < len(body) and body[pos].isdigit():
            arg += body[pos]
            pos += 1
        if ch == "Z":
            with self._lock:
                self._reset()
        elif ch == "H":
            self._on_hook()
        elif ch == "I":
            return pos, [self.model.ati3 if arg == "3" else "56000"], ""
        return pos, [], ""

    def _extended(self, cmd: str) -> tuple[list[str], str]:
        name, _, value = cmd.partition("=")
        model = self.model
        if name in ("FMI?", "FMM?", "FMR?", "GMI", "GMM", "GMR"):
            return [{"FMI?": model.fmi, "FMM?": model.fmm, "FMR?": model.fmr}.get(name, model.fmi)], ""
        if name == "FCLASS":
            if value == "?":
                return ["0,1,8"], ""
            if value not in ("0", "1", "8"):
                raise ValueError(cmd)
            self.fclass = int(value)
            return [], ""
        if name == "FCLASS?":
            return [str(self.fclass)], ""
        if name == "IFC":
            self.ifc = value
            return [], ""
        voice_only = name.startswith("V")
        if voice_only and self.fclass != 8:
            raise ValueError("not in voice mode")
        if name == "VCID":
            self.vcid = int(value or 0)
        elif name == "VSM":
            if value == "?":
                return [f'{k},"{v}",8,0,8000,0,0' for k, v in model.vsm_names.items()], ""
            cml = int(value.split(",")[0])
            rate = value.split(",")[1] if "," in value else "8000"
            if cml not in model.vsm or rate != "8000":
                raise ValueError(cmd)
            self.vsm = cml
        elif name == "VSM?":
            return [f"{self.vsm},8000,0,0"], ""
        elif name == "VLS":
            self._vls(int(value or 0))
        elif name in ("VTR", "VTX", "VRX"):
            return self._voice(name.lower())
        elif name not in ("VSD", "VIT", "VNH", "VGT", "VGR", "VRA", "VRN", "VDR", "VTD", "VEN", "VDD"):
            raise ValueError(cmd)
        return [], ""

    def _vls(self, device: int) -> None:
        with self._lock:
            if device == 0:
                self._on_hook()
                return
            if device != 1:
                raise ValueError("only the line is simulated")
            self.hook = "off"
            if self.far.state == "ringing":
                self.far.state = "connected"
                self._heard.clear()

    def _voice(self, mode: str) -> tuple[list[str], str]:
        with self._lock:
            if self.hook != "off" or (mode == "vtr" and not self.model.vtr):
                raise ValueError(mode)
            self.voice = mode
            self._tx.clear()
            self._dle = False
        self._reply("CONNECT")
        return [], "-"

    def _dial(self, dial: str) -> str:
        stay = dial.endswith(";")
        digits = ""
        flash: Transfer | None = None
        for ch in dial.rstrip(";").upper():
            if ch == "!":
                flash = Transfer(self.s_registers.get(29, 70) * 10, "")
                time.sleep(flash.flash_ms / 1000)
            elif ch in "0123456789*#ABCD":
                digits += ch
                time.sleep(0.01)
            elif ch == ",":
                time.sleep(self.s_registers.get(8, 2) / 10)  # scaled for tests
        with self._lock:
            self.hook = "off"
            if flash is not None:
                self._flashed = Transfer(flash.flash_ms, digits)
            if stay:
                return "OK"
            if self.outgoing == "busy":
                return "BUSY"
            if self.outgoing == "noanswer":
                return "NO ANSWER"
            self.far = FarEnd(state="connected", number=digits)
            self._heard.clear()
            return "VCON"

    def _on_hook(self) -> None:
        with self._lock:
            self.hook = "on"
            self.voice = ""
            if self._flashed is not None and self.far.state == "connected":
                self.transfers.append(self._flashed)
                self.far.state = "transferred"
            elif self.far.state in ("connected", "ringing"):
                self.far.state = "hung_up_by_box"
            self._flashed = None

    # --- the modem: bytes in ---------------------------------------------------------------------

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            fd = self._master
            if fd < 0:
                time.sleep(0.02)
                continue
            with self._lock:
                full = self.voice in ("vtr", "vtx") and len(self._tx) >= self._buffer_bytes()
            if full:
                time.sleep(0.005)  # stop reading: the DTE's writes block like with CTS low
                continue
            try:
                ready, _, _ = select.select([fd], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(fd, 512)
            except OSError:
                time.sleep(0.02)
                continue
            self._feed(data)

    def _buffer_bytes(self) -> int:
        return self.buffer_ms * 8 * FORMATS[self.model.vsm.get(self.vsm, "u8")].bytes_per_sample

    def _feed(self, data: bytes) -> None:
        pos = 0
        while pos < len(data):
            if self.voice:
                pos = self._feed_voice(data, pos)
                continue
            byte = data[pos]
            pos += 1
            if byte == 0x0D:
                text = self._line.decode("ascii", errors="replace")
                self._line.clear()
                self._command_line(text)
            elif byte != 0x0A and byte >= 0x20 and len(self._line) < 256:
                self._line.append(byte)

    def _feed_voice(self, data: bytes, pos: int) -> int:
        with self._lock:
            while pos < len(data) and self.voice:
                byte = data[pos]
                pos += 1
                if self._dle:
                    self._dle = False
                    if byte == DLE:
                        self._tx.append(DLE)
                    elif byte in (ord("^"), ord("!"), ETX):
                        self._end_voice()
                    elif byte == CAN:
                        self._tx.clear()
                elif byte == DLE:
                    self._dle = True
                else:
                    self._tx.append(byte)
            self.max_buffered = max(self.max_buffered, len(self._tx))
        return pos

    def _end_voice(self) -> None:
        self.voice = ""
        self._tx.clear()
        self._send(b"\x10\x03\r\nOK\r\n")

    # --- the modem: its 8 kHz clock --------------------------------------------------------------

    def _format(self) -> SampleFormat:
        return FORMATS[self.model.vsm.get(self.vsm, "u8")]

    def _clock_loop(self) -> None:
        deadline = time.monotonic()
        while not self._stop.is_set():
            deadline += FRAME_SAMPLES / 8000
            delay = deadline - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.2:
                deadline = time.monotonic()
            with self._lock:
                if self.voice:
                    self._frame()

    def _frame(self) -> None:
        fmt = self._format()
        size = FRAME_SAMPLES * fmt.bytes_per_sample
        if self.voice in ("vtr", "vtx"):
            chunk = bytes(self._tx[:size])
            del self._tx[:size]
            if len(chunk) < size:
                self.underruns += 1
                chunk += fmt.encode(bytes(2 * ((size - len(chunk)) // fmt.bytes_per_sample)))
            if self.far.state == "connected":
                self._heard += fmt.decode(chunk)
            if self.ifc == "1,1" and self.voice == "vtx":
                self._flow_control()
        if self.voice in ("vtr", "vrx"):
            speech = bytes(self.far.speech[: 2 * FRAME_SAMPLES])
            del self.far.speech[: 2 * FRAME_SAMPLES]
            speech += bytes(2 * FRAME_SAMPLES - len(speech))
            audio = shield(fmt.encode(speech))
            events = b"".join(self.far.events)
            self.far.events.clear()
            half = len(audio) // 2
            if half and audio[half - 1] == DLE and (half < 2 or audio[half - 2] != DLE):
                half += 1  # never split a shielded <DLE><DLE> pair
            # events go in the middle of the frame's audio, as a real modem's DSP reports them
            self._send(audio[:half] + events + audio[half:])

    def _flow_control(self) -> None:
        level = len(self._tx)
        high = self._buffer_bytes() * 3 // 4
        if not self._xoff and level >= high:
            self._xoff = True
            self._send(b"\x13")
        elif self._xoff and level < high // 2:
            self._xoff = False
            self._send(b"\x11")

    def info(self) -> dict[str, Any]:
        with self._lock:
            return {
                "plugged": self.plugged,
                "hook": self.hook,
                "voice": self.voice,
                "fclass": self.fclass,
                "vsm": self.vsm,
                "far_end": self.far.state,
                "transfers": [(t.flash_ms, t.extension) for t in self.transfers],
                "underruns": self.underruns,
                "max_buffered": self.max_buffered,
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A simulated V.253 voice modem on a pseudo-terminal.")
    parser.add_argument("--link", default="/tmp/zentrale-modem", help="symlink to create for the modem's tty")
    parser.add_argument("--model", default="usr5637", choices=sorted(MODELS))
    parser.add_argument("--ring-interval", type=float, default=5.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    sim = ModemSimulator(args.link, model=args.model, ring_interval=args.ring_interval).start()
    sys.stdout.write(f"modem on {args.link} ({args.model}); commands: ring NUMBER [NAME] | dtmf D | "
                     "say-tone HZ SECONDS | hangup | unplug | replug | info | quit\n")  # fmt: skip
    sys.stdout.flush()
    try:
        for raw in sys.stdin:
            words = raw.split()
            if not words:
                continue
            cmd, rest = words[0], words[1:]
            if cmd == "ring":
                sim.ring(rest[0] if rest else "", " ".join(rest[1:]))
            elif cmd == "dtmf":
                for digit in "".join(rest):
                    sim.press(digit)
            elif cmd == "say-tone":
                from zentrale.media.dsp import tone

                sim.say(tone(float(rest[0]), float(rest[1]), 8000))
            elif cmd == "hangup":
                sim.hang_up(rest[0] if rest else "busy")
            elif cmd in ("unplug", "replug"):
                getattr(sim, cmd)()
            elif cmd == "info":
                sys.stdout.write(f"{sim.info()}\n")
                sys.stdout.flush()
            elif cmd == "quit":
                break
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
