"""The event loop's CPU priority: the media clock ahead of everything else on the box.

The one event loop sends every caller's audio every 20 ms. On a box that is busy
(an upload decoded, the statistics counted, a backup, another program) a loop at
normal priority waits its turn and the phones hear it late (issue 14: slips of
10-40 ms at load 4-11). So the loop's thread runs SCHED_RR, real-time, at a low
real-time priority -- and with SCHED_RESET_ON_FORK (sched(7)), so every thread
the daemon starts later (the database's, the worker threads that count statistics
or decode prompts) and every program it runs (ffmpeg, espeak-ng) starts at normal
priority: they can never delay the loop, and a busy one cannot starve the box.
The kernel's real-time throttling (sched_rt_runtime_us, 95 %) leaves the rest of
the system a share even if the loop ever spun.

On the appliance systemd sets it (zentrale.service: CPUSchedulingPolicy=rr,
CPUSchedulingResetOnFork=yes) before the daemon starts; ``service.realtime_priority``
asks for it from the daemon itself, where it has the right (CAP_SYS_NICE or root).
It must be set before the first thread starts: threads made before keep their policy.
"""

from __future__ import annotations

import os

POLICIES = {os.SCHED_OTHER: "normal", os.SCHED_BATCH: "batch", os.SCHED_IDLE: "idle", os.SCHED_FIFO: "FIFO",
            os.SCHED_RR: "RR"}  # fmt: skip


def describe(thread: int = 0) -> str:
    """The scheduling of ``thread`` (0: the calling one), e.g. 'real-time RR 10, reset on fork'."""
    raw = os.sched_getscheduler(thread)
    policy = raw & ~os.SCHED_RESET_ON_FORK
    name = POLICIES.get(policy, str(policy))
    if policy not in (os.SCHED_FIFO, os.SCHED_RR):
        return name
    text = f"real-time {name} {os.sched_getparam(thread).sched_priority}"
    return text + (", reset on fork" if raw & os.SCHED_RESET_ON_FORK else ", inherited by threads and programs")


def is_realtime(thread: int = 0) -> bool:
    return os.sched_getscheduler(thread) & ~os.SCHED_RESET_ON_FORK in (os.SCHED_FIFO, os.SCHED_RR)


def make_realtime(priority: int) -> str:
    """The calling thread SCHED_RR at ``priority``, its future threads and children normal.
    Raises OSError (EPERM) without the right; a thread already real-time is left as it is."""
    if not is_realtime():
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    return describe()
