"""Ask a SIP server 'are you there?' with one OPTIONS request over UDP (RFC 3261 §11).

Also a script: ``python3 tests/harness/sip_probe.py HOST PORT`` prints the status line
and exits 0 on a 200 answer (the arm64 proof uses it).
"""

from __future__ import annotations

import random
import socket
import sys


def options(host: str, port: int, timeout: float = 2.0) -> str | None:
    """The status line of the answer, or None when nothing came back in time."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        branch = f"z9hG4bK{random.getrandbits(48):x}"
        request = (
            f"OPTIONS sip:100@{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:probe@127.0.0.1>;tag={random.getrandbits(32):x}\r\n"
            f"To: <sip:100@{host}>\r\n"
            f"Call-ID: probe-{random.getrandbits(64):x}\r\n"
            "CSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        sock.sendto(request.encode(), (host, port))
        try:
            data = sock.recv(65535)
        except TimeoutError:
            return None
        return data.decode("utf-8", "replace").split("\r\n", 1)[0]


if __name__ == "__main__":
    line = options(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 5.0)
    print(line or "no answer")
    sys.exit(0 if line and line.startswith("SIP/2.0 200") else 1)
