"""pcap files of RTP for sipp's ``play_pcap_audio`` (Ethernet / IPv4 / UDP / RTP)."""

from __future__ import annotations

import struct
from pathlib import Path

DTMF_CODES = {d: i for i, d in enumerate("0123456789*#ABCD")}


def _checksum_free_udp(payload: bytes, src_port: int, dst_port: int) -> bytes:
    return struct.pack("!HHHH", src_port, dst_port, 8 + len(payload), 0) + payload


def _ipv4(udp: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))  # fmt: skip
    words = struct.unpack("!10H", header)
    total = sum(words)
    total = (total & 0xFFFF) + (total >> 16)
    checksum = ~total & 0xFFFF
    return header[:10] + struct.pack("!H", checksum) + header[12:] + udp


def write_rtp_pcap(path: Path, packets: list[bytes], interval: float = 0.02) -> None:
    """RTP packets, one every ``interval`` seconds."""
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))  # Ethernet link type
    for n, rtp in enumerate(packets):
        frame = b"\x00" * 12 + b"\x08\x00" + _ipv4(_checksum_free_udp(rtp, 40000, 40002))
        t = n * interval
        out += struct.pack("<IIII", int(t), int((t % 1) * 1_000_000), len(frame), len(frame)) + frame
    path.write_bytes(bytes(out))


def dtmf_packets(digit: str, payload_type: int, *, ssrc: int = 0x1234ABCD, steps: int = 8) -> list[bytes]:
    """One RFC 4733 event: ``steps`` packets 20 ms apart, the end packet three times (§2.5.1.4)."""
    code = DTMF_CODES[digit]
    packets = []
    ts = 160_000
    seq = 1000
    for i in range(1, steps + 1):
        end = i == steps
        payload = struct.pack("!BBH", code, (0x80 if end else 0) | 10, i * 160)
        for _ in range(3 if end else 1):
            marker = 0x80 if i == 1 else 0
            packets.append(struct.pack("!BBHII", 0x80, marker | payload_type, seq, ts, ssrc) + payload)
            seq += 1
    return packets
