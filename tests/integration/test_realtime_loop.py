"""The media clock's priority (zentrale/priority.py, systemd/zentrale.service): the event loop's
thread runs SCHED_RR, every thread and program the daemon starts later runs at normal priority,
so a busy worker thread can never delay the loop, and none inherits a real-time quantum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.harness.daemon import running_daemon
from tests.harness.waits import wait_until

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "zentrale.service"


def _policy(tid: int) -> int:
    return os.sched_getscheduler(tid) & ~os.SCHED_RESET_ON_FORK


def test_the_loop_runs_real_time_and_the_daemons_other_threads_at_normal_priority(tmp_path: Path) -> None:
    with running_daemon(tmp_path, config={"service": {"realtime_priority": 3}}) as daemon:
        pid = daemon.proc.pid
        status = daemon.status()
        assert status["media_clock"]["scheduling"] == "real-time RR 3, reset on fork"
        # the database's thread and the loop's worker threads exist once the box has answered
        threads = wait_until(
            lambda: [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid] or None,
            10,
            "the daemon's threads",
        )
        assert _policy(pid) == os.SCHED_RR and os.sched_getparam(pid).sched_priority == 3
        others = {tid: _policy(tid) for tid in threads}
        assert others and set(others.values()) == {os.SCHED_OTHER}, others
        assert "Traceback" not in daemon.log()


def test_the_tests_boxes_run_as_the_appliance_with_the_loop_real_time(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        assert daemon.status()["media_clock"]["scheduling"] == "real-time RR 1, reset on fork"


def test_a_box_started_without_the_setting_keeps_the_priority_it_was_started_with(tmp_path: Path) -> None:
    with running_daemon(tmp_path, nice=None) as daemon:  # nice=None: not as the appliance, the setting unset
        assert daemon.status()["media_clock"]["scheduling"] == "normal"
        assert _policy(daemon.proc.pid) == os.SCHED_OTHER


def test_threads_and_programs_started_after_the_loop_went_real_time_run_at_normal_priority() -> None:
    """What the daemon relies on, in one process: SCHED_RESET_ON_FORK (sched(7)) applies to new
    threads and to programs, so ffmpeg or a statistics worker never runs real-time."""
    script = """
import os, subprocess, threading
from zentrale.priority import describe, make_realtime
print(make_realtime(2))
seen = []
t = threading.Thread(target=lambda: seen.append(describe())); t.start(); t.join()
print(seen[0])
print(subprocess.run(["chrt", "-p", str(os.getpid())], capture_output=True, text=True).stdout.splitlines()[0])
print(subprocess.run(["sh", "-c", "chrt -p $$"], capture_output=True, text=True).stdout.splitlines()[0])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True)
    loop, thread, process, child = out.stdout.splitlines()
    assert loop == "real-time RR 2, reset on fork"
    assert thread == "normal"
    assert process.endswith("SCHED_RR|SCHED_RESET_ON_FORK")
    assert child.endswith("SCHED_OTHER")


def test_the_appliances_unit_starts_the_loop_real_time_with_reset_on_fork() -> None:
    lines = {line.strip() for line in UNIT.read_text(encoding="utf-8").splitlines()}
    assert {"CPUSchedulingPolicy=rr", "CPUSchedulingResetOnFork=yes"} <= lines
    assert any(line.startswith("CPUSchedulingPriority=") for line in lines)
