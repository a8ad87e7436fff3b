"""Security of the web page and API against the real daemon: no anonymous access, agents
kept out of admin functions, CSRF, session cookie flags, login throttling, first-run set-up."""

from __future__ import annotations

import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.webclient import ADMIN, add_agent_account, first_admin, session

PUBLIC = {
    ("get", "/health"),
    ("get", "/api/auth/state"),
    ("post", "/api/auth/login"),
    ("post", "/api/auth/setup"),
    ("get", "/zentrale-ca.crt"),  # the local CA's certificate: public by nature (docs/https.md)
}
# What an agent may do; every other operation of the API is for admins.
AGENT_MAY = {
    ("get", "/api/auth/me"), ("post", "/api/auth/logout"), ("put", "/api/auth/password"),
    ("get", "/api/events"), ("get", "/api/modes"), ("get", "/api/switches"), ("put", "/api/switches/{switch_id}"),
    ("get", "/api/queues"), ("post", "/api/queues/{entry_id}/pull"),
    ("get", "/api/agents"), ("get", "/api/agents/{agent_id}"), ("post", "/api/agents/{agent_id}/login"),
    ("post", "/api/agents/{agent_id}/logout"), ("post", "/api/agents/{agent_id}/pause"),
    ("get", "/api/messages"), ("get", "/api/messages/{message_id}"), ("get", "/api/messages/{message_id}/audio"),
    ("get", "/api/messages/{message_id}/audio.mp3"), ("get", "/api/switches/{switch_id}/audio"),
    ("patch", "/api/messages/{message_id}"), ("get", "/api/audit"),
    ("get", "/api/notices"),  # the page's banner (a full data disk): every user sees it
    # the block and VIP lists: agents block a number from the viewer (issue 16, caller rules)
    ("get", "/api/caller-lists"), ("post", "/api/caller-lists/lookup"), ("get", "/api/caller-lists/{name}"),
    ("post", "/api/caller-lists/{name}"), ("post", "/api/caller-lists/{name}/import"),
    ("delete", "/api/caller-lists/{name}"),
    ("get", "/api/callbacks"), ("post", "/api/callbacks/{callback_id}/done"),  # callbacks that became tasks
    ("get", "/api/statistics"), ("get", "/api/statistics.csv"),  # a team lead's figures
    ("get", "/api/calllog"),  # the call log page: his teams' calls (issue 16)
    ("get", "/api/wallboard"),  # neither agent nor admin: its read-only token decides (401 without one)
}  # fmt: skip


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("websec")) as daemon:
        first_admin(daemon)
        add_agent_account(daemon, "anna", "anna-password", ["lvs", "sap"])
        add_agent_account(daemon, "ben", "ben-password", ["lvs"])
        yield daemon


def operations(daemon: Daemon) -> list[tuple[str, str]]:
    spec = daemon.http.get("/openapi.json").json()
    return [(method, path) for path, ops in spec["paths"].items() for method in ops]


def call(client: httpx.Client, method: str, path: str, **kw: Any) -> httpx.Response:
    url = re.sub(r"\{[^}]+\}", "x", path)
    if method in ("post", "put", "patch"):
        kw.setdefault("json", {})
    return client.request(method.upper(), url, **kw)


def test_every_route_refuses_anonymous_requests(box: Daemon) -> None:
    ops = operations(box)
    assert len(ops) > 30
    with httpx.Client(base_url=box.base_url, timeout=10) as anonymous:
        check_anonymous(anonymous, ops)


