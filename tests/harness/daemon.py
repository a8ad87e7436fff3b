"""Start the real daemon (``zentrale serve``) in its own process for a test."""

from __future__ import annotations

import contextlib
import functools
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.harness.waits import wait_until

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "firmware" / "zentrale" / "demo"


def free_port(kind: int = socket.SOCK_DGRAM, avoid: Iterable[int] = ()) -> int:
    """A port free for both UDP and TCP on 127.0.0.1, and not one of ``avoid`` (ports
    already chosen for the same daemon but not bound yet)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port in avoid:
            continue
        try:
            with (
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t,
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u,
            ):
                t.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no free port")


# systemd/zentrale.service runs the daemon at Nice=-5 and its event loop -- the 20 ms media
# clock -- real-time (SCHED_RR, reset on fork: its other threads and programs run normal), so
# the clock comes before the appliance's other work. Tests run it the same way (when they may:
# as root), so that on a machine busy with parallel tests and other people's work a call's audio
# keeps its timing; the lowest real-time priority, below the phones' and the kernel's threads.
APPLIANCE_NICE = -5
APPLIANCE_RT_PRIORITY = 1

# The interpreter the box runs on: the tests' own, or another one with the firmware installed
# (scripts/test runs a set of end-to-end tests with the box on Python 3.13, the Python of the
# trixie image, while the phones -- pjsua2 has no 3.13 wheel -- stay on this one).
DAEMON_PYTHON = os.environ.get("ZENTRALE_DAEMON_PYTHON") or sys.executable


@functools.cache
def daemon_python_version() -> str:
    """What the box's ready line must name (``Python 3.13.0``): the box runs where it was told."""
    if sys.executable == DAEMON_PYTHON:
        return platform.python_version()
    out = subprocess.run([DAEMON_PYTHON, "-c", "import platform; print(platform.python_version())"],
                         capture_output=True, text=True, check=True, timeout=30)  # fmt: skip
    return out.stdout.strip()


def raise_priority(pid: int, nice: int = APPLIANCE_NICE) -> None:
    """Give the just-started process ``pid`` the appliance's priority (its threads, started
    later, inherit it); without the right to (not root) it keeps the test's."""
    try:
        os.setpriority(os.PRIO_PROCESS, pid, nice)
    except PermissionError:
        pass


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    sip_port: int
    http_port: int
    data_dir: Path
    log_path: Path
    config_path: Path
    _client: httpx.Client | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        return f"sip:100@127.0.0.1:{self.sip_port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def auth_headers(self) -> dict[str, str]:
        """The local-tool login: the API token the daemon keeps in its data folder."""
        token = (self.data_dir / "api-token").read_text(encoding="utf-8").strip()
        return {"Authorization": f"Bearer {token}"}

    @property
    def http(self) -> httpx.Client:
        """An API client logged in with the API token (admin rights)."""
        if self._client is None:
            self._client = httpx.Client(base_url=self.base_url, timeout=10, headers=self.auth_headers)
        return self._client

    def setup_token(self) -> str:
        return (self.data_dir / "setup-token").read_text(encoding="utf-8").strip()

    def status(self) -> dict[str, Any]:
        return self.http.get("/status").json()

    def responses_sent(self) -> dict[str, int]:
        return dict(self.status()["lines"][0]["responses"])

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)


def _inherited_env() -> dict[str, str]:
    """Our environment, minus systemd's notify variables (a test run under systemd must not leak them)."""
    return {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}


