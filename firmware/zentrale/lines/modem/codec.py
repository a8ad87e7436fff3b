"""The V.253 wire protocol with no I/O: bytes in, events out (like h11).

Covers what a voice modem says and hears on its serial port: AT command
lines and result codes, caller-ID report lines, and the voice data state
in which audio is DLE-shielded both ways and events arrive as
``<DLE><code>`` pairs (ITU-T V.253 §4.6 and Tables 14/15). The driver and
the simulator both use it, so they cannot disagree about framing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DLE = 0x10
ETX = 0x03
CAN = 0x18
DLE_BYTE = b"\x10"

# <DLE> codes the DTE sends inside the voice data state (V.253 Table 15).
END_TRANSMIT = b"\x10\x03"  # <DLE><ETX>: end +VTX after the buffer played
END_DUPLEX = b"\x10^"  # <DLE>^: leave the +VTR voice duplex state
RECEIVE_ABORT = b"\x10!"  # <DLE>!: leave +VRX
CLEAR_TRANSMIT = b"\x10\x18"  # <DLE><CAN>: drop buffered transmit audio

# Final result codes (V.250 §5.7 and V.253 §8: VCON after a voice dial/answer).
FINAL_OK = ("OK", "VCON")
FINAL_CONNECT = ("CONNECT",)
FINAL_ERROR = ("ERROR", "NO CARRIER", "BUSY", "NO DIALTONE", "NO DIAL TONE", "NO ANSWER", "+CME ERROR", "DELAYED")
FINAL = FINAL_OK + FINAL_CONNECT + FINAL_ERROR

DTMF_DIGITS = "0123456789*#ABCD"

# Event codes the DCE sends as <DLE><code> (V.253 Table 14), by meaning.
EVENT_NAMES = {
    "b": "busy",
    "d": "dial_tone",
    "l": "loop_current_interruption",
    "L": "loop_polarity_reversal",
    "s": "silence",
    "q": "quiet",
    "u": "transmit_underrun",
    "o": "receive_overrun",
    "h": "local_on_hook",
    "H": "local_off_hook",
    "c": "fax_calling",
    "e": "data_calling",
    "a": "answer_tone",
    "f": "data_answer",
    "R": "ring",
    "r": "ringback",
    "$": "bong",
    "T": "timing_mark",
    "X": "packet_header",
    ".": "end_of_packet",
    "/": "dtmf_start",
    "~": "dtmf_end",
}
# Events that mean the far end is gone: busy or dial tone back on the line,
# loop current interrupted (V.253 Table 14), or the silence/quiet time-outs
# the driver only enables when the admin asked for them (+VSD).
HANGUP_EVENTS = frozenset("bdlsq")


# --- what the modem says ------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One text line in command state (result code, RING, caller-ID item, ...)."""

    text: str


@dataclass(frozen=True)
class VoiceData:
    """Audio samples from the voice data state, already un-shielded."""

    data: bytes


@dataclass(frozen=True)
class VoiceEvent:
    """A ``<DLE><code>`` event inside the voice data state."""

    code: str

    @property
    def digit(self) -> str | None:
        return self.code if self.code in DTMF_DIGITS else None

    @property
    def name(self) -> str:
        if self.digit:
            return f"dtmf_{self.code}"
        return EVENT_NAMES.get(self.code, f"unknown_{ord(self.code):#04x}")


@dataclass(frozen=True)
class VoiceEnd:
    """``<DLE><ETX>``: the modem left the voice data state."""


ModemOutput = Line | VoiceData | VoiceEvent | VoiceEnd


