"""Password hashing with Argon2id (RFC 9106), off the event loop.

Parameters: 64 MiB, 3 passes, one lane. One lane keeps a login from taking
more than one core (the media clock runs on another); 64 MiB and 3 passes
cost about 0.1 s on a PC and ~0.5 s on a Raspberry Pi 4, which is what makes
guessing expensive. Hashing runs on one worker thread, so a burst of logins
queues up instead of allocating 64 MiB per request.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_LENGTH = 8
MAX_LENGTH = 200


class Passwords:
    def __init__(self, memory_kib: int = 65536, time_cost: int = 3) -> None:
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
