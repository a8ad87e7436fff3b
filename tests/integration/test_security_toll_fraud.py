"""No toll fraud: agents cannot log in with premium or international numbers,
and no request from outside (REFER, Refer-To, Diversion, a 3xx from an
agent's phone) makes the box dial anywhere. A "trap" socket stands for the
expensive destination: it must never receive a packet."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.harness.audio import prompt_seconds
from tests.harness.daemon import Daemon, running_daemon
from tests.harness.modes import fast_mode
from tests.harness.peers.phone import Phone
from tests.harness.sip_client import request, timed_call
from tests.harness.waits import wait_until

pytestmark = pytest.mark.peers
TRAP = "127.0.0.99"  # where a premium-rate gateway would be
TEAMS = [
    {"id": "lvs", "name": "LVS", "distribution": "pull", "ring_timeout": 5, "wrap_up": 0,
     "allowed_numbers": ["^[0-9]{2,4}$", "**62x", "sip:*@127.0.0.7"]},
    {"id": "sap", "name": "SAP", "distribution": "pull", "ring_timeout": 5, "wrap_up": 0},
    {"id": "pc", "name": "PC", "distribution": "auto", "ring_timeout": 5, "wrap_up": 0},
]  # fmt: skip


class Trap:
    """A UDP socket that records every packet sent to it."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((TRAP, 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop:
            try:
                self.packets.append(self.sock.recv(65536))
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self.sock.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    mode = fast_mode()
    mode["nodes"]["queue_lvs"]["hold"] = [{"announcement": "hold_notice"}, {"music": "music_a", "seconds": 60}]
    with running_daemon(tmp_path_factory.mktemp("toll"), mode=mode, config={"teams": TEAMS}) as d:
        for agent_id, teams in (("mallory", ["lvs"]), ("pete", ["pc"])):
            assert d.http.put(f"/api/agents/{agent_id}", json={"name": agent_id, "teams": teams}).status_code == 200
        yield d


@pytest.fixture
def trap() -> Iterator[Trap]:
    t = Trap()
    yield t
    t.close()


@pytest.mark.parametrize(
    ("agent", "number"),
    [
        ("mallory", "09001234567"), ("mallory", "+441234567890"), ("mallory", "0044 20 7946 0000"),
        ("mallory", "sip:09001234567@127.0.0.1"), ("mallory", "sip:anna@vpn.example"),
        ("pete", "09001234567"), ("pete", "+441234567890"), ("pete", "sip:+44123@192.168.1.1"),
    ],
)  # fmt: skip
def test_an_agent_logging_in_with_a_premium_or_international_number_is_refused_and_it_is_logged(
    daemon: Daemon, agent: str, number: str
) -> None:
    r = daemon.http.post(f"/api/agents/{agent}/login", json={"number": number})
    assert r.status_code == 403, r.text
    assert "not a number agents of" in r.json()["error"]
    assert daemon.http.get(f"/api/agents/{agent}").json()["state"] == "logged_out"
    audit = daemon.http.get("/api/audit").json()
    assert audit[0]["action"] == "agent.number_refused" and agent in audit[0]["detail"]
    assert f"agent {agent} refused number" in daemon.log()
    # nor as the default number
    r = daemon.http.put(f"/api/agents/{agent}", json={"name": agent, "teams": ["lvs"], "default_number": number})
    assert r.status_code == 403


def test_numbers_the_admin_allowed_for_the_team_log_in(daemon: Daemon) -> None:
    for number in ("2001", "**623", "sip:home@127.0.0.7:5080"):
        r = daemon.http.post("/api/agents/mallory/login", json={"number": number})
        assert r.status_code == 200, (number, r.text)
        daemon.http.post("/api/agents/mallory/logout")


