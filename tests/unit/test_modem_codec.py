"""The V.253 wire codec without any port: DLE shielding both ways, events in
the middle of audio, the switch between command and voice state, caller ID."""

from __future__ import annotations

import random

import numpy as np
import pytest

from zentrale.lines.modem.codec import (
    Line,
    ModemReceiver,
    VoiceData,
    VoiceEnd,
    VoiceEvent,
    command,
    is_final,
    parse_caller_id,
    shield,
    unshield,
)
from zentrale.lines.modem.profiles import PROFILES, detect, flash_commands
from zentrale.lines.modem.samples import FORMATS


def audio_of(outputs: list[object]) -> bytes:
    return b"".join(o.data for o in outputs if isinstance(o, VoiceData))


def test_shielding_doubles_every_dle_and_unshield_restores_it() -> None:
    rng = random.Random(8)
    data = bytes(rng.randrange(256) for _ in range(5000)) + b"\x10\x10\x03\x10"
    wire = shield(data)
    assert wire.count(b"\x10") == 2 * data.count(b"\x10")
    assert unshield(wire) == data


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 160, 4096])
def test_audio_with_dle_bytes_round_trips_whatever_the_read_sizes(chunk: int) -> None:
    audio = bytes(range(256)) * 8  # every byte value, 0x10 followed by 0x11 and by 0x03 (ETX) too
    wire = b"CONNECT\r\n" + shield(audio) + b"\x10\x03\r\nOK\r\n"
    rx = ModemReceiver()
    out: list[object] = []
    for i in range(0, len(wire), chunk):
        out += rx.feed(wire[i : i + chunk])
    assert audio_of(out) == audio
    assert [o for o in out if not isinstance(o, VoiceData)] == [Line("CONNECT"), VoiceEnd(), Line("OK")]
    assert not rx.voice


def test_a_digit_in_the_middle_of_audio_keeps_its_place() -> None:
    rx = ModemReceiver()
    rx.feed(b"\r\nCONNECT\r\n")
    out = rx.feed(b"\x80\x81\x10\x10\x10" + b"5" + b"\x82\x10b\x83")
    assert out == [
        VoiceData(b"\x80\x81\x10"),
        VoiceEvent("5"),
        VoiceData(b"\x82"),
        VoiceEvent("b"),
        VoiceData(b"\x83"),
    ]
    assert out[1].digit == "5"  # type: ignore[union-attr]
    assert out[3].name == "busy"  # type: ignore[union-attr]


def test_a_dle_split_across_two_reads_is_not_lost() -> None:
    rx = ModemReceiver()
    rx.feed(b"CONNECT\r\n")
    assert rx.feed(b"\x81\x10") == [VoiceData(b"\x81")]
    assert rx.feed(b"#\x82") == [VoiceEvent("#"), VoiceData(b"\x82")]
    assert rx.feed(b"\x10") == []
    assert rx.feed(b"\x10") == [VoiceData(b"\x10")]


def test_command_lines_ring_and_xon_xoff_between_them() -> None:
    rx = ModemReceiver()
    out = rx.feed(b"\r\nRING\r\n\x13\r\nDATE = 1127\r\nNMBR = 0301234\r\n\x11\r\nRING\r\nOK\r")
    assert out == [Line("RING"), Line("DATE = 1127"), Line("NMBR = 0301234"), Line("RING"), Line("OK")]
    assert rx.feed(b"\n") == []


@pytest.mark.parametrize(
    ("lines", "number", "name", "absent"),
    [
        (
            ["DATE = 1127", "TIME = 0915", "NMBR = 0301234567", "NAME = Erika Mustermann"],
            "0301234567",
            "Erika Mustermann",
            None,
        ),
        (["DATE=1127", "TIME=0915", "NMBR=+49 30 1234"], "+49301234", None, None),
        (["DATE = 1127", "TIME = 0915", "NMBR = P", "NAME = P"], "", None, "private"),
        (["DATE = 1127", "TIME = 0915", "NMBR = O"], "", None, "unavailable"),
    ],
)
def test_caller_id_numbers_names_private_and_unavailable(
    lines: list[str], number: str, name: str | None, absent: str | None
) -> None:
    cid = parse_caller_id(lines)
    assert cid.number == number
    assert cid.display_name == name
    assert cid.number_absent == absent
    assert cid.display_number == (number or absent)
    assert cid.date == "1127"


def test_result_codes_and_command_bytes() -> None:
    assert all(is_final(c) for c in ("OK", "ERROR", "CONNECT", "NO CARRIER", "BUSY", "VCON", "+CME ERROR: 3"))
    assert not any(is_final(c) for c in ("RING", "NMBR = 1", "CX93001-EIS_V0.2013-V92", "OKAY"))
    assert command("+VLS=1") == b"AT+VLS=1\r"
    assert command("ATZ") == b"ATZ\r"


def test_model_detection_and_flash_time() -> None:
    assert detect("CX93001-EIS_V0.2013-V92 / U.S. Robotics / USR5637").id == "conexant-cx93010"
    assert detect("HSF 56K Data,Fax,Voice / Conexant / HSF softK56").id == "conexant-hsf"
    assert detect("ACME voice thing").id == "v253-generic"
    assert flash_commands(PROFILES[0], 100) == ["S29=10"]
    assert flash_commands(PROFILES[0], 600) == ["S29=60"]


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_sample_formats_round_trip_within_their_resolution(name: str) -> None:
    fmt = FORMATS[name]
    x = (np.sin(np.arange(160) / 5) * 20000).astype("<i2")
    back = np.frombuffer(fmt.decode(fmt.encode(x.tobytes())), dtype="<i2")
    assert len(back) == 160
    tolerance = {"s16le": 0, "u8": 256, "s8": 256}.get(name, 1100)  # G.711 steps grow with the level
    assert np.max(np.abs(back.astype(int) - x.astype(int))) <= tolerance
