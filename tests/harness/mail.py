"""A caller leaving a message for the mail tests, and the mail state of that message."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.harness.audio import make_tone_wav
from tests.harness.daemon import Daemon
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

CALLER = "+49301234567"


def mail_state(daemon: Daemon, states: set[str], timeout: float = 20) -> dict[str, Any]:
    def reached() -> dict[str, Any] | None:
        rows = daemon.http.get("/api/messages").json()
        return rows[0] if rows and rows[0]["mail"] and rows[0]["mail"]["state"] in states else None

    return wait_until(reached, timeout, f"mail state {states}")  # type: ignore[no-any-return]


def leave_message(daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path, *, wait: float = 1.0) -> None:
    """Call, wait for the beep (``wait`` s after media starts), speak a 600 Hz tone for 2.5 s, go silent."""
    tone = make_tone_wav(tmp_path / "tone.wav", 600, 2.5, rate=8000, level_dbfs=-12)
    caller = sip_phones(name="caller", codecs="PCMU", user=CALLER)
    call = caller.call(daemon.uri)
    caller.wait_event("media_active", call=call, timeout=5)
    time.sleep(wait)
    caller.play(call, tone)
    time.sleep(2.5)
    caller.play(call, None)
    caller.wait_event("disconnected", call=call, timeout=20)
