"""A callback that keeps the caller's place, with real peers (issue 16, item 3): Kamailio as the
office PBX, the box registered to it, the agents' and the callers' phones registered to it
(pjsua2 processes), so the box reaches both by their extensions; what they hear is recorded and
checked (tones both ways)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.harness.audio import PROMPTS, best_correlation, make_tone_wav, prompt_seconds, read_wav, tone_level
from tests.harness.browser import chromium, logged_in
from tests.harness.daemon import running_daemon, start_daemon
from tests.harness.office import Office, logout_all, running_office
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin

pytestmark = pytest.mark.peers


def callback_mode() -> dict[str, Any]:
    """1: team LVS (pulled by agents), 2: team SAP (pulled, the caller called back first), 3: team PC
    (automatic); in every queue 2 asks for a callback."""
    queue = {"hold": [{"music": "music_a", "seconds": 5}], "repeat_hold": True, "keys": {"2": "callback"}}
    return {
        "name": "Callback test",
        "start": "choose",
        "nodes": {
            "choose": {"type": "menu", "prompt": "main_menu", "choices": {"1": "q_lvs", "2": "q_sap", "3": "q_pc"}},
            "q_lvs": {"type": "queue", "team": "lvs", **queue},
            "q_sap": {"type": "queue", "team": "sap", **queue},
            "q_pc": {"type": "queue", "team": "pc", **queue},
            "callback": {"type": "callback"},
        },
    }


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    teams = [
        {"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0},
        {"id": "sap", "name": "SAP", "distribution": "pull", "ring_timeout": 8, "wrap_up": 0,
         "callback_order": "caller_first"},
        {"id": "pc", "name": "PC", "distribution": "auto", "strategy": "linear", "ring_timeout": 5, "wrap_up": 0,
         "callback_attempts": 2, "callback_interval": 2, "callback_ring_timeout": 4},
    ]  # fmt: skip
    with running_office(tmp_path_factory.mktemp("office"), mode=callback_mode(), teams=teams) as office:
        for agent_id, agent_teams in [("anna", ["lvs"]), ("carl", ["pc"]), ("dora", ["sap"])]:
            r = office.box.http.put(f"/api/agents/{agent_id}", json={"name": agent_id.title(), "teams": agent_teams})
            assert r.status_code == 200, r.text
        yield office


def registered(office: Office, sip_phones: Callable[..., Phone], ext: str, ip: str, **options: Any) -> Phone:
    """A phone on the office PBX: the box calls it back through the PBX by its extension."""
    return office.agent_phone(sip_phones, ext, ip, **options)


def in_callback_node(get: Callable[..., Any]) -> None:
    """Wait until the box has the call in the callback node (it then asks for the number)."""
    wait_until(lambda: any(c["node"] == "callback" for c in get("/api/calls").json()), 5, "the callback node")


def ask_for_callback(office: Office, phone: Phone, team_digit: str, rx: Path, keys: str = "1") -> int:
    """Call the box, choose the team, press 2 in the queue, then ``keys`` (1: the number heard)."""
    call = phone.call(office.box.uri, record=rx)
    phone.wait_event("media_active", call=call, timeout=5)
    time.sleep(1.0)
    phone.dtmf(call, team_digit)
    team = {"1": "lvs", "2": "sap", "3": "pc"}[team_digit]
    wait_until(lambda: office.api().get("/api/queues", params={"team": team}).json(), 5, "in the queue")
    time.sleep(0.5)
    phone.dtmf(call, "2")
    in_callback_node(office.api().get)
    time.sleep(2.0)  # the caller listens: "Wir rufen Sie zurück unter der Nummer ..." (checked in the recording)
    phone.dtmf(call, keys)
    return call


def heard(rx: Path, name: str) -> float:
    x, rate = read_wav(rx)
    return best_correlation(x, PROMPTS / f"{name}.wav", rate)[0]


def test_a_caller_asks_for_a_callback_keeps_their_place_and_is_called_back_after_the_agent_answers(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    logout_all(office)
    caller_tone, agent_tone = tmp_path / "600.wav", tmp_path / "1000.wav"
    make_tone_wav(caller_tone, 600, 20, rate=8000, level_dbfs=-12)
    make_tone_wav(agent_tone, 1000, 20, rate=8000, level_dbfs=-12)
    caller = registered(office, sip_phones, "301", "127.0.0.31", auto_answer="none", record_dir=tmp_path)
    asked_rx = tmp_path / "asked-rx.wav"
    call = ask_for_callback(office, caller, "1", asked_rx)
    caller.wait_event("disconnected", call=call, timeout=20)  # the box said so and hung up
    caller.wait_event("recording_done", call=call, timeout=5)
    said = {n: round(heard(asked_rx, n), 3) for n in ("callback_number_is", "callback_confirm", "callback_done")}
    print("the caller heard:", said)
    assert said["callback_number_is"] > 0.6 and said["callback_done"] > 0.6, said

    # a second caller comes later and waits behind the callback
    later, later_call, _ = office.waiting_caller(sip_phones, "1", "later")

    def both() -> list[dict[str, Any]] | None:
        found: list[dict[str, Any]] = office.api().get("/api/queues", params={"team": "lvs"}).json()
        return found if len(found) == 2 else None

    entries = wait_until(both, 10, "the callback and the later caller")
    assert [(e["caller"], e["position"], bool(e["callback"])) for e in entries] == [
        ("301", 1, True),
        (entries[1]["caller"], 2, False),
    ]

    agent = office.agent_phone(sip_phones, "201", "127.0.0.21", auto_answer="none", record_dir=tmp_path)
    assert office.api().post("/api/agents/anna/login", json={"number": "201"}).json()["state"] == "available"
    t_pull = time.monotonic()
    r = office.api().post(f"/api/queues/{entries[0]['entry_id']}/pull", json={"agent": "anna"})
    assert r.status_code == 200 and r.json()["result"] == "ringing", r.text
    ring = agent.wait_event("incoming", timeout=5)
    t_agent_ringing = time.monotonic()
    assert not caller.find_events("incoming")  # the agent first
    # the agent's phone says it is a callback before anyone answers (the INVITE's From display name)
    assert ring["display_name"].startswith("Rückruf ") and ring["display_name"].endswith(" 301"), ring
    agent.answer(ring["call"])
    agent.wait_event("media_active", call=ring["call"], timeout=5)
    back = caller.wait_event("incoming", timeout=10)
    t_caller_ringing = time.monotonic()
    print(
        f"pull -> agent ringing {t_agent_ringing - t_pull:.2f} s, -> caller ringing {t_caller_ringing - t_pull:.2f} s"
    )
    caller.answer(back["call"])
    caller.wait_event("media_active", call=back["call"], timeout=5)
    caller.play(back["call"], caller_tone, loop=True)
    agent.play(ring["call"], agent_tone, loop=True)
    time.sleep(5.0 + 3.0)  # the greeting (about 4.5 s), then both talk
    caller.hangup(back["call"])
    agent.wait_event("disconnected", call=ring["call"], timeout=5)
    caller_rx = Path(caller.wait_event("recording_done", call=back["call"], timeout=5)["path"])
    agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"])
    x, rate = read_wav(caller_rx)
    greeting = best_correlation(x[: int(7 * rate)], PROMPTS / "callback_greeting.wav", rate)[0]
    assert greeting > 0.6, greeting  # "Hier ist ... Sie hatten um Rückruf gebeten"
    assert tone_level(x[-int(2.0 * rate) :], rate, 1000) > 0.5  # the caller hears the agent
    y, yrate = read_wav(agent_rx)
    assert tone_level(y[-int(2.0 * yrate) :], yrate, 600) > 0.5  # the agent hears the caller

    # the later caller is now first; the call log tells how both calls went
    remaining = office.api().get("/api/queues", params={"team": "lvs"}).json()
    assert [(e["position"], e["callback"]) for e in remaining] == [(1, None)]
    later.hangup(later_call)

    def logged() -> dict[str, Any] | None:
        rows = office.api().get("/api/calllog").json()
        return next((r for r in rows if r["outcome"] == "callback_answered"), None)

    row = wait_until(logged, 10, "the callback in the call log")
    assert row["caller"] == "301" and row["answered_by"] == "anna" and row["team"] == "lvs"
    assert row["talk_s"] >= 5.0
    asked = next(r for r in office.api().get("/api/calllog").json() if r["outcome"] == "callback")
    assert asked["caller"] == "301" and asked["left_queue"] == "key 2"
    wait_until(lambda: office.api().get("/api/agents/anna").json()["state"] == "available", 5, "anna free")
    assert "Traceback" not in office.box.log()


def test_a_team_that_calls_the_caller_first_rings_the_agent_once_the_caller_answered(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    logout_all(office)
    caller_tone, agent_tone = tmp_path / "700.wav", tmp_path / "1100.wav"
    make_tone_wav(caller_tone, 700, 20, rate=8000, level_dbfs=-12)
    make_tone_wav(agent_tone, 1100, 20, rate=8000, level_dbfs=-12)
    caller = registered(office, sip_phones, "303", "127.0.0.33", auto_answer="none", record_dir=tmp_path)
    call = ask_for_callback(office, caller, "2", tmp_path / "asked.wav")
    caller.wait_event("disconnected", call=call, timeout=20)
    entry = wait_until(lambda: office.api().get("/api/queues", params={"team": "sap"}).json(), 5, "the callback")[0]
    agent = office.agent_phone(sip_phones, "203", "127.0.0.23", auto_answer="none", record_dir=tmp_path)
    assert office.api().post("/api/agents/dora/login", json={"number": "203"}).status_code == 200
    mark = caller.mark()
    r = office.api().post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "dora"})
    assert r.status_code == 200, r.text
    back = caller.wait_event("incoming", timeout=5, since=mark)
    time.sleep(1.0)
    assert not agent.find_events("incoming")  # the caller first
    caller.answer(back["call"])
    caller.wait_event("media_active", call=back["call"], timeout=5)
    ring = agent.wait_event("incoming", timeout=5)
    assert ring["t"] > back["t"]
    assert ring["display_name"].startswith("Rückruf "), ring
    time.sleep(5.0)  # the caller hears the greeting, then hold music, while the agent's phone rings
    agent.answer(ring["call"])
    agent.wait_event("media_active", call=ring["call"], timeout=5)
    caller.play(back["call"], caller_tone, loop=True)
    agent.play(ring["call"], agent_tone, loop=True)
    time.sleep(3.0)
    agent.hangup(ring["call"])
    caller.wait_event("disconnected", call=back["call"], timeout=5)
    caller_rx = Path(caller.wait_event("recording_done", call=back["call"], timeout=5)["path"])
    agent_rx = Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"])
    x, rate = read_wav(caller_rx)
    assert best_correlation(x[: int(6 * rate)], PROMPTS / "callback_greeting.wav", rate)[0] > 0.6
    assert tone_level(x[-int(2.0 * rate) :], rate, 1100) > 0.5
    y, yrate = read_wav(agent_rx)
    assert tone_level(y[-int(2.0 * yrate) :], yrate, 700) > 0.5
    row = wait_until(
        lambda: next((r for r in office.api().get("/api/calllog").json()
                      if r["caller"] == "303" and r["outcome"] == "callback_answered"), None),
        10, "the callback in the call log",
    )  # fmt: skip
    assert row["answered_by"] == "dora" and row["team"] == "sap"
    assert "Traceback" not in office.box.log()


def test_a_caller_who_does_not_answer_is_tried_again_and_then_the_callback_is_a_task(
    office: Office, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    logout_all(office)
    caller = registered(office, sip_phones, "302", "127.0.0.32", auto_answer="none")
    agent = office.agent_phone(sip_phones, "202", "127.0.0.22", auto_answer="200", answer_delay=0.3)
    call = ask_for_callback(office, caller, "3", tmp_path / "asked.wav")
    caller.wait_event("disconnected", call=call, timeout=20)
    # team PC distributes by itself: carl's phone answers, the caller's phone rings 4 s, twice
    assert office.api().post("/api/agents/carl/login", json={"number": "202"}).status_code == 200

    def task() -> dict[str, Any] | None:
        return next((t for t in office.api().get("/api/callbacks").json() if t["number"] == "302"), None)

    found = wait_until(task, 40, "the failed callback as a task")
    assert found["state"] == "failed" and found["attempts"] == 2 and found["team"] == "pc", found
    assert len(caller.find_events("incoming")) == 2  # rung twice
    assert len(agent.find_events("incoming")) == 2
    assert office.api().get("/api/queues", params={"team": "pc"}).json() == []
    rows = [r for r in office.api().get("/api/calllog").json() if r["caller"] == "302"]
    assert sorted(r["outcome"] for r in rows) == ["callback", "callback_no_answer", "callback_no_answer"]
    # the task in the agent's page, marked done there
    first_admin(office.box)
    add_agent_account(office.box, "carl", "carl-password", ["pc"], "Carl Meier")
    with chromium() as browser:
        context, page = logged_in(browser, office.box, "carl", "carl-password")
        card = page.locator(f"#callback-tasks li[data-callback='{found['id']}']")
        expect(card).to_contain_text("302")
        expect(card).to_contain_text("2 Versuche, zuletzt: nicht angenommen")
        card.locator("[data-action=callback-done]").click()
        expect(page.locator("#callback-tasks")).to_be_hidden()
        assert page.__dict__["js_errors"] == []
        context.close()
    done = office.api().get("/api/callbacks").json()
    assert all(t["id"] != found["id"] for t in done)
    again = office.api().post(f"/api/callbacks/{found['id']}/done")
    assert again.status_code == 409 and again.json()["code"] == "callback_not_a_task"
    assert task() is None
    office.api().post("/api/agents/carl/logout")
    assert "Traceback" not in office.box.log()


def test_a_callback_waiting_over_a_restart_is_still_there_at_its_place(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    """Without a PBX: the caller's ID ("caller") is no number, so they type one (read back, 1)."""
    teams = [{"id": "lvs", "name": "LVS"}, {"id": "sap", "name": "SAP"}, {"id": "pc", "name": "PC"}]
    box = start_daemon(tmp_path / "box", mode=callback_mode(), config={"teams": teams})
    try:
        caller = sip_phones(name="caller")
        call = caller.call(box.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(1.0)
        caller.dtmf(call, "1")
        wait_until(lambda: box.http.get("/api/queues").json(), 5, "in the queue")
        time.sleep(0.5)
        caller.dtmf(call, "2")
        in_callback_node(box.http.get)  # "Bitte geben Sie Ihre Rufnummer ein ..."
        caller.dtmf(call, "0301234567#")
        time.sleep(3.0)  # read back
        caller.dtmf(call, "1")
        caller.wait_event("disconnected", call=call, timeout=30)
        before = wait_until(lambda: box.http.get("/api/queues").json(), 5, "the callback")
        assert [(e["caller"], bool(e["callback"])) for e in before] == [("0301234567", True)]
    finally:
        box.stop()
    box = start_daemon(tmp_path / "box", mode=callback_mode(), config={"teams": teams})
    try:
        after = box.http.get("/api/queues").json()
        assert [(e["caller"], e["callback"], e["entered"]) for e in after] == [
            ("0301234567", before[0]["callback"], before[0]["entered"])
        ]
        # agents see it like a waiting call, marked "Rückruf"
        first_admin(box)
        add_agent_account(box, "anna", "anna-password", ["lvs"], "Anna Berg")
        with chromium() as browser:
            context, page = logged_in(browser, box, "anna", "anna-password")
            row = page.locator("#waiting li[data-entry]")
            expect(row).to_have_count(1)
            expect(row.locator(".num")).to_have_text("0301234567")
            expect(row.locator(".pill[data-callback]")).to_have_text("Rückruf")
            expect(row.locator(".pos")).to_have_text("1")
            assert page.__dict__["js_errors"] == []
            context.close()
        assert "Traceback" not in box.log()
    finally:
        box.stop()


def test_a_premium_number_and_only_star_and_hash_are_refused_and_hanging_up_mid_entry_keeps_nothing(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    teams = [{"id": "lvs", "name": "LVS"}, {"id": "sap", "name": "SAP"}, {"id": "pc", "name": "PC"}]
    with running_daemon(tmp_path / "box", mode=callback_mode(), config={"teams": teams}) as box:
        caller = sip_phones(name="caller")
        rx = tmp_path / "hostile-rx.wav"
        call = caller.call(box.uri, record=rx)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(1.0)
        caller.dtmf(call, "1")
        wait_until(lambda: box.http.get("/api/queues").json(), 5, "in the queue")
        time.sleep(0.5)
        caller.dtmf(call, "2")
        in_callback_node(box.http.get)  # "Bitte geben Sie Ihre Rufnummer ein ..."
        caller.dtmf(call, "0900123456#")  # premium rate
        time.sleep(5.0)  # "Diese Nummer können wir leider nicht zurückrufen." and the question again
        caller.dtmf(call, "*#")
        time.sleep(5.0)
        caller.dtmf(call, "030")
        time.sleep(1.0)
        caller.hangup(call)  # in the middle of typing
        caller.wait_event("recording_done", call=call, timeout=5)
        x, rate = read_wav(rx)
        refused = PROMPTS / "callback_refused.wav"
        first, at = best_correlation(x, refused, rate)
        # the other refusal: wholly before or after the one found best
        length = prompt_seconds("callback_refused")
        before, after = x[: max(0, int(at * rate))], x[int((at + length) * rate) :]
        second = max(best_correlation(part, refused, rate)[0] for part in (before, after) if len(part) > 3 * rate)
        assert first > 0.6 and second > 0.6, (first, second)  # told twice: the premium number, then "*#"

        def logged() -> dict[str, Any] | None:
            return next(iter(box.http.get("/api/calllog").json()), None)

        row = wait_until(logged, 10, "the call in the call log")
        assert row["outcome"] == "abandoned" and row["left_queue"] == "key 2"
        assert box.http.get("/api/queues").json() == []
        assert box.http.get("/api/callbacks").json() == []
        assert "Traceback" not in box.log()
