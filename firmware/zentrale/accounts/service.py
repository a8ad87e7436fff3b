"""Accounts, sessions and the two secrets in the data folder.

- Users have a role, ``admin`` or ``agent``; an account may be linked to an
  agent (``agents`` table) and then works the agent client as that agent.
- A session is a random cookie value; only its SHA-256 is stored. Sessions
  end after ``IDLE`` without a request (an open agent client keeps its
  session alive through the event stream) and ``MAX_AGE`` after the login.
- ``setup-token``: while no admin exists, a one-time token in the data folder
  (mode 0600, also logged) lets the first admin account be created.
- ``api-token``: a bearer token for local tools (``zentrale switch``), in the
  data folder with mode 0600, so only the daemon's user (and root) has it.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import re
import secrets
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from zentrale.accounts.passwords import Passwords, check_password
from zentrale.accounts.throttle import LoginThrottle
from zentrale.core.clock import Clock
from zentrale.errors import Conflict, NotFound, Refused, StoreError, TooManyAttempts, Unauthorized
from zentrale.store.state import StateRepository
from zentrale.store.users import UserRepository

log = logging.getLogger(__name__)

ROLES = ("admin", "agent")
USER_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")
IDLE = timedelta(hours=12)
MAX_AGE = timedelta(days=7)
PERSIST_EVERY = timedelta(minutes=5)
SETUP_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a screen and typed


@dataclass(frozen=True)
class User:
    name: str
    display_name: str
    role: str
    agent_id: str | None
    password_hash: str
    created_at: str

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "display_name": self.display_name or self.name, "role": self.role,
                "agent_id": self.agent_id, "created_at": self.created_at}  # fmt: skip


@dataclass
class Session:
    id_hash: str
    user_name: str
    csrf: str
    created_at: datetime
    last_seen: datetime
    source: str
    persisted: datetime


@dataclass(frozen=True)
class Principal:
    """Who makes a request: a user through a session, or a local tool through the API token."""

    name: str
    display_name: str
    role: str
    agent_id: str | None
    session: Session | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def via_token(self) -> bool:
        return self.session is None


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _normalise_setup_token(token: str) -> str:
    return re.sub(r"[\s-]", "", token).upper()


def write_secret(path: Path, value: str) -> None:
    """Write a file only the owner can read, atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    os.replace(tmp, path)


def read_secret(path: Path) -> str | None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    if mode & 0o077:
        log.warning("%s was readable by others; restricting it to the owner", path)
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip() or None


