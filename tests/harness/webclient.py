"""Logging in to the daemon's web API as a person would: session cookie plus CSRF token."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import httpx

from tests.harness.daemon import Daemon

ADMIN = ("chef", "chef-password-1")


@contextlib.contextmanager
def session(daemon: Daemon, name: str, password: str, **kw: Any) -> Iterator[httpx.Client]:
    """An httpx client logged in as ``name``, sending the session's CSRF token on every request."""
    with httpx.Client(base_url=daemon.base_url, timeout=10, **kw) as client:
        r = client.post("/api/auth/login", json={"name": name, "password": password})
        assert r.status_code == 200, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf"]
        yield client


def first_admin(daemon: Daemon, name: str = ADMIN[0], password: str = ADMIN[1]) -> None:
    """The first-run set-up with the token from the data folder."""
    r = httpx.post(
        f"{daemon.base_url}/api/auth/setup",
        json={"token": daemon.setup_token(), "name": name, "password": password, "display_name": "Chefin"},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def add_agent_account(daemon: Daemon, user: str, password: str, teams: list[str], name: str = "") -> None:
    r = daemon.http.put(f"/api/agents/{user}", json={"name": name or user.title(), "teams": teams})
    assert r.status_code == 200, r.text
    r = daemon.http.put(
        f"/api/users/{user}",
        json={"role": "agent", "agent_id": user, "password": password, "display_name": name or user.title()},
    )
    assert r.status_code == 200, r.text
