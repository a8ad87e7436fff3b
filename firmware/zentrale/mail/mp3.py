"""MP3 for e-mail: LAME (``lameenc``) with an ID3v2.3 tag and a LAME info frame.

Blocking and CPU-bound: run ``encode_wav`` in a worker thread. ``lameenc``
holds the GIL for the whole buffer it is given, so the audio goes in one
second at a time; that keeps the event loop and the media clock on time
(one big 10-minute buffer delayed a 5 ms timer by 16 ms, 1 s chunks by 3 ms).

lameenc writes bare frames. Without an info frame a decoder cannot know the
encoder delay and the padding, and the decoded audio is up to ~200 ms longer
than the recording at 8 kHz. We add the "Info" frame (the Xing header for a
constant bit rate) with the LAME extension's delay/padding field, as the
``lame`` command does, so decoders (ffmpeg, browsers, phones) trim exactly.
"""

from __future__ import annotations

import struct
import wave
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import lameenc

from zentrale.errors import ZentraleError

CHUNK_SECONDS = 1.0
QUALITY = 5  # LAME's -q 5: "good"; -q 2 doubles the time for no audible gain on speech
ENCODER_DELAY = 576  # samples LAME adds in front (ENCDELAY in LAME's source; measured)
DECODER_DELAY = 529  # samples the reference decoder adds (mpglib/ffmpeg)
# bit rate index (kbit/s) in the frame header, MPEG-2/2.5 Layer III (ISO/IEC 13818-3 Table 2.4.2.3)
_LSF_BITRATES = [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]
_MPEG1_BITRATES = [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320]


class Mp3Error(ZentraleError):
    """The WAV could not be read or encoded."""


@dataclass(frozen=True)
class Mp3Tags:
    title: str
    artist: str  # the caller
    album: str  # the team
    recorded: datetime  # local time of the message
    comment: str = ""
    language: str = "deu"  # ISO 639-2, for the comment frame


@dataclass(frozen=True)
class Mp3:
    data: bytes
    samples: int
    rate: int

    @property
    def seconds(self) -> float:
        return self.samples / self.rate


# ---------------------------------------------------------------- ID3v2.3


def _syncsafe(n: int) -> bytes:
    return bytes([(n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F])


def _text(value: str) -> tuple[int, bytes]:
    """ID3v2.3 text encoding: ISO-8859-1 (0) when possible, else UTF-16 with BOM (1)."""
    try:
        return 0, value.encode("latin-1")
    except UnicodeEncodeError:
        return 1, value.encode("utf-16")  # Python writes the BOM


def _frame(frame_id: str, body: bytes) -> bytes:
    # ID3v2.3 §3.3: the frame size is a plain 32-bit integer (v2.4 made it syncsafe)
    return frame_id.encode("ascii") + struct.pack(">IH", len(body), 0) + body


def _text_frame(frame_id: str, value: str) -> bytes:
    encoding, data = _text(value)
    return _frame(frame_id, bytes([encoding]) + data)


def id3v23(tags: Mp3Tags) -> bytes:
    """An ID3v2.3 tag (id3.org, "ID3 tag version 2.3.0"): title, artist, album, date, comment."""
    when = tags.recorded
    frames = [
        _text_frame("TIT2", tags.title),
        _text_frame("TPE1", tags.artist),
        _text_frame("TALB", tags.album),
        _text_frame("TYER", f"{when:%Y}"),
        _text_frame("TDAT", f"{when:%d%m}"),  # DDMM (§4.2.1)
        _text_frame("TIME", f"{when:%H%M}"),  # HHMM
        _text_frame("TCON", "(101)"),  # genre 101: Speech
    ]
    if tags.comment:
        encoding, text = _text(tags.comment)
        terminator = b"\x00\x00" if encoding == 1 else b"\x00"
        description = "".encode("utf-16") if encoding == 1 else b""
        frames.append(
            _frame("COMM", bytes([encoding]) + tags.language.encode("ascii") + description + terminator + text)
        )
    body = b"".join(frames)
    return b"ID3" + bytes([3, 0, 0]) + _syncsafe(len(body)) + body


# ---------------------------------------------------------------- LAME info frame


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (poly 0x8005 reflected), as LAME uses for the info tag."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _frame_length(header: bytes) -> tuple[int, int, bool]:
    """Length in bytes, samples per frame and mono-ness of a Layer III frame without padding."""
    b1, b2, b3 = header[1], header[2], header[3]
    version = (b1 >> 3) & 0x3  # 0: MPEG-2.5, 2: MPEG-2, 3: MPEG-1
    rate = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}[version][(b2 >> 2) & 0x3]
    kbps = (_MPEG1_BITRATES if version == 3 else _LSF_BITRATES)[b2 >> 4]
    mono = (b3 >> 6) == 3
    if version == 3:
        return 144_000 * kbps // rate, 1152, mono
    return 72_000 * kbps // rate, 576, mono


