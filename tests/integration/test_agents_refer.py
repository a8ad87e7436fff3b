"""Blind transfer by SIP REFER (RFC 3515), the per-PBX option ``registration.transfer: refer``.

Kamailio is the office PBX; the caller is a phone of that PBX (pjsua2,
registered, every request through Kamailio) and calls the box's extension
620. On a pull, the box sends REFER into the caller's call; the caller's
phone (the transferee, an independent implementation) calls the agent
itself and reports by NOTIFY. The box leaves only when the agent answered;
a busy agent or a refused REFER leaves the caller waiting in the box's
queue, still hearing the hold sequence.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.audio import make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.modes import fast_mode
from tests.harness.office import Office as AgentsOffice
from tests.harness.office import running_office
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


class Office(AgentsOffice):
    """The agents tests' office; here every phone sends all its requests through the PBX."""

    def phone(self, sip_phones: Callable[..., Phone], ext: str, ip: str, **options: Any) -> Phone:
        return self.agent_phone(sip_phones, ext, ip, proxy=f"sip:{self.pbx.host};lr", **options)

    def waiting_caller(self, caller: Phone, record: Path, play: Path) -> int:
        """The caller dials the box's extension through the PBX and chooses team 1 (LVS)."""
        call = caller.call("sip:620@127.0.0.1", record=record)
        caller.wait_event("media_active", call=call, timeout=10)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, "1")
        caller.play(call, play, loop=True)
        return call

    def entry(self) -> dict[str, Any]:
        rows = wait_until(lambda: self.api().get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")
        return rows[0]  # type: ignore[no-any-return]


def mode() -> dict[str, Any]:
    m = fast_mode()
    m["nodes"]["queue_lvs"]["hold"] = [{"music": "music_a", "seconds": 120}]
    return m


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    teams = [
        {"id": team, "name": team.upper(), "distribution": "pull", "ring_timeout": 8, "wrap_up": 0}
        for team in ("lvs", "sap", "pc")
    ]
    workdir = tmp_path_factory.mktemp("refer")
    with running_office(workdir, mode=mode(), teams=teams, registration={"transfer": "refer"}) as office:
        r = office.box.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]})
        assert r.status_code == 200, r.text
        yield Office(office.pbx, office.box, office.tmp)


def logout(office: Office) -> None:
    office.api().post("/api/agents/anna/logout")