def test_refer_diversion_and_history_info_from_outside_make_the_box_dial_nothing(
    daemon: Daemon, sip_phones: Callable[..., Phone], trap: Trap
) -> None:
    box = ("127.0.0.1", daemon.sip_port)
    premium = f"<sip:09001234567@{TRAP}:{trap.port}>"
    # REFER outside a dialog: 403, not 405
    answer = request("REFER", "100", box, "127.0.0.1", headers={"Refer-To": premium, "Referred-By": "<sip:x@y>"})
    assert answer is not None and answer.status == 403
    # INVITE claiming a diversion: answered like any call; the headers route nothing
    status, _ = timed_call(box, "127.0.0.1")
    assert status == 200
    tricks = {"Diversion": f"{premium};reason=unconditional", "History-Info": f"{premium};index=1"}
    answer = request("INVITE", "100", box, "127.0.0.1", sdp=True, headers=tricks)
    assert answer is not None and answer.status == 200
    # REFER inside a call from a real phone (blind transfer attempt)
    caller = sip_phones(name="referrer")
    call = caller.call(daemon.uri)
    caller.wait_event("media_active", call=call, timeout=5)
    caller.transfer(call, f"sip:09001234567@{TRAP}:{trap.port}")
    wait_until(lambda: "refused REFER to" in daemon.log(), 5, "the REFER refused")
    time.sleep(1.0)
    assert daemon.http.get("/api/calls").json()  # the call goes on, untransferred
    caller.hangup(call)
    time.sleep(1.0)
    assert trap.packets == []
    assert daemon.log().count("refused REFER") == 2


def test_a_3xx_redirect_from_an_agents_phone_is_not_followed(
    daemon: Daemon, sip_phones: Callable[..., Phone], trap: Trap, tmp_path: Path
) -> None:
    # the "agent" answers every INVITE with 302 to the premium number
    uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    uas.bind(("127.0.0.7", 0))
    uas.settimeout(0.2)
    invites: list[bytes] = []
    stop = threading.Event()

    def redirect() -> None:
        while not stop.is_set():
            try:
                data, addr = uas.recvfrom(65536)
            except TimeoutError:
                continue
            if not data.startswith(b"INVITE"):
                continue
            invites.append(data)
            head = data.split(b"\r\n\r\n")[0].decode()
            keep = [line for line in head.split("\r\n")[1:] if re.match(r"(?i)(via|from|to|call-id|cseq):", line)]
            keep = [line + ";tag=redir" if line.lower().startswith("to:") else line for line in keep]
            reply = ["SIP/2.0 302 Moved Temporarily", *keep, f"Contact: <sip:09001234567@{TRAP}:{trap.port}>",
                     "Content-Length: 0"]  # fmt: skip
            uas.sendto(("\r\n".join(reply) + "\r\n\r\n").encode(), addr)

    thread = threading.Thread(target=redirect, daemon=True)
    thread.start()
    try:
        port = uas.getsockname()[1]
        r = daemon.http.post("/api/agents/mallory/login", json={"number": f"sip:redir@127.0.0.7:{port}"})
        assert r.status_code == 200, r.text
        caller = sip_phones(name="waiting")
        call = caller.call(daemon.uri)
        caller.wait_event("media_active", call=call, timeout=5)
        time.sleep(prompt_seconds("greeting") + 1.0)
        caller.dtmf(call, "1")
        entry = wait_until(lambda: daemon.http.get("/api/queues", params={"team": "lvs"}).json(), 5, "queue")[0]
        r = daemon.http.post(f"/api/queues/{entry['entry_id']}/pull", json={"agent": "mallory", "wait": True},
                             timeout=20)  # fmt: skip
        assert r.json()["result"] != "answered"
        assert len(invites) == 1
        time.sleep(1.0)
        assert trap.packets == []
        assert "302 redirect to" in daemon.log() and "ignored" in daemon.log()
        caller.hangup(call)
        daemon.http.post("/api/agents/mallory/logout")
    finally:
        stop.set()
        thread.join(2)
        uas.close()
