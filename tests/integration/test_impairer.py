"""The user-space impairer (bench/impair.py) does what its profile says: a UDP
echo in the box's namespace, a probe in the far namespace, every datagram
through the relay twice (once each way). Needs root (namespaces, TUN devices),
like the benchmark that uses it."""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from bench.impair import A_ADDR, NETNS_DIR, ROOT, ImpairedLink, Namespaces, Profile, in_netns

ECHO_PORT = 7000


@pytest.fixture
def namespaces() -> Iterator[Namespaces]:
    assert os.geteuid() == 0, "the impairer needs root: network namespaces and TUN devices"
    with Namespaces("t") as ns:
        echo = subprocess.Popen(
            in_netns(ns.box, [sys.executable, "-m", "bench.impair_probe", "echo", "--bind", f"0.0.0.0:{ECHO_PORT}"]),
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert echo.stdout is not None
        assert json.loads(echo.stdout.readline())["event"] == "ready"
        try:
            yield ns
        finally:
            assert echo.stdin is not None
            echo.stdin.close()
            echo.wait(5)
            echo.stdout.close()


def probe(ns: Namespaces, count: int, interval_ms: float, seed: int = 1, **profile: float) -> tuple[Any, Any]:
    """Send ``count`` datagrams through a link with ``profile``; (echoes as [seq, rtt_ms], relay stats)."""
    with ImpairedLink(ns.box, ns.far, Profile("test"), seed=seed, **profile) as link:
        argv = [sys.executable, "-m", "bench.impair_probe", "probe", "--to", f"{A_ADDR}:{ECHO_PORT}"]
        argv += ["--count", str(count), "--interval-ms", str(interval_ms), "--wait-ms", "400"]
        done = subprocess.run(in_netns(ns.far, argv), cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)["echoes"], link.stats


def inversions(echoes: list[list[float]]) -> int:
    seqs = [e[0] for e in echoes]
    return sum(1 for a, b in itertools.pairwise(seqs) if b < a)


def test_a_clean_link_passes_every_packet_in_order_without_delay(namespaces: Namespaces) -> None:
    echoes, stats = probe(namespaces, 200, 5)
    assert len(echoes) == 200
    assert inversions(echoes) == 0
    assert statistics.median(e[1] for e in echoes) < 10  # a relay hop, no impairment
    assert stats["b_to_a"]["dropped"] == stats["a_to_b"]["dropped"] == 0


def test_every_packet_is_delayed_each_way_by_the_configured_time(namespaces: Namespaces) -> None:
    echoes, stats = probe(namespaces, 200, 5, delay_ms=30)
    rtts = [e[1] for e in echoes]
    assert len(rtts) == 200
    assert min(rtts) >= 60  # never early: 30 ms there and 30 ms back
    print(f"rtt min {min(rtts):.1f} median {statistics.median(rtts):.1f} max {max(rtts):.1f} ms")
    assert statistics.median(rtts) <= 70  # the relay's own lateness is well under a millisecond
    for way in ("a_to_b", "b_to_a"):
        assert stats[way]["mean_scheduled_ms"] == pytest.approx(30, abs=0.01), stats
        assert 30 <= stats[way]["mean_delay_ms"] <= 40, stats
    assert inversions(echoes) == 0  # a constant delay keeps the order


def test_jitter_spreads_the_delay_over_the_configured_range_and_reorders_like_netem(namespaces: Namespaces) -> None:
    echoes, stats = probe(namespaces, 400, 5, delay_ms=40, jitter_ms=20)
    rtts = sorted(e[1] for e in echoes)
    assert len(rtts) == 400
    # each way uniform in 20..60 ms: the round trip lies in 40..120 ms, triangular around 80
    assert rtts[0] >= 40
    p5, p95 = rtts[int(0.05 * len(rtts))], rtts[int(0.95 * len(rtts))]
    print(f"rtt p5..p95 {p5:.1f}..{p95:.1f} ms, median {statistics.median(rtts):.1f} ms")
    assert p95 - p5 >= 35  # about 55 ms expected for the sum of two ±20 ms uniform delays
    assert p95 <= 125
    assert 75 <= statistics.median(rtts) <= 92
    # packets 5 ms apart with delays ±20 ms: many overtake each other
    assert inversions(echoes) > 40
    for way in ("a_to_b", "b_to_a"):
        assert 37 <= stats[way]["mean_scheduled_ms"] <= 43, stats  # 40 ± 20/√(3n)·4 at n = 400


def test_loss_drops_the_configured_share_each_way_and_counts_exactly_what_it_dropped(
    namespaces: Namespaces,
) -> None:
    echoes, stats = probe(namespaces, 1000, 2, loss=0.1)
    there, back = stats["b_to_a"], stats["a_to_b"]  # the probe sits on side b
    assert there["packets"] == 1000
    for way in (there, back):
        share = way["dropped"] / way["packets"]
        assert 0.06 <= share <= 0.14, way  # 0.1 ± 4 standard deviations at these counts
    # the accounting is exact: every packet that got there was echoed, every echo not dropped came back
    assert back["packets"] == there["delivered"]
    assert len(echoes) == back["delivered"]
    assert 0.74 <= len(echoes) / 1000 <= 0.88  # (1 - 0.1)² = 0.81


def test_reordering_sends_that_share_at_once_so_it_overtakes_the_delayed_ones(namespaces: Namespaces) -> None:
    echoes, stats = probe(namespaces, 500, 5, delay_ms=40, reorder=0.2)
    rtts = [e[1] for e in echoes]
    assert len(rtts) == 500  # reordering loses nothing
    for way in ("a_to_b", "b_to_a"):
        assert 0.14 <= stats[way]["sent_early"] / stats[way]["packets"] <= 0.26, stats
    # a round trip with at least one undelayed leg: 1 - 0.8² = 0.36 of them
    short = sum(1 for r in rtts if r < 60) / len(rtts)
    assert 0.27 <= short <= 0.45
    assert 0.55 <= sum(1 for r in rtts if r >= 78) / len(rtts) <= 0.73  # both legs delayed: 0.8² = 0.64
    assert inversions(echoes) > 20


def test_the_same_seed_drops_the_same_packets(namespaces: Namespaces) -> None:
    first, _ = probe(namespaces, 300, 3, seed=7, loss=0.2)
    again, _ = probe(namespaces, 300, 3, seed=7, loss=0.2)
    other, _ = probe(namespaces, 300, 3, seed=8, loss=0.2)
    assert [e[0] for e in first] == [e[0] for e in again]
    assert [e[0] for e in first] != [e[0] for e in other]


def test_nothing_is_left_behind_after_a_failure_inside_the_link() -> None:
    ns = Namespaces("f")
    seen: dict[str, Any] = {}

    def fail_inside() -> None:
        with ns, ImpairedLink(ns.box, ns.far, Profile("x")) as link:
            seen["relay"], seen["devices"] = link.proc, link.ready["devices"]
            raise RuntimeError("on purpose")

    with pytest.raises(RuntimeError, match="on purpose"):
        fail_inside()
    assert seen["relay"].poll() is not None
    assert not (NETNS_DIR / ns.box).exists()
    assert not (NETNS_DIR / ns.far).exists()
    here = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert seen["devices"]["a"] not in here and seen["devices"]["b"] not in here
