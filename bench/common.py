"""Shared pieces of the benchmarks: the daemon, machine facts, process stats, an RTP sink."""

from __future__ import annotations

import os
import platform
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.daemon import Daemon, free_port, start_daemon  # noqa: E402
from tests.harness.modes import demo_mode  # noqa: E402

__all__ = [
    "ROOT",
    "SIPP_IS_THE_PBX",
    "Daemon",
    "RtpSink",
    "demo_mode",
    "free_port",
    "machine",
    "proc_cpu_seconds",
    "proc_rss_mb",
    "start_daemon",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")
# sipp on 127.0.0.1 stands for the office PBX delivering many calls from one address:
# trusted, like a real PBX should be (else max_calls_per_source and the rate limit apply)
SIPP_IS_THE_PBX = {"trusted": ["127.0.0.1/32"]}
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = int(Path("/proc/meminfo").read_text().split()[1]) // 1024 // 1024
    system = f"{platform.system()} {platform.release()}"
    return f"{model}, {os.cpu_count()} cores, {mem} GiB, {system}, Python {platform.python_version()}"


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class RtpSink:
    """Receives RTP on one port and records arrival times per SSRC."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrivals: dict[int, list[int]] = {}
        self.recording = False
        self.packets = 0
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        # Kernel receive timestamps (SO_TIMESTAMPNS): the sink's own scheduling
        # delays do not count as the box's jitter.
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        ssrc_of = struct.Struct("!I")
        stamp = struct.Struct("@qq")
        while not self._stop:
            try:
                data, anc, _, _ = self.sock.recvmsg(2048, 64)
            except TimeoutError:
                continue
            now = time.monotonic_ns()
            for level, kind, value in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = stamp.unpack_from(value)
                    now = sec * 1_000_000_000 + nsec
            self.packets += 1
            if self.recording and len(data) >= 12:
                self.arrivals.setdefault(ssrc_of.unpack_from(data, 8)[0], []).append(now)

    def intervals_ms(self) -> np.ndarray:
        out = [np.diff(np.array(times, dtype=np.int64)) / 1e6 for times in self.arrivals.values() if len(times) > 2]
        return np.concatenate(out) if out else np.array([])

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(cmd, check=False, capture_output=True, **kw)  # type: ignore[call-overload]
