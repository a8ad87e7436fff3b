"""SDP offer/answer for one audio stream (RFC 4566, RFC 3264).

We answer with the first codec of the offer that we support (the offerer's
preference, RFC 3264 §6.1), plus telephone-event at the payload type the
caller chose (RFC 4733 §7.1.1). Other media lines are refused with port 0.
An RTP/SAVP offer with an a=crypto line we support is answered with SRTP
(RFC 4568); plain RTP/AVP stays plain, whatever crypto lines it carries.

Validated at the edge (issue 13): a body is refused (488) before anything
reaches the media clock when it is too big, has control characters, too
many lines or media lines, a port outside 0-65535 (0 = a refused stream),
or a connection address that is not an IP literal (host names are never
resolved: the send path must not block on DNS).
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field

from zentrale.lines.sip.srtp import Crypto, choose_crypto
from zentrale.media.codecs import CODECS, CodecInfo


class SdpError(ValueError):
    """The offer cannot be answered (488 Not Acceptable Here)."""


@dataclass(frozen=True)
class SdpLimits:
    max_bytes: int = 16 * 1024
    max_lines: int = 256
    max_line_length: int = 1024
    max_media: int = 8


DEFAULT_LIMITS = SdpLimits()
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _digits(text: str) -> bool:
    """ASCII digits only (RFC 4566 §9): str.isdigit() also takes "²" and "①", which int() refuses."""
    return text.isascii() and text.isdigit()


def _port(text: str, line: str) -> int:
    if not _digits(text) or len(text) > 5:
        raise SdpError(f"bad port in m= line {line[:60]!r}")
    port = int(text)
    if port > 65535:
        raise SdpError(f"port {port} out of range in m= line")
    return port


def _address(nettype_addrtype_addr: list[str], line: str) -> str:
    if len(nettype_addrtype_addr) < 3 or nettype_addrtype_addr[0] != "IN":
        raise SdpError(f"bad c= line {line[:60]!r}")
    addrtype, host = nettype_addrtype_addr[1].upper(), nettype_addrtype_addr[2].split("/")[0]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise SdpError(f"c= address {host[:40]!r} is not an IP address (names are not resolved)") from None
    if (addrtype == "IP4") != (ip.version == 4):
        raise SdpError(f"c= address {host[:40]!r} does not match {addrtype}")
    return host


@dataclass
class MediaLine:
    media: str
    port: int
    proto: str
    formats: list[str]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)  # pt -> (encoding, clock)
    fmtp: dict[int, str] = field(default_factory=dict)
    direction: str | None = None
    connection: str | None = None
    ptime: int | None = None
    crypto: list[str] = field(default_factory=list)


@dataclass
class Session:
    origin: str
    connection: str | None
    direction: str | None
    media: list[MediaLine]


@dataclass(frozen=True)
class Negotiated:
    """The result of offer/answer for the audio stream."""

    codec: CodecInfo
    payload_type: int
    dtmf_payload_type: int | None
    remote_host: str
    remote_port: int
    direction: str  # our direction: sendrecv | sendonly | recvonly | inactive
    ptime: int = 20
    proto: str = "RTP/AVP"
    crypto: Crypto | None = None  # the far end's SRTP key (RTP/SAVP)

    @property
    def sends(self) -> bool:
        return self.direction in ("sendrecv", "sendonly") and self.remote_port != 0

    @property
    def on_hold(self) -> bool:
        return self.direction in ("recvonly", "inactive")


_STATIC = {0: ("PCMU", 8000), 8: ("PCMA", 8000), 9: ("G722", 8000), 18: ("G729", 8000), 3: ("GSM", 8000)}
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_ANSWER_DIRECTION = {"sendrecv": "sendrecv", "sendonly": "recvonly", "recvonly": "sendonly", "inactive": "inactive"}


def parse_sdp(text: str, limits: SdpLimits = DEFAULT_LIMITS) -> Session:
    if len(text) > limits.max_bytes:
        raise SdpError(f"SDP body larger than {limits.max_bytes} bytes")
    if _CONTROL.search(text):
        raise SdpError("control characters in the SDP body")
    origin = ""
    connection: str | None = None
    direction: str | None = None
    media: list[MediaLine] = []
    raw_lines = text.replace("\r\n", "\n").split("\n")
    if len(raw_lines) > limits.max_lines:
        raise SdpError(f"more than {limits.max_lines} SDP lines")
    for raw in raw_lines:
        line = raw.strip()
        if len(line) < 2 or line[1] != "=":
            continue
        if len(line) > limits.max_line_length:
            raise SdpError(f"SDP line longer than {limits.max_line_length} characters")
        kind, value = line[0], line[2:]
        current = media[-1] if media else None
        if kind == "o":
            origin = value
        elif kind == "c":
            host = _address(value.split(), value)
            if current is None:
                connection = host
            else:
                current.connection = host
        elif kind == "m":
            parts = value.split()
            if len(parts) < 4:
                raise SdpError(f"bad m= line {value[:60]!r}")
            if len(media) >= limits.max_media:
                raise SdpError(f"more than {limits.max_media} media lines")
            port = _port(parts[1].split("/")[0], value)
            media.append(MediaLine(parts[0], port, parts[2], parts[3:]))
        elif kind == "a":
            name, _, arg = value.partition(":")
            if name in _DIRECTIONS:
                if current is None:
                    direction = name
                else:
                    current.direction = name
            elif current is None:
                continue
            elif name == "rtpmap":
                pt, _, enc = arg.partition(" ")
                enc_name, _, rest = enc.partition("/")
                clock = rest.split("/")[0]
                if _digits(pt) and _digits(clock):
                    current.rtpmap[int(pt)] = (enc_name.strip(), int(clock))
            elif name == "fmtp":
                pt, _, params = arg.partition(" ")
                if _digits(pt):
                    current.fmtp[int(pt)] = params
            elif name == "ptime" and _digits(arg.strip()):
                current.ptime = int(arg.strip())
            elif name == "crypto":
                current.crypto.append(arg)
    if not media:
        raise SdpError("no media line")
    return Session(origin, connection, direction, media)


def _encoding(m: MediaLine, pt: int) -> tuple[str, int] | None:
    if pt in m.rtpmap:
        name, clock = m.rtpmap[pt]
        return name.upper(), clock
    return _STATIC.get(pt)


def negotiate(session: Session, allowed: Sequence[str]) -> tuple[int, Negotiated]:
    """Choose the audio stream and codec; returns (index of the m-line, result)."""
    allowed_upper = [a.upper() for a in allowed]
    for index, m in enumerate(session.media):
        proto = m.proto.upper()
        if m.media != "audio" or m.port == 0 or proto not in ("RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF"):
            continue
        crypto = choose_crypto(m.crypto) if proto.startswith("RTP/SAVP") else None
        if proto.startswith("RTP/SAVP") and crypto is None:
            continue  # SRTP without a key we can use
        chosen: tuple[CodecInfo, int] | None = None
        dtmf: int | None = None
        for fmt in m.formats:
            if not _digits(fmt):
                continue
            pt = int(fmt)
            enc = _encoding(m, pt)
            if enc is None:
                continue
            name, clock = enc
            if name == "TELEPHONE-EVENT" and clock == 8000 and dtmf is None:
                dtmf = pt
            elif chosen is None and name in allowed_upper and name in CODECS and CODECS[name].rtp_clock == clock:
                chosen = (CODECS[name], pt)
        if chosen is None:
            continue
        host = m.connection or session.connection
        if host is None:
            raise SdpError("no connection address")
        offered = m.direction or session.direction or "sendrecv"
        if host in ("0.0.0.0", "::"):
            offered = "inactive" if offered in ("recvonly", "inactive") else "sendonly"  # RFC 2543 hold
        return index, Negotiated(
            codec=chosen[0],
            payload_type=chosen[1],
            dtmf_payload_type=dtmf,
            remote_host=host,
            remote_port=m.port,
            direction=_ANSWER_DIRECTION[offered],
            ptime=m.ptime or 20,
            proto=m.proto.upper(),
            crypto=crypto,
        )
    raise SdpError("no common audio codec")


def build_sdp(
    *,
    session_id: int,
    version: int,
    host: str,
    port: int,
    formats: list[tuple[int, str, int]],
    dtmf_payload_type: int | None,
    direction: str,
    rejected: list[MediaLine] | None = None,
    audio_index: int = 0,
    proto: str = "RTP/AVP",
    crypto: str | None = None,
) -> str:
    """An SDP body with one audio stream (and rejected other m-lines at their places)."""
    ip = "IP6" if ":" in host else "IP4"
    lines = [
        "v=0",
        f"o=zentrale {session_id} {version} IN {ip} {host}",
        "s=Zentrale",
        f"c=IN {ip} {host}",
        "t=0 0",
    ]
    media_lines: list[list[str]] = []
    pts = [str(pt) for pt, _, _ in formats] + ([str(dtmf_payload_type)] if dtmf_payload_type is not None else [])
    audio = [f"m=audio {port} {proto} {' '.join(pts)}"]
    if crypto is not None:
        audio.append(f"a=crypto:{crypto}")
    for pt, name, clock in formats:
        audio.append(f"a=rtpmap:{pt} {name}/{clock}")
    if dtmf_payload_type is not None:
        audio.append(f"a=rtpmap:{dtmf_payload_type} telephone-event/8000")
        audio.append(f"a=fmtp:{dtmf_payload_type} 0-16")
    audio.append("a=ptime:20")
    audio.append(f"a={direction}")
    others = list(rejected or [])
    for i in range(len(others) + 1):
        if i == audio_index:
            media_lines.append(audio)
        else:
            other = others.pop(0)
            media_lines.append([f"m={other.media} 0 {other.proto} {' '.join(other.formats) or '0'}"])
    for block in media_lines:
        lines.extend(block)
    return "\r\n".join(lines) + "\r\n"


def new_session_id() -> int:
    return secrets.randbelow(2**31)