class ModemReceiver:
    """Splits what a modem sends into lines, voice data and events.

    Command state: CR/LF-terminated lines. A ``CONNECT`` line switches to the
    voice data state (in +FCLASS=8 a CONNECT always opens one, V.253 §10.1.2);
    ``<DLE><ETX>`` switches back. A ``<DLE>`` split across reads is kept.
    """

    def __init__(self) -> None:
        self.voice = False
        self._line = bytearray()
        self._pending_dle = False
        self._skip_lf = False

    def feed(self, data: bytes) -> list[ModemOutput]:
        out: list[ModemOutput] = []
        pos = 0
        while pos < len(data):
            pos = self._feed_voice(data, pos, out) if self.voice else self._feed_command(data, pos, out)
        return out

    def _feed_command(self, data: bytes, pos: int, out: list[ModemOutput]) -> int:
        while pos < len(data):
            byte = data[pos]
            pos += 1
            if byte in (0x0D, 0x0A):
                if self._line:
                    text = self._line.decode("ascii", errors="replace").strip()
                    self._line.clear()
                    if text:
                        out.append(Line(text))
                        if text == "CONNECT" or text.startswith("CONNECT "):
                            self.voice = True
                            self._pending_dle = False
                            # the result code ends in <CR><LF> (V.250 §5.7.1); the LF is not audio
                            self._skip_lf = byte == 0x0D
                            if self._skip_lf and pos < len(data) and data[pos] == 0x0A:
                                self._skip_lf = False
                                pos += 1
                            return pos
            elif byte in (0x11, 0x13):
                continue  # XON/XOFF between lines are flow control, not text
            elif len(self._line) < 512:
                self._line.append(byte)
        return pos

    def _feed_voice(self, data: bytes, pos: int, out: list[ModemOutput]) -> int:
        audio = bytearray()
        if self._skip_lf:
            self._skip_lf = False
            if data[pos] == 0x0A:
                pos += 1
                if pos >= len(data):
                    return pos
        if self._pending_dle:
            self._pending_dle = False
            pos = self._shielded(data[pos], audio, out, pos)
            if not self.voice:
                return pos
        while pos < len(data):
            dle = data.find(DLE_BYTE, pos)
            if dle < 0:
                audio += data[pos:]
                pos = len(data)
                break
            audio += data[pos:dle]
            if dle + 1 >= len(data):
                self._pending_dle = True
                pos = len(data)
                break
            pos = self._shielded(data[dle + 1], audio, out, dle + 1)
            if not self.voice:
                break
        if audio:
            # keep order: audio before an event that followed it was flushed in _shielded
            out.append(VoiceData(bytes(audio)))
        return pos

    def _shielded(self, code: int, audio: bytearray, out: list[ModemOutput], pos: int) -> int:
        """Handle the byte after a <DLE>; returns the position after it."""
        if code == DLE:
            audio.append(DLE)
            return pos + 1
        if audio:
            out.append(VoiceData(bytes(audio)))
            audio.clear()
        if code == ETX:
            out.append(VoiceEnd())
            self.voice = False
        else:
            out.append(VoiceEvent(chr(code)))
        return pos + 1


# --- what the DTE sends ---------------------------------------------------------------


def shield(data: bytes) -> bytes:
    """DLE-shield audio for the modem: every 0x10 byte is sent twice (V.253 §4.6.2)."""
    return data.replace(DLE_BYTE, b"\x10\x10") if DLE_BYTE in data else data


def unshield(data: bytes) -> bytes:
    """The inverse of ``shield`` for a stream without events (tests, the simulator)."""
    return data.replace(b"\x10\x10", DLE_BYTE)


def command(text: str) -> bytes:
    """One AT command line as bytes; V.250 §5.2.1 ends it with the S3 character (CR)."""
    if not text.upper().startswith("AT"):
        text = "AT" + text
    return text.encode("ascii") + b"\r"


def is_final(text: str) -> bool:
    return text in FINAL or any(text.startswith(code + " ") or text.startswith(code + ":") for code in FINAL)


# --- caller ID --------------------------------------------------------------------------

CALLER_ID_KEYS = ("DATE", "TIME", "NMBR", "NAME", "MESG", "DDN_NMBR")
# The number or name field holds one of these letters instead when there is
# none to show (Bellcore GR-30 / ETSI EN 300 659-3 "reason for absence").
ABSENCE = {"P": "private", "O": "unavailable"}


@dataclass
class CallerId:
    """What the exchange sent between the first and second ring (+VCID=1 format)."""

    number: str = ""
    name: str = ""
    date: str = ""  # MMDD
    time: str = ""  # HHMM
    number_absent: str | None = None  # "private" | "unavailable"
    name_absent: str | None = None
    raw: dict[str, str] = field(default_factory=dict)

    @property
    def display_number(self) -> str:
        """The number for the call log: the digits, or why there are none."""
        return self.number or self.number_absent or "unknown"

    @property
    def display_name(self) -> str | None:
        return self.name or None


def caller_id_item(text: str) -> tuple[str, str] | None:
    """``NMBR = 0301234`` -> ("NMBR", "0301234"); None for other lines."""
    key, sep, value = text.partition("=")
    key = key.strip().upper()
    if not sep or key not in CALLER_ID_KEYS:
        return None
    return key, value.strip()


def add_caller_id_item(cid: CallerId, key: str, value: str) -> None:
    cid.raw[key] = value
    if key == "DATE":
        cid.date = value
    elif key == "TIME":
        cid.time = value
    elif key == "NMBR":
        if value.upper() in ABSENCE:
            cid.number_absent = ABSENCE[value.upper()]
        else:
            cid.number = "".join(ch for ch in value if ch.isdigit() or ch in "+*#")
    elif key == "NAME":
        if value.upper() in ABSENCE:
            cid.name_absent = ABSENCE[value.upper()]
        else:
            cid.name = value


def parse_caller_id(lines: list[str]) -> CallerId:
    cid = CallerId()
    for text in lines:
        item = caller_id_item(text)
        if item:
            add_caller_id_item(cid, *item)
    return cid
