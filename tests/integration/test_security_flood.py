"""An INVITE flood of 2,000 requests/s from one source for 10 s while a real caller
calls: the caller is served, the flooding source is banned within a fraction of a
second, and the daemon's memory stays bounded and returns to its baseline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.daemon import running_daemon
from tests.flood import flood_while_calling, wait_for_baseline
from tests.integration.test_hotline_call import PROMPTS, fast_mode, heard
from tests.peers.phone import Phone

pytestmark = pytest.mark.peers
CALLER = "127.0.0.2"


@pytest.mark.parametrize(("source", "allowed"), [("127.0.0.4", False), ("127.0.0.6", True)])
def test_an_invite_flood_from_one_source_is_banned_while_a_real_caller_is_served(
    tmp_path: Path, sip_phones: Callable[..., Phone], source: str, allowed: bool
) -> None:
    config = {"sip": {"allowed_peers": ["127.0.0.1/32", f"{CALLER}/32", *([f"{source}/32"] if allowed else [])]}}
    with running_daemon(tmp_path / "box", mode=fast_mode(), config=config) as daemon:
        caller = sip_phones(name="caller", bind_ip=CALLER, codecs="PCMA")
        rx = tmp_path / "rx.wav"
        call: list[int] = []

        # the real caller's phone call starts 2 s into the flood and lasts 5 s
        def phone_call() -> None:
            time.sleep(2.0)
            call.append(caller.call(daemon.uri, record=rx))
            caller.wait_event("media_active", call=call[0], timeout=5)
            time.sleep(5.0)
            caller.hangup(call[0])

        thread = threading.Thread(target=phone_call)
        thread.start()
        figures = flood_while_calling(daemon, source, CALLER, tmp_path)
        thread.join(20)
        caller.wait_event("recording_done", call=call[0], timeout=5)
        wait_for_baseline(daemon, figures)
        for line in figures.lines():
            print(line)
        x, rate = read(rx)
        assert heard(x, rate, 0.0, PROMPTS / "greeting.wav", length=3.0) > 0.6
        # refused INVITEs are failures: a source not allowed is banned after 10 of them, before
        # its burst allowance is used up; an allowed one is banned when it exceeds the rate
        assert ("flood" if allowed else "10 failed attempts") in str(figures.ban.get("reason")), figures.ban
        assert float(figures.ban["seconds_from_first_packet_to_ban"]) < 1.0  # type: ignore[arg-type]
        assert int(figures.ban["dropped_packets"]) > 15_000  # type: ignore[call-overload]
        assert figures.failed_calls_during_flood == 0 and len(figures.setup_flood_ms) >= 10
        assert figures.rss_peak_kb - figures.rss_baseline_kb < 20 * 1024
        assert figures.rss_after_kb - figures.rss_baseline_kb < 8 * 1024
        assert daemon.alive()


def read(path: Path):  # type: ignore[no-untyped-def]
    from tests.audio_check import read_wav

    return read_wav(path)