def start_daemon(
    workdir: Path,
    *,
    mode: dict[str, Any] | None = None,
    config: dict[str, Any] | None = None,
    data_dir: Path | None = None,
    sip_port: int | None = None,
    http_port: int | None = None,
    timeout: float = 60,  # a deadline, not a figure: on two cores shared with other work, importing
    # the box alone took 15-20 s at a load of 12 (a start on a quiet machine: about 2 s)
    env: dict[str, str] | None = None,
    nice: int | None = APPLIANCE_NICE,
) -> Daemon:
    """The daemon on free ports with the demo config (changed by ``config``) and ``mode``;
    ready when it logged "ready:". ``nice=None``: at the test's own priority (a daemon that
    a test loads on purpose must not take the CPU from the other tests' calls).

    A free port is free when it is picked, not necessarily when the daemon binds it: parallel
    workers and other programs take ports meanwhile. A daemon that found a port it was not
    given taken is started again on new ones (three times at most)."""
    attempts = 1 if sip_port and http_port else 3
    for attempt in range(1, attempts + 1):
        try:
            return _start(workdir, mode, config, data_dir, sip_port, http_port, timeout, env, nice)
        except PortTaken:
            if attempt == attempts:
                raise
    raise AssertionError("not reached")


class PortTaken(RuntimeError):
    """The daemon could not bind a port: another process took it after it was picked."""


def _start(
    workdir: Path,
    mode: dict[str, Any] | None,
    config: dict[str, Any] | None,
    data_dir: Path | None,
    sip_port: int | None,
    http_port: int | None,
    timeout: float,
    env: dict[str, str] | None,
    nice: int | None,
) -> Daemon:
    workdir.mkdir(parents=True, exist_ok=True)
    data = data_dir or workdir / "data"
    # the ports of one daemon must differ: SIP (UDP and TCP), HTTP, and a TLS port in ``config``
    chosen = {int((config or {}).get("sip", {}).get("tls", {}).get("port") or 0)}
    sip_port = sip_port or free_port(avoid=chosen)
    http_port = http_port or free_port(socket.SOCK_STREAM, avoid=chosen | {sip_port})
    cfg: dict[str, Any] = yaml.safe_load((DEMO / "config.yaml").read_text(encoding="utf-8"))
    cfg["data_dir"] = str(data)
    cfg["sip"]["bind"] = "127.0.0.1"
    cfg["sip"]["port"] = sip_port
    cfg["http"]["bind"] = "127.0.0.1"
    cfg["http"]["port"] = http_port
    if nice == APPLIANCE_NICE:  # the appliance's scheduling (a test's own ``service`` settings win)
        cfg.setdefault("service", {})["realtime_priority"] = APPLIANCE_RT_PRIORITY
    for key, value in (config or {}).items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    config_path = workdir / "config.yaml"
    config_path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    if mode is not None:
        (data / "modes").mkdir(parents=True, exist_ok=True)
        (data / "modes" / "hotline.yaml").write_text(yaml.safe_dump(mode, allow_unicode=True), encoding="utf-8")
    log_path = workdir / f"daemon-{int(time.time() * 1000)}.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen(
        [DAEMON_PYTHON, "-m", "zentrale", "serve", "--config", str(config_path)],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        env={**_inherited_env(), "PYTHONUNBUFFERED": "1", **(env or {})},
    )
    log_file.close()  # the child has its own copy
    if nice is not None:
        raise_priority(proc.pid, nice)
    daemon = Daemon(proc, sip_port, http_port, data, log_path, config_path)

    def ready() -> bool:
        if proc.poll() is not None:
            log = daemon.log()
            kind = PortTaken if "address already in use" in log else RuntimeError
            raise kind(f"daemon exited with {proc.returncode}:\n{log}")
        return "ready:" in daemon.log()

    try:
        wait_until(ready, timeout, "the daemon to log 'ready:'")
    except AssertionError:
        daemon.stop()
        raise RuntimeError(f"daemon not ready after {timeout} s:\n{daemon.log()}") from None
    line = ready_line(daemon.log()) or ""
    if not line.endswith(f"Python {daemon_python_version()}"):
        daemon.stop()
        raise AssertionError(f"the box runs on another Python than {DAEMON_PYTHON}: {line}")
    return daemon


def ready_line(log: str) -> str | None:
    m = re.search(r"^Zentrale .* ready: .*$", log, re.MULTILINE)
    return m.group(0) if m else None


@contextlib.contextmanager
def running_daemon(workdir: Path, **kw: Any):  # type: ignore[no-untyped-def]
    daemon = start_daemon(workdir, **kw)
    try:
        yield daemon
    finally:
        daemon.stop()
