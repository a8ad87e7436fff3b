"""The box as an extension of the office PBX (Kamailio with digest auth)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.harness.audio import best_correlation, prompt_seconds, read_wav
from tests.harness.browser import SHOTS, chromium, logged_in
from tests.harness.daemon import DEMO, running_daemon
from tests.harness.kamailio import running_kamailio
from tests.harness.modes import office_mode
from tests.harness.peers.phone import Phone
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers


def test_box_registers_with_digest_auth_and_answers_a_call_through_the_pbx(
    tmp_path: Path, sip_phones: Callable[..., Phone]
) -> None:
    with running_kamailio(tmp_path / "kam") as pbx:
        registration = {"registrar": pbx.host, "user": "620", "password": "secret", "expires": 120}
        # the box only accepts calls from the PBX: loopback is not in its allowed networks
        sip = {"registration": registration, "allowed_peers": ["192.0.2.0/24"]}
        with running_daemon(tmp_path / "box", config={"sip": sip}) as box:
            reg = wait_until(lambda: box.status()["lines"][0]["registration"]["registered"], 10, "the registration")
            assert reg, box.status()
            # the phone lives on another loopback address than the PBX, so the box can tell them apart
            caller = sip_phones(
                name="ext201", bind_ip="127.0.0.3", register=f"sip:{pbx.host}", user="201", password="secret",
                domain="127.0.0.1",
            )  # fmt: skip
            caller.wait_event("registered", ok=True, timeout=10)
            rx = tmp_path / "rx.wav"
            call = caller.call(f"sip:620@{pbx.host}", record=rx)
            caller.wait_event("media_active", call=call, timeout=10)
            time.sleep(3.5)
            caller.hangup(call)
            caller.wait_event("recording_done", call=call, timeout=5)
            x, rate = read_wav(rx)
            score, _ = best_correlation(x, DEMO / "prompts" / "greeting.wav", rate)
            assert score > 0.6
            # a direct call that bypasses the PBX is refused: the box is no open relay
            direct = caller.call(f"sip:620@127.0.0.1:{box.sip_port}")
            gone = caller.wait_event("disconnected", call=direct, timeout=10)
            assert gone["code"] == 403
            assert "route INVITE from sip:201@" in pbx.log()


def test_wrong_password_shows_on_status_and_the_box_keeps_trying(tmp_path: Path) -> None:
    with running_kamailio(tmp_path / "kam") as pbx:
        registration = {"registrar": pbx.host, "user": "620", "password": "wrong"}
        with running_daemon(tmp_path / "box", config={"sip": {"registration": registration}}) as box:
            state = wait_until(lambda: box.status()["lines"][0]["registration"]["last_status"], 10, "the registration")
            reg = box.status()["lines"][0]["registration"]
            assert state == 401
            assert not reg["registered"]
            assert "401" in reg["last_error"]


def test_registration_through_an_outbound_proxy(tmp_path: Path) -> None:
    with running_kamailio(tmp_path / "kam") as proxy:
        # the registrar's name is never looked up: everything goes through the proxy
        registration = {
            "registrar": "pbx.office.invalid",
            "user": "620",
            "password": "secret",
            "outbound_proxy": proxy.host,
        }
        with running_daemon(tmp_path / "box", config={"sip": {"registration": registration}}) as box:
            reg = wait_until(lambda: box.status()["lines"][0]["registration"]["registered"], 10, "the registration")
            assert reg, box.status()["lines"][0]["registration"]


def test_an_agent_is_rung_through_the_outbound_proxy(tmp_path: Path, sip_phones: Callable[..., Phone]) -> None:
    """A pull dials the agent's number at the PBX's domain, sent through the outbound
    proxy (Route with lr; digest answered); in-dialog requests follow its Record-Route."""
    from tests.harness.audio import make_tone_wav, tone_level

    tone, agent_tone = tmp_path / "600.wav", tmp_path / "1000.wav"
    make_tone_wav(tone, 600, 20, rate=8000, level_dbfs=-12)
    make_tone_wav(agent_tone, 1000, 20, rate=8000, level_dbfs=-12)
    with running_kamailio(tmp_path / "kam") as proxy:
        registration = {
            "registrar": "pbx.office.invalid", "user": "620", "password": "secret", "outbound_proxy": proxy.host,
        }  # fmt: skip
        teams = [
            {"id": t, "name": t.upper(), "distribution": "pull", "ring_timeout": 8, "wrap_up": 0}
            for t in ("lvs", "sap", "pc")
        ]
        config = {"sip": {"registration": registration}, "teams": teams}
        with running_daemon(tmp_path / "box", mode=office_mode(), config=config) as box:
            assert wait_until(lambda: box.status()["lines"][0]["registration"]["registered"], 10, "the registration")
            agent = sip_phones(
                name="agent201", bind_ip="127.0.0.51", register=f"sip:{proxy.host}", user="201", password="secret",
                domain="pbx.office.invalid", auto_answer="none", record_dir=tmp_path, play=agent_tone, play_loop=True,
            )  # fmt: skip
            agent.wait_event("registered", ok=True, timeout=10)
            assert box.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"]}).status_code == 200
            assert box.http.post("/api/agents/anna/login", json={"number": "201"}).json()["state"] == "available"
            caller = sip_phones(name="caller", bind_ip="127.0.0.52")
            call = caller.call(box.uri, record=tmp_path / "caller.wav")
            caller.wait_event("media_active", call=call, timeout=5)
            time.sleep(prompt_seconds("greeting") + 1.0)
            caller.dtmf(call, "1")
            caller.play(call, tone, loop=True)
            entry = wait_until(lambda: box.http.get("/api/queues").json(), 5, "the caller in the queue")
            assert entry, "the caller did not reach the queue"
            r = box.http.post(f"/api/queues/{entry[0]['entry_id']}/pull", json={"agent": "anna"})  # type: ignore[index]
            assert r.json()["result"] == "ringing"
            ring = agent.wait_event("incoming", timeout=5)
            assert ring["request_uri"].startswith("sip:201@"), ring["request_uri"]
            agent.answer(ring["call"])
            agent.wait_event("media_active", call=ring["call"], timeout=5)
            time.sleep(2.5)
            caller.hangup(call)
            agent.wait_event("disconnected", call=ring["call"], timeout=5)  # the box's BYE, through the proxy
            y, rate = read_wav(Path(agent.wait_event("recording_done", call=ring["call"], timeout=5)["path"]))
            assert tone_level(y[-int(1.5 * rate) :], rate, 600) > 0.5
            x, xrate = read_wav(Path(caller.wait_event("recording_done", call=call, timeout=5)["path"]))
            assert tone_level(x[-int(1.5 * xrate) :], xrate, 1000) > 0.5
            log = proxy.log()
            assert "route INVITE from sip:620@pbx.office.invalid to sip:201@pbx.office.invalid" in log, log[-2000:]


def test_the_pbx_registration_set_by_api_applies_at_once_and_after_a_restart(tmp_path: Path) -> None:
    """An admin enters the PBX account in the web page's API: the box registers at once;
    a wrong password shows the PBX's 401; switching off unregisters; kept over a restart."""
    from tests.harness.daemon import start_daemon

    with running_kamailio(tmp_path / "kam") as pbx:
        daemon = start_daemon(tmp_path / "box")
        try:
            api = daemon.http
            assert api.get("/api/settings/sip").json()["enabled"] is False
            bad = api.put("/api/settings/sip/registration", json={"registrar": "sip:fritz.box", "user": "620"})
            assert bad.status_code == 422 and "registrar" in bad.json()["error"], bad.text
            no_user = api.put("/api/settings/sip/registration", json={"registrar": pbx.host})
            assert no_user.status_code == 422 and "user" in no_user.json()["error"], no_user.text

            wrong = {"registrar": pbx.host, "user": "620", "password": "wrong", "expires": 120}
            assert api.put("/api/settings/sip/registration", json=wrong).status_code == 200
            status = wait_until(
                lambda: (api.get("/api/settings/sip").json()["status"] or {}).get("last_status"), 10, "the registration"
            )
            assert status == 401

            r = api.put("/api/settings/sip/registration", json={**wrong, "password": "secret"})
            assert r.status_code == 200 and "secret" not in r.text
            assert wait_until(
                lambda: api.get("/api/settings/sip").json()["status"]["registered"], 10, "the registration"
            )
            assert daemon.status()["lines"][0]["registration"]["registered"]
            audit = [(a["action"], a["detail"]) for a in api.get("/api/audit").json()]
            assert ("sip.registration", f"620 at {pbx.host}") in audit
        finally:
            daemon.stop()

        daemon = start_daemon(tmp_path / "box", data_dir=daemon.data_dir)
        try:
            api = daemon.http
            after = api.get("/api/settings/sip").json()
            assert after["source"] == "web" and after["registrar"] == pbx.host and after["password_set"]
            assert wait_until(
                lambda: api.get("/api/settings/sip").json()["status"]["registered"], 10, "the registration"
            )
            # a change without the password keeps it; switching off removes the registration
            assert api.put("/api/settings/sip/registration", json={**wrong, "password": None}).status_code == 200
            assert wait_until(
                lambda: api.get("/api/settings/sip").json()["status"]["registered"], 10, "the registration"
            )
            off = api.put("/api/settings/sip/registration", json={"registrar": ""}).json()
            assert off["enabled"] is False and off["status"] is None
            assert daemon.status()["lines"][0]["registration"] is None
        finally:
            daemon.stop()


