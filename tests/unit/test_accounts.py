"""Accounts: passwords, sessions, the set-up token, the API token and login throttling,
on a real SQLite file and a manual clock."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from zentrale.accounts.passwords import Passwords
from zentrale.accounts.service import IDLE, Accounts
from zentrale.accounts.throttle import FailureWindow, LoginThrottle
from zentrale.core.clock import ManualClock
from zentrale.errors import Conflict, Refused, TooManyAttempts, Unauthorized
from zentrale.store.db import Database
from zentrale.store.state import StateRepository
from zentrale.store.users import UserRepository


class Box:
    def __init__(self, folder: Path, clock: ManualClock) -> None:
        self.db = Database(folder / "z.db")
        self.accounts = Accounts(
            clock=clock,
            repo=UserRepository(self.db),
            state=StateRepository(self.db),
            data_dir=folder,
            passwords=Passwords(memory_kib=1024, time_cost=1),  # cheap in unit tests
        )

    async def start(self) -> Accounts:
        await self.db.open()
        await self.accounts.start()
        return self.accounts

    async def stop(self) -> None:
        if self.db._conn is not None:
            self.accounts.close()
            await self.db.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def box(tmp_path: Path, clock: ManualClock) -> AsyncIterator[Box]:
    b = Box(tmp_path, clock)
    await b.start()
    yield b
    await b.stop()


def test_failure_window_blocks_after_the_limit_until_the_oldest_failure_ages_out() -> None:
    now = [0.0]
    window = FailureWindow(3, 60, lambda: now[0])
    for t in (0, 10, 20):
        now[0] = t
        assert window.retry_after("x") is None
        window.failed("x")
    assert window.retry_after("x") == pytest.approx(40)
    now[0] = 60.5
    assert window.retry_after("x") is None
    assert window.retry_after("y") is None


def test_a_successful_login_clears_the_accounts_failures_but_not_the_sources() -> None:
    now = [0.0]
    throttle = LoginThrottle(lambda: now[0], per_source=4, per_user=2, window=600)
    throttle.failed("1.2.3.4", "anna")
    throttle.failed("1.2.3.4", "anna")
    assert throttle.retry_after("5.6.7.8", "Anna") is not None  # per user, whatever the source
    throttle.succeeded("anna")
    assert throttle.retry_after("1.2.3.4", "anna") is None
    throttle.failed("1.2.3.4", "ben")
    throttle.failed("1.2.3.4", "carl")
    assert throttle.retry_after("1.2.3.4", "dora") is not None  # the source is blocked for every name
    assert throttle.retry_after("5.6.7.8", "dora") is None


async def test_first_run_the_setup_token_creates_the_admin_once_and_is_then_gone(box: Box, tmp_path: Path) -> None:
    accounts = box.accounts
    token_file = tmp_path / "setup-token"
    assert accounts.setup_needed
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "api-token").stat().st_mode) == 0o600
    token = token_file.read_text().strip()
    with pytest.raises(Unauthorized):
        await accounts.setup("AAAA-BBBB-CCCC-DDDD", "chef", "long-enough", "", "10.0.0.1")
    who, cookie = await accounts.setup(token.lower().replace("-", " "), "chef", "long-enough", "Chefin", "10.0.0.1")
    assert who.is_admin and who.display_name == "Chefin"
    assert not token_file.exists() and not accounts.setup_needed
    assert (await accounts.from_cookie(cookie)) == who
    with pytest.raises(Conflict):
        await accounts.setup(token, "chef2", "long-enough", "", "10.0.0.1")


async def test_sessions_survive_a_restart_and_end_after_the_idle_time(
    box: Box, tmp_path: Path, clock: ManualClock
) -> None:
    await box.accounts.setup(box.accounts.setup_token or "", "chef", "long-enough", "", "h")
    await box.accounts.save_user("anna", role="agent", agent_id="anna", password="anna-secret", by="chef")
    _, cookie = await box.accounts.login("Anna", "anna-secret", "10.0.0.2")
    api_token = (tmp_path / "api-token").read_text().strip()
    await box.stop()
    again = Box(tmp_path, clock)
    accounts = await again.start()
    try:
        who = await accounts.from_cookie(cookie)
        assert who is not None and who.name == "anna" and who.agent_id == "anna" and not who.is_admin
        assert (tmp_path / "api-token").read_text().strip() == api_token  # kept across restarts
        assert accounts.from_token(api_token) is not None and accounts.from_token("nope") is None
        assert not accounts.setup_needed
        await clock.advance((IDLE + timedelta(minutes=1)).total_seconds())
        assert await accounts.from_cookie(cookie) is None
    finally:
        await again.stop()


async def test_changing_an_account_logs_it_out_and_the_last_admin_stays(box: Box) -> None:
    accounts = box.accounts
    await accounts.setup(accounts.setup_token or "", "chef", "long-enough", "", "h")
    await accounts.save_user("anna", role="agent", password="anna-secret", by="chef")
    _, cookie = await accounts.login("anna", "anna-secret", "h")
    await accounts.save_user("anna", role="agent", password="new-secret!", by="chef")
    assert await accounts.from_cookie(cookie) is None
    with pytest.raises(Conflict):
        await accounts.save_user("chef", role="agent", by="chef")
    with pytest.raises(Conflict):
        await accounts.delete_user("chef", "chef")
    with pytest.raises(Refused):
        await accounts.save_user("Bad Name", role="agent", password="long-enough", by="chef")
    with pytest.raises(Refused):
        await accounts.save_user("ben", role="agent", password="short", by="chef")
    audit = await accounts.state.audit_log()
    assert [a["action"] for a in audit][:3] == ["user.change", "user.create", "user.create"]


async def test_wrong_passwords_are_throttled_per_account(box: Box) -> None:
    accounts = box.accounts
    await accounts.setup(accounts.setup_token or "", "chef", "long-enough", "", "h")
    for _ in range(5):
        with pytest.raises(Unauthorized):
            await accounts.login("chef", "wrong-password", "10.0.0.9")
    with pytest.raises(TooManyAttempts) as refused:
        await accounts.login("chef", "long-enough", "10.0.0.9")  # even the right one, for a while
    assert 0 < refused.value.retry_after <= 600
    with pytest.raises(Unauthorized):
        await accounts.login("nobody", "x" * 10, "10.0.0.9")  # another name still gets an answer
