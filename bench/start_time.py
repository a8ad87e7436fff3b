"""The daemon's start: exec -> READY=1 with the demo config, and what `import zentrale.app` costs.

    .venv/bin/python -m bench.start_time [--runs 3] [--top 15]

Per run: a first start on an empty data folder (the database, the box's CA and HTTPS
certificate are made) and a second start on the same folder, each timed from the exec
to the READY=1 the daemon sends to $NOTIFY_SOCKET (systemd's Type=notify). Then
`python -X importtime -c "import zentrale.app"` in fresh interpreters: the total (median)
and the modules with the largest cumulative times of the last run. The emulated
appliance's boot (image-build/PROOF.md) runs the same start about 30x slower (TCG).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.harness.notify_socket import NotifySocket

from bench.common import machine, proc_cpu_seconds, start_daemon

PYTHON = sys.executable


def start_seconds(workdir: Path, data: Path) -> tuple[float, float]:
    """(exec -> READY=1 in seconds, the daemon's CPU seconds then): on a shared machine the
    CPU time says more than the wall time, which other processes stretch."""
    notify = NotifySocket()
    try:
        began = time.monotonic()
        daemon = start_daemon(workdir, data_dir=data, env=notify.env(), nice=None, timeout=60)
        try:
            ready = notify.wait_for("READY", "1", timeout=60).at - began
            return ready, proc_cpu_seconds(daemon.proc.pid)
        finally:
            daemon.stop()
    finally:
        notify.close()


def import_times(top: int) -> tuple[float, list[tuple[float, float, str]]]:
    run = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", "import zentrale.app"], capture_output=True, text=True, check=True
    )
    rows = []
    for line in run.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| (.*)$", line)
        if m:
            rows.append((int(m.group(2)) / 1e6, int(m.group(1)) / 1e6, m.group(3).rstrip()))
    total = next(cum for cum, _, name in rows if name.strip() == "zentrale.app")
    rows.sort(reverse=True)
    return total, rows[:top]


def import_cpu_seconds() -> float:
    code = "import time\nt = time.process_time()\nimport zentrale.cli, zentrale.app\nprint(time.process_time() - t)"
    return float(subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, check=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    print(machine())
    first: list[tuple[float, float]] = []
    again: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="zentrale-start-") as tmp:
        for n in range(args.runs):
            workdir = Path(tmp) / f"run-{n}"
            data = workdir / "data"
            first.append(start_seconds(workdir, data))
            again.append(start_seconds(workdir, data))
    for what, runs in (
        ("empty data folder (CA, certificate, database made)", first),
        ("second start on the same folder", again),
    ):
        print(
            f"exec -> READY=1, {what}: median {statistics.median(r[0] for r in runs):.2f} s "
            f"({statistics.median(r[1] for r in runs):.2f} s CPU) of {', '.join(f'{r[0]:.2f}' for r in runs)}"
        )
    totals = []
    rows: list[tuple[float, float, str]] = []
    for _ in range(args.runs):
        total, rows = import_times(args.top)
        totals.append(total)
    print(
        f"import zentrale.app (-X importtime): median {statistics.median(totals):.3f} s "
        f"of {', '.join(f'{s:.3f}' for s in totals)}"
    )
    cpu = [import_cpu_seconds() for _ in range(args.runs)]
    print(
        f"import zentrale.cli, zentrale.app: median {statistics.median(cpu):.3f} s CPU "
        f"of {', '.join(f'{s:.3f}' for s in cpu)}"
    )
    print(f"{'cumulative':>10} {'self':>7}  module (last run)")
    for cumulative, own, name in rows:
        print(f"{cumulative:10.3f} {own:7.3f}  {name}")


if __name__ == "__main__":
    main()
