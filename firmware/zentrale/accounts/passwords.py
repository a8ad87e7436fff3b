"""Password hashing with Argon2id (RFC 9106), off the event loop.

Parameters: OWASP's recommendation for Argon2id -- 19 MiB, 2 passes, one
lane. One lane keeps a login from taking more than one core (the media clock
runs on the event loop's); about 50 ms on a PC, a few hundred on a Raspberry
Pi, which together with the login throttle makes guessing expensive. Hashing
runs on one worker thread (the C code releases the GIL), so a burst of
logins queues up instead of allocating memory per request. Hashes made with
other parameters are re-hashed at the next login.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 200


class Passwords:
    def __init__(self, memory_kib: int = 19456, time_cost: int = 2) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")
        self._dummy: str | None = None

    async def _run(self, fn: object, *args: str) -> object:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)  # type: ignore[arg-type]

    async def hash(self, password: str) -> str:
        return str(await self._run(self._hasher.hash, password))

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when ``password`` matches; an unknown user (``stored`` None) costs the same time."""
        if stored is None:
            if self._dummy is None:
                self._dummy = await self.hash("no such user: same cost as a real check")
            stored = self._dummy

        def check() -> bool:
            try:
                return bool(self._hasher.verify(stored, password))
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return bool(await self._run(check))

    def needs_rehash(self, stored: str) -> bool:
        return self._hasher.check_needs_rehash(stored)

    def close(self) -> None:
        self._executor.shutdown(wait=False)


def check_password(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_LENGTH:
        return f"the password needs at least {MIN_LENGTH} characters"
    if len(password) > MAX_LENGTH:
        return f"the password may have at most {MAX_LENGTH} characters"
    return None
