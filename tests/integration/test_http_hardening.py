"""HTTP hardening against the real daemon: who the client is (X-Forwarded-For only from a
configured proxy), bodies limited before they are read or parsed, names in URLs checked,
the audit log per role, the documents worker process coming back after it dies."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import demo_mode
from tests.harness.waits import wait_until
from tests.harness.webclient import ADMIN, add_agent_account, first_admin, session

LONG = "x" * 300


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("http")) as daemon:
        first_admin(daemon)
        add_agent_account(daemon, "anna", "anna-password", ["lvs", "sap"])
        yield daemon


def no_tracebacks(daemon: Daemon) -> None:
    assert daemon.alive()
    assert "Traceback" not in daemon.log(), daemon.log()[-3000:]


def login(daemon: Daemon, name: str, password: str, **headers: str) -> httpx.Response:
    return httpx.post(f"{daemon.base_url}/api/auth/login", json={"name": name, "password": password},
                      headers=headers, timeout=10)  # fmt: skip


def test_thirty_wrong_logins_with_a_rotating_forwarded_for_header_are_throttled_by_the_real_peer(
    tmp_path: Path,
) -> None:
    with running_daemon(tmp_path) as daemon:  # default: no proxy trusted
        first_admin(daemon)
        codes = [
            login(daemon, f"user{i}", "guess-guess", **{"X-Forwarded-For": f"10.0.{i}.1"}).status_code
            for i in range(30)
        ]
        assert codes == [401] * 20 + [429] * 10  # 20 failures per source in 10 minutes: the peer is 127.0.0.1
        assert "failed login of 'user0' from 127.0.0.1" in daemon.log()
        assert "10.0.0.1" not in daemon.log()
        r = login(daemon, ADMIN[0], ADMIN[1], **{"X-Forwarded-For": "10.9.9.9"})
        assert r.status_code == 429  # still the same, throttled peer
        no_tracebacks(daemon)


def test_behind_a_configured_proxy_the_forwarded_client_and_tls_are_believed(tmp_path: Path) -> None:
    with running_daemon(tmp_path, config={"http": {"trusted_proxies": ["127.0.0.0/8"]}}) as daemon:
        first_admin(daemon)
        codes = [
            login(daemon, f"user{i}", "guess-guess", **{"X-Forwarded-For": f"10.0.{i}.1"}).status_code
            for i in range(25)
        ]
        assert codes == [401] * 25  # 25 different clients behind the proxy, each under its own limit
        assert "failed login of 'user7' from 10.0.7.1" in daemon.log()
        r = login(daemon, ADMIN[0], ADMIN[1], **{"X-Forwarded-Proto": "https"})
        assert r.status_code == 200 and "Secure" in r.headers["set-cookie"]
        no_tracebacks(daemon)


def test_a_proxy_that_is_not_a_network_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError) as err:
        running_daemon(tmp_path, config={"http": {"trusted_proxies": ["the-proxy"]}}).__enter__()
    assert "http.trusted_proxies" in str(err.value) and "'the-proxy' is not a network" in str(err.value)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", f"/api/modes/{LONG}", None),
        ("PUT", f"/api/modes/{LONG}", b"name: x\n"),
        ("POST", f"/api/modes/{LONG}/activate", {}),
        ("GET", f"/api/editor/modes/{LONG}/export", None),
        ("GET", f"/api/editor/modes/{LONG}/versions", None),
        ("POST", f"/api/editor/modes/{LONG}", None),
        ("DELETE", f"/api/editor/modes/{LONG}", None),
        ("POST", "/api/editor/modes/hotline/duplicate", {"to": LONG}),
        ("GET", f"/api/prompts/{LONG}/audio", None),
        ("POST", f"/api/prompts/{LONG}", b"RIFF"),
        ("POST", f"/api/prompts/{LONG}/speak", {"text": "Hallo"}),
        ("DELETE", f"/api/prompts/{LONG}", None),
        ("PUT", f"/api/users/{LONG}", {"role": "agent", "password": "long-password"}),
        ("PUT", f"/api/teams/{LONG}", {"name": "T"}),
        ("PUT", f"/api/agents/{LONG}", {"name": "A", "teams": []}),
        ("GET", f"/api/messages/{LONG}", None),
        ("PUT", f"/api/switches/{LONG}", {"on": True}),
        ("DELETE", f"/api/security/bans/{LONG}", None),
        ("GET", "/api/modes/..", None),
        ("GET", "/api/prompts/.hidden/audio", None),
    ],
)
def test_names_too_long_for_a_file_or_impossible_are_refused_with_422(
    box: Daemon, method: str, path: str, body: object
) -> None:
    kw: dict[str, object] = {"json": body} if isinstance(body, dict) else {"content": body}
    r = box.http.request(method, path, **kw)  # type: ignore[arg-type]
    if path.endswith("/.."):
        assert r.status_code == 404  # the client has already made "/api/modes/.." into "/api/"
        return
    assert r.status_code == 422, r.text
    no_tracebacks(box)


def test_agents_see_their_own_audit_entries_and_switch_changes_admins_see_all(box: Daemon) -> None:
    assert box.http.put("/api/switches/network_outage", json={"on": True, "by": "Chefin"}).status_code == 200
    assert box.http.put("/api/switches/network_outage", json={"on": False, "by": "Chefin"}).status_code == 200
    with session(box, "anna", "anna-password") as anna:
        assert anna.put("/api/switches/sap_outage", json={"on": True}).status_code == 200
        assert anna.put("/api/switches/sap_outage", json={"on": False}).status_code == 200
        assert anna.put("/api/auth/password", json={"old": "wrong-password", "new": "x" * 12}).status_code == 401
        seen = anna.get("/api/audit").json()
        assert anna.get("/api/audit", params={"limit": 1}).json() == seen[:1]
        assert anna.get("/api/audit", params={"limit": 0}).status_code == 422
        assert anna.get("/api/audit", params={"limit": 10**30}).status_code == 422
    assert [e for e in seen if e["who"] == "anna"]
    assert ("Chefin", "switch.on") in [(e["who"], e["action"]) for e in seen]  # who switched is no secret
    assert {e["action"] for e in seen if e["who"] != "anna"} <= {"switch.on", "switch.off"}
    everything = box.http.get("/api/audit").json()
    hidden = [e for e in everything if e not in seen]
    assert hidden and {e["action"] for e in hidden} - {"switch.on", "switch.off"}  # the accounts made for anna


def test_request_bodies_are_refused_by_size_before_they_are_read(box: Daemon) -> None:
    twelve_mb = b"# padding\n" * 1_200_000
    r = box.http.put("/api/modes/big", content=twelve_mb)
    assert r.status_code == 413 and "larger than 1 MB" in r.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it comes
        for _ in range(120):
            yield b"# padding\n" * 10_000

    r = box.http.put("/api/modes/big", content=chunks())
    assert r.status_code == 413
    # an ordinary JSON route: 64 KB
    r = box.http.put("/api/agents/x", content=json.dumps({"name": "a" * 100_000}).encode(),
                     headers={"content-type": "application/json"})  # fmt: skip
    assert r.status_code == 413 and "64 KB" in r.json()["error"]
    # anonymous: the small limit whatever the route
    r = httpx.put(f"{box.base_url}/api/modes/big", content=b"# x\n" * 100_000, timeout=10)
    assert r.status_code == 413
    # a prompt upload streams up to 50 MB
    r = box.http.post("/api/prompts/huge", content=(b"\0" * 1_000_000 for _ in range(60)), timeout=60)
    assert r.status_code == 413 and "50 MB" in r.json()["error"]
    assert not any(box.data_dir.rglob("huge*"))
    assert box.http.get("/api/modes").json()["modes"] == ["closed", "hotline"]
    no_tracebacks(box)


def test_deep_nesting_and_alias_bombs_are_refused_with_422(box: Daemon) -> None:
    deep_json = b'{"a": ' * 40 + b"1" + b"}" * 40
    r = box.http.put("/api/agents/x", content=deep_json, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested 40 levels deep" in r.json()["error"]
    r = box.http.post("/api/editor/validate", content=deep_json, headers={"content-type": "application/json"})
    assert r.status_code == 422 and "nested more than 32 levels deep" in r.json()["problem"]
    flow = b"nodes: " + b"[" * 50_000 + b"]" * 50_000  # 100 KB of nested YAML: was a RecursionError (500)
    r = box.http.put("/api/modes/deep", content=flow)
    assert r.status_code == 422 and "nested more than 32 levels deep" in r.json()["problem"]
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    r = box.http.put("/api/modes/bomb", content="\n".join(lines).encode())
    assert r.status_code == 422 and "more than 10000 values" in r.json()["problem"]
    r = box.http.post("/api/simulations", content=b'{"document": ' * 40 + b"{}" + b"}" * 40)
    assert r.status_code == 422
    assert not (box.data_dir / "modes" / "deep.yaml").exists()
    no_tracebacks(box)


def test_a_mode_document_near_the_size_limit_is_parsed_and_saved(box: Daemon) -> None:
    mode = demo_mode()
    mode["description"] = "Lange Beschreibung. " * 45_000  # ~0.9 MB in one value
    text = yaml.safe_dump(mode, allow_unicode=True, width=1_000_000).encode()
    assert 800_000 < len(text) < 1_000_000
    box.status()  # resets the worst lateness since the last look
    r = box.http.put("/api/modes/long", content=text, timeout=180)  # its time is bench.http_documents's
    assert r.status_code == 200, r.text
    print(f"media clock, worst lateness during a {len(text) / 1e6:.2f} MB PUT: "
          f"{box.status()['media_clock']['recent_late_ms']} ms")  # fmt: skip
    assert box.http.get("/api/modes/long").json()["description"].startswith("Lange Beschreibung.")
    assert box.http.delete("/api/editor/modes/long").status_code == 200


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def worker_pid(daemon: Daemon) -> int:
    children = Path(f"/proc/{daemon.proc.pid}/task/{daemon.proc.pid}/children").read_text().split()
    for pid in children:
        if b"zentrale.web.documents" in Path(f"/proc/{pid}/cmdline").read_bytes():
            return int(pid)
    raise AssertionError(f"no documents worker among {children}")


def test_the_documents_worker_is_started_again_after_it_was_killed(box: Daemon) -> None:
    text = yaml.safe_dump(demo_mode(), allow_unicode=True).encode()
    assert box.http.put("/api/modes/copy", content=text).status_code == 200
    first = worker_pid(box)
    os.kill(first, signal.SIGKILL)
    # dead (a zombie until the daemon reaps it): the next request finds a dead worker
    wait_until(lambda: not is_running(first), 5, "the killed worker to die")
    r = box.http.put("/api/modes/copy", content=text)
    assert r.status_code == 200, r.text
    assert wait_until(lambda: worker_pid(box) != first, 5, "a new worker")
    assert box.http.delete("/api/editor/modes/copy").status_code == 200
    no_tracebacks(box)


def test_a_deeply_nested_mode_file_put_there_by_hand_is_a_422_wherever_it_is_read(box: Daemon) -> None:
    path = box.data_dir / "modes" / "deep.yaml"
    path.write_text("nodes: " + "[" * 50_000 + "]" * 50_000 + "\n")
    try:
        for method, url in (("GET", "/api/modes/deep"), ("GET", "/api/editor/modes/deep/export"),
                            ("POST", "/api/modes/deep/activate")):  # fmt: skip
            r = box.http.request(method, url, json={} if method == "POST" else None)
            assert r.status_code == 422, (url, r.text)
        listed = {m["name"]: m for m in box.http.get("/api/editor/modes").json()}
        assert "nested" in listed["deep"]["problems"][0]
        assert box.http.get("/api/modes").json()["active"] == "hotline"
    finally:
        path.unlink()
    no_tracebacks(box)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/agents/x", '{"name": "A", "priority": 1000000000000000000000000000000}'),  # no SQLite integer
        ("PUT", "/api/agents/x", '{"name": "A", "default_number": "' + "1" * 5000 + '"}'),
        ("POST", "/api/agents/x/login", '{"number": "' + "9" * 5000 + '"}'),
        ("PUT", "/api/teams/t1", '{"name": "T", "ring_timeout": Infinity}'),
        ("PUT", "/api/schedule", '{"week": NaN}'),  # FastAPI's 422 would echo NaN: a 500
        ("PUT", "/api/modes/nan", '{"name": NaN}'),  # a document: read as YAML then, where NaN is text
        ("PATCH", "/api/messages/x", '{"comment": "' + "c" * 60000 + '"}'),
        ("POST", "/api/editor/modes/hotline/rollback", '{"version": 99999999999999999999}'),
        ("POST", "/api/queues/x/pull", '{"agent": "' + "a" * 5000 + '"}'),
        ("GET", "/api/calllog?limit=99999999999999999999999", None),
        ("GET", "/api/editor/modes/hotline/diff?a=1&b=99999999999999999999", None),
    ],
)
def test_hostile_values_in_requests_are_refused_with_4xx_not_500(
    box: Daemon, method: str, path: str, body: str | None
) -> None:
    r = box.http.request(method, path, content=body, headers={"content-type": "application/json"})
    assert 400 <= r.status_code < 500, r.text
    assert "NaN" not in r.text or "not numbers JSON can carry" in r.text
    no_tracebacks(box)
