"""A user-space network impairer: delay, jitter, loss and reordering between two
network namespaces, for benchmarks and tests that need a bad line.

This kernel has no ``sch_netem``, so the impairment happens in a relay process
(shared/TESTING-NOTES.md): it owns two TUN devices, one moved into each
namespace, reads every IP packet one side sends, decides by a seeded random
profile whether to drop it and when to deliver it, and writes it into the other
side's TUN device at that time. Both directions are impaired, independently;
SIP and RTP alike (every IPv4 packet).

Semantics follow netem's so the profiles mean what they mean there:

- ``delay_ms ± jitter_ms``: each packet gets its own delay, uniform in
  ``[delay - jitter, delay + jitter]`` (netem's default distribution). Packets
  leave in order of their due time, so jitter larger than the packet spacing
  reorders them, as netem's time-sorted queue does.
- ``loss``: uncorrelated (Bernoulli) loss.
- ``reorder``: that share of the packets is sent at once instead of after the
  delay (netem ``reorder P`` with gap 1, correlation 0); each such packet
  overtakes the ones sent in the last ``delay_ms``. netem's correlated
  ``reorder 5% 50%`` reorders almost nothing (TESTING-NOTES), so none here.

Traffic never leaves the namespaces: the only routes the relay adds are the
connected /30 on its two devices, inside namespaces that have nothing else but
loopback. Addresses are from 198.18.0.0/15, the range RFC 2544 reserves for
benchmarking, so they can collide with no real network.

Run as ``python -m bench.impair --profile p1 --seed 1 --a-ns NS1 --b-ns NS2``
(root): it prints one JSON line ``{"event": "ready", ...}`` once both devices
are up, and on SIGTERM, SIGINT, ``stop`` on stdin or stdin closing prints
``{"event": "stats", ...}`` and exits (the devices vanish with it).
``Namespaces`` and ``ImpairedLink`` below do all of that for a caller.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import heapq
import itertools
import json
import os
import random
import select
import shlex
import signal
import struct
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
NETNS_DIR = Path("/run/netns")
NS_PREFIX = "zab"  # every namespace made here: zab<pid of its maker><role>

# RFC 2544 benchmarking addresses, /30 per link; "a" is the box side, "b" the far side
A_ADDR = "198.18.0.1"
B_ADDR = "198.18.0.2"
PREFIX_LEN = 30


@dataclass(frozen=True)
class Profile:
    """One emulated network path (both directions get the same, independently)."""

    name: str
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    reorder: float = 0.0

    def describe(self) -> str:
        if self.delay_ms == 0 and self.loss == 0 and self.reorder == 0:
            return "no impairment"
        parts = [f"{self.delay_ms:g} ms" + (f" ± {self.jitter_ms:g} ms" if self.jitter_ms else "")]
        if self.reorder:
            parts.append(f"{self.reorder:.0%} reordering")
        if self.loss:
            parts.append(f"{self.loss:.0%} loss")
        return ", ".join(parts)


# The profiles of issue 14 (the caller's side of the network)
PROFILES = {
    "clean": Profile("clean"),
    "p1": Profile("p1", delay_ms=40, jitter_ms=20, loss=0.02),
    "p2r": Profile("p2r", delay_ms=40, reorder=0.05, loss=0.01),
}


# --------------------------------------------------------------------------- the relay (its own process)
@dataclass
class DirectionStats:
    packets: int = 0
    dropped: int = 0
    sent_early: int = 0  # "reorder": sent without the delay
    delivered: int = 0
    not_ipv4: int = 0
    delay_ms_sum: float = 0.0
    scheduled_ms_sum: float = 0.0  # what the profile decided, without the relay's own lateness
    lateness_ms: list[float] = field(default_factory=list)  # delivery after the due time (the relay's precision)

    def summary(self) -> dict[str, Any]:
        late = sorted(self.lateness_ms)

        def pct(p: float) -> float:
            return round(late[min(len(late) - 1, int(p * len(late)))], 2) if late else 0.0

        return {
            "packets": self.packets,
            "dropped": self.dropped,
            "sent_early": self.sent_early,
            "delivered": self.delivered,
            "not_ipv4": self.not_ipv4,
            "mean_delay_ms": round(self.delay_ms_sum / self.delivered, 2) if self.delivered else 0.0,
            "mean_scheduled_ms": round(self.scheduled_ms_sum / self.delivered, 2) if self.delivered else 0.0,
            "late_ms_p50": pct(0.5),
            "late_ms_p99": pct(0.99),
            "late_ms_max": round(late[-1], 2) if late else 0.0,
        }


class Direction:
    """Decides the fate of each packet one way (its own seeded random stream)."""

    def __init__(self, profile: Profile, seed: int, name: str) -> None:
        self.profile = profile
        # str seeds hash deterministically (sha512), unlike hash() of a tuple
        self.rng = random.Random(f"{seed}/{name}")
        self.stats = DirectionStats()

    def delay_for(self) -> float | None:
        """Seconds to hold the next packet, or None to drop it. Three draws per
        packet whatever the outcome, so one decision never shifts the next."""
        p = self.profile
        lost, early, spread = self.rng.random(), self.rng.random(), self.rng.uniform(-1.0, 1.0)
        if lost < p.loss:
            self.stats.dropped += 1
            return None
        if p.reorder and early < p.reorder:
            self.stats.sent_early += 1
            return 0.0
        return max(0.0, p.delay_ms + spread * p.jitter_ms) / 1000


def open_tun(name: str) -> int:
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def _ip(*args: str) -> None:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")


def _same_netns(ns: str) -> bool:
    return os.stat("/proc/self/ns/net").st_ino == os.stat(NETNS_DIR / ns).st_ino


def place_device(name: str, ns: str, address: str) -> None:
    """Move the device into ``ns`` (unless it is there already), give it its address, bring it up."""
    if not _same_netns(ns):
        _ip("link", "set", "dev", name, "netns", ns)
    _ip("-n", ns, "addr", "add", f"{address}/{PREFIX_LEN}", "dev", name)
    _ip("-n", ns, "link", "set", "dev", name, "up")


class Relay:
    def __init__(self, profile: Profile, seed: int, a_ns: str, b_ns: str) -> None:
        tag = os.getpid()
        self.names = {"a": f"imp{tag}a", "b": f"imp{tag}b"}
        self.fds = {side: open_tun(name) for side, name in self.names.items()}
        place_device(self.names["a"], a_ns, A_ADDR)
        place_device(self.names["b"], b_ns, B_ADDR)
        self.dirs = {"a": Direction(profile, seed, "a->b"), "b": Direction(profile, seed, "b->a")}
        self.other = {self.fds["a"]: self.fds["b"], self.fds["b"]: self.fds["a"]}
        self.side_of = {fd: side for side, fd in self.fds.items()}
        # (due, arrival order, arrived, output fd, packet, input side)
        self.queue: list[tuple[float, int, float, int, bytes, str]] = []
        self.count = 0
        self.stopping = False

    def run(self) -> None:
        inputs = [*self.fds.values(), sys.stdin.fileno()]
        while not self.stopping:
            now = time.monotonic()
            timeout = max(0.0, self.queue[0][0] - now) if self.queue else 0.5
            try:
                ready, _, _ = select.select(inputs, [], [], timeout)
            except InterruptedError:
                continue
            for fd in ready:
                if fd == sys.stdin.fileno():
                    line = sys.stdin.readline()
                    if not line or line.strip() == "stop":
                        self.stopping = True
                    continue
                self._take(fd)
            self._deliver(time.monotonic())

    def _take(self, fd: int) -> None:
        direction = self.dirs[self.side_of[fd]]
        while True:
            try:
                packet = os.read(fd, 65535)
            except BlockingIOError:
                return
            if not packet:
                return
            # each packet's own arrival: one read late in a batch must not make it leave early
            now = time.monotonic()
            if packet[0] >> 4 != 4:
                direction.stats.not_ipv4 += 1  # IPv6 router solicitations of a fresh device: not ours
                continue
            direction.stats.packets += 1
            delay = direction.delay_for()
            if delay is None:
                continue
            self.count += 1
            heapq.heappush(self.queue, (now + delay, self.count, now, self.other[fd], packet, self.side_of[fd]))

    def _deliver(self, now: float) -> None:
        while self.queue and self.queue[0][0] <= now:
            due, _, arrived, out, packet, side = heapq.heappop(self.queue)
            with contextlib.suppress(BlockingIOError):  # a full device queue drops, as a real link would
                os.write(out, packet)
            sent = time.monotonic()
            stats = self.dirs[side].stats
            stats.delivered += 1
            stats.lateness_ms.append(max(0.0, sent - due) * 1000)
            stats.delay_ms_sum += (sent - arrived) * 1000
            stats.scheduled_ms_sum += (due - arrived) * 1000

    def stats(self) -> dict[str, Any]:
        return {"a_to_b": self.dirs["a"].stats.summary(), "b_to_a": self.dirs["b"].stats.summary()}


# --------------------------------------------------------------------------- for the process that uses the link
ROOT = Path(__file__).resolve().parents[1]


def in_netns(ns: str, argv: list[str]) -> list[str]:
    """``argv`` run inside the namespace ``ns`` (``ip netns exec`` execs it: same pid)."""
    return ["ip", "netns", "exec", ns, *argv]


def python_wrapper(folder: Path, *, netns: str | None = None, nice: int = 0) -> Path:
    """A one-line interpreter wrapper that runs this Python inside ``netns`` and/or
    at ``nice``: for tools that only let you choose the interpreter
    (``Phone.start(python=...)``). Nice is set before the interpreter starts, so
    every thread it makes has it (Linux keeps nice per thread)."""
    argv = [sys.executable]
    if netns:
        argv = in_netns(netns, argv)
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    script = folder / f"python-{netns or 'here'}-nice{nice}"
    script.write_text(f'#!/bin/sh\nexec {shlex.join(argv)} "$@"\n')
    script.chmod(0o755)
    return script


def renice_all_threads(pid: int, nice: int) -> None:
    """``renice`` of every thread a process has now (setpriority on a pid reaches its main thread only)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.setpriority(os.PRIO_PROCESS, int(task.name), nice)