def check_anonymous(anonymous: httpx.Client, ops: list[tuple[str, str]]) -> None:
    wrong: list[str] = []
    for method, path in ops:
        if (method, path) in PUBLIC:
            continue
        r = call(anonymous, method, path)
        if r.status_code != 401:
            wrong.append(f"{method.upper()} {path}: {r.status_code}")
    assert wrong == []
    # pages and the spec too; only the login page, its static files and /health are open
    assert anonymous.get("/").status_code == 303 and anonymous.get("/").headers["location"] == "/login"
    for path in ("/docs", "/openapi.json", "/status", "/api/events"):
        assert anonymous.get(path).status_code == 401, path
    for path in ("/login", "/setup", "/static/css/app.css", "/static/js/login.js", "/health"):
        assert anonymous.get(path).status_code == 200, path
    wrong_token = anonymous.get("/api/queues", headers={"Authorization": "Bearer not-the-token"})
    assert wrong_token.status_code == 401


def test_an_agent_cannot_reach_admin_functions(box: Daemon) -> None:
    with session(box, "anna", "anna-password") as anna, session(box, *ADMIN) as chef:
        check_agent(box, anna, chef)


def check_agent(box: Daemon, anna: httpx.Client, chef: httpx.Client) -> None:
    wrong: list[str] = []
    for method, path in operations(box):
        if (method, path) in PUBLIC or (method, path) in AGENT_MAY:
            continue
        r = call(anna, method, path)
        if r.status_code != 403:
            wrong.append(f"{method.upper()} {path}: {r.status_code}")
    assert wrong == []
    # ... and acts for her own agent only
    assert anna.post("/api/agents/ben/login", json={"number": "202"}).status_code == 403
    assert anna.post("/api/agents/ben/pause", json={"paused": True}).status_code == 403
    assert anna.post("/api/queues/q1/pull", json={"agent": "ben"}).status_code == 403
    assert anna.post("/api/agents/anna/login", json={"number": "201"}).json()["state"] == "available"
    assert anna.get("/api/auth/me").json()["role"] == "agent"
    # the admin's session reaches them
    assert chef.get("/api/users").status_code == 200
    assert chef.get("/status").json()["setup_needed"] is False


def test_a_state_change_without_the_csrf_token_is_refused(box: Daemon) -> None:
    with session(box, "anna", "anna-password") as anna:
        check_csrf(box, anna)


def check_csrf(box: Daemon, anna: httpx.Client) -> None:
    token = anna.headers.pop("X-CSRF-Token")
    r = anna.put("/api/switches/sap_outage", json={"on": True})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    assert (
        anna.put("/api/switches/sap_outage", json={"on": True}, headers={"X-CSRF-Token": "x" * 43}).status_code == 403
    )
    other_site = {"X-CSRF-Token": token, "Origin": "http://evil.example"}
    assert anna.put("/api/switches/sap_outage", json={"on": True}, headers=other_site).status_code == 403
    assert not box.http.get("/api/switches").json()[0]["on"]
    same_site = {"X-CSRF-Token": token, "Origin": box.base_url}
    r = anna.put("/api/switches/sap_outage", json={"on": True, "by": "someone else"}, headers=same_site)
    assert r.status_code == 200 and r.json()["by"] == "anna"  # a session cannot claim another name
    anna.put("/api/switches/sap_outage", json={"on": False}, headers={"X-CSRF-Token": token})
    audit = box.http.get("/api/audit").json()
    assert [(a["who"], a["action"]) for a in audit[:2]] == [("anna", "switch.off"), ("anna", "switch.on")]


def test_the_session_cookie_is_httponly_samesite_strict_and_secure_behind_tls(box: Daemon) -> None:
    r = httpx.post(f"{box.base_url}/api/auth/login", json={"name": "ben", "password": "ben-password"})
    cookie = r.headers["set-cookie"]
    assert (
        "zentrale_session=" in cookie
        and "HttpOnly" in cookie
        and "SameSite=strict" in cookie.replace("Strict", "strict")
    )
    assert "Path=/" in cookie and "Secure" not in cookie
    assert r.headers["x-frame-options"] == "DENY" and "default-src 'self'" in r.headers["content-security-policy"]
    # behind a TLS proxy (http.trusted_proxies): test_http_hardening.py