def test_pull_hands_the_call_to_the_agent_by_refer_and_the_box_leaves(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    logout(office)
    caller_tone, agent_tone = tmp_path / "600.wav", tmp_path / "1000.wav"
    make_tone_wav(caller_tone, 600, 30, rate=8000, level_dbfs=-12)
    make_tone_wav(agent_tone, 1000, 30, rate=8000, level_dbfs=-12)
    agent = office.phone(sip_phones, "201", "127.0.0.41", auto_answer="none", record_dir=tmp_path, play=agent_tone,
                         play_loop=True)  # fmt: skip
    assert office.api().post("/api/agents/anna/login", json={"number": "201"}).json()["state"] == "available"
    caller = office.phone(sip_phones, "301", "127.0.0.42")
    call = office.waiting_caller(caller, tmp_path / "caller-box.wav", caller_tone)
    entry = office.entry()

    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "anna"})
    assert r.status_code == 200 and r.json()["result"] == "ringing"
    refer = caller.wait_event("transfer_request", call=call, timeout=5)
    assert refer["accepted"] and refer["uri"].lstrip("<").startswith("sip:201@127.0.0.1"), refer
    ring = agent.wait_event("incoming", timeout=5)
    # the agent's phone is rung by the caller's own phone (through the PBX), not by the box
    assert ring["user"] == "301", ring
    assert "Referred-By:" in ring["invite"], ring["invite"]
    assert office.api().get("/api/agents/anna").json()["state"] == "ringing"
    assert office.api().get("/api/queues").json()[0]["state"] == "offered"
    time.sleep(2.0)  # while the agent's phone rings, the caller still hears the box's hold music
    agent.answer(ring["call"])
    agent.wait_event("media_active", call=ring["call"], timeout=5)
    # the box leaves once the caller's phone reports the agent answered (NOTIFY 200)
    caller.wait_event("disconnected", call=call, timeout=5)
    wait_until(lambda: office.box.status()["calls"] == 0, 5, "the box left the call")
    assert office.api().get("/api/queues").json() == []
    time.sleep(3.0)  # caller and agent talk, without the box
    assert office.box.status()["calls"] == 0
    caller.hangup(refer["new_call"])
    caller.wait_event("disconnected", call=refer["new_call"], timeout=5)
    agent.wait_event("disconnected", call=ring["call"], timeout=5)

    # what each of them received over the direct call: the other's tone
    caller_rx = Path(caller.wait_event("recording_done", call=refer["new_call"], timeout=5)["path"])
    x, rate = read_wav(caller_rx)
    assert tone_level(x[-int(2.5 * rate) :], rate, 1000) > 0.5
    agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"])
    y, yrate = read_wav(agent_rx)
    assert tone_level(y[-int(2.5 * yrate) :], yrate, 600) > 0.5
    # before that, over the box's leg: hold music while the agent rang (no tone of the agent there)
    box_rx = Path(caller.wait_event("recording_done", call=call, timeout=5)["path"])
    z, zrate = read_wav(box_rx)
    last = z[-int(1.5 * zrate) :]
    assert float((last.astype("float64") ** 2).mean()) ** 0.5 > 0.01, "no hold music while the agent rang"
    assert tone_level(last, zrate, 1000) < 0.2

    row = next(r for r in office.api().get("/api/calllog").json() if r["answered_by"] == "anna")
    assert row["outcome"] == "answered" and row["team"] == "lvs"
    wait_until(lambda: office.api().get("/api/agents/anna").json()["state"] == "available", 5, "anna free")
    logs = office.box.log()
    assert "put through to sip:201@127.0.0.1" in logs or "transferred to sip:201@127.0.0.1" in logs


@pytest.mark.parametrize(("agent_answer", "caller_transfer", "reason"), [("486", "accept", "busy"),
                                                                         ("200", "refuse", "failed")])  # fmt: skip
def test_a_failed_refer_keeps_the_caller_waiting_at_the_same_position(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path, agent_answer: str, caller_transfer: str,
    reason: str,
) -> None:  # fmt: skip
    """486 from the agent (reported by NOTIFY) or a REFER refused by the PBX (a
    FRITZ!Box answers 429): the pull fails with that reason, the box stays in the
    call and the caller keeps waiting and hearing the hold music."""
    logout(office)
    tone = tmp_path / "600.wav"
    make_tone_wav(tone, 600, 30, rate=8000, level_dbfs=-12)
    agent = office.phone(sip_phones, "202", "127.0.0.43", auto_answer=agent_answer, answer_delay=0.5)
    office.api().post("/api/agents/anna/login", json={"number": "202"})
    caller = office.phone(sip_phones, "302", "127.0.0.44", transfer=caller_transfer)
    call = office.waiting_caller(caller, tmp_path / "caller.wav", tone)
    entry = office.entry()
    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "anna", "wait": True}, timeout=30)
    assert r.json()["result"] == reason, r.json()
    refer = caller.wait_event("transfer_request", call=call, timeout=5)
    assert refer["accepted"] is (caller_transfer == "accept")
    if caller_transfer == "accept":
        agent.wait_event("incoming", timeout=5)
        caller.wait_event("disconnected", call=refer["new_call"], timeout=5)
    after = office.api().get("/api/queues").json()
    assert [(q["entry_id"], q["position"], q["state"]) for q in after] == [(entry["entry_id"], 1, "waiting")]
    assert office.api().get("/api/agents/anna").json()["last_pull"]["result"] == reason
    mark = caller.mark()
    time.sleep(2.0)
    assert not caller.find_events("disconnected", since=mark, call=call), "the box left the caller"
    caller.hangup(call)
    z, zrate = read_wav(Path(caller.wait_event("recording_done", call=call, timeout=5)["path"]))
    last = z[-int(1.5 * zrate) :]
    assert float((last.astype("float64") ** 2).mean()) ** 0.5 > 0.01, "no hold music after the failed transfer"