def _pids_in(ns: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False)
    return [int(x) for x in done.stdout.split()]


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def remove_stale_namespaces() -> list[str]:
    """Delete namespaces an earlier run of ours left behind (its maker was killed):
    ``zab<pid>...`` whose pid no longer exists. Nobody else's are touched."""
    removed = []
    for entry in sorted(NETNS_DIR.glob(f"{NS_PREFIX}*")) if NETNS_DIR.is_dir() else []:
        digits = "".join(itertools.takewhile(str.isdigit, entry.name[len(NS_PREFIX) :]))
        if digits and not _alive(int(digits)):
            subprocess.run(["ip", "netns", "del", entry.name], capture_output=True, check=False)
            removed.append(entry.name)
    return removed


class Namespaces:
    """Two fresh network namespaces with nothing but loopback: ``box`` (side a)
    and ``far`` (side b, the caller's). Leaving the block ends every process
    still inside them (all started by us) and deletes them, devices and all."""

    def __init__(self, tag: str = "") -> None:
        base = f"{NS_PREFIX}{os.getpid()}{tag}"
        self.box = f"{base}a"
        self.far = f"{base}b"

    def __enter__(self) -> Namespaces:
        remove_stale_namespaces()
        try:
            for ns in (self.box, self.far):
                _ip("netns", "add", ns)
                _ip("-n", ns, "link", "set", "dev", "lo", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for ns in (self.box, self.far):
            if not (NETNS_DIR / ns).exists():
                continue
            left = _pids_in(ns)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and any(_alive(pid) for pid in left):
                time.sleep(0.05)
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)


