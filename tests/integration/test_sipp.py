"""sipp (Debian sip-tester) as an independent caller: RFC 4733 DTMF."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, free_port, running_daemon
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
SCENARIOS = Path(__file__).with_name("sipp")


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("sipp")) as d:
        yield d


def sipp(daemon: Daemon, scenario: str, workdir: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            "sipp",
            f"127.0.0.1:{daemon.sip_port}",
            "-sf",
            str(SCENARIOS / scenario),
            "-i",
            "127.0.0.1",
            "-p",
            str(free_port()),
            "-mp",
            str(free_port()),
            "-s",
            "100",
            "-m",
            "1",
            "-l",
            "1",
            "-nostdin",
            "-timeout",
            "30s",
            "-trace_err",
            "-trace_msg",
            *extra,
        ],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def test_sipp_caller_choosing_team_a_by_rfc4733_lands_in_its_queue(daemon: Daemon, tmp_path: Path) -> None:
    proc = sipp(daemon, "uac_dtmf_rfc4733.xml", tmp_path)
    # the caller in the queue, or sipp ended without getting there (its logs tell why)
    seen = wait_until(
        lambda: daemon.http.get("/api/queues").json() or (proc.poll() is not None and ["sipp ended"]),
        12,
        "the sipp caller in the queue",
    )
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode(errors="replace") + "".join(
        p.read_text() for p in tmp_path.glob("*.log")
    )
    assert [(q["team"], q["caller"]) for q in seen] == [("lvs", "+4930123456")], seen
    # the digit was seen exactly once (sipp's pcap repeats the end packet three times)
    assert daemon.log().count("digit 1") == 1
    # sipp exits on the 200 to its BYE; the flow leaves the queue just after that
    wait_until(
        lambda: (
            not daemon.http.get("/api/queues").json()
            and any(c["outcome"] for c in daemon.http.get("/api/calllog").json())
        ),
        3,
        "the call out of the queue and in the call log",
    )
    log = daemon.http.get("/api/calllog").json()
    assert log[0]["outcome"] == "abandoned" and log[0]["team"] == "lvs"


def test_sipp_caller_cancelling_while_the_box_rings_gets_487_and_leaves_nothing(tmp_path: Path) -> None:
    """With sip.answer_after the box rings before it answers; a caller giving up then sends
    CANCEL: 200 for the CANCEL, 487 for the INVITE, the ACK absorbed, no call left."""
    with running_daemon(tmp_path / "box", config={"sip": {"answer_after": 3}}) as box:
        proc = sipp(box, "uac_cancel.xml", tmp_path)
        _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr.decode(errors="replace") + "".join(
            p.read_text() for p in tmp_path.glob("*.log")
        )
        wait_until(lambda: box.status()["calls"] == 0, 3, "no call left")
        status = box.status()
        assert status["calls"] == 0 and status["lines"][0]["calls"] == 0
        assert status["lines"][0]["responses"].get("487") == 1
        assert "ended: cancelled" in box.log()
        row = box.http.get("/api/calllog").json()[0]
        assert row["caller"] == "+4930999000" and row["outcome"], row
