"""Every call ends, whatever its media does: the real daemon with short limits.

- A caller that sends no RTP at all (a raw SIP peer on a socket: INVITE, ACK,
  then nothing) sits in a voicemail node whose recorder counts received audio:
  the box hangs up at the node's limit (prompt + beep + max_seconds + grace),
  long before the RTP timeout.
- A pjsua2 caller waiting in a queue that never ends is hung up by the box at
  ``call_limits.max_call_seconds``.
"""

from __future__ import annotations

import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.audio import prompt_seconds
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import demo_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
GRACE = 2.0
MAX_CALL = 14.0
VM_MAX = 3.0


def limits_mode() -> dict[str, Any]:
    mode = demo_mode()
    nodes = mode["nodes"]
    nodes["vm_short"] = {"type": "voicemail", "prompt": "goodbye", "max_seconds": VM_MAX, "silence_seconds": 3}
    nodes["main_menu"]["choices"]["9"] = "vm_short"
    nodes["queue_pc"].pop("max_wait")
    nodes["queue_pc"].pop("on_max_wait")  # waits for ever: only the call's cap ends it
    mode["start"] = "greeting"
    return mode


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {"call_limits": {"grace_seconds": GRACE, "max_call_seconds": MAX_CALL}}
    with running_daemon(tmp_path_factory.mktemp("limits"), mode=limits_mode(), config=config) as d:
        yield d