class ImpairedLink:
    """The relay process between ``box`` (gets A_ADDR) and ``far`` (gets B_ADDR).

    ``with ImpairedLink(ns.box, ns.far, PROFILES["p1"], seed=3) as link: ...``;
    ``link.stats`` holds the relay's counts once the block is left.
    """

    def __init__(self, box_ns: str, far_ns: str, profile: Profile, seed: int = 1, **overrides: float) -> None:
        self.box_ns, self.far_ns = box_ns, far_ns
        self.profile = replace(profile, **overrides)
        self.seed = seed
        self.proc: subprocess.Popen[str] | None = None
        self.ready: dict[str, Any] = {}
        self.stats: dict[str, Any] = {}

    def _argv(self) -> list[str]:
        p = self.profile
        return [
            sys.executable, "-m", "bench.impair", "--a-ns", self.box_ns, "--b-ns", self.far_ns,
            "--seed", str(self.seed), "--name", p.name,
            "--delay-ms", str(p.delay_ms), "--jitter-ms", str(p.jitter_ms), "--loss", str(p.loss),
            "--reorder", str(p.reorder),
        ]  # fmt: skip

    @staticmethod
    def _line(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], timeout)
        line = proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"impairing relay: no answer (exit code {proc.poll()}); see its stderr")
        return dict(json.loads(line))

    def __enter__(self) -> ImpairedLink:
        self.proc = subprocess.Popen(
            self._argv(), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        try:
            self.ready = self._line(self.proc, 10)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> dict[str, Any]:
        """Stop the relay (its devices vanish with it) and keep its counts in ``stats``."""
        proc, self.proc = self.proc, None
        if proc is None:
            return self.stats
        try:
            if proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.write("stop\n")
                    proc.stdin.close()
            with contextlib.suppress(RuntimeError, ValueError):
                self.stats = self._line(proc, 5)
        finally:
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        return self.stats


def _realtime() -> bool:
    """Run the relay ahead of ordinary processes: on a machine shared with other
    work a relay that waits for the CPU adds jitter of its own (seen: 20 ms p99
    late under a load average of 3). It sleeps between packets and uses ~1 % of
    a core, and the kernel's RT throttling bounds it anyway."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(10))
        return True
    except (OSError, AttributeError):
        with contextlib.suppress(OSError):
            os.nice(-15)
        return False


def relay_main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="impairing relay between two network namespaces (root)")
    p.add_argument("--profile", default="clean", choices=sorted(PROFILES), help="the base; options below override")
    p.add_argument("--name", help="the profile's name in the output (default: the base's)")
    p.add_argument("--delay-ms", type=float, help="override the profile's delay")
    p.add_argument("--jitter-ms", type=float, help="override the profile's jitter (±, uniform)")
    p.add_argument("--loss", type=float, help="override the profile's loss (0..1)")
    p.add_argument("--reorder", type=float, help="override the profile's reordering (0..1)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--a-ns", required=True, help=f"namespace of side a (gets {A_ADDR})")
    p.add_argument("--b-ns", required=True, help=f"namespace of side b (gets {B_ADDR})")
    args = p.parse_args(argv)
    profile = PROFILES[args.profile]
    changes = {
        k: getattr(args, k) for k in ("delay_ms", "jitter_ms", "loss", "reorder") if getattr(args, k) is not None
    }
    if args.name:
        changes["name"] = args.name
    profile = replace(profile, **changes)
    relay = Relay(profile, args.seed, args.a_ns, args.b_ns)
    realtime = _realtime()

    def stop(signum: int, frame: object) -> None:
        relay.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    ready = {"event": "ready", "profile": asdict(profile), "seed": args.seed, "devices": relay.names}
    print(json.dumps({**ready, "realtime": realtime}))
    sys.stdout.flush()
    relay.run()
    print(json.dumps({"event": "stats", **relay.stats()}))
    sys.stdout.flush()


if __name__ == "__main__":
    relay_main()
