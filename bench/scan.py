"""Call setup time while sipvicious scans the box: svmap, svwar and svcrack (Debian's package)
from a source outside ``allowed_peers``, a caller placing calls from an allowed one.

Usage: .venv/bin/python -m bench.scan [runs]   (default 3)

Target: the caller's INVITE->200 median during the scan within +10 % of the idle box's
(plus 1 ms for timer granularity on a shared machine). The integration test
(tests/integration/test_security_scan.py) checks what the scanners find (nothing), the ban and
that the caller is served; the time is measured here.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.peers import SIPVICIOUS_BOUND
from tests.harness.sip_client import timed_call

from bench.common import machine

CALLER = "127.0.0.2"
SCANNER = "127.0.0.3"
CONFIG = {
    "sip": {
        "numbers": ["100", "200"],
        "allowed_peers": ["127.0.0.1/32", f"{CALLER}/32"],
        "security": {"max_failures": 10, "failure_window": 60, "ban_seconds": 120},
    }
}


def setup_times(daemon: Daemon, n: int) -> list[float]:
    times = []
    for _ in range(n):
        status, seconds = timed_call(("127.0.0.1", daemon.sip_port), CALLER)
        if status == 200:
            times.append(seconds * 1000)
        time.sleep(0.05)  # pacing: one call every ~50 ms, not a flood of our own
    return times


def sipvicious(tool: str, *args: str) -> subprocess.Popen[str]:
    cmd = (
        [tool, "-b", SCANNER, *args]
        if tool == "svmap"
        else ["/usr/bin/python3", str(SIPVICIOUS_BOUND), tool, SCANNER, *args]
    )
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)


def one(workdir: Path) -> tuple[float, float]:
    with running_daemon(workdir, config=CONFIG) as daemon:
        port = str(daemon.sip_port)
        setup_times(daemon, 5)  # warm up
        idle = setup_times(daemon, 25)
        sipvicious("svmap", "-p", port, "127.0.0.1").communicate(timeout=60)
        svwar = sipvicious("svwar", "--force", "-e100-300", "-m", "INVITE", "-p", port, "--maximumtime", "8",
                           "127.0.0.1")  # fmt: skip
        svcrack = sipvicious("svcrack", "-u100", "-r1000-9999", "-p", port, "--maximumtime", "15", "127.0.0.1")
        time.sleep(0.5)  # the scanners are sending
        scanning = setup_times(daemon, 25)
        svwar.communicate(timeout=60)
        svcrack.communicate(timeout=60)
        return statistics.median(idle), statistics.median(scanning)


def main(runs: int = 3) -> None:
    print(f"machine: {machine()}")
    print("| run | INVITE->200 median idle ms | during the scan ms | change | target ≤ +10 % + 1 ms |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        for run in range(1, runs + 1):
            idle, scan = one(Path(tmp) / f"run{run}")
            ok = "✓" if scan <= 1.10 * idle + 1.0 else "✗"
            print(f"| {run} | {idle:.2f} | {scan:.2f} | {100 * (scan / idle - 1):+.1f} % | {ok} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
