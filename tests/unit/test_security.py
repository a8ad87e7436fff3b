"""The source guard and the number policy, on a fake clock."""

from __future__ import annotations

from datetime import UTC

import pytest

from zentrale.config import SecurityConfig, Team
from zentrale.core.numbers import NumberPolicies, NumberPolicy, compile_pattern
from zentrale.lines.sip.guard import SourceGuard


class Now:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def guard(**changes: object) -> tuple[SourceGuard, Now]:
    now = Now()
    return SourceGuard(SecurityConfig(**changes), now), now  # type: ignore[arg-type]


def test_given_ten_failures_within_the_window_then_the_source_is_banned_and_its_packets_dropped() -> None:
    g, now = guard(max_failures=10, failure_window=60, ban_seconds=300)
    for _ in range(9):
        g.failed("198.51.100.7", "403 INVITE")
        now.t += 1
    assert g.admit("198.51.100.7")
    g.failed("198.51.100.7", "403 INVITE")
    assert not g.admit("198.51.100.7")
    assert g.bans()[0]["address"] == "198.51.100.7"
    assert "10 failed attempts" in g.bans()[0]["reason"]
    assert g.bans()[0]["dropped_packets"] == 1
    now.t += 301
    assert g.admit("198.51.100.7")
    assert g.bans() == []


def test_failures_spread_wider_than_the_window_do_not_ban() -> None:
    g, now = guard(max_failures=3, failure_window=10)
    for _ in range(20):
        g.failed("198.51.100.7", "404")
        now.t += 6
    assert g.bans() == []


def test_a_flood_beyond_burst_and_rate_bans_at_once() -> None:
    g, now = guard(requests_per_second=100, burst=50)
    admitted = 0
    for _ in range(2000):  # 2000 packets in 1 s
        admitted += g.admit("203.0.113.9")
        now.t += 0.0005
    assert 50 <= admitted <= 55  # the burst plus what the rate refilled meanwhile
    assert g.bans()[0]["reason"].startswith("flood")
    # a source within the rate is never limited
    for _ in range(1000):
        assert g.admit("192.0.2.1")
        now.t += 0.011


def test_each_further_ban_lasts_longer_up_to_the_maximum() -> None:
    g, now = guard(ban_seconds=60, ban_escalation=4, max_ban_seconds=1000)
    lengths = []
    for _ in range(4):
        ban = g.ban("203.0.113.9", "test")
        assert ban is not None
        lengths.append(ban.until - ban.since)
        now.t = ban.until + 1
    assert lengths == [60, 240, 960, 1000]


def test_trusted_sources_and_the_registrar_are_never_limited_or_banned() -> None:
    g, _ = guard(trusted=["10.1.0.0/16"], burst=5, max_failures=2)
    g.trust("192.0.2.50")
    for host in ("10.1.2.3", "192.0.2.50"):
        for _ in range(100):
            assert g.admit(host)
            g.failed(host, "x")
        assert g.ban(host, "by hand") is None
    assert g.bans() == []


def test_an_admin_lifts_a_ban() -> None:
    g, _ = guard()
    g.ban("203.0.113.9", "test")
    assert not g.admit("203.0.113.9")
    assert g.lift("203.0.113.9")
    assert g.admit("203.0.113.9")
    assert not g.lift("203.0.113.9")


def test_bans_survive_a_restart_with_their_wall_clock_end_and_strikes() -> None:
    g, now = guard(ban_seconds=300, ban_escalation=4, max_ban_seconds=86400)
    changes: list[int] = []
    g.on_change = lambda: changes.append(1)
    g.ban("203.0.113.9", "scan")
    g.ban("203.0.113.10", "flood")
    now.t += 100
    kept = g.snapshot(wall_now=1_800_000_000.0)
    assert changes == [1, 1]
    assert {b["host"]: round(b["until"] - 1_800_000_000.0) for b in kept} == {"203.0.113.9": 200, "203.0.113.10": 200}

    # a new process: another monotonic clock; 150 s passed on the wall clock
    fresh, later = guard(ban_seconds=300, ban_escalation=4, max_ban_seconds=86400, trusted=["203.0.113.10/32"])
    later.t = 5.0
    assert fresh.restore(kept, wall_now=1_800_000_150.0) == 1  # the trusted one is not restored
    assert not fresh.admit("203.0.113.9")
    assert fresh.bans()[0]["seconds_left"] == 50.0 and fresh.bans()[0]["reason"] == "scan"
    later.t += 51
    assert fresh.admit("203.0.113.9")
    again = fresh.ban("203.0.113.9", "scan again")  # the strike counted on: the second ban is 4x longer
    assert again is not None and again.until - again.since == 1200
    assert fresh.restore(kept, wall_now=1_800_001_000.0) == 0  # all over by then