class SilentPeer:
    """A SIP caller on raw sockets that answers the box's BYE but never sends a packet of RTP."""

    def __init__(self, daemon: Daemon) -> None:
        self.target = ("127.0.0.1", daemon.sip_port)
        self.sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sip.bind(("127.0.0.1", 0))
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # receives the box's audio, sends nothing
        self.rtp.bind(("127.0.0.1", 0))
        self.call_id = secrets.token_hex(8)
        self.port = self.sip.getsockname()[1]
        self.to_tag = ""

    def close(self) -> None:
        self.sip.close()
        self.rtp.close()

    def _send(self, lines: list[str], body: bytes = b"") -> None:
        head = "\r\n".join([*lines, f"Content-Length: {len(body)}"]) + "\r\n\r\n"
        self.sip.sendto(head.encode() + body, self.target)

    def _headers(self, method: str, cseq: int, branch: str) -> list[str]:
        host, port = self.target
        return [
            f"{method} sip:9@{host}:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{branch};rport",
            "Max-Forwards: 70",
            "From: <sip:silent@127.0.0.1>;tag=silent1",
            f"To: <sip:100@{host}>" + (f";tag={self.to_tag}" if self.to_tag else ""),
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:silent@127.0.0.1:{self.port}>",
        ]

    def call(self, timeout: float = 5.0) -> None:
        """INVITE (PCMU only), wait for the 200, ACK it."""
        rtp_port = self.rtp.getsockname()[1]
        sdp = (
            f"v=0\r\no=silent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            f"m=audio {rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        ).encode()
        self._send([*self._headers("INVITE", 1, secrets.token_hex(6)), "Content-Type: application/sdp"], sdp)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sip.settimeout(max(0.01, deadline - time.monotonic()))
            data = self.sip.recv(65536)
            status = int(data.split(b" ", 2)[1]) if data.startswith(b"SIP/2.0") else 0
            if status >= 200:
                assert status == 200, data[:200]
                tag = re.search(rb"^To:.*;tag=([^;>\s]+)", data, re.MULTILINE | re.IGNORECASE)
                self.to_tag = tag.group(1).decode() if tag else ""
                self._send(self._headers("ACK", 1, secrets.token_hex(6)))
                return
        raise AssertionError("no 200 for the INVITE")

    def press(self, digit: str) -> None:
        """A key press by SIP INFO (application/dtmf-relay): no RTP needed."""
        body = f"Signal={digit}\r\nDuration=160\r\n".encode()
        self._send([*self._headers("INFO", 2, secrets.token_hex(6)), "Content-Type: application/dtmf-relay"], body)

    def wait_for_bye(self, t0: float, timeout: float) -> float:
        """Seconds from ``t0`` to the box's BYE (answered with 200 OK)."""
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            self.sip.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, addr = self.sip.recvfrom(65536)
            except TimeoutError:
                break
            if data.startswith(b"BYE "):
                head = data.split(b"\r\n\r\n", 1)[0].decode()
                keep = [
                    h
                    for h in head.split("\r\n")[1:]
                    if h.split(":")[0].lower() in ("via", "from", "to", "call-id", "cseq")
                ]
                self.sip.sendto(
                    ("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode(), addr
                )
                return time.monotonic() - t0
        raise AssertionError(f"the box did not hang up within {timeout} s")

    def audio_received(self) -> int:
        """Packets of the box's audio that arrived (the box did send its prompt)."""
        self.rtp.setblocking(False)
        n = 0
        while True:
            try:
                self.rtp.recv(2048)
            except BlockingIOError:
                return n
            n += 1


def test_a_caller_sending_no_audio_in_voicemail_is_hung_up_at_max_seconds_plus_grace(daemon: Daemon) -> None:
    peer = SilentPeer(daemon)
    try:
        peer.call()
        t0 = time.monotonic()
        digit_at = prompt_seconds("greeting") + 0.5
        time.sleep(digit_at)
        peer.press("9")  # to the voicemail node: prompt, beep, then a recording nothing ever reaches
        took = peer.wait_for_bye(t0, timeout=MAX_CALL + 10)
        sent = peer.audio_received()
    finally:
        peer.close()
    # the node's own length: prompt, beep and max_seconds -- or the no-message prompt where
    # the disk refuses recordings, whichever is longer -- plus the grace
    limit = max(prompt_seconds("goodbye") + 0.4 + VM_MAX, prompt_seconds("messages_unavailable_wait")) + GRACE
    print(f"silent caller: hung up {took:.2f} s after the answer, {took - digit_at:.2f} s after entering voicemail"
          f" (limit {limit:.2f} s); {sent} RTP packets of the box's prompts received")  # fmt: skip
    assert digit_at + limit - 0.3 <= took <= digit_at + limit + 1.0
    assert took < MAX_CALL - 1  # the node's limit, not the call's cap
    assert sent > 100  # the box's side of the media ran; the caller's never did
    wait_until(lambda: daemon.status()["calls"] == 0, 5, "the call to be gone")
    row = wait_until(lambda: next((r for r in daemon.http.get("/api/calllog").json() if r["caller"] and
                                   "silent" in r["caller"]), None), 5, "the call log row")  # fmt: skip
    assert row["outcome"] == "time_limit", row
    assert "longer than" in daemon.log() and "Traceback" not in daemon.log()


def test_a_caller_waiting_in_a_queue_that_never_ends_is_hung_up_at_the_call_cap(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    caller = sip_phones(name="waiter", codecs="PCMU")
    mark = caller.mark()
    call = caller.call(daemon.uri, record=tmp_path / "rx.wav")
    caller.wait_event("media_active", call=call, since=mark, timeout=5)
    t0 = time.monotonic()
    time.sleep(prompt_seconds("greeting") + 1.5)
    caller.dtmf(call, "3")  # team C: the hold sequence repeats, no max_wait
    wait_until(lambda: daemon.http.get("/api/queues", params={"team": "pc"}).json(), 5, "the caller in the queue")
    ended = caller.wait_event("disconnected", call=call, since=mark, timeout=MAX_CALL + 10)
    took = ended["t"] - t0
    print(f"waiting caller: hung up by the box {took:.2f} s after the answer (cap {MAX_CALL:g} s)")
    assert MAX_CALL - 0.5 <= took <= MAX_CALL + 1.5
    wait_until(lambda: daemon.status()["calls"] == 0, 5, "the call to be gone")
    status = daemon.status()
    assert status["waiting"] == 0 and status["media_clock"]["streams"] == 0
    row = wait_until(lambda: next((r for r in daemon.http.get("/api/calllog").json() if r["team"] == "pc"), None), 5,
                     "the call log row")  # fmt: skip
    in_queue = MAX_CALL - prompt_seconds("greeting") - 1.5  # from the digit to the cap
    assert row["outcome"] == "time_limit" and in_queue - 1.5 <= row["waited_s"] <= in_queue + 1.0, row
    assert "Traceback" not in daemon.log()
