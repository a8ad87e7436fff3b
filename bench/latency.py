"""Latencies a caller feels: 200 OK -> first RTP packet, DTMF digit -> prompt stops.

Usage: .venv/bin/python -m bench.latency [calls]   (default 20)

A minimal caller written here (raw UDP SIP + RTP) so every timestamp is
taken in one process: it answers nothing but its own INVITE, sends the
digit "1" as RFC 4733 events during the main menu and watches the RTP it
receives. It knows the exact PCMU payloads of the main menu (decoded with
the firmware's own prompt library), so "the prompt stopped" is the first
packet that is not the next frame of the menu prompt, and "the next prompt
started" is the first frame of the hold notice.
"""

from __future__ import annotations

import secrets
import socket
import struct
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine, start_daemon
from zentrale.config import DEMO_DIR
from zentrale.media.codecs import codec_for
from zentrale.media.library import AudioLibrary


def _invite(sip_port: int, local_sip: int, rtp_port: int, call_id: str, tag: str, branch: str) -> bytes:
    sdp = (
        "v=0\r\no=bench 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    )
    return (
        f"INVITE sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_sip};branch={branch};rport\r\n"
        f"From: <sip:bench@127.0.0.1>;tag={tag}\r\nTo: <sip:100@127.0.0.1>\r\nCall-ID: {call_id}\r\n"
        f"CSeq: 1 INVITE\r\nContact: <sip:bench@127.0.0.1:{local_sip}>\r\nMax-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    ).encode()


def _in_dialog(method: str, cseq: int, sip_port: int, local_sip: int, call_id: str, tag: str, to_tag: str) -> bytes:
    return (
        f"{method} sip:100@127.0.0.1:{sip_port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_sip};branch=z9hG4bK{secrets.token_hex(8)};rport\r\n"
        f"From: <sip:bench@127.0.0.1>;tag={tag}\r\nTo: <sip:100@127.0.0.1>;tag={to_tag}\r\nCall-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def one_call(sip_port: int, menu: list[bytes], notice_first: bytes) -> tuple[float, float, float]:
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    local_sip, rtp_port = sip.getsockname()[1], rtp.getsockname()[1]
    call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
    sip.sendto(
        _invite(sip_port, local_sip, rtp_port, call_id, tag, "z9hG4bK" + secrets.token_hex(8)), ("127.0.0.1", sip_port)
    )
    sip.settimeout(5)
    while True:
        data = sip.recv(65535)
        if data.startswith(b"SIP/2.0 200"):
            t_ok = time.monotonic()
            break
    head = data.decode(errors="replace")
    to_tag = head.split("\r\nTo:", 1)[1].split("\r\n", 1)[0].split("tag=")[1].strip()
    sdp_port = int(head.split("m=audio ", 1)[1].split()[0])
    sip.sendto(_in_dialog("ACK", 1, sip_port, local_sip, call_id, tag, to_tag), ("127.0.0.1", sip_port))
    rtp.settimeout(5)
    first, addr = rtp.recvfrom(2048)
    t_first = time.monotonic()
    box_rtp = ("127.0.0.1", sdp_port)
    del addr
    # wait into the main menu: find the packet that is the menu's first frame
    while rtp.recv(2048)[12:] != menu[0]:
        pass
    index = 1
    for _ in range(25):  # 0.5 s into the menu
        rtp.recv(2048)
        index += 1
    # the digit: RFC 4733, 3 packets then the end packet three times (fresh SSRC/timestamp)
    ssrc, ts, seq = secrets.randbits(32), secrets.randbits(32), secrets.randbits(16)
    t_digit = time.monotonic()
    packets = [
        struct.pack("!BBHIIBBH", 0x80, 101 | (0x80 if i == 0 else 0), seq + i, ts, ssrc, 1, 10, 160 * (i + 1))
        for i in range(3)
    ]
    packets += [struct.pack("!BBHIIBBH", 0x80, 101, seq + 3 + i, ts, ssrc, 1, 0x80 | 10, 640) for i in range(3)]
    rtp.sendto(packets[0], box_rtp)
    stopped = started = None
    expect = index
    while started is None:
        payload = rtp.recv(2048)[12:]
        now = time.monotonic()
        if stopped is None and (expect >= len(menu) or payload != menu[expect]):
            stopped = now
        expect += 1
        if payload == notice_first:
            started = now
    for p in packets[1:]:
        rtp.sendto(p, box_rtp)
    sip.sendto(_in_dialog("BYE", 2, sip_port, local_sip, call_id, tag, to_tag), ("127.0.0.1", sip_port))
    sip.close()
    rtp.close()
    del first
    return t_first - t_ok, stopped - t_digit, started - t_digit  # type: ignore[operator]


def stats(values: list[float]) -> str:
    ms = np.array(values) * 1000
    return f"{np.percentile(ms, 50):.1f} / {np.percentile(ms, 99):.1f} / {ms.max():.1f}"


def main(argv: list[str]) -> None:
    calls = int(argv[0]) if argv else 20
    library = AudioLibrary([DEMO_DIR / "prompts", DEMO_DIR / "music"])
    pcmu = codec_for("PCMU")
    menu = [f.encoded(pcmu) for f in library.clip("main_menu", 8000).frames]
    notice_first = library.clip("hold_notice", 8000).frames[0].encoded(pcmu)
    with tempfile.TemporaryDirectory() as tmp:
        daemon = start_daemon(Path(tmp))
        try:
            results = [one_call(daemon.sip_port, menu, notice_first) for _ in range(calls)]
        finally:
            daemon.stop()
    print(f"machine: {machine()}")
    print(f"{calls} calls, p50 / p99 / max in ms")
    print(f"| 200 OK -> first RTP packet | {stats([r[0] for r in results])} |")
    print(f"| DTMF digit -> prompt stops | {stats([r[1] for r in results])} |")
    print(f"| DTMF digit -> next prompt (hold notice) starts | {stats([r[2] for r in results])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
