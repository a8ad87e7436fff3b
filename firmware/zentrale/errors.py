"""The one small error hierarchy of Zentrale.

Drivers convert library errors into these (``raise LineError(...) from err``);
the web layer maps them to HTTP status codes in one place.
"""

from __future__ import annotations


class ZentraleError(Exception):
    """Base of every error Zentrale raises on purpose."""


class ConfigError(ZentraleError):
    """A configuration or mode document is invalid.

    ``source`` names the file, ``path`` the field (dotted), ``problem`` what is wrong.
    """

    def __init__(self, source: str, path: str, problem: str) -> None:
        self.source = source
        self.path = path
        self.problem = problem
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {problem}")


class ModeError(ConfigError):
    """A mode document (Betriebsart) is invalid."""


class LineError(ZentraleError):
    """A line driver failed (socket, serial port, sound card)."""


class CallGone(ZentraleError):
    """Nothing more can be done with the call: the caller hung up, the box hung up on a limit,
    or the caller's line handed it on (docs/design.md, "Words")."""


class NotFound(ZentraleError):
    """The named thing does not exist."""


class Conflict(ZentraleError):
    """The operation conflicts with the current state (e.g. call already taken)."""


class Refused(ZentraleError):
    """The operation is not allowed (policy, permissions)."""


class Invalid(ZentraleError):
    """Input that cannot be used as it is (an upload that is not audio, a bad schedule)."""


class StoreError(ZentraleError):
    """The store could not persist or read data (disk full, corrupt file)."""


class MailError(ZentraleError):
    """An e-mail could not be delivered; ``permanent`` says that retrying cannot help."""

    def __init__(self, reason: str, *, permanent: bool) -> None:
        self.reason = reason
        self.permanent = permanent
        super().__init__(reason)


class Unauthorized(ZentraleError):
    """No valid login (wrong name or password, no session, a wrong token)."""


class TooManyAttempts(ZentraleError):
    """Login attempts throttled; ``retry_after`` says when to try again (seconds)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
