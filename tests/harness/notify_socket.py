"""A fake systemd: the datagram socket ``$NOTIFY_SOCKET`` names, recording what arrives."""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Notification:
    at: float  # time.monotonic() on arrival
    fields: dict[str, str]


class NotifySocket:
    def __init__(self) -> None:
        # sockaddr_un holds 108 bytes: a short folder, not pytest's long tmp_path
        self.folder = Path(tempfile.mkdtemp(prefix="zn-"))
        self.path = self.folder / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.received: list[Notification] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._receive, name="fake-systemd", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            with self._lock:
                self.received.append(Notification(time.monotonic(), fields))

    def env(self, watchdog_seconds: float | None = None) -> dict[str, str]:
        env = {"NOTIFY_SOCKET": str(self.path)}
        if watchdog_seconds is not None:
            env["WATCHDOG_USEC"] = str(int(watchdog_seconds * 1_000_000))
        return env

    def messages(self) -> list[Notification]:
        with self._lock:
            return list(self.received)

    def with_field(self, key: str, value: str | None = None) -> list[Notification]:
        return [n for n in self.messages() if key in n.fields and (value is None or n.fields[key] == value)]

    def pings(self, since: float = 0.0, until: float = float("inf")) -> list[float]:
        return [n.at for n in self.with_field("WATCHDOG", "1") if since <= n.at < until]

    def wait_for(self, key: str, value: str | None = None, timeout: float = 20) -> Notification:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.with_field(key, value)
            if found:
                return found[0]
            time.sleep(0.02)
        raise AssertionError(f"no {key}={value or '*'} within {timeout} s; got {self.messages()}")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@contextlib.contextmanager
def notify_socket() -> Iterator[NotifySocket]:
    fake = NotifySocket()
    try:
        yield fake
    finally:
        fake.close()