def test_an_admin_enters_the_pbx_account_in_the_browser(tmp_path: Path) -> None:
    """Administration → PBX in Debian's chromium against Kamailio: a wrong password shows
    the PBX's answer on the badge, the right one "angemeldet"."""
    from playwright.sync_api import expect

    from tests.harness.daemon import running_daemon
    from tests.harness.webclient import ADMIN, first_admin

    with (
        running_kamailio(tmp_path / "kam") as pbx,
        running_daemon(tmp_path / "box") as daemon,
        chromium() as browser,
    ):
        first_admin(daemon)
        context, page = logged_in(browser, daemon, *ADMIN, hash_="#/admin")
        expect(page.locator("#pbx-state")).to_have_text("aus")
        page.fill("#pbx-registrar", f"sip:{pbx.host}")
        page.fill("#pbx-user", "620")
        page.click("#save-pbx")
        expect(page.locator(".toast").last).to_contain_text("registrar")  # the box's reason, field named
        page.fill("#pbx-registrar", pbx.host)
        page.fill("#pbx-password", "wrong")
        page.click("#save-pbx")
        expect(page.locator("#pbx-state")).to_contain_text("401", timeout=15000)
        page.fill("#pbx-password", "secret")
        page.click("#save-pbx")
        expect(page.locator("#pbx-state")).to_have_text("angemeldet", timeout=15000)
        assert daemon.status()["lines"][0]["registration"]["registered"]
        page.evaluate("document.querySelectorAll('.toast').forEach((t) => t.remove())")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.locator("#pbx-settings").screenshot(path=str(SHOTS / "admin-pbx.png"))
        assert page.__dict__["js_errors"] == []
        context.close()
