"""Client for ``pjsua_phone.py``: a real SIP phone in a child process.

Typical use in a test::

    with Phone.start(codecs="PCMU", record_dir=tmp_path) as callee:
        caller = Phone.start()
        call = caller.call(f"sip:100@127.0.0.1:{callee.sip_port}", record=tmp_path / "a.wav")
        caller.wait_event("media_active", call=call)
        caller.dtmf(call, "1")
        callee.wait_event("dtmf_received", digit="1")
        caller.hangup(call)
        caller.wait_event("recording_done", call=call)

The API is synchronous; an async test runs it with ``asyncio.to_thread``.
Every started phone is stopped by ``stop()``, by leaving the ``with`` block,
by the ``sip_phones`` fixture (``tests/harness/peers/fixtures.py``) or, as a last
resort, at interpreter exit; a phone whose stdin closes quits by itself, so
even a killed test run leaves no phone behind.

Event names (all carry ``event`` and ``t`` = ``time.monotonic()``):
``ready`` (sip_port, uri, pid), ``ok``/``error`` (answers to commands; ``error``
also for failures without a command), ``registered`` (code, reason,
expiration, ok), ``incoming`` (call, remote_uri, display_name, user, local_uri,
request_uri, sip_call_id, record, invite), ``state`` (call, state, code,
reason), ``media`` (call, status: active/local_hold/remote_hold/none),
``media_active`` (call), ``dtmf_received`` (call, digit, method,
duration_ms), ``play_done`` (call, path), ``disconnected`` (call, code,
reason, duration, total_duration), ``recording_done`` (call, path, written),
``transfer_request`` (call, uri, accepted, new_call, record: a REFER to our
call; accepted, the phone calls ``uri`` as ``new_call``), ``mwi`` (state,
waiting: "yes"/"no", body, subscription_state: a message-summary NOTIFY to
a phone started with ``mwi=True``, ``register`` and ``domain``: the subscription
goes to USER@DOMAIN), ``stopped``.

``wait_event`` searches the whole history unless given ``since=phone.mark()``
taken before the action: the second call's ``incoming`` needs a mark, or the
first call's event is returned again.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

PHONE_PROGRAM = Path(__file__).with_name("pjsua_phone.py")
PYTHON_ENV_VAR = "ZENTRALE_PJSUA_PYTHON"

Event = dict[str, Any]

_live_phones: weakref.WeakSet[Phone] = weakref.WeakSet()


class PhoneError(RuntimeError):
    """The phone process failed, exited, or answered a command with ``error``."""


class PhoneTimeout(PhoneError, TimeoutError):
    """An awaited event did not arrive in time."""


def _cli_flags(options: dict[str, Any]) -> list[str]:
    """Turn ``auto_answer="486"`` into ``["--auto-answer", "486"]``; True = bare flag."""
    flags: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, (list, tuple)):
            flags += [flag, ",".join(str(v) for v in value)]
        else:
            flags += [flag, str(value)]
    return flags


def _matches(event: Event, name: str, match: dict[str, Any]) -> bool:
    if event.get("event") != name:
        return False
    for key, expected in match.items():
        value = event.get(key)
        if callable(expected):
            if not expected(value):
                return False
        elif value != expected:
            return False
    return True


class Phone:
    """Handle to one running ``pjsua_phone.py`` process (one SIP user agent)."""

    def __init__(self, proc: subprocess.Popen[bytes], log_path: Path, name: str, own_log: bool = False) -> None:
        self.proc = proc
        self.log_path = log_path
        self._own_log = own_log  # a temp file we made: removed after a clean exit
        self.name = name
        self.events: list[Event] = []
        self._cond = threading.Condition()
        self._req = itertools.count(1)
        self._stdin_lock = threading.Lock()
        self._reader = threading.Thread(target=self._read_events, name=f"{name}-events", daemon=True)
        self._reader.start()
        self.sip_port = 0
        self.uri = ""

    # ------------------------------------------------------------- lifecycle
    @classmethod
    def start(
        cls,
        *,
        python: str | None = None,
        name: str = "phone",
        ready_timeout: float = 15.0,
        stderr_path: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Phone:
        """Spawn a phone and wait for ``ready``.

        ``options`` are the program's command line options with ``_`` for ``-``
        (``bind_ip``, ``port``, ``transport``, ``codecs``, ``register``, ``user``,
        ``password``, ``domain``, ``auto_answer``, ``answer_delay``,
        ``record_dir``, ``play``, ``play_loop``, ``rtp_port_start``, ``log_file``,
        ...). ``python`` defaults to ``$ZENTRALE_PJSUA_PYTHON`` or ``sys.executable``.
        """
        interpreter = python or os.environ.get(PYTHON_ENV_VAR) or sys.executable
        own_log = stderr_path is None
        if stderr_path is None:
            fd, tmp = tempfile.mkstemp(prefix=f"pjsua-{name}-", suffix=".log")
            os.close(fd)
            stderr_path = tmp
        log_path = Path(stderr_path)
        with open(log_path, "ab") as stderr:
            proc = subprocess.Popen(
                [interpreter, "-u", str(PHONE_PROGRAM), *_cli_flags(options)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                # Own process group: a Ctrl-C in the test terminal reaches the
                # test, which then stops the phone in order.
                start_new_session=True,
            )
        # a phone is a device of its own: on a machine busy with parallel tests it gets the
        # box's priority (tests/harness/daemon.py), so what it records is what the box sent
        with contextlib.suppress(PermissionError):
            os.setpriority(os.PRIO_PROCESS, proc.pid, -5)
        phone = cls(proc, log_path, name, own_log)
        _live_phones.add(phone)
        try:
            ready = phone.wait_event("ready", timeout=ready_timeout)
        except PhoneError as err:
            phone.stop()
            reasons = [e.get("message") for e in phone.find_events("error")]
            raise PhoneError(f"{name} did not start: {reasons or err}") from err
        phone.sip_port = int(ready["sip_port"])
        phone.uri = str(ready["uri"])
        return phone

    def stop(self, timeout: float = 5.0) -> None:
        """Quit politely (hang up, finish recordings), then kill. Never raises.

        Safe to call more than once and from any thread.
        """
        _live_phones.discard(self)
        if self.proc.poll() is None:
            try:
                self._send({"cmd": "quit"})
            except (OSError, ValueError):
                pass  # stdin already closed or the process already gone
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._release()

    def kill(self) -> None:
        """Stop at once, without hanging up (simulates a phone losing power)."""
        _live_phones.discard(self)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)
        self._release()

    def _release(self) -> None:
        # Close our pipe ends: an unclosed pipe is a ResourceWarning, which
        # the project's pytest settings turn into an error.
        self._reader.join(timeout=2)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self._own_log and self.proc.returncode == 0:
            self.log_path.unlink(missing_ok=True)

    def __enter__(self) -> Phone:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stderr_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # --------------------------------------------------------------- events
    def _read_events(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                event = {
                    "event": "garbage",
                    "t": time.monotonic(),
                    "line": raw.decode(errors="replace"),
                }
            with self._cond:
                self.events.append(event)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()  # wake waiters: the process has gone

    def mark(self) -> int:
        """Index of the next event; pass as ``since`` to wait for newer events only."""
        with self._cond:
            return len(self.events)

    def find_events(self, name: str, since: int = 0, **match: Any) -> list[Event]:
        """All events so far named ``name`` whose fields equal ``match``."""
        with self._cond:
            return [e for e in self.events[since:] if _matches(e, name, match)]

    def wait_event(self, name: str, timeout: float = 10.0, since: int = 0, **match: Any) -> Event:
        """First event at index >= ``since`` named ``name`` matching ``match``.

        A match value may be a predicate, e.g. ``code=lambda c: c >= 400``.
        Raises PhoneTimeout after ``timeout`` seconds, PhoneError at once if the
        process has exited without such an event.
        """
        return self._wait(lambda e: _matches(e, name, match), timeout, since, f"{name} {match}")

    def _wait(self, accept: Callable[[Event], bool], timeout: float, since: int, wanted: str) -> Event:
        deadline = time.monotonic() + timeout
        index = since
        with self._cond:
            while True:
                for event in self.events[index:]:
                    if accept(event):
                        return event
                index = len(self.events)
                if not self._reader.is_alive():
                    raise PhoneError(
                        f"{self.name} exited (rc={self.proc.poll()}) before {wanted}; "
                        f"stderr tail:\n{self.stderr_tail()}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    recent = [e.get("event") for e in self.events[-15:]]
                    raise PhoneTimeout(f"{self.name}: no {wanted} within {timeout}s; last events {recent}")
                self._cond.wait(min(remaining, 0.5))

    # ------------------------------------------------------------- commands
    def _send(self, command: dict[str, Any]) -> None:
        line = (json.dumps(command) + "\n").encode()
        with self._stdin_lock:
            if self.proc.stdin is None or self.proc.stdin.closed:
                raise OSError(f"{self.name}: stdin closed (phone stopped)")
            self.proc.stdin.write(line)
            self.proc.stdin.flush()

    def command(self, cmd: str, timeout: float = 10.0, **fields: Any) -> Event:
        """Send one command and return its ``ok`` event; raise PhoneError on ``error``."""
        req = next(self._req)
        since = self.mark()
        try:
            self._send({"cmd": cmd, "req": req, **fields})
        except OSError as err:
            raise PhoneError(f"{self.name} is not running: {err}") from err
        answer = self._wait(
            lambda e: e.get("req") == req and e.get("event") in ("ok", "error"),
            timeout,
            since,
            f"answer to {cmd}",
        )
        if answer["event"] == "error":
            raise PhoneError(f"{self.name} {cmd}: {answer.get('message')}")
        return answer

    def call(
        self,
        uri: str,
        *,
        record: str | os.PathLike[str] | None = None,
        play: str | os.PathLike[str] | None = None,
        play_loop: bool = False,
        headers: dict[str, str] | None = None,
    ) -> int:
        """Start an outgoing call; returns the call id used in events."""
        answer = self.command(
            "call",
            uri=uri,
            record=str(record) if record else None,
            play=str(play) if play else None,
            play_loop=play_loop,
            headers=headers or {},
        )
        return int(answer["call"])

    def answer(self, call: int, code: int = 200) -> None:
        self.command("answer", call=call, code=code)

    def hangup(self, call: int, code: int | None = None) -> None:
        self.command("hangup", call=call, code=code)

    def dtmf(self, call: int, digits: str, method: str = "rfc2833", duration_ms: int = 160) -> None:
        """Send DTMF: ``method`` is ``rfc2833`` (RFC 4733 events) or ``info`` (SIP INFO)."""
        self.command("dtmf", call=call, digits=digits, method=method, duration_ms=duration_ms)

    def play(self, call: int, file: str | os.PathLike[str] | None, loop: bool = False) -> None:
        """Start or replace the WAV transmitted into the call (None = silence)."""
        self.command("play", call=call, file=str(file) if file else None, loop=loop)

    def hold(self, call: int) -> None:
        self.command("hold", call=call)

    def unhold(self, call: int) -> None:
        self.command("unhold", call=call)

    def transfer(self, call: int, uri: str) -> None:
        """Ask the far end to transfer the call to ``uri`` (REFER)."""
        self.command("transfer", call=call, uri=uri)

    def digits_received(self, call: int | None = None) -> str:
        """All DTMF digits received so far (on one call or on all)."""
        match = {} if call is None else {"call": call}
        return "".join(e["digit"] for e in self.find_events("dtmf_received", **match))


@contextmanager
def phone_pool() -> Iterator[Callable[..., Phone]]:
    """``with phone_pool() as start: a = start(name="a")`` — all stopped on exit."""
    phones: list[Phone] = []

    def start(**options: Any) -> Phone:
        phone = Phone.start(**options)
        phones.append(phone)
        return phone

    try:
        yield start
    finally:
        for phone in phones:
            phone.stop()


@atexit.register
def _stop_leftover_phones() -> None:
    for phone in list(_live_phones):
        phone.stop(timeout=2)
