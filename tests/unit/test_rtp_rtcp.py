"""RTCP (RFC 3550 §6) on port + 1 and the call-quality figures made of it: the
box reports what it receives (loss, jitter) to the far end, reads the far
end's reports about what it sends, and estimates a MOS (ITU-T G.107)."""

from __future__ import annotations

import asyncio
import socket
import struct

import pytest

from tests.harness.rtp import negotiated
from tests.harness.waits import until
from zentrale.lines.sip import rtp
from zentrale.lines.sip.rtcp import ReceptionStats, build_report, estimated_mos
from zentrale.lines.sip.rtp import PortPool, RtpStream
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import codec_for


def test_the_e_model_gives_a_clean_g711_call_its_ceiling_and_loss_and_delay_cost_points() -> None:
    clean = estimated_mos(0.0, 20.0)
    assert 4.3 < clean < 4.5
    assert estimated_mos(0.02, 20.0) < clean - 0.1
    assert estimated_mos(0.02, 20.0, concealment=False) < estimated_mos(0.02, 20.0)
    assert estimated_mos(0.0, 300.0) < estimated_mos(0.0, 100.0) < clean
    assert estimated_mos(1.0, 1000.0) == 1.0


def test_reception_statistics_count_loss_and_survive_a_sequence_wrap() -> None:
    stats = ReceptionStats()
    seqs = [(65530 + i) % 65536 for i in range(20) if i not in (3, 12)]
    for n, seq in enumerate(seqs):
        stats.update(seq, 160 * n, 7, 0.02 * n, 8000)
    assert stats.expected == 20 - 0 and stats.lost == 2
    fraction, lost = stats.interval()
    assert lost == 2 and fraction == (2 << 8) // 20


def pair() -> tuple[socket.socket, socket.socket, int]:
    for port in range(41000, 42000, 2):
        a, b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            a.bind(("127.0.0.1", port))
            b.bind(("127.0.0.1", port + 1))
        except OSError:
            a.close()
            b.close()
            continue
        a.setblocking(False)
        b.setblocking(False)
        return a, b, port
    raise OSError("no port pair")


async def test_reports_go_to_port_plus_one_and_the_far_ends_reports_are_read(
    clock: MediaClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rtp, "RTCP_INTERVAL", 0.1)
    stream = RtpStream(clock)
    await stream.open(PortPool("127.0.0.1", 30000, 40000))
    rtp_sock, rtcp_sock, port = pair()
    try:
        stream.configure(negotiated(port), codec_for("PCMU"))
        stream.start()
        for i in range(10):
            if i != 4:  # one lost
                header = struct.pack("!BBHII", 0x80, 0, 300 + i, 1000 + 160 * i, 0xABC)
                rtp_sock.sendto(header + bytes(160), ("127.0.0.1", stream.local_port))
            await asyncio.sleep(0.02)
        got: list[bytes] = []

        def report() -> bool:
            try:
                got.append(rtcp_sock.recv(2048))
            except BlockingIOError:
                return False
            return any(p[1] == 200 and p[0] & 0x1F and p[33:36] == b"\x00\x00\x01" for p in got)

        await until(report)  # a sender report (we send audio) with a block: 1 packet lost
        packet = next(p for p in got if p[1] == 200 and p[0] & 0x1F and p[33:36] == b"\x00\x00\x01")
        assert struct.unpack_from("!I", packet, 28)[0] == 0xABC
        # the far end's receiver report about our stream: 25 % lost
        far = ReceptionStats(ssrc=stream.rtcp.ssrc, max_seq=99, base_seq=0, received=75)
        rr = build_report(0xABC, sender=None, source=far)
        rtcp_sock.sendto(rr, ("127.0.0.1", stream.local_port + 1))
        await until(lambda: stream.rtcp.far is not None)
        quality = stream.quality()
        assert quality["far_loss_pct"] == pytest.approx(25.0, abs=0.5)
        assert quality["packets_lost"] == 1
        assert quality["mos"] is not None and 1.0 <= float(quality["mos"]) <= 4.5
    finally:
        stream.close()
        rtp_sock.close()
        rtcp_sock.close()
