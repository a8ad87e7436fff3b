"""The run's order (tests/harness/timeline.py, used by tests/conftest.py): the heavy lane
first, then lanes longest first, a lane's tests in their order unless the lane is free to
reorder; and the timeline a run writes reads back into the figures the order is made from."""

from __future__ import annotations

import json
from pathlib import Path

from tests.harness.timeline import (
    UNKNOWN_INTEGRATION,
    Run,
    durations,
    expected_seconds,
    longest_first,
    predicted,
    read_timeline,
    report,
    simulate,
)

# (test id, lane): two modules sharing a daemon, the heavy lane, single tests
ITEMS = [
    ("tests/unit/test_a.py::test_quick", None),
    ("tests/integration/test_m.py::test_first", "tests/integration/test_m.py"),
    ("tests/integration/test_m.py::test_second", "tests/integration/test_m.py"),
    ("tests/integration/test_fuzz.py::test_short", "heavy"),
    ("tests/integration/test_fuzz.py::test_long", "heavy"),
    ("tests/integration/test_single.py::test_long_call", None),
    ("tests/integration/test_n.py::test_only", "tests/integration/test_n.py"),
    ("tests/integration/test_new.py::test_not_measured_yet", None),
]
RERUN = "tests/integration/test_x.py::test_rerun"
KNOWN = {
    "tests/integration/test_m.py::test_first": 2.0,
    "tests/integration/test_m.py::test_second": 30.0,
    "tests/integration/test_fuzz.py::test_short": 1.0,
    "tests/integration/test_fuzz.py::test_long": 9.0,
    "tests/integration/test_single.py::test_long_call": 40.0,
    "tests/integration/test_n.py::test_only": 3.0,
}


def order(known: dict[str, float]) -> list[str]:
    ordered = longest_first(
        ITEMS, lambda i: i[0], lambda i: i[1], known, first="heavy", free_order=lambda lane: lane == "heavy"
    )
    return [nodeid.split("::")[1] for nodeid, _lane in ordered]


def test_the_heavy_lane_goes_first_then_lanes_by_their_total_seconds_and_unit_tests_last() -> None:
    assert order(KNOWN) == [
        "test_long", "test_short",  # heavy, though shorter than others: its longest test first
        "test_long_call",  # 40 s
        "test_first", "test_second",  # 32 s together, in the module's order (they build on each other)
        "test_not_measured_yet",  # an integration test not in the list: 5 s
        "test_only",  # 3 s
        "test_quick",  # a unit test
    ]  # fmt: skip


def test_without_a_durations_list_the_heavy_lane_still_goes_first_and_unit_tests_last() -> None:
    ordered = order({})
    assert ordered[:2] == ["test_short", "test_long"]  # unknown: equal, so in their order
    assert ordered[-1] == "test_quick"
    assert expected_seconds("tests/integration/test_x.py::t", {}) == UNKNOWN_INTEGRATION


def test_a_timeline_gives_each_tests_longest_run_and_a_report_naming_the_longest_lane(tmp_path: Path) -> None:
    rows = [
        {"worker": "gw0", "nodeid": "tests/integration/test_m.py::test_first", "lane": "tests/integration/test_m.py",
         "start": 100.0, "end": 130.0},
        {"worker": "gw1", "nodeid": "tests/unit/test_a.py::test_quick", "lane": None, "start": 100.0, "end": 100.5},
        {"worker": "gw1", "nodeid": RERUN, "lane": None, "start": 101.0, "end": 103.0},
        {"worker": "gw1", "nodeid": RERUN, "lane": None, "start": 103.0, "end": 106.5},
        # the first version of the line: xdist's "@<lane>" still on the id
        {"worker": "gw1", "nodeid": "tests/integration/test_h.py::test_flood@heavy", "start": 107.0, "end": 110.0},
    ]  # fmt: skip
    path = tmp_path / "timeline.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    runs = read_timeline(path)
    assert Run("gw1", "tests/integration/test_h.py::test_flood", 107.0, 110.0, "heavy") in runs
    assert durations(runs) == {
        "tests/integration/test_h.py::test_flood": 3.0,
        "tests/integration/test_m.py::test_first": 30.0,
        RERUN: 3.5,
    }  # the unit test is under a second: left out
    text = report(runs)
    assert "5 tests, wall 30 s" in text
    assert "gw0:     1 tests, busy     30 s, done at     30 s, idle     0 s" in text
    assert text.splitlines()[5].split() == ["30", "tests/integration/test_m.py"]


def test_the_simulated_run_queues_a_lane_behind_a_worker_with_two_tests_left_as_xdist_does() -> None:
    # two workers: the 10 s lane and a 1 s lane start; each worker, having at most two tests of
    # its own left, takes one more lane at once: a 1 s lane waits behind the 10 s test
    assert simulate([[10.0], [1.0], [1.0], [1.0], [1.0]], 2) == 11.0
    # longest first with nothing queued behind the long one: as long as the long one
    assert simulate([[10.0, 0.0, 0.0], [1.0], [1.0], [1.0]], 2) == 10.0
    assert simulate([[3.0], [3.0], [2.0], [2.0], [2.0]], 2) == 7.0
    assert simulate([], 4) == 0.0


def test_the_prediction_for_more_workers_never_beats_the_heavy_lane_or_the_longest_test() -> None:
    runs = [Run("gw0", f"tests/integration/test_h.py::test_{i}", 0.0, 10.0, "heavy") for i in range(3)]
    runs += [Run("gw1", f"tests/integration/test_x.py::test_{i}", 0.0, 5.0) for i in range(12)]
    assert predicted(runs, 1) == 90.0
    # 90 s on two workers: 45 s at best, but the heavy worker takes a 5 s test each time it is
    # down to two tests of its own (xdist's look-ahead): they queue behind its heavy ones
    assert predicted(runs, 2) == 50.0
    assert predicted(runs, 8) == 30.0  # the heavy lane is the floor
