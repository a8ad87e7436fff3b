"""The box's message-summary subscriptions on the wire (RFC 3842 over RFC 6665), driven by a
bare SIP client on a real socket: what it refuses and why, the NOTIFY after every SUBSCRIBE,
refresh, unsubscribe, and the per-source bound (issue 17)."""

from __future__ import annotations

import re
import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from tests.harness.daemon import Daemon, running_daemon
from tests.harness.webclient import first_admin

HOST = "127.0.0.23"


@dataclass
class Message:
    raw: str

    @property
    def first(self) -> str:
        return self.raw.split("\r\n", 1)[0]

    @property
    def status(self) -> int:
        return int(self.first.split()[1]) if self.first.startswith("SIP/2.0") else 0

    def header(self, name: str) -> str:
        m = re.search(rf"^{name}:\s*(.*)$", self.raw.split("\r\n\r\n", 1)[0], re.MULTILINE | re.IGNORECASE)
        return m.group(1).strip() if m else ""

    @property
    def body(self) -> str:
        return self.raw.split("\r\n\r\n", 1)[1]


@dataclass
class Subscriber:
    """One subscription's dialog from the phone's side: sends SUBSCRIBEs, answers NOTIFYs 200."""

    box: Daemon
    account: str
    sock: socket.socket
    call_id: str = field(default_factory=lambda: secrets.token_hex(8))
    tag: str = field(default_factory=lambda: secrets.token_hex(4))
    cseq: int = 0
    remote_tag: str = ""

    def subscribe(self, expires: int | None = 600, event: str = "message-summary") -> Message:
        self.cseq += 1
        port = self.sock.getsockname()[1]
        to = f"<sip:{self.account}@127.0.0.1>" + (f";tag={self.remote_tag}" if self.remote_tag else "")
        lines = [
            f"SUBSCRIBE sip:{self.account}@127.0.0.1:{self.box.sip_port} SIP/2.0",
            f"Via: SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK{secrets.token_hex(6)};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.account}@127.0.0.1>;tag={self.tag}",
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {self.cseq} SUBSCRIBE",
            f"Contact: <sip:{self.account}@{HOST}:{port}>",
            f"Event: {event}",
            "Accept: application/simple-message-summary",
            *([f"Expires: {expires}"] if expires is not None else []),
            "Content-Length: 0",
        ]
        self.sock.sendto(("\r\n".join(lines) + "\r\n\r\n").encode(), ("127.0.0.1", self.box.sip_port))
        answer = self.next(lambda m: m.status >= 200 and m.header("CSeq") == f"{self.cseq} SUBSCRIBE")
        if answer.status == 200 and not self.remote_tag:
            self.remote_tag = re.search(r"tag=([^;>\s]+)", answer.header("To")).group(1)  # type: ignore[union-attr]
        return answer

    def notify(self) -> Message:
        return self.next(lambda m: m.first.startswith("NOTIFY") and m.header("Call-ID") == self.call_id)

    def next(self, wanted: object) -> Message:
        while True:
            data, addr = self.sock.recvfrom(65535)
            message = Message(data.decode(errors="replace"))
            if message.first.startswith("NOTIFY"):  # answer it, as a phone does (RFC 6665 §4.1.3)
                head = message.raw.split("\r\n\r\n", 1)[0].split("\r\n")
                keep = [h for h in head[1:] if h.split(":", 1)[0].lower() in ("via", "from", "to", "call-id", "cseq")]
                self.sock.sendto(
                    ("\r\n".join(["SIP/2.0 200 OK", *keep, "Content-Length: 0"]) + "\r\n\r\n").encode(), addr
                )
            if wanted(message):  # type: ignore[operator]
                return message


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    config = {"teams": [{"id": t, "name": t.upper()} for t in ("lvs", "sap", "pc")]}
    with running_daemon(tmp_path_factory.mktemp("mwi"), config=config) as daemon:
        first_admin(daemon)
        r = daemon.http.put("/api/agents/anna", json={"name": "Anna", "teams": ["lvs"], "default_number": "201"})
        assert r.status_code == 200, r.text
        yield daemon


@pytest.fixture
def sock() -> Iterator[socket.socket]:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((HOST, 0))
    s.settimeout(5)
    yield s
    s.close()


def test_a_subscription_the_box_cannot_serve_is_refused_with_the_reason(box: Daemon, sock: socket.socket) -> None:
    presence = Subscriber(box, "201", sock).subscribe(event="presence")
    assert presence.status == 489 and presence.header("Allow-Events") == "message-summary"
    brief = Subscriber(box, "201", sock).subscribe(expires=30)
    assert brief.status == 423 and brief.header("Min-Expires") == "60"
    nobody = Subscriber(box, "555", sock).subscribe()
    assert nobody.status == 404


def test_subscribe_refresh_and_unsubscribe_each_get_their_notify(box: Daemon, sock: socket.socket) -> None:
    sub = Subscriber(box, "201", sock)
    ok = sub.subscribe(expires=7200)
    assert ok.status == 200 and ok.header("Expires") == "3600"  # shortened to the box's longest
    first = sub.notify()
    assert first.header("Event") == "message-summary"
    assert first.header("Subscription-State").startswith("active;expires=")
    assert first.header("Content-Type") == "application/simple-message-summary"
    assert first.body.startswith("Messages-Waiting: no\r\n") and "Voice-Message: 0/0" in first.body
    refreshed = sub.subscribe(expires=120)
    assert refreshed.status == 200 and refreshed.header("Expires") == "120"
    assert sub.notify().header("Subscription-State") in ("active;expires=120", "active;expires=119")
    ended = sub.subscribe(expires=0)
    assert ended.status == 200
    assert sub.notify().header("Subscription-State") == "terminated;reason=timeout"
    assert sub.subscribe(expires=60).status == 481  # the dialog is gone
    assert box.status()["lines"][0]["tables"]["subscriptions"]["in_use"] == 0


def test_one_source_holds_at_most_its_share_and_is_not_banned_for_asking(box: Daemon, sock: socket.socket) -> None:
    held = [Subscriber(box, "201", sock) for _ in range(8)]
    for sub in held:
        assert sub.subscribe().status == 200
        sub.notify()
    refused = Subscriber(box, "201", sock).subscribe()
    assert refused.status == 503 and refused.header("Retry-After")
    table = box.status()["lines"][0]["tables"]["subscriptions"]
    assert table["in_use"] == 8 and table["refused_share"] >= 1
    for sub in held:
        assert sub.subscribe(expires=0).status == 200
    again = Subscriber(box, "201", sock)
    assert again.subscribe().status == 200  # the box's limit, not a ban: the source is served again
    again.subscribe(expires=0)
