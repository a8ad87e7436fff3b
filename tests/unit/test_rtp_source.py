"""Symmetric RTP that a stray packet cannot take over (lines/sip/rtp_source.py), and the stream
that uses it: a stranger's packets are neither played nor answered to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from tests.harness.rtp import Phone, negotiated
from tests.harness.waits import until
from zentrale.lines.sip.rtp import PortPool, RtpStream
from zentrale.lines.sip.rtp_source import LEARN_PACKETS, QUIET_S, RtpSource
from zentrale.media.clock import MediaClock
from zentrale.media.codecs import codec_for

PHONE = ("192.0.2.10", 4000)  # what the SDP announced
NAT = ("198.51.100.7", 61234)  # where a phone behind NAT really sends from
STRANGER = ("203.0.113.66", 5555)


def test_the_announced_address_is_the_far_end_at_once() -> None:
    guard = RtpSource(PHONE)
    assert guard.accept(PHONE, 1000, 0.0)
    assert guard.latched == PHONE


def test_another_source_is_believed_only_after_packets_in_sequence() -> None:
    guard = RtpSource(PHONE)
    accepted = [guard.accept(NAT, 500 + i, 0.02 * i) for i in range(LEARN_PACKETS + 2)]
    assert accepted == [False] * (LEARN_PACKETS - 1) + [True] * 3
    assert guard.latched == NAT
    assert guard.dropped == LEARN_PACKETS - 1


def test_random_packets_from_many_sources_or_out_of_sequence_never_latch() -> None:
    guard = RtpSource(PHONE)
    for i in range(200):
        assert not guard.accept((f"203.0.113.{i % 50}", 5000 + i), i * 7919 % 65536, 0.001 * i)
        assert not guard.accept(STRANGER, (i * 3) % 65536, 0.001 * i)  # one source, seq jumping
    assert guard.latched is None


def test_once_latched_a_stranger_is_dropped_even_in_sequence_while_the_far_end_talks() -> None:
    guard = RtpSource(PHONE)
    assert guard.accept(PHONE, 1, 0.0)
    for i in range(50):
        assert guard.accept(PHONE, 2 + i, 0.02 * (i + 1))
        assert not guard.accept(STRANGER, 900 + i, 0.02 * (i + 1) + 0.001)
    assert guard.latched == PHONE
    assert guard.dropped == 50


def test_a_source_that_fell_silent_is_replaced_by_one_that_passes_probation() -> None:
    # a NAT rebinding, or a phone that went from Wi-Fi to the mobile network without a re-INVITE
    guard = RtpSource(PHONE)
    assert guard.accept(PHONE, 1, 0.0)
    later = QUIET_S + 0.5
    accepted = [guard.accept(NAT, 10 + i, later + 0.02 * i) for i in range(LEARN_PACKETS)]
    assert accepted[-1] and not any(accepted[:-1])
    assert guard.latched == NAT


def test_a_new_sdp_address_starts_over() -> None:
    guard = RtpSource(PHONE)
    assert guard.accept(PHONE, 1, 0.0)
    guard.reset(NAT)
    assert guard.latched is None
    assert guard.accept(NAT, 7, 0.1)
    assert not guard.accept(PHONE, 2, 0.12)


@pytest.fixture
async def stream() -> AsyncIterator[RtpStream]:
    clock = MediaClock()
    clock.start()
    s = RtpStream(clock)
    await s.open(PortPool("127.0.0.1", 30000, 40000))
    yield s
    s.close()
    clock.stop()


async def test_a_strangers_burst_is_not_played_and_gets_no_audio_while_the_phone_is_latched(
    stream: RtpStream,
) -> None:
    phone, stranger = Phone(), Phone()
    try:
        stream.configure(negotiated(phone.port), codec_for("PCMU"))
        stream.start()
        for i in range(10):  # the stranger first, out of sequence: a scanner's packets
            stranger.send(stream.local_port, (i * 977) % 65536, i * 160, b"\x00" * 160, ssrc=99)
        for i in range(25):  # then the phone, as announced
            phone.send(stream.local_port, 100 + i, i * 160, b"\xff" * 160, ssrc=99)
            await asyncio.sleep(0.02)
        await until(lambda: stream.received >= 25, what="the phone's packets")
        assert stream.received == 25  # none of the stranger's
        assert stream.source_guard.dropped == 10
        assert stream.remote == ("127.0.0.1", phone.port)
        await until(lambda: phone.receive(), what="audio to the phone")
        await asyncio.sleep(0.2)
        assert stranger.receive() == []
    finally:
        phone.close()
        stranger.close()
