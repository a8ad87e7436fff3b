"""sd_notify(3) details of our own notifier: addresses and the watchdog variables."""

from __future__ import annotations

import logging
import os
import socket

from zentrale.systemd_notify import JournalFormatter, SystemdNotifier, logging_to_journal


def test_outside_systemd_every_call_is_a_no_op() -> None:
    notifier = SystemdNotifier({})
    assert not notifier.enabled
    assert notifier.send("READY=1") is False
    assert notifier.watchdog_timeout is None


def test_an_abstract_socket_address_starts_with_a_nul_byte() -> None:
    name = f"zentrale-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind("\0" + name)
        notifier = SystemdNotifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("ok")
        notifier.status("ok")  # unchanged: not sent again
        notifier.status("degraded")
        notifier.close()
        server.settimeout(1)
        first = server.recv(4096).decode()
        second = server.recv(4096).decode()
    assert first.splitlines()[:2] == ["READY=1", "STATUS=ok"]
    assert second == "STATUS=degraded"


def test_the_watchdog_belongs_to_the_pid_systemd_named() -> None:
    ours = SystemdNotifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": str(os.getpid())})
    assert ours.watchdog_timeout == 10.0
    other = SystemdNotifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "1"})
    assert other.watchdog_timeout is None
    unset = SystemdNotifier({"NOTIFY_SOCKET": "/run/x", "WATCHDOG_USEC": "0"})
    assert unset.watchdog_timeout is None


def test_a_vanished_socket_never_raises() -> None:
    notifier = SystemdNotifier({"NOTIFY_SOCKET": "/nonexistent/notify"})
    assert notifier.enabled
    assert notifier.send("WATCHDOG=1") is False
    notifier.close()


def test_journal_lines_carry_the_syslog_priority() -> None:
    record = logging.LogRecord("zentrale.app", logging.ERROR, __file__, 1, "cannot open %s", ("x",), None)
    assert JournalFormatter().format(record) == "<3>zentrale.app: cannot open x"
    st = os.fstat(2)
    assert logging_to_journal({"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"})
    assert not logging_to_journal({"JOURNAL_STREAM": "1:2"})
    assert not logging_to_journal({})
