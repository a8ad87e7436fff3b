"""systemd's notify protocol (sd_notify(3)), spoken directly: no libsystemd.

The protocol is one datagram per message on the AF_UNIX socket named by
``$NOTIFY_SOCKET`` (a leading ``@`` means the abstract namespace), each
message a few newline-separated ``KEY=value`` lines: ``READY=1``,
``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``. ``$WATCHDOG_USEC`` (valid
only when ``$WATCHDOG_PID`` is unset or ours) is the watchdog timeout;
sd_watchdog_enabled(3) recommends pinging at half of it.

Outside systemd (no ``$NOTIFY_SOCKET``) every call is a cheap no-op.
``Service`` is the box running between its start and its stop, speaking this protocol.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

# The health check the watchdog asks before each ping: None means healthy,
# a string names what is wrong (it goes into STATUS=).
HealthCheck = Callable[[], str | None]

RESTART_EXIT_CODE = 75  # EX_TEMPFAIL: "start me again" (systemd Restart=on-failure, scripts/demo's loop)


class SystemdNotifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if address.startswith("@"):
            self.address = "\0" + address[1:]
        elif address.startswith("/"):
            self.address = address
        elif address:
            log.warning("systemd: unsupported NOTIFY_SOCKET %r, not notifying", address)
        self.watchdog_timeout = _watchdog_timeout(env)
        self._socket: socket.socket | None = None
        self._last_status: str | None = None

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send one message; never raises (a lost notification must not stop the daemon)."""
        if self.address is None:
            return False
        try:
            if self._socket is None:
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._socket.sendto("\n".join(assignments).encode("utf-8"), self.address)
        except OSError as err:
            log.warning("systemd: notify failed: %s", err)
            return False
        return True

    def ready(self, status: str) -> None:
        self._last_status = status
        self.send("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")

    def status(self, status: str) -> None:
        """STATUS= (shown by ``systemctl status``); repeated texts are not resent."""
        if status != self._last_status:
            self._last_status = status
            self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self, status: str = "stopping") -> None:
        self._last_status = status
        self.send("STOPPING=1", f"STATUS={status}")

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def _watchdog_timeout(env: Mapping[str, str]) -> float | None:
    """Seconds from $WATCHDOG_USEC, if the watchdog is meant for this process."""
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        usec = int(env.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None


async def keep_watchdog_fed(notifier: SystemdNotifier, healthy: HealthCheck) -> None:
    """Ping WATCHDOG=1 at half the timeout, but only while ``healthy()`` says so.

    This coroutine runs on the daemon's one event loop: a blocked loop cannot
    run it, so a ping proves the loop turns; ``healthy`` adds the media clock.
    When a ping is withheld systemd kills and restarts the service after
    ``WatchdogSec``.
    """
    timeout = notifier.watchdog_timeout
    if not notifier.enabled or timeout is None:
        return
    interval = timeout / 2
    log.info("systemd watchdog: %.1f s timeout, pinging every %.2f s while healthy", timeout, interval)
    withheld = False
    while True:
        problem = healthy()
        if problem is None:
            notifier.watchdog()
            if withheld:
                log.warning("systemd watchdog: healthy again, pinging")
                withheld = False
        elif not withheld:
            log.error("systemd watchdog: %s, withholding the ping (systemd restarts us after the timeout)", problem)
            notifier.status(f"unhealthy: {problem}")
            withheld = True
        await asyncio.sleep(interval)


async def report_status(
    notifier: SystemdNotifier, refresh: Callable[[], Awaitable[None]], line: Callable[[], str], interval: float
) -> None:
    """Every ``interval`` s: the checks that need I/O (``refresh``), then STATUS= (``line``)."""
    while True:
        await refresh()
        notifier.status(line())
        await asyncio.sleep(interval)


async def wait_until_ready(
    notifier: SystemdNotifier, ready: Callable[[], bool], what: str, wait: float, stopping: asyncio.Event
) -> None:
    """READY=1 waits for ``ready`` (e.g. the SIP registration), at most ``wait`` seconds: a box
    whose PBX is down must still come up (degraded, fault LED on) so its web page can fix it."""
    notifier.status(f"waiting for {what}")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not ready() and loop.time() < deadline and not stopping.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 0.1)
    if not ready():
        log.warning("%s not there after %.0f s; reporting ready, degraded", what, wait)


@dataclass(frozen=True, slots=True)
class Readiness:
    """What the running box tells the person and the service manager that started it."""

    ready_line: Callable[[], str]  # printed once, when every part has started
    status_line: Callable[[], str]  # systemd's STATUS=
    watchdog_problem: Callable[[], str | None]  # what withholds WATCHDOG=1 (None: healthy)
    waits_for: Callable[[], str | None] = lambda: None  # asked once started: READY=1 waits for that ...
    there: Callable[[], bool] = lambda: True  # ... until it is there (the SIP registration) ...
    wait_seconds: float = 0.0  # ... or this long, then degraded


class Service:
    """The box running under a service manager: ``run`` starts the parts, says ready, feeds systemd's watchdog and stops
    them on SIGTERM/SIGINT or after ``restart_soon``; ``exit_code`` is then the process's."""

    def __init__(self) -> None:
        self.notifier = SystemdNotifier()
        self.stopping = asyncio.Event()
        self._watchdog: asyncio.Task[None] | None = None
        self.exit_code = 0  # RESTART_EXIT_CODE: systemd (Restart=on-failure) or scripts/demo start the box again

    def restart_soon(self, delay: float = 0.5) -> None:
        """Stop (after ``delay``, so the answer that asked for it goes out) and exit with
        RESTART_EXIT_CODE, which the service manager answers with a new start."""
        self.exit_code = RESTART_EXIT_CODE
        asyncio.get_running_loop().call_later(delay, self.stopping.set)

    async def run(
        self,
        start: Callable[[], Awaitable[None]],
        stop: Callable[[], Awaitable[None]],
        readiness: Readiness,
        on_usr2: Callable[[], None] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stopping.set)
        await start()
        print(readiness.ready_line(), flush=True)  # noqa: T201 - the one line a person starting the daemon wants
        self._watchdog = asyncio.ensure_future(keep_watchdog_fed(self.notifier, readiness.watchdog_problem))
        if on_usr2 is not None:
            loop.add_signal_handler(signal.SIGUSR2, on_usr2)
        if (what := readiness.waits_for()) is not None:
            await wait_until_ready(self.notifier, readiness.there, what, readiness.wait_seconds, self.stopping)
        if not self.stopping.is_set():
            self.notifier.ready(readiness.status_line())
        await self.stopping.wait()
        log.info("stopping")
        self.notifier.stopping()
        await stop()
        self._watchdog.cancel()
        await asyncio.gather(self._watchdog, return_exceptions=True)
        self.notifier.close()


SYSLOG_PRIORITY = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3, logging.CRITICAL: 2}


class JournalFormatter(logging.Formatter):
    """Log lines for journald's stdout/stderr stream: a ``<N>`` syslog priority
    prefix (sd-daemon(3)) instead of a time stamp, so ``journalctl -p err``
    works and times are not printed twice."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = SYSLOG_PRIORITY.get(record.levelno, 6)
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).splitlines() or [""])


def logging_to_journal(environ: Mapping[str, str] | None = None) -> bool:
    """True when stderr is connected to the journal ($JOURNAL_STREAM names its device:inode)."""
    env = os.environ if environ is None else environ
    stream = env.get("JOURNAL_STREAM", "")
    if not stream:
        return False
    try:
        st = os.fstat(2)
    except OSError:
        return False
    return stream == f"{st.st_dev}:{st.st_ino}"
