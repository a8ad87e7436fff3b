"""Agents and transfer with real peers: Kamailio as the office PBX, agent phones
registered to it (pjsua2 processes), the box registered to it too, callers as
separate processes; one home-office agent reached directly by SIP URI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness.audio import make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.modes import office_mode
from tests.harness.office import Office, logout_all, running_office
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    teams = [
        {"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0},
        {"id": "sap", "name": "SAP", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0},
        {"id": "pc", "name": "PC", "distribution": "auto", "strategy": "linear", "ring_timeout": 5, "wrap_up": 0},
    ]
    with running_office(tmp_path_factory.mktemp("office"), mode=office_mode(), teams=teams) as office:
        for agent_id, agent_teams, prio in [
            ("anna", ["lvs", "sap"], 0), ("ben", ["lvs"], 0), ("home", ["lvs", "pc"], 9),
            ("carl", ["pc"], 1), ("dora", ["pc"], 2), ("emil", ["pc"], 3),
        ]:  # fmt: skip
            body = {"name": agent_id.title(), "teams": agent_teams, "priority": prio}
            r = office.box.http.put(f"/api/agents/{agent_id}", json=body)
            assert r.status_code == 200, r.text
        yield office


# G722: the box translates 8 <-> 16 kHz; PCMA: decoded and encoded again;
# PCMU like the caller: the payload passes through the box as it came
@pytest.mark.parametrize("agent_codec", ["G722", "PCMA", "PCMU"])
def test_pull_rings_the_agent_and_audio_flows_both_ways_until_the_caller_hangs_up(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path, agent_codec: str
) -> None:
    logout_all(office)
    caller_tone, agent_tone = tmp_path / "600.wav", tmp_path / "1000.wav"
    make_tone_wav(caller_tone, 600, 20, rate=8000, level_dbfs=-12)
    make_tone_wav(agent_tone, 1000, 20, rate=16000, level_dbfs=-12)
    agent = office.agent_phone(
        sip_phones, "201", "127.0.0.21", auto_answer="none", codecs=agent_codec, record_dir=tmp_path
    )
    r = office.api().post("/api/agents/anna/login", json={"number": "201", "teams": ["lvs"]})
    assert r.json()["state"] == "available"
    caller, call, caller_rx = office.waiting_caller(sip_phones, "1", "caller", codecs="PCMU")
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    t_pull = time.monotonic()
    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "anna"})
    assert r.status_code == 200 and r.json()["result"] == "ringing"
    ring = agent.wait_event("incoming", timeout=5)
    assert ring["display_name"] == f"LVS {entry['caller']}"
    # the identity a PBX that trusts the box passes on to desk phones (docs/pbx.md)
    invite_headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in
                      ring["invite"].split("\r\n\r\n", 1)[0].split("\r\n")[1:] if ":" in line}  # fmt: skip
    assert invite_headers["p-asserted-identity"].startswith(f'"LVS {entry["caller"]}" <sip:{entry["caller"]}@')
    assert "party=calling" in invite_headers["remote-party-id"]
    assert office.api().get("/api/agents/anna").json()["state"] == "ringing"
    assert office.api().get("/api/queues").json()[0]["state"] == "offered"
    time.sleep(1.5)  # rings a while: the caller still hears the hold sequence
    agent.answer(ring["call"])
    agent.wait_event("media_active", call=ring["call"], timeout=5)
    t_answer = time.monotonic()
    caller.play(call, caller_tone, loop=True)
    agent.play(ring["call"], agent_tone, loop=True)
    wait_until(lambda: office.api().get("/api/agents/anna").json()["state"] == "on_call", 5, "on call")
    assert office.api().get("/api/queues").json() == []
    time.sleep(3.0)
    caller.hangup(call)
    gone = agent.wait_event("disconnected", call=ring["call"], timeout=5)
    # the box ended the agent's leg by BYE when the caller left (the agent never hung up),
    # after the whole conversation
    assert gone["code"] == 200, gone
    assert gone["duration"] >= 3.0, gone
    caller.wait_event("recording_done", call=call, timeout=5)
    agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"])
    x, rate = read_wav(caller_rx)
    talk = x[int((t_answer - t_pull + prompt_seconds("greeting") + 1.0 + 1.0) * rate) :]
    # what the caller heard after the agent answered: the agent's 1 kHz tone
    assert tone_level(x[-int(2.5 * rate) :], rate, 1000) > 0.5, tone_level(talk, rate, 1000)
    y, yrate = read_wav(agent_rx)
    assert tone_level(y[-int(2.5 * yrate) :], yrate, 600) > 0.5
    wait_until(lambda: office.api().get("/api/agents/anna").json()["state"] == "available", 5, "anna free")
    row = next(r for r in office.api().get("/api/calllog").json() if r["answered_by"] == "anna")
    assert row["outcome"] == "answered"
    assert row["team"] == "lvs"
    assert 2.5 <= row["talk_s"] <= 5.0
    assert row["entered_queue_at"] and row["answered_at"] and row["ended_at"]
    # how the caller's line sounded (RTCP-style figures kept in the call log; loopback: little loss)
    quality = row["quality"]
    assert quality["packets_received"] > 200 and 0 <= quality["loss_pct"] < 10
    assert 3.0 < quality["mos"] <= 4.5


@pytest.mark.parametrize(("answer", "reason"), [("486", "busy"), ("603", "declined"), ("none", "no_answer")])
def test_pull_to_an_agent_who_is_busy_declines_or_does_not_answer(
    office: Office, sip_phones: Callable[..., Phone], answer: str, reason: str
) -> None:
    logout_all(office)
    agent = office.agent_phone(sip_phones, "202", "127.0.0.22", auto_answer=answer, answer_delay=0.5)
    office.api().post("/api/agents/ben/login", json={"number": "202"})
    caller, call, _ = office.waiting_caller(sip_phones, "1", f"caller-{reason}")
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "ben", "wait": True}, timeout=20)
    assert r.json()["result"] == reason
    agent.wait_event("incoming", timeout=5)
    # the caller is still waiting, at the same position, and ben is free again
    after = office.api().get("/api/queues").json()
    assert [(q["entry_id"], q["position"], q["state"]) for q in after] == [(entry["entry_id"], 1, "waiting")]
    assert office.api().get("/api/agents/ben").json()["state"] == "available"
    assert office.api().get("/api/agents/ben").json()["last_pull"]["result"] == reason
    caller.hangup(call)


def test_caller_hanging_up_while_the_agent_rings_cancels_the_ringing(
    office: Office, sip_phones: Callable[..., Phone]
) -> None:
    logout_all(office)
    agent = office.agent_phone(sip_phones, "203", "127.0.0.23", auto_answer="none")
    office.api().post("/api/agents/ben/login", json={"number": "203"})
    caller, call, _ = office.waiting_caller(sip_phones, "1", "caller-gone")
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "ben"})
    ring = agent.wait_event("incoming", timeout=5)
    caller.hangup(call)
    stopped = agent.wait_event("disconnected", call=ring["call"], timeout=5)
    assert stopped["code"] == 487
    wait_until(lambda: office.api().get("/api/agents/ben").json()["state"] == "available", 5, "ben free")
    assert office.api().get("/api/agents/ben").json()["last_pull"]["result"] == "caller_gone"


def test_two_agents_pulling_the_same_call_at_once(office: Office, sip_phones: Callable[..., Phone]) -> None:
    logout_all(office)
    a = office.agent_phone(sip_phones, "204", "127.0.0.24", auto_answer="200", answer_delay=1.0)
    b = office.agent_phone(sip_phones, "205", "127.0.0.25", auto_answer="200", answer_delay=1.0)
    office.api().post("/api/agents/anna/login", json={"number": "204", "teams": ["lvs"]})
    office.api().post("/api/agents/ben/login", json={"number": "205"})
    caller, call, _ = office.waiting_caller(sip_phones, "1", "caller-twice")
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    results: dict[str, httpx.Response] = {}
    start = threading.Barrier(2)

    def pull(agent_id: str) -> None:
        with httpx.Client(base_url=office.box.base_url, timeout=20, headers=office.box.auth_headers) as client:
            start.wait()
            results[agent_id] = client.post(
                f"/api/queues/{entry['entry_id']}/pull", json={"agent": agent_id, "wait": True}
            )

    threads = [threading.Thread(target=pull, args=(x,)) for x in ("anna", "ben")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    codes = sorted(r.status_code for r in results.values())
    assert codes == [200, 409], {k: v.text for k, v in results.items()}
    winner = next(k for k, v in results.items() if v.status_code == 200)
    loser = next(k for k, v in results.items() if v.status_code == 409)
    assert results[winner].json()["result"] == "answered"
    assert "already being put through" in results[loser].json()["error"]
    phones = {"anna": a, "ben": b}
    phones[winner].wait_event("incoming", timeout=5)  # the phone reports it, maybe after the box answered
    assert not phones[loser].find_events("incoming")
    caller.hangup(call)


def test_home_office_agent_reached_by_sip_uri_without_the_pbx(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    logout_all(office)
    home = sip_phones(name="home", bind_ip="127.0.0.30", auto_answer="200")  # not registered anywhere
    r = office.api().post(
        "/api/agents/home/login", json={"number": f"sip:home@127.0.0.30:{home.sip_port}", "teams": ["lvs"]}
    )
    assert r.status_code == 200, r.text
    caller, call, _ = office.waiting_caller(sip_phones, "1", "caller-home")
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "home", "wait": True}, timeout=20)
    assert r.json()["result"] == "answered"
    ring = home.wait_event("incoming", timeout=5)  # the phone's report may come after the box's answer
    assert ring["request_uri"].startswith("sip:home@127.0.0.30")
    assert "to sip:home@" not in office.pbx.log()  # dialled directly, not through the PBX
    caller.hangup(call)
    home.wait_event("disconnected", timeout=5)


def test_team_c_first_busy_second_no_answer_third_answers_in_order(
    office: Office, sip_phones: Callable[..., Phone]
) -> None:
    logout_all(office)
    busy = office.agent_phone(sip_phones, "211", "127.0.0.31", auto_answer="486")
    silent = office.agent_phone(sip_phones, "212", "127.0.0.32", auto_answer="none")
    answers = office.agent_phone(sip_phones, "213", "127.0.0.33", auto_answer="200", answer_delay=0.5)
    for agent_id, ext in (("carl", "211"), ("dora", "212"), ("emil", "213")):
        office.api().post(f"/api/agents/{agent_id}/login", json={"number": ext})
    before = rings_of(office)
    caller, call, _ = office.waiting_caller(sip_phones, "3", "caller-pc")
    wait_until(lambda: office.api().get("/api/agents/emil").json()["state"] == "on_call", 20, "emil on call")
    t_busy = busy.wait_event("incoming", timeout=1)["t"]
    t_silent = silent.wait_event("incoming", timeout=1)["t"]
    t_answer = answers.wait_event("incoming", timeout=1)["t"]
    assert t_busy < t_silent < t_answer
    assert 4.0 <= t_answer - t_silent <= 7.0  # dora rang for the 5 s ring timeout
    silent.wait_event("disconnected", timeout=2)
    caller.hangup(call)
    answers.wait_event("disconnected", timeout=5)
    row = wait_until(  # the call log is written behind the call
        lambda: next((r for r in office.api().get("/api/calllog").json() if r["answered_by"] == "emil"), None),
        5,
        "emil's call in the call log",
    )
    assert row["outcome"] == "answered"
    assert row["team"] == "pc"
    # the agents' statistics: each phone rang once; carl's said busy and dora's rang out (not
    # answered), emil answered after about half a second of ringing; his ring is written once
    # he is free again after the call (this office's teams have no wrap-up: 0 s, not unknown)
    delta = wait_until(lambda: _ring_delta(before, rings_of(office)), 10, "the rings in the statistics")
    assert delta == {"carl": (1, 0, 1), "dora": (1, 0, 1), "emil": (1, 1, 0)}, delta
    emil = next(a for a in office.api().get("/api/statistics").json()["agents"] if a["agent"] == "emil")
    assert emil["ring_avg_s"] is not None and 0.3 <= emil["ring_avg_s"] <= 3.0
    assert emil["wrap_up_s"] == 0.0


def rings_of(office: Office) -> dict[str, tuple[int, int, int]]:
    """Per agent today: (rung, answered, not answered) from GET /api/statistics."""
    agents = office.api().get("/api/statistics").json()["agents"]
    return {a["agent"]: (a["rung"], a["rung_answered"], a["rung_missed"]) for a in agents}


def _ring_delta(
    before: dict[str, tuple[int, int, int]], after: dict[str, tuple[int, int, int]]
) -> dict[str, tuple[int, ...]] | None:
    delta = {
        name: tuple(x - y for x, y in zip(now, before.get(name, (0, 0, 0)), strict=True))
        for name, now in after.items() if name in ("carl", "dora", "emil")
    }  # fmt: skip
    return delta if len(delta) == 3 and all(sum(d) for d in delta.values()) else None


def test_team_c_all_busy_for_the_maximum_wait_leads_to_the_voicemail_offer(
    office: Office, sip_phones: Callable[..., Phone]
) -> None:
    logout_all(office)
    busy = office.agent_phone(sip_phones, "221", "127.0.0.41", auto_answer="486")
    office.api().post("/api/agents/carl/login", json={"number": "221"})
    caller, call, _ = office.waiting_caller(sip_phones, "3", "caller-pc-busy")
    wait_until(lambda: office.api().get("/api/queues", params={"team": "pc"}).json(), 5, "queue")
    entered = time.monotonic()
    # max_wait is 12 s in this office's mode (the 5 minutes of the demo mode: tests/unit/test_flow.py)
    wait_until(
        lambda: [c for c in office.api().get("/api/calls").json() if c["node"] == "voicemail_pc"], 25, "voicemail"
    )
    assert time.monotonic() - entered >= 11.0  # not before the maximum wait
    # the busy agent was tried again and again meanwhile (a round every 2 s)
    assert len(busy.find_events("incoming")) >= 3
    caller.hangup(call)
