"""sipp (Debian sip-tester) as an independent caller: RFC 4733 DTMF."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.daemon import Daemon, free_port, running_daemon

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
    seen: list[dict[str, object]] = []
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline and proc.poll() is None:
        queue = daemon.http.get("/api/queues").json()
        if queue:
            seen = queue
            break
        time.sleep(0.1)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr.decode(errors="replace") + "".join(
        p.read_text() for p in tmp_path.glob("*.log")
    )
    assert [(q["team"], q["caller"]) for q in seen] == [("lvs", "+4930123456")]
    # the digit was seen exactly once (sipp's pcap repeats the end packet three times)
    assert daemon.log().count("digit 1") == 1
    # sipp exits on the 200 to its BYE; the flow leaves the queue just after that
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (
        daemon.http.get("/api/queues").json() or not [c for c in daemon.http.get("/api/calllog").json() if c["outcome"]]
    ):
        time.sleep(0.05)
    assert daemon.http.get("/api/queues").json() == []
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
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and box.status()["calls"]:
            time.sleep(0.05)
        status = box.status()
        assert status["calls"] == 0 and status["lines"][0]["calls"] == 0
        assert status["lines"][0]["responses"].get("487") == 1
        assert "ended: cancelled" in box.log()
        row = box.http.get("/api/calllog").json()[0]
        assert row["caller"] == "+4930999000" and row["outcome"], row