class Accounts:
    def __init__(
        self,
        *,
        clock: Clock,
        repo: UserRepository,
        state: StateRepository,
        data_dir: Path,
        passwords: Passwords | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.clock = clock
        self.repo = repo
        self.state = state
        self.passwords = passwords or Passwords()
        self.throttle = throttle or LoginThrottle(clock.monotonic)
        self.api_token_path = data_dir / "api-token"
        self.setup_token_path = data_dir / "setup-token"
        self._users: dict[str, User] = {}
        self._sessions: dict[str, Session] = {}
        self._api_token = ""
        self.setup_token: str | None = None

    # --- start-up ---------------------------------------------------------------------

    async def start(self) -> None:
        self._users = {r["name"]: User(**r) for r in await self.repo.users()}
        now = self.clock.now()
        stale = []
        for row in await self.repo.sessions():
            session = Session(
                row["id_hash"], row["user_name"], row["csrf"], datetime.fromisoformat(row["created_at"]),
                datetime.fromisoformat(row["last_seen"]), row["source"], datetime.fromisoformat(row["last_seen"]),
            )  # fmt: skip
            if self._expired(session, now) or session.user_name not in self._users:
                stale.append(session.id_hash)
            else:
                self._sessions[session.id_hash] = session
        await self.repo.delete_sessions(stale)
        self._api_token = read_secret(self.api_token_path) or ""
        if len(self._api_token) < 32:
            self._api_token = secrets.token_urlsafe(32)
            write_secret(self.api_token_path, self._api_token)
        if self.admins():
            self.setup_token = None
            self.setup_token_path.unlink(missing_ok=True)
        else:
            self.setup_token = read_secret(self.setup_token_path)
            if not self.setup_token:
                self.setup_token = "-".join("".join(secrets.choice(SETUP_ALPHABET) for _ in range(4)) for _ in range(4))
                write_secret(self.setup_token_path, self.setup_token)

    def close(self) -> None:
        self.passwords.close()

    @property
    def setup_needed(self) -> bool:
        return self.setup_token is not None

    # --- users ------------------------------------------------------------------------

    def admins(self) -> list[User]:
        return [u for u in self._users.values() if u.role == "admin"]

    def users(self) -> list[dict[str, Any]]:
        return [u.public() for u in sorted(self._users.values(), key=lambda u: u.name)]

    def user(self, name: str) -> User:
        try:
            return self._users[name]
        except KeyError:
            raise NotFound(f"no user '{name}'") from None

    async def save_user(
        self,
        name: str,
        *,
        role: str,
        display_name: str = "",
        agent_id: str | None = None,
        password: str | None = None,
        by: str,
    ) -> dict[str, Any]:
        """Create an account (password required) or change one (password optional)."""
        if not USER_NAME_RE.match(name):
            raise Refused("a user name has 1-32 lower-case letters, digits, '.', '_' or '-'")
        if role not in ROLES:
            raise Refused(f"role must be one of {', '.join(ROLES)}")
        old = self._users.get(name)
        if old is None and password is None:
            raise Refused("a new account needs a password")
        if old is not None and old.role == "admin" and role != "admin" and len(self.admins()) == 1:
            raise Conflict("the last admin account cannot lose its role")
        if password is not None:
            problem = check_password(password)
            if problem:
                raise Refused(problem)
            password_hash = await self.passwords.hash(password)
        else:
            assert old is not None
            password_hash = old.password_hash
        created = old.created_at if old else self.clock.now().isoformat()
        user = User(name, display_name.strip()[:80], role, agent_id or None, password_hash, created)
        await self.repo.save(user.name, user.display_name, user.role, user.agent_id, user.password_hash, created)
        self._users[name] = user
        if old is not None and (password is not None or old.role != role or old.agent_id != user.agent_id):
            await self._end_sessions(name)  # a changed account logs in again
        await self.state.audit(self.clock.now(), by, "user.create" if old is None else "user.change", name)
        return user.public()

    async def delete_user(self, name: str, by: str) -> None:
        user = self.user(name)
        if user.role == "admin" and len(self.admins()) == 1:
            raise Conflict("the last admin account cannot be deleted")
        await self._end_sessions(name)
        await self.repo.delete(name)
        del self._users[name]
        await self.state.audit(self.clock.now(), by, "user.delete", name)

    async def change_password(self, principal: Principal, old: str, new: str) -> None:
        user = self.user(principal.name)
        source = principal.session.source if principal.session else "api"
        wait = self.throttle.retry_after(source, user.name)
        if wait is not None:
            raise TooManyAttempts("too many wrong passwords; try again later", wait)
        if not await self.passwords.verify(user.password_hash, old):
            self.throttle.failed(source, user.name)
            raise Unauthorized("the current password is wrong")
        problem = check_password(new)
        if problem:
            raise Refused(problem)
        user = replace(user, password_hash=await self.passwords.hash(new))
        await self.repo.save(
            user.name, user.display_name, user.role, user.agent_id, user.password_hash, user.created_at
        )
        self._users[user.name] = user
        keep = principal.session.id_hash if principal.session else None
        await self._end_sessions(user.name, keep=keep)
        await self.state.audit(self.clock.now(), user.name, "user.password", user.name)

    # --- logging in ------------------------------------------------------------------------

    async def login(self, name: str, password: str, source: str) -> tuple[Principal, str]:
        """Check name and password; returns the principal and the new session's cookie value."""
        name = name.strip().lower()
        wait = self.throttle.retry_after(source, name)
        if wait is not None:
            log.warning("login of '%s' from %s refused: too many failed attempts", name, source)
            raise TooManyAttempts("too many failed logins; try again later", wait)
        user = self._users.get(name)
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            self.throttle.failed(source, name)
            log.warning("failed login of '%s' from %s", name, source)
            raise Unauthorized("wrong user name or password")
        self.throttle.succeeded(name)
        if self.passwords.needs_rehash(user.password_hash):
            user = replace(user, password_hash=await self.passwords.hash(password))
            await self.repo.save(user.name, user.display_name, user.role, user.agent_id, user.password_hash,
                                 user.created_at)  # fmt: skip
            self._users[name] = user
        log.info("user '%s' logged in from %s", name, source)
        return await self._new_session(user, source)

    async def setup(
        self, token: str, name: str, password: str, display_name: str, source: str
    ) -> tuple[Principal, str]:
        """First run: the set-up token creates the first admin account (once)."""
        if self.setup_token is None:
            raise Conflict("the set-up is done; log in")
        wait = self.throttle.retry_after(source, "#setup")
        if wait is not None:
            raise TooManyAttempts("too many wrong set-up tokens; try again later", wait)
        if not hmac.compare_digest(_normalise_setup_token(token), _normalise_setup_token(self.setup_token)):
            self.throttle.failed(source, "#setup")
            log.warning("wrong set-up token from %s", source)
            raise Unauthorized("wrong set-up token")
        await self.save_user(name, role="admin", display_name=display_name, password=password, by="setup")
        self.setup_token = None
        self.setup_token_path.unlink(missing_ok=True)
        log.info("first-run set-up done: admin account '%s' created from %s", name, source)
        return await self._new_session(self.user(name), source)

    async def _new_session(self, user: User, source: str) -> tuple[Principal, str]:
        cookie = secrets.token_urlsafe(32)
        now = self.clock.now()
        session = Session(_hash(cookie), user.name, secrets.token_urlsafe(32), now, now, source, now)
        self._sessions[session.id_hash] = session
        mine = sorted((s for s in self._sessions.values() if s.user_name == user.name), key=lambda s: s.last_seen)
        await self._drop([s.id_hash for s in mine[:-20]])  # at most 20 sessions per account
        await self.repo.save_session(session.id_hash, user.name, session.csrf, now.isoformat(), now.isoformat(), source)
        return self._principal(user, session), cookie

    async def logout(self, principal: Principal) -> None:
        if principal.session is not None:
            await self._drop([principal.session.id_hash])

    # --- each request -----------------------------------------------------------------------

    def _expired(self, session: Session, now: datetime) -> bool:
        return now - session.last_seen > IDLE or now - session.created_at > MAX_AGE

    def _principal(self, user: User, session: Session | None) -> Principal:
        return Principal(user.name, user.display_name or user.name, user.role, user.agent_id, session)

    async def from_cookie(self, cookie: str | None) -> Principal | None:
        """The session's principal (and the session kept alive), or None."""
        if not cookie or len(cookie) > 200:
            return None
        session = self._sessions.get(_hash(cookie))
        if session is None:
            return None
        user = self._users.get(session.user_name)
        now = self.clock.now()
        if user is None or self._expired(session, now):
            await self._drop([session.id_hash])
            return None
        session.last_seen = now
        if now - session.persisted > PERSIST_EVERY:
            session.persisted = now
            try:
                await self.repo.save_session(session.id_hash, user.name, session.csrf, session.created_at.isoformat(),
                                             now.isoformat(), session.source)  # fmt: skip
            except StoreError as err:  # a full disk must not log people out of the page that says so
                log.warning("session of %s not saved (still valid in memory): %s", user.name, err)
        return self._principal(user, session)

    def still_valid(self, principal: Principal) -> bool:
        """For long-lived streams: is the principal's session still there?"""
        if principal.session is None:
            return True
        return principal.session.id_hash in self._sessions and principal.name in self._users

    def from_token(self, token: str | None) -> Principal | None:
        if not token or not self._api_token or not hmac.compare_digest(token.encode(), self._api_token.encode()):
            return None
        return Principal("api", "API", "admin", None)

    def csrf_ok(self, principal: Principal, token: str | None) -> bool:
        if principal.session is None:
            return True  # bearer tokens are not sent by browsers on their own
        return bool(token) and hmac.compare_digest(str(token).encode(), principal.session.csrf.encode())

    async def _end_sessions(self, user_name: str, keep: str | None = None) -> None:
        await self._drop([h for h, s in self._sessions.items() if s.user_name == user_name and h != keep])

    async def _drop(self, id_hashes: list[str]) -> None:
        for h in id_hashes:
            self._sessions.pop(h, None)
        await self.repo.delete_sessions(id_hashes)
