"""Teams changed in the web page's API (admins) with the real daemon: a new team is in
force at once (a mode may use it, a real caller waits in its queue, an agent's login is
checked against its number patterns), bad input is refused naming the field, a team in
use cannot be deleted, and the list is kept over a restart."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.audio import prompt_seconds
from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import start_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def test_a_team_made_in_the_api_takes_callers_at_once_and_survives_a_restart(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    box = start_daemon(tmp_path / "box", mode=fast_mode())
    try:
        api = box.http
        listed = api.get("/api/teams").json()
        assert listed["source"] == "config"
        assert {t["id"]: t["modes"] for t in listed["teams"]} == {"lvs": ["hotline"], "sap": ["hotline"],
                                                                  "pc": ["hotline"]}  # fmt: skip
        mode = fast_mode()
        mode["nodes"]["queue_pc"]["team"] = "hw"
        refused = api.put("/api/modes/hotline", json=mode)
        assert refused.status_code == 422 and "team 'hw' is not configured" in refused.text

        bad = api.put("/api/teams/hw", json={"name": "Hardware", "ring_timeout": 500})
        assert bad.status_code == 422 and "ring_timeout" in bad.json()["error"], bad.text
        bad_id = api.put("/api/teams/hard ware", json={"name": "Hardware"})
        assert bad_id.status_code == 422 and "id" in bad_id.json()["error"], bad_id.text
        made = api.put("/api/teams/hw", json={"name": "Hardware", "distribution": "auto", "ring_timeout": 5,
                                              "allowed_numbers": ["2xx"]})  # fmt: skip
        assert made.status_code == 200, made.text
        assert made.json()["name"] == "Hardware" and made.json()["members"] == []
        assert api.put("/api/modes/hotline", json=mode).status_code == 200  # now the mode may use it

        # an agent of the new team: its number patterns apply at once
        assert api.put("/api/agents/hugo", json={"name": "Hugo", "teams": ["hw"]}).status_code == 200
        assert api.post("/api/agents/hugo/login", json={"number": "0900123456"}).status_code == 403
        assert api.post("/api/agents/hugo/login", json={"number": "201"}).status_code == 200
        api.post("/api/agents/hugo/logout")

        # a real caller pressing 3 waits in the new team's queue
        caller = sip_phones(name="caller")
        call = caller.call(box.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, "3")
        waiting = wait_until(lambda: api.get("/api/queues", params={"team": "hw"}).json(), 5, "queue hw")
        assert waiting[0]["team"] == "hw"
        assert api.delete("/api/teams/hw").status_code == 409  # used by the mode, has an agent, a caller waits
        caller.hangup(call)

        gone = api.delete("/api/teams/pc")
        assert gone.status_code == 409 and "used by mode(s) hotline" in gone.json()["error"]
        assert api.put("/api/teams/spare", json={"name": "Spare"}).status_code == 200
        assert api.delete("/api/teams/spare").status_code == 204
        audit = [(a["action"], a["detail"]) for a in api.get("/api/audit").json()]
        assert ("team.saved", "hw (Hardware)") in audit and ("team.deleted", "spare") in audit
    finally:
        box.stop()

    box = start_daemon(tmp_path / "box", data_dir=box.data_dir)
    try:
        teams = box.http.get("/api/teams").json()
        assert teams["source"] == "web"
        assert [t["id"] for t in teams["teams"]] == ["lvs", "sap", "pc", "hw"]
        assert next(t for t in teams["teams"] if t["id"] == "hw")["members"] == ["hugo"]
        assert box.status()["overall"] == "ok"  # the mode using hw is valid at start
        me = box.http.get("/api/auth/me").json()
        assert "hw" in [t["id"] for t in me["teams"]]
    finally:
        box.stop()


def test_an_admin_makes_a_team_in_the_browser_and_puts_an_agent_in_it(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    from tests.harness.webclient import ADMIN, first_admin

    box = start_daemon(tmp_path / "box", mode=fast_mode())
    try:
        first_admin(box)
        with chromium() as browser:
            context, page = logged_in(browser, box, *ADMIN, hash_="#/admin")
            expect(page.locator("#teams tr[data-team=pc]")).to_contain_text("hotline")
            page.fill("#team-id", "hw")
            page.fill("#team-name", "Hardware")
            page.select_option("#team-distribution", "auto")
            page.select_option("#team-strategy", "ring_all")
            page.fill("#team-ring", "300")
            page.click("#save-team")
            expect(page.locator(".toast").last).to_contain_text("ring_timeout")  # refused, the field named
            page.fill("#team-ring", "15")
            # allowed numbers as choices: not the internal ones, every address at vpn.example, and 2xx
            page.uncheck("#numbers-internal")
            page.fill("#numbers-domain", "vpn.example")
            page.locator("#team-numbers summary").click()
            page.fill("#numbers-own", "2xx")
            # callbacks: the caller first, five attempts ten minutes apart
            page.locator("#team-callbacks summary").click()
            page.select_option("#team-callback-order", "caller_first")
            page.fill("#team-callback-attempts", "5")
            page.fill("#team-callback-interval", "10")
            page.click("#save-team")
            row = page.locator("#teams tr[data-team=hw]")
            expect(row).to_contain_text("Hardware")
            expect(row).to_contain_text("alle gleichzeitig")
            # the agents' form offers the new team at once
            page.fill("#new-agent-id", "hugo")
            page.fill("#new-agent-name", "Hugo")
            page.locator("#agents .team-picks input[value=hw]").check()
            page.click("#save-agent")
            expect(page.locator("#agents tr[data-agent=hugo]")).to_contain_text("Hardware")
            expect(row).to_contain_text("hugo")
            page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.locator("#teams").screenshot(path=str(SHOTS / "admin-teams.png"))
            assert page.__dict__["js_errors"] == []
            context.close()
        team = next(t for t in box.http.get("/api/teams").json()["teams"] if t["id"] == "hw")
        assert team["allowed_numbers"] == ["sip:*@vpn.example", "2xx"] and team["strategy"] == "ring_all"
        assert (team["callback_order"], team["callback_attempts"], team["callback_interval"]) == (
            "caller_first",
            5,
            600,
        )
        assert team["callback_numbers"] is None  # left empty: the default numbers

        # a team whose callback numbers were set elsewhere keeps them when the page saves its new name
        kept = ("name", "distribution", "strategy", "ring_timeout", "wrap_up", "email", "allowed_numbers",
                "callback_order", "callback_attempts", "callback_interval")  # fmt: skip
        body = {k: team[k] for k in kept}
        r = box.http.put("/api/teams/hw", json={**body, "callback_numbers": ["0301234*"], "callback_ring_timeout": 45})
        assert r.status_code == 200, r.text
        with chromium() as browser:
            context, page = logged_in(browser, box, *ADMIN, hash_="#/admin")
            page.locator("#teams tr[data-team=hw] button").first.click()  # Bearbeiten
            expect(page.locator("#team-callback-numbers")).to_have_value("0301234*")
            page.fill("#team-name", "Hardware-Team")
            page.click("#save-team")
            expect(page.locator("#teams tr[data-team=hw]")).to_contain_text("Hardware-Team")
            context.close()
        team = next(t for t in box.http.get("/api/teams").json()["teams"] if t["id"] == "hw")
        assert team["name"] == "Hardware-Team"
        assert (team["callback_numbers"], team["callback_ring_timeout"]) == (["0301234*"], 45)
        assert (team["callback_order"], team["callback_interval"]) == ("caller_first", 600)
    finally:
        box.stop()
