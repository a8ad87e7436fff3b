"""Where a parallel run's wall time goes, and the order that wastes least of it.

Read the file ``ZENTRALE_TEST_TIMELINE`` made (tests/conftest.py writes one JSON line per test:
xdist worker, test id, lane, start, end) and print each worker's busy time, when it finished,
the lanes (the heavy lane, each module that shares a daemon) by length, and the tests still
running when the first worker ran out of work; ``--durations`` also writes each test's seconds
to tests/durations.json, which tests/conftest.py orders the run by (``longest_first``):

    ZENTRALE_TEST_TIMELINE=/tmp/t.jsonl .venv/bin/pytest
    .venv/bin/python -m tests.harness.timeline /tmp/t.jsonl [--durations] [--predict]

``--predict`` prints the wall time the same tests would take on 2-8 workers if each took as
long as in this run (optimistic: on two cores more workers make each test slower).

A run is as long as its longest worker; a lane (a group of tests xdist keeps on one worker) is
a lower bound for it, and so is the sum of all tests divided by the workers. xdist hands the
lanes out in the order they are collected (``--no-loadscope-reorder``) to whichever worker is
free, so the longest lanes go first and the short ones fill the gaps at the end (the longest-
processing-time rule, within 4/3 of the best for independent lanes): a long test handed out
last keeps the run going while the other workers idle.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
DURATIONS = Path(__file__).resolve().parents[1] / "durations.json"  # tests/durations.json
# a test not (yet) in the list: a new integration test starts a daemon and places a call; a new
# unit test is gone in a blink
UNKNOWN_INTEGRATION = 5.0
UNKNOWN_OTHER = 0.1
KEEP_FROM = 1.0  # tests/durations.json lists the tests that take at least this long


@dataclass(frozen=True)
class Run:
    worker: str
    nodeid: str  # without xdist's "@<lane>" suffix
    start: float
    end: float
    lane: str | None = None  # the xdist group, if any

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def module(self) -> str:
        return self.nodeid.split("::", 1)[0]


def read_timeline(path: Path) -> list[Run]:
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            nodeid, at, lane = str(row["nodeid"]).rpartition("@")
            if "lane" not in row and at and (lane == "heavy" or lane.startswith("tests/")):  # the first version
                row["nodeid"], row["lane"] = nodeid, lane  # of the line: "<test>@<lane>"
            runs.append(Run(row["worker"], row["nodeid"], float(row["start"]), float(row["end"]), row.get("lane")))
    return sorted(runs, key=lambda r: r.start)


def report(runs: list[Run], top: int = 12) -> str:
    """The text the command prints."""
    if not runs:
        return "no tests in the timeline"
    t0 = min(r.start for r in runs)
    wall = max(r.end for r in runs) - t0
    lines = [f"{len(runs)} tests, wall {wall:.0f} s (first set-up to last tear-down)"]
    by_worker: dict[str, list[Run]] = defaultdict(list)
    for r in runs:
        by_worker[r.worker].append(r)
    total = sum(r.seconds for r in runs)
    lines.append(f"busy {total:.0f} s in all, {total / len(by_worker):.0f} s per worker if spread evenly")
    first_done = min(max(r.end for r in rs) for rs in by_worker.values())
    for worker, rs in sorted(by_worker.items()):
        busy = sum(r.seconds for r in rs)
        done = max(r.end for r in rs) - t0
        lines.append(
            f"  {worker}: {len(rs):5d} tests, busy {busy:6.0f} s, done at {done:6.0f} s, idle {wall - busy:5.0f} s"
        )
    lanes: dict[str, float] = defaultdict(float)
    for r in runs:
        lanes[r.lane or r.module] += r.seconds
    lines.append("longest lanes (or modules), busy seconds:")
    for name, seconds in sorted(lanes.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {seconds:6.0f}  {name}")
    tail = [r for r in runs if r.end > first_done]
    lines.append(f"after the first worker ran out of work ({first_done - t0:.0f} s), still running:")
    for r in sorted(tail, key=lambda r: r.start)[-top:]:
        lines.append(f"  {r.worker} {r.start - t0:6.0f}-{r.end - t0:6.0f} s ({r.seconds:5.1f} s) {r.nodeid}")
    return "\n".join(lines)


def durations(runs: list[Run]) -> dict[str, float]:
    """Each test's seconds (set-up to tear-down; a test run twice counts its longest run), the
    ones of at least ``KEEP_FROM`` s: what ``longest_first`` orders by."""
    seconds: dict[str, float] = {}
    for r in runs:
        seconds[r.nodeid] = max(seconds.get(r.nodeid, 0.0), r.seconds)
    return {k: round(v, 1) for k, v in sorted(seconds.items()) if v >= KEEP_FROM}


def read_durations(path: Path = DURATIONS) -> dict[str, float]:
    if not path.exists():
        return {}
    return {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}


def expected_seconds(nodeid: str, known: dict[str, float]) -> float:
    if nodeid in known:
        return known[nodeid]
    return UNKNOWN_INTEGRATION if "/integration/" in nodeid else UNKNOWN_OTHER


def longest_first(
    items: Sequence[T],
    nodeid: Callable[[T], str],
    lane: Callable[[T], str | None],
    known: dict[str, float],
    first: str | None = None,
    free_order: Callable[[str], bool] = lambda _lane: False,
) -> list[T]:
    """``items`` in the order xdist should hand them out: lanes (the tests of one xdist group,
    or a single test) by their expected seconds, longest first; lane ``first`` (the heavy one)
    before all. A lane's tests keep their order (they may build on each other), except in a
    lane for which ``free_order`` is true: its tests are independent and go longest first too,
    so that its last tests, behind which xdist already queues the next lane, are short ones."""
    lanes: dict[str, list[T]] = {}
    for item in items:
        lanes.setdefault(lane(item) or "::" + nodeid(item), []).append(item)

    def seconds(item: T) -> float:
        return expected_seconds(nodeid(item), known)

    for name, members in lanes.items():
        if free_order(name):
            members.sort(key=lambda item: -seconds(item))
    order = sorted(lanes, key=lambda name: (name != first, -sum(seconds(i) for i in lanes[name])))
    return [item for name in order for item in lanes[name]]


def simulate(lanes: list[list[float]], workers: int) -> float:
    """The wall time of a run whose lanes (each a list of its tests' seconds, in the order xdist
    gets them) go to ``workers`` as pytest-xdist 3.8's loadgroup scheduler hands them out: one
    lane to each worker at the start, and another whenever a worker has at most two tests of its
    own left (``LoadScopeScheduling._reschedule``), so a lane waits behind those two."""
    queue = list(lanes)
    pending: list[list[float]] = [[] for _ in range(workers)]
    busy_until = [0.0] * workers

    def top_up(w: int, initial: bool = False) -> None:
        if queue and (initial or len(pending[w]) <= 2):
            pending[w].extend(queue.pop(0))

    for w in range(workers):
        top_up(w, initial=True)
    for w in range(workers):
        top_up(w)
    while any(pending):
        # the worker that finishes its current test first
        w = min((w for w in range(workers) if pending[w]), key=lambda w: busy_until[w] + pending[w][0])
        busy_until[w] += pending[w].pop(0)
        top_up(w)
    return max(busy_until)


def predicted(runs: list[Run], workers: int) -> float:
    """The wall time of the same tests, with the same seconds each, handed out longest first
    to ``workers`` (what more workers would give if no test got slower for it: an optimistic
    figure, since the cores are shared; the heavy lane's length is its floor)."""
    ordered = longest_first(
        runs, lambda r: r.nodeid, lambda r: r.lane, durations(runs), first="heavy", free_order=lambda x: x == "heavy"
    )  # as tests/conftest.py orders a run
    lanes: dict[str, list[float]] = {}
    for r in ordered:
        lanes.setdefault(r.lane or "::" + r.nodeid, []).append(r.seconds)
    return simulate(list(lanes.values()), workers)


def main(argv: list[str]) -> int:
    if not argv or any(a not in ("--durations", "--predict") for a in argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    runs = read_timeline(Path(argv[0]))
    print(report(runs))
    if "--predict" in argv:
        for workers in range(2, 9):
            seconds = predicted(runs, workers)
            print(f"longest first on {workers} workers, each test as long as in this run: {seconds:.0f} s")
    if "--durations" in argv:
        DURATIONS.write_text(json.dumps(durations(runs), indent=0, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"wrote {DURATIONS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