def test_per_source_state_is_bounded_by_an_lru() -> None:
    g, _ = guard(max_sources=100)
    for i in range(10_000):
        g.admit(f"10.{i // 65536}.{i // 256 % 256}.{i % 256}")
    assert g.status()["sources"] == 100
    for i in range(1000):
        g.ban(f"172.16.{i // 256}.{i % 256}", "t")
    assert len(g.bans()) <= 100


@pytest.mark.parametrize(
    ("number", "allowed"),
    [
        ("201", True),
        ("**620", True),
        ("sip:home@127.0.0.30:5070", True),
        ("sip:anna@192.168.1.20;transport=tcp", True),
        ("09001234567", False),
        ("0900123", False),
        ("+441234567890", False),
        ("00441234567890", False),
        ("sip:09001234567@192.168.1.1", False),  # through the PBX to a premium number
        ("sip:+441234@10.0.0.1", False),
        ("sip:anna@evil.example", False),  # a name could resolve anywhere
        ("*21*0900123#", False),  # call forwarding code
    ],
)
def test_by_default_only_internal_extensions_and_private_sip_uris_are_allowed(number: str, allowed: bool) -> None:
    assert NumberPolicy().allows(number) is allowed


def test_admin_patterns_per_team_regex_dial_pattern_and_sip_domain() -> None:
    policies = NumberPolicies(
        {"lvs": ["^[0-9]{2,4}$", "**62x"], "home": ["sip:*@vpn.example"], "pc": None}  # pc: the default
    )
    assert policies.allows("2001", ["lvs"])
    assert policies.allows("**623", ["lvs"])
    assert not policies.allows("**6234", ["lvs"])
    assert not policies.allows("09001234", ["lvs"])
    assert policies.allows("sip:anna@vpn.example", ["home"])
    assert policies.allows("sip:anna@VPN.example:5061;transport=tls", ["home"])
    assert not policies.allows("sip:anna@vpn.example.evil.com", ["home"])
    assert not policies.allows("sip:anna@vpn.example", ["home", "lvs"])  # every team must allow it
    assert policies.allows("201", ["pc"])


def test_a_bad_pattern_is_refused_in_the_configuration() -> None:
    with pytest.raises(ValueError, match="regular expression"):
        compile_pattern("^[0-9")
    with pytest.raises(ValueError, match="literal host"):
        compile_pattern("sip:*@*.example")
    with pytest.raises(ValueError, match="dial pattern"):
        Team(id="a", name="A", allowed_numbers=["09 00"])


class RecordingLine:
    """A Line that only notes what it was asked to dial."""

    name = "fake"

    def __init__(self) -> None:
        self.dialled: list[str] = []

    async def originate(self, target: str, **_kw: object) -> object:
        self.dialled.append(target)
        raise AssertionError("must not be reached for a refused number")


async def test_given_a_premium_number_on_the_board_when_distribution_dials_then_the_dialer_refuses_it() -> None:
    import asyncio
    from datetime import datetime

    from zentrale.calls.dialer import LineDialer
    from zentrale.config import Team
    from zentrale.core.agents import Agent
    from zentrale.core.queues import QueueEntry
    from zentrale.teams import TeamDirectory

    line = RecordingLine()
    dialer = LineDialer(line, TeamDirectory([Team(id="lvs", name="LVS")]))  # type: ignore[arg-type]
    entry = QueueEntry("e1", "c1", "lvs", "+4930123", None, 0.0, datetime.now(UTC))
    for number in ("09001234567", "+441234567890", "sip:09001234@192.168.1.1"):
        agent = Agent("mallory", "Mallory", frozenset({"lvs"}), number=number)
        result = await dialer.dial(agent, entry, 5.0, asyncio.get_running_loop().create_future())
        assert result.reason == "unreachable"
    assert line.dialled == []


def test_digest_server_accepts_the_right_answer_only_with_its_own_nonce_for_that_source() -> None:
    from zentrale.lines.sip.digest import DigestClient, DigestServer

    server = DigestServer("trunk", "trunk-secret", "zentrale")
    _, challenge = server.challenge("192.0.2.10")
    uri = "sip:100@box"
    good = DigestClient("trunk", "trunk-secret").answer(401, challenge, "INVITE", uri)
    bad = DigestClient("trunk", "wrong-password").answer(401, challenge, "INVITE", uri)
    assert good is not None and bad is not None
    assert server.check(good[1], "INVITE", "192.0.2.10") == "ok"
    assert server.check(bad[1], "INVITE", "192.0.2.10") == "bad"
    assert server.check(good[1], "INVITE", "192.0.2.11") == "bad"  # a nonce from another source
    assert server.check(None, "INVITE", "192.0.2.10") == "missing"
    other = DigestServer("trunk", "trunk-secret", "zentrale")  # another box (or a restart): other secret
    assert other.check(good[1], "INVITE", "192.0.2.10") == "bad"
