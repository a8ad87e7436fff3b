"""Caller rules over real SIP (issue 16, item 4): pjsua2 callers in their own processes call the
running daemon. A number on the block list hears the shipped rejection prompt and is hung up; a
caller who withholds the number (RFC 3323: "Anonymous" <sip:anonymous@anonymous.invalid>) takes
the anonymous branch; a VIP who calls after a normal caller waits ahead of them. The lists are
changed through the API by an agent, as the web page does, and each change is audited."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.harness.audio import PROMPTS, best_correlation, make_tone_wav, prompt_seconds, read_wav
from tests.harness.browser import chromium, logged_in, shot
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until
from tests.harness.webclient import add_agent_account, first_admin, session

pytestmark = pytest.mark.peers

BLOCKED = "+49301234567"  # put on the list as "030 1234567": compared normalised
VIP = "+49891112223"


def rules_mode() -> dict[str, Any]:
    """The shipped demo mode's rules, with a prompt of its own for the anonymous branch
    ("closed") so that what the caller hears tells the branches apart."""
    return {
        "name": "Rules test",
        "start": "rules",
        "nodes": {
            "rules": {
                "type": "condition",
                "rules": [
                    {"test": "blocked", "next": "blocked"},
                    {"test": "anonymous", "next": "private"},
                ],
                "otherwise": "queue",
            },
            "blocked": {"type": "hangup", "prompt": "caller_blocked"},
            "private": {"type": "hangup", "prompt": "closed"},
            "queue": {"type": "queue", "team": "lvs", "hold": [{"music": "music_a", "seconds": 30}],
                      "repeat_hold": True},
        },
    }  # fmt: skip


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    teams = [{"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0}]
    with running_daemon(tmp_path / "box", mode=rules_mode(), config={"teams": teams}) as d:
        add_agent_account(d, "anna", "anna-password-1", ["lvs"])
        yield d


@pytest.fixture
def agent(daemon: Daemon) -> Iterator[httpx.Client]:
    with session(daemon, "anna", "anna-password-1") as client:
        yield client


def heard_until_hung_up(phone: Phone, daemon: Daemon, rx: Path) -> tuple[Any, int, dict[str, Any]]:
    call = phone.call(daemon.uri, record=rx)
    ended = phone.wait_event("disconnected", call=call, timeout=20)
    phone.wait_event("recording_done", call=call, timeout=5)
    x, rate = read_wav(rx)
    return x, rate, ended


def test_a_blocked_number_hears_the_rejection_prompt_and_is_hung_up(
    daemon: Daemon, agent: httpx.Client, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    r = agent.post("/api/caller-lists/block", json={"number": "030 1234567", "note": "Werbeanrufe"})
    assert r.status_code == 200, r.text
    assert r.json()["key"] == BLOCKED
    caller = sip_phones(name="blocked", codecs="PCMA", user=BLOCKED)
    x, rate, ended = heard_until_hung_up(caller, daemon, tmp_path / "blocked-rx.wav")
    assert ended["code"] == 200, ended  # the box hung up (BYE), the caller never did
    heard = len(x) / rate
    assert heard < prompt_seconds("caller_blocked") + 3, heard  # nothing after the prompt
    found = {name: round(best_correlation(x, PROMPTS / f"{name}.wav", rate)[0], 3)
             for name in ("caller_blocked", "closed")}  # fmt: skip
    print("blocked caller heard:", found)
    assert found["caller_blocked"] > 0.6 and found["caller_blocked"] > found["closed"] + 0.2, found
    assert not daemon.http.get("/api/queues").json()
    audit = [(a["who"], a["action"], a["detail"]) for a in daemon.http.get("/api/audit").json()]
    assert ("anna", "callers.block_add", BLOCKED) in audit

    # lifting the block ("Sperre aufheben") lets the same number through to the queue
    r = agent.delete("/api/caller-lists/block", params={"number": "0301234567"})
    assert r.json() == {"removed": BLOCKED}, r.text
    call = caller.call(daemon.uri)
    wait_until(lambda: daemon.http.get("/api/queues").json(), 10, "the unblocked caller in the queue")
    caller.hangup(call)
    assert "Traceback" not in daemon.log()


def test_an_anonymous_caller_follows_the_anonymous_branch(
    daemon: Daemon, sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    caller = sip_phones(name="anon", codecs="PCMA", display_name="Anonymous", id_uri="sip:anonymous@anonymous.invalid")
    x, rate, ended = heard_until_hung_up(caller, daemon, tmp_path / "anon-rx.wav")
    assert ended["code"] == 200, ended
    found = {name: round(best_correlation(x, PROMPTS / f"{name}.wav", rate)[0], 3)
             for name in ("caller_blocked", "closed")}  # fmt: skip
    print("anonymous caller heard:", found)
    assert found["closed"] > 0.6 and found["closed"] > found["caller_blocked"] + 0.2, found


def test_a_vip_who_calls_after_a_normal_caller_is_first_in_the_queue(
    daemon: Daemon, agent: httpx.Client, sip_phones: Callable[..., Phone]
) -> None:
    assert agent.post("/api/caller-lists/vip", json={"number": "089 111 2223", "note": "Geschäftsführung"}).is_success
    normal = sip_phones(name="normal", codecs="PCMA", user="+4940555666")
    normal_call = normal.call(daemon.uri)
    wait_until(lambda: len(daemon.http.get("/api/queues").json()) == 1, 10, "the normal caller waiting")
    vip = sip_phones(name="vip", codecs="PCMA", user=VIP)
    vip_call = vip.call(daemon.uri)

    def both() -> list[dict[str, Any]] | None:
        entries: list[dict[str, Any]] = daemon.http.get("/api/queues").json()
        return entries if len(entries) == 2 else None

    waiting = wait_until(both, 10, "both waiting")
    assert [(e["caller"], e["position"], e["vip"]) for e in waiting] == [(VIP, 1, True), ("+4940555666", 2, False)]
    looked = agent.post("/api/caller-lists/lookup", json={"numbers": [VIP, "+4940555666"]}).json()
    assert [(e["vip"], e["block"]) for e in looked] == [(True, False), (False, False)]
    normal.hangup(normal_call)
    vip.hangup(vip_call)


def test_hostile_list_input_gets_a_clear_refusal_and_changes_nothing(daemon: Daemon, agent: httpx.Client) -> None:
    assert agent.post("/api/caller-lists/block", json={"number": "0900*"}).is_success
    before = agent.get("/api/caller-lists").json()

    # a 10 MB upload and 100,000 entries: refused by size before anything is parsed
    huge = b'{"entries": [' + b'{"number": "030123456"},' * 420_000 + b'{"number": "1"}]}'
    assert len(huge) > 10_000_000
    r = agent.post("/api/caller-lists/block/import", content=huge, headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    many = {"entries": [{"number": f"+4930{i:07d}"} for i in range(100_000)]}
    assert agent.post("/api/caller-lists/block/import", json=many).status_code == 413
    # more than one request may carry (within the size limit): named, not taken
    r = agent.post("/api/caller-lists/block/import", json={"entries": [{"number": "1"}] * 1001})
    assert r.status_code == 422 and r.json()["code"] == "invalid_input", r.text

    for number, code in [
        ("030\x001234", "caller_number_control"),
        ("030\x1b[2J", "caller_number_control"),
        ("^(a+)+$", "caller_number_chars"),
        ("0*30", "caller_number_wildcard"),
        ("*", "caller_number_no_digit"),
    ]:
        r = agent.post("/api/caller-lists/block", json={"number": number})
        assert r.status_code == 422 and r.json()["code"] == code, (number, r.text)
    # one bad line refuses the whole import: nothing of it is taken over
    lines = [{"number": "030 111"}, {"number": "040 222"}, {"number": "0171\x00"}, {"number": "050 333"}]
    r = agent.post("/api/caller-lists/block/import", json={"entries": lines})
    assert r.status_code == 422, r.text
    assert (r.json()["code"], r.json()["params"]["line"]) == ("caller_import_line", "3")
    r = agent.delete("/api/caller-lists/block", params={"number": "0401234"})
    assert r.status_code == 404 and r.json()["code"] == "caller_not_listed", r.text
    assert agent.get("/api/caller-lists").json() == before

    # a good import, then the lists are for logged-in people only
    r = agent.post("/api/caller-lists/vip/import", json={"entries": [{"number": "030 111"}, {"number": "0171*"}]})
    assert r.json() == {"added": 2}, r.text
    assert [e["key"] for e in agent.get("/api/caller-lists/vip").json()] == ["+4930111", "+49171*"]
    assert httpx.get(f"{daemon.base_url}/api/caller-lists", timeout=10).status_code == 401
    assert "Traceback" not in daemon.log()


def message_mode() -> dict[str, Any]:
    """Blocked callers are rejected; everybody else may leave a short message (for the viewer)."""
    return {
        "name": "Rules and messages",
        "start": "rules",
        "nodes": {
            "rules": {"type": "condition", "rules": [{"test": "blocked", "next": "blocked"}], "otherwise": "message"},
            "blocked": {"type": "hangup", "prompt": "caller_blocked"},
            "message": {"type": "voicemail", "team": "lvs", "silence_seconds": 1.5, "max_seconds": 6},
        },
    }


def test_nummer_sperren_in_the_viewer_lists_the_number_and_its_next_call_is_rejected(
    sip_phones: Callable[..., Phone], tmp_path: Path
) -> None:
    number = "+4940777888"
    teams = [{"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 6, "wrap_up": 0}]
    with running_daemon(tmp_path / "box", mode=message_mode(), config={"teams": teams}) as box, chromium() as browser:
        first_admin(box)
        add_agent_account(box, "anna", "anna-password-1", ["lvs"], "Anna Berg")
        # a real caller leaves a message (a tone), then hangs up
        tone = tmp_path / "tone.wav"
        make_tone_wav(tone, 700, 2.0, rate=8000, level_dbfs=-12)
        caller = sip_phones(name="caller", codecs="PCMA", user=number)
        call = caller.call(box.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        caller.play(call, tone)
        caller.wait_event("disconnected", call=call, timeout=20)

        context, page = logged_in(browser, box, "anna", "anna-password-1", hash_="#/messages")
        card = page.locator("[data-message]")
        expect(card).to_have_count(1, timeout=10000)
        card.locator("button[data-action=block]").click()  # one click: "Nummer sperren"
        expect(card.locator("button[data-action=unblock]")).to_be_visible()
        page.goto(box.base_url + "/#/numbers")
        row = page.locator("#list-block tr[data-key]")
        expect(row).to_have_count(1)
        expect(row).to_have_attribute("data-key", number)
        shot(page, "caller-lists")
        assert not page.__dict__["js_errors"], page.__dict__["js_errors"]
        context.close()

        # the next call from that number hears the rejection and is hung up by the box
        rx = tmp_path / "again-rx.wav"
        x, rate, ended = heard_until_hung_up(caller, box, rx)
        assert ended["code"] == 200, ended
        score = best_correlation(x, PROMPTS / "caller_blocked.wav", rate)[0]
        assert score > 0.6, score
        assert len(box.http.get("/api/messages").json()) == 1  # no second message
        audit = [(a["who"], a["action"], a["detail"]) for a in box.http.get("/api/audit").json()]
        assert ("anna", "callers.block_add", number) in audit
