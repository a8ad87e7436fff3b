"""A bare SIP client on a raw socket: one request and its answer, or a whole
call (INVITE, 200, ACK, BYE) with the time from INVITE to 200 OK measured
without any phone's event loop in between."""

from __future__ import annotations

import re
import secrets
import socket
import time
from dataclasses import dataclass


@dataclass
class Answer:
    status: int
    raw: bytes

    @property
    def head(self) -> str:
        return self.raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")

    def header(self, name: str) -> str:
        m = re.search(rf"^{name}:\s*(.*)$", self.head, re.MULTILINE | re.IGNORECASE)
        return m.group(1).strip() if m else ""

    def shape(self) -> tuple[str, tuple[str, ...]]:
        """The status line and header names: what must not differ between users."""
        lines = self.head.split("\r\n")
        return lines[0], tuple(sorted(line.split(":", 1)[0].lower() for line in lines[1:]))


def request(
    method: str,
    user: str,
    target: tuple[str, int],
    bind_ip: str,
    *,
    sdp: bool = False,
    headers: dict[str, str] | None = None,
    timeout: float = 2.0,
    sock: socket.socket | None = None,
    call_id: str | None = None,
    cseq: int = 1,
    to_tag: str = "",
) -> Answer | None:
    """Send one request over UDP; the first final answer (or None on timeout)."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if own:
            s.bind((bind_ip, 0))
        port = s.getsockname()[1]
        host, sip_port = target
        body = b""
        if sdp:
            body = (
                f"v=0\r\no=probe 1 1 IN IP4 {bind_ip}\r\ns=-\r\nc=IN IP4 {bind_ip}\r\nt=0 0\r\n"
                "m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
            ).encode()
        lines = [
            f"{method} sip:{user}@{host}:{sip_port} SIP/2.0",
            f"Via: SIP/2.0/UDP {bind_ip}:{port};branch=z9hG4bK{secrets.token_hex(8)};rport",
            "Max-Forwards: 70",
            f"From: <sip:probe@{bind_ip}>;tag=probe1",
            f"To: <sip:{user}@{host}>" + (f";tag={to_tag}" if to_tag else ""),
            f"Call-ID: {call_id or secrets.token_hex(8)}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:probe@{bind_ip}:{port}>",
            *(f"{k}: {v}" for k, v in (headers or {}).items()),
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        packet = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        s.sendto(packet, target)
        if method == "ACK":
            return None
        deadline = time.monotonic() + timeout
        interval = 0.5  # retransmit like any UA over UDP (RFC 3261 §17.1.1.2, Timer A)
        resend = time.monotonic() + interval
        provisional = False
        while True:
            now = time.monotonic()
            if now >= deadline:
                return None
            if not provisional and now >= resend:
                s.sendto(packet, target)
                interval *= 2
                resend = now + interval
            s.settimeout(max(0.01, min(deadline, resend) - now))
            try:
                data, _ = s.recvfrom(65536)
            except TimeoutError:
                continue
            status = int(data.split(b" ", 2)[1])
            provisional = provisional or status < 200
            if status >= 200:
                return Answer(status, data)
    finally:
        if own:
            s.close()


def timed_call(target: tuple[str, int], bind_ip: str, user: str = "100", timeout: float = 5.0) -> tuple[int, float]:
    """(status, seconds from INVITE to the final answer); a 200 is ACKed and hung up at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((bind_ip, 0))
        call_id = secrets.token_hex(8)
        t0 = time.perf_counter()
        answer = request("INVITE", user, target, bind_ip, sdp=True, sock=s, call_id=call_id, timeout=timeout)
        elapsed = time.perf_counter() - t0
        if answer is None:
            return 0, elapsed
        if answer.status == 200:
            tag = re.search(r";tag=([^;>\s]+)", answer.header("To"))
            to_tag = tag.group(1) if tag else ""
            request("ACK", user, target, bind_ip, sock=s, call_id=call_id, to_tag=to_tag)
            request("BYE", user, target, bind_ip, sock=s, call_id=call_id, cseq=2, to_tag=to_tag)
        return answer.status, elapsed