def info_frame(first_header: bytes, frames: int, stream_bytes: int, samples: int) -> bytes:
    """A silent first frame carrying "Info" (CBR Xing header) and the LAME delay/padding."""
    header = bytearray(first_header[:4])
    header[2] &= ~0x02  # no padding slot
    length, per_frame, mono = _frame_length(bytes(header))
    version = (header[1] >> 3) & 0x3
    side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    padding = frames * per_frame - ENCODER_DELAY - samples
    total = stream_bytes + length
    tag = bytearray(b"Info" + struct.pack(">III", 0x3, frames, total))  # flags: frames, bytes
    lame = bytearray(b"LAME3.100")
    lame += bytes([0x01, 0])  # tag revision 0, method 1 (CBR); lowpass unknown
    lame += struct.pack(">IHH", 0, 0, 0)  # peak, radio and audiophile replay gain: not computed
    lame += bytes([0, 0])  # flags/ATH, bit rate
    lame += (ENCODER_DELAY << 12 | max(0, padding)).to_bytes(3, "big")  # 12 bits each
    lame += bytes([0, 0]) + struct.pack(">HI", 0, total) + struct.pack(">H", 0)  # misc, gain, preset, length, CRC
    frame = bytearray(length)
    frame[:4] = header
    start = 4 + side_info
    body = tag + lame
    if start + len(body) + 2 > length:
        raise Mp3Error(f"frame of {length} bytes too small for the info tag")
    frame[start : start + len(body)] = body
    crc_at = start + len(body)
    frame[crc_at : crc_at + 2] = struct.pack(">H", _crc16(bytes(frame[: min(190, crc_at)])))
    return bytes(frame)


def _count_frames(data: bytes) -> int:
    count = pos = 0
    while pos + 4 <= len(data) and data[pos] == 0xFF and data[pos + 1] & 0xE0 == 0xE0:
        length, _, _ = _frame_length(data[pos : pos + 4])
        pos += length + ((data[pos + 2] >> 1) & 1)  # Layer III padding slot: one byte
        count += 1
    return count


# ---------------------------------------------------------------- encoding


def encode_pcm(pcm: bytes, rate: int, bitrate_kbps: int, tags: Mp3Tags | None = None) -> Mp3:
    """Mono PCM16 (little-endian) to a complete MP3 file. Blocking."""
    encoder = lameenc.Encoder()
    encoder.set_in_sample_rate(rate)
    encoder.set_out_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_bit_rate(bitrate_kbps)
    encoder.set_quality(QUALITY)
    stream = bytearray()
    step = int(rate * CHUNK_SECONDS) * 2
    try:
        for pos in range(0, len(pcm), step):
            stream += encoder.encode(pcm[pos : pos + step])
        stream += encoder.flush()
    except Exception as err:  # lameenc raises plain exceptions for bad parameters
        raise Mp3Error(f"MP3 encoder failed: {err}") from err
    samples = len(pcm) // 2
    if not stream:
        raise Mp3Error("MP3 encoder produced no audio")
    frames = _count_frames(bytes(stream))
    info = info_frame(bytes(stream[:4]), frames, len(stream), samples)
    head = id3v23(tags) if tags is not None else b""
    return Mp3(head + info + bytes(stream), samples, rate)


def encode_wav(path: Path, bitrate_kbps: int, tags: Mp3Tags | None = None) -> Mp3:
    """A message WAV (mono PCM16) to MP3. Blocking: call it in a worker thread."""
    try:
        with wave.open(str(path), "rb") as wav:
            if wav.getnchannels() != 1 or wav.getsampwidth() != 2:
                raise Mp3Error(f"{path.name} is not mono 16-bit PCM")
            rate = wav.getframerate()
            pcm = wav.readframes(wav.getnframes())
    except (OSError, EOFError, wave.Error) as err:
        raise Mp3Error(f"cannot read {path.name}: {err}") from err
    return encode_pcm(pcm, rate, bitrate_kbps, tags)
