"""What the web page relies on from the API, against the real daemon (issue 17): refusals with
a code and parameters, the MP3 route an agent may fetch, activation without a body, the
first-run state anonymously, and addresses in the log a person can click."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tests.harness.daemon import Daemon, ready_line, running_daemon
from tests.harness.webclient import add_agent_account, first_admin, session
from zentrale.web.server import page_urls


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {"teams": [{"id": t, "name": t.upper()} for t in ("lvs", "sap", "pc")]}
    with running_daemon(tmp_path_factory.mktemp("webui-api"), config=config) as daemon:
        yield daemon


def test_before_the_set_up_the_log_names_addresses_to_click_and_the_state_says_set_up_needed(box: Daemon) -> None:
    log = box.log()
    line = ready_line(log)
    # HTTPS is on by default (http.tls): its address first, then plain HTTP (which sends other
    # machines on to HTTPS)
    assert line is not None and re.search(rf"web https://127\.0\.0\.1:\d+/ http://127\.0\.0\.1:{box.http_port}/", line)
    assert "0.0.0.0" not in log and "<this box>" not in log
    assert re.search(
        rf"Open https://127\.0\.0\.1:\d+/setup or http://127\.0\.0\.1:{box.http_port}/setup and enter the set-up token",
        log,
    )
    # anonymously: the login page's state, not /status (which needs an admin)
    assert httpx.get(f"{box.base_url}/api/auth/state").json()["setup_needed"] is True
    anonymous = httpx.get(f"{box.base_url}/status")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "login_required"


def test_every_address_of_the_box_is_listed_for_a_wildcard_bind() -> None:
    assert page_urls("0.0.0.0", 8080, ["192.168.178.20"]) == ["http://127.0.0.1:8080/", "http://192.168.178.20:8080/"]
    assert page_urls("10.0.0.5", 80, []) == ["http://10.0.0.5:80/"]
    assert all("127." not in url for url in page_urls("0.0.0.0", 1)[1:])  # the LAN ones: no loopback twice


def test_a_mode_is_activated_without_a_body(box: Daemon) -> None:
    r = box.http.post("/api/modes/hotline/activate")
    assert r.status_code == 200, r.text
    assert r.json() == {"active": "hotline"}


def test_an_agent_is_refused_with_a_code_and_the_number_and_teams_as_parameters(box: Daemon) -> None:
    first_admin(box)
    add_agent_account(box, "anna", "anna-password", ["lvs", "sap"], "Anna Schmidt")
    with session(box, "anna", "anna-password") as anna:
        r = anna.post("/api/agents/anna/login", json={"number": "01711234567"})
        assert r.status_code == 403
        assert r.json()["code"] == "number_not_allowed"
        assert r.json()["params"] == {"number": "01711234567", "teams": "lvs, sap"}
        r = anna.post("/api/agents/ben/login", json={"number": "201"})
        assert (r.status_code, r.json()["code"]) == (403, "own_agent_only")
        r = anna.post("/api/agents/anna/pause", json={"paused": "vielleicht"})
        assert (r.status_code, r.json()["code"]) == (422, "invalid_input")
        assert r.json()["params"]["field"] == "paused"
        r = anna.get("/api/nothing-here")
        assert (r.status_code, r.json()["code"]) == (404, "not_found")
        r = anna.get("/status")
        assert (r.status_code, r.json()["code"]) == (403, "admin_only")


def test_an_agent_may_fetch_a_message_as_mp3_at_the_path_the_page_is_told(box: Daemon) -> None:
    with session(box, "anna", "anna-password") as anna:
        me = anna.get("/api/auth/me").json()
        assert me["mp3_path"] == "/api/messages/{message_id}/audio.mp3"
        r = anna.get(me["mp3_path"].replace("{message_id}", "20260101-000000-none"))
        # allowed like the WAV (not 403): the message does not exist
        assert (r.status_code, r.json()["code"]) == (404, "message_not_found")
