"""UDP echo and probe for measuring what ``bench.impair`` does to packets.

``python -m bench.impair_probe echo --bind 198.18.0.1:7000``
    echoes every datagram back to its sender; prints ``{"event": "ready"}``,
    ends when stdin closes.
``python -m bench.impair_probe probe --to 198.18.0.1:7000 --count 400 --interval-ms 5``
    sends numbered datagrams (a sequence number and the send time inside),
    waits for the echoes, prints one JSON line: ``sent``, and per echo in arrival
    order ``[seq, rtt_ms]``.

Both run inside the namespaces of an ``ImpairedLink`` (``in_netns``); the round
trip crosses the relay twice, once each way.
"""

from __future__ import annotations

import argparse
import json
import select
import socket
import struct
import sys
import time

PACKET = struct.Struct("!Iq")  # sequence number, send time (monotonic ns)
PAD = bytes(160)  # a G.711 frame's worth, so packets are RTP-sized


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host, int(port)


def echo(bind: str) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(_address(bind))
    print(json.dumps({"event": "ready", "port": sock.getsockname()[1]}), flush=True)
    while True:
        readable, _, _ = select.select([sock, sys.stdin], [], [], 1.0)
        if sys.stdin in readable and not sys.stdin.readline():
            return
        if sock in readable:
            data, peer = sock.recvfrom(2048)
            sock.sendto(data, peer)


def probe(to: str, count: int, interval_ms: float, wait_ms: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.connect(_address(to))
    sock.setblocking(False)
    echoes: list[tuple[int, float]] = []

    def drain() -> None:
        while True:
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                return
            seq, sent_ns = PACKET.unpack_from(data)
            echoes.append((seq, (time.monotonic_ns() - sent_ns) / 1e6))

    start = time.monotonic()
    for seq in range(count):
        # paced by the clock, not by sleeps adding up
        while (lag := start + seq * interval_ms / 1000 - time.monotonic()) > 0:
            time.sleep(min(lag, 0.0005))
            drain()  # an echo is timed when it comes, not at the next send
        sock.send(PACKET.pack(seq, time.monotonic_ns()) + PAD)
        drain()
    end = time.monotonic() + wait_ms / 1000
    while time.monotonic() < end:
        time.sleep(0.0005)
        drain()
    print(json.dumps({"sent": count, "echoes": echoes}), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("--bind", required=True, help="ip:port")
    q = sub.add_parser("probe")
    q.add_argument("--to", required=True, help="ip:port of the echo")
    q.add_argument("--count", type=int, default=200)
    q.add_argument("--interval-ms", type=float, default=5.0)
    q.add_argument("--wait-ms", type=float, default=500.0, help="how long to wait for the last echoes")
    args = p.parse_args(argv)
    if args.cmd == "echo":
        echo(args.bind)
    else:
        probe(args.to, args.count, args.interval_ms, args.wait_ms)


if __name__ == "__main__":
    main()