def test_logging_out_ends_the_session(box: Daemon) -> None:
    with session(box, "ben", "ben-password") as ben:
        cookie = ben.cookies.get("zentrale_session")
        assert ben.get("/api/queues").status_code == 200
        assert ben.post("/api/auth/logout").status_code == 200
    with httpx.Client(base_url=box.base_url, cookies={"zentrale_session": cookie or ""}) as stale:
        assert stale.get("/api/queues").status_code == 401


def test_first_run_setup_token_is_private_one_time_and_logged(tmp_path: Path) -> None:
    with running_daemon(tmp_path) as daemon:
        token_file = daemon.data_dir / "setup-token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((daemon.data_dir / "api-token").stat().st_mode) == 0o600
        token = daemon.setup_token()
        assert token in daemon.log() and "/setup" in daemon.log()
        assert httpx.get(f"{daemon.base_url}/api/auth/state").json()["setup_needed"] is True
        body = {"token": "WRNG-TOKN-WRNG-TOKN", "name": "chef", "password": "chef-password-1"}
        assert httpx.post(f"{daemon.base_url}/api/auth/setup", json=body).status_code == 401
        first_admin(daemon)
        assert not token_file.exists()
        assert httpx.post(f"{daemon.base_url}/api/auth/setup", json={**body, "token": token}).status_code == 409
        assert httpx.get(f"{daemon.base_url}/api/auth/state").json()["setup_needed"] is False
        daemon.stop()
        again = running_daemon(tmp_path, data_dir=daemon.data_dir)
        with again as restarted:
            assert not (restarted.data_dir / "setup-token").exists()
            with session(restarted, *ADMIN) as chef:
                assert chef.get("/api/auth/me").json()["role"] == "admin"


def test_login_attempts_are_throttled_per_user_and_per_source(tmp_path: Path) -> None:
    with running_daemon(tmp_path, config={"http": {"trusted_proxies": ["127.0.0.1"]}}) as daemon:
        first_admin(daemon)
        add_agent_account(daemon, "anna", "anna-password", ["lvs"])
        url = f"{daemon.base_url}/api/auth/login"

        def login(name: str, password: str, source: str = "10.1.1.1") -> httpx.Response:
            # configured to trust X-Forwarded-For from a proxy on 127.0.0.1; it stands in for other computers
            return httpx.post(url, json={"name": name, "password": password}, headers={"X-Forwarded-For": source})

        codes = [login("anna", f"wrong-{i}").status_code for i in range(5)]
        assert codes == [401] * 5
        blocked = login("anna", "anna-password", source="10.9.9.9")
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert login("chef", ADMIN[1]).status_code == 200  # another account is not locked
        # one computer guessing many names is stopped after 20 failures, whatever the names
        codes = [login(f"user{i}", "guess-guess", source="10.2.2.2").status_code for i in range(20)]
        assert codes == [401] * 20
        assert login("chef", ADMIN[1], source="10.2.2.2").status_code == 429
        assert login("chef", ADMIN[1], source="10.3.3.3").status_code == 200
        assert "failed login of 'anna' from 10.1.1.1" in daemon.log()


def test_the_interactive_api_docs_load_from_the_box_only(box: Daemon) -> None:
    """/docs (admins) works offline: Swagger UI's files come from the box, never a CDN."""
    with session(box, *ADMIN) as chef, httpx.Client(base_url=box.base_url, timeout=10) as anonymous:
        page = chef.get("/docs")
        assert page.status_code == 200
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", page.text)
        assert {"/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/openapi.json"} <= set(urls), urls
        assert not [u for u in urls if "//" in u], urls
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self' 'unsafe-inline'" in csp
        js = chef.get("/docs/swagger-ui-bundle.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert "SwaggerUIBundle" in js.text
        assert chef.get("/docs/swagger-ui.css").status_code == 200
        assert chef.get("/docs/index.html").status_code == 404
        assert chef.get("/docs/..%2Fpyproject.toml").status_code == 404
        assert anonymous.get("/docs/swagger-ui-bundle.js").status_code == 401
