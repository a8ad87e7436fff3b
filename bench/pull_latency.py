"""Pull ("Vermitteln") latencies: HTTP pull -> INVITE at the agent's phone,
and the agent's 200 OK -> audio flowing both ways.

Usage: .venv/bin/python -m bench.pull_latency [pulls]   (default 20)

The caller and the agent's phone are minimal UAs written here (raw UDP),
so all timestamps come from one clock. Each sends a constant PCMU payload
of its own (0x55 caller, 0x2A agent); "audio both ways" is the later of the
moments each side first receives the other's payload through the box.
"""

from __future__ import annotations

import secrets
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import demo_mode, machine, start_daemon
from bench.latency import _in_dialog, _invite, stats

CALLER_BYTE, AGENT_BYTE = 0x55, 0x2A


class RtpTalker:
    """Sends one constant payload every 20 ms and notes when a given payload first arrives."""

    def __init__(self, sock: socket.socket, payload_byte: int, listen_for: int) -> None:
        self.sock = sock
        self.payload = bytes([payload_byte]) * 160
        self.listen_for = listen_for
        self.peer: tuple[str, int] | None = None
        self.heard_at: float | None = None
        self.stop = False
        self.threads = [
            threading.Thread(target=self._send, daemon=True),
            threading.Thread(target=self._recv, daemon=True),
        ]
        for t in self.threads:
            t.start()

    def _send(self) -> None:
        seq, ts, ssrc = 0, 0, secrets.randbits(32)
        nxt = time.monotonic()
        while not self.stop:
            if self.peer is not None:
                header = bytes([0x80, 0]) + seq.to_bytes(2, "big") + ts.to_bytes(4, "big") + ssrc.to_bytes(4, "big")
                self.sock.sendto(header + self.payload, self.peer)
                seq, ts = (seq + 1) & 0xFFFF, (ts + 160) & 0xFFFFFFFF
            nxt += 0.02
            time.sleep(max(0.0, nxt - time.monotonic()))

    def _recv(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data = self.sock.recv(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            if self.heard_at is None and len(data) > 20 and data[12] == self.listen_for and data[20] == self.listen_for:
                self.heard_at = time.monotonic()

    def close(self) -> None:
        self.stop = True
        for t in self.threads:
            t.join(1)
        self.sock.close()


def one_pull(daemon: object, agent_sip: socket.socket, agent_id: str) -> tuple[float, float]:
    d = daemon
    sip_port = d.sip_port  # type: ignore[attr-defined]
    http = d.http  # type: ignore[attr-defined]
    # the caller
    sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sip.bind(("127.0.0.1", 0))
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    call_id, tag = secrets.token_hex(8), secrets.token_hex(4)
    sip.sendto(
        _invite(sip_port, sip.getsockname()[1], rtp.getsockname()[1], call_id, tag, "z9hG4bK" + secrets.token_hex(8)),
        ("127.0.0.1", sip_port),
    )
    sip.settimeout(5)
    while not (data := sip.recv(65535)).startswith(b"SIP/2.0 200"):
        pass
    head = data.decode()
    to_tag = head.split("\r\nTo:", 1)[1].split("\r\n", 1)[0].split("tag=")[1].strip()
    box_media = int(head.split("m=audio ", 1)[1].split()[0])
    sip.sendto(_in_dialog("ACK", 1, sip_port, sip.getsockname()[1], call_id, tag, to_tag), ("127.0.0.1", sip_port))
    caller = RtpTalker(rtp, CALLER_BYTE, AGENT_BYTE)
    caller.peer = ("127.0.0.1", box_media)
    entry = None
    while not entry:
        entry = http.get("/api/queues").json()
        time.sleep(0.01)
    # the pull
    t_pull = time.monotonic()
    http.post(f"/api/queues/{entry[0]['entry_id']}/pull", json={"agent": agent_id})
    agent_sip.settimeout(5)
    invite, box_addr = agent_sip.recvfrom(65535)
    t_invite = time.monotonic()
    text = invite.decode(errors="replace")
    offer_port = int(text.split("m=audio ", 1)[1].split()[0])
    agent_rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent_rtp.bind(("127.0.0.1", 0))
    sdp = (
        "v=0\r\no=agent 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {agent_rtp.getsockname()[1]} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
    )
    hdr = {k: v for k, v in (ln.split(":", 1) for ln in text.split("\r\n\r\n")[0].split("\r\n")[1:] if ":" in ln)}
    ok = (
        f"SIP/2.0 200 OK\r\nVia:{hdr['Via']}\r\nFrom:{hdr['From']}\r\n"
        f"To:{hdr['To']};tag=agent{secrets.token_hex(3)}\r\nCall-ID:{hdr['Call-ID']}\r\nCSeq:{hdr['CSeq']}\r\n"
        f"Contact: <sip:agent@127.0.0.1:{agent_sip.getsockname()[1]}>\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
    )
    agent = RtpTalker(agent_rtp, AGENT_BYTE, CALLER_BYTE)
    agent.peer = ("127.0.0.1", offer_port)
    t_ok = time.monotonic()
    agent_sip.sendto(ok.encode(), box_addr)
    deadline = time.monotonic() + 5
    while (caller.heard_at is None or agent.heard_at is None) and time.monotonic() < deadline:
        time.sleep(0.002)
    both = max(caller.heard_at or float("inf"), agent.heard_at or float("inf")) - t_ok
    sip.sendto(_in_dialog("BYE", 2, sip_port, sip.getsockname()[1], call_id, tag, to_tag), ("127.0.0.1", sip_port))
    # drain the agent side: ACK and the BYE the box sends when the caller leaves
    end = time.monotonic() + 1
    while time.monotonic() < end:
        try:
            msg, addr = agent_sip.recvfrom(65535)
        except TimeoutError:
            break
        if msg.startswith(b"BYE"):
            lines = msg.decode().split("\r\n")
            resp = ["SIP/2.0 200 OK"] + [
                ln for ln in lines if ln.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")
            ]
            agent_sip.sendto(("\r\n".join(resp) + "\r\nContent-Length: 0\r\n\r\n").encode(), addr)
            break
    caller.close()
    agent.close()
    sip.close()
    return t_invite - t_pull, both


def main(argv: list[str]) -> None:
    pulls = int(argv[0]) if argv else 20
    mode = demo_mode()
    mode["start"] = "queue_lvs"
    mode["nodes"]["queue_lvs"]["hold"] = [{"music": "music_a", "seconds": 600}]
    agent_sip = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    agent_sip.bind(("127.0.0.1", 0))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        teams = [{"id": t, "name": t.upper(), "wrap_up": 0} for t in ("lvs", "sap", "pc")]
        daemon = start_daemon(Path(tmp), mode=mode, config={"teams": teams})
        try:
            daemon.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]})
            daemon.http.post(
                "/api/agents/anna/login", json={"number": f"sip:anna@127.0.0.1:{agent_sip.getsockname()[1]}"}
            )
            for _ in range(pulls):
                results.append(one_pull(daemon, agent_sip, "anna"))
                while daemon.http.get("/api/agents/anna").json()["state"] != "available":
                    time.sleep(0.05)
        finally:
            daemon.stop()
    print(f"machine: {machine()}")
    print(f"{pulls} pulls, p50 / p99 / max in ms")
    print(f"| pull request -> INVITE at the agent | {stats([r[0] for r in results])} |")
    print(f"| agent's 200 OK -> audio both ways | {stats([r[1] for r in results])} |")


if __name__ == "__main__":
    main(sys.argv[1:])
