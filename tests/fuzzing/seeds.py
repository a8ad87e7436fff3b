"""Seed messages: what real peers send, built fresh for every use (new branch, Call-ID and
tags from the campaign's seeded generator, so each mutant is a transaction of its own).

Requests out of a dialog (INVITE with SDP, OPTIONS, CANCEL, ACK, BYE, INFO, NOTIFY, REFER,
REGISTER, SUBSCRIBE, MESSAGE, PRACK, PUBLISH), requests inside a real established dialog
(re-INVITE, UPDATE, INFO, NOTIFY, OPTIONS, REFER, PRACK, BYE, ACK: ``DialogIds`` carries the
Call-ID, both tags, the next CSeq and the box's Contact of a call the campaign set up),
responses to nothing, and the RFC 4475 torture messages.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field
from pathlib import Path

RFC4475 = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "rfc4475"
if not RFC4475.is_dir():
    RFC4475 = Path("/work/shared/testdata/rfc4475")

NUMBER = "100"  # the number the daemon under test answers


@dataclass
class Message:
    """A message as lines, so that mutations can work on headers; ``length`` None: the
    Content-Length header is computed from the body when serialised."""

    start: str
    headers: list[str]
    body: bytes = b""
    length: str | None = None
    eol: str = "\r\n"

    def to_bytes(self) -> bytes:
        lines = [self.start, *self.headers]
        if self.length is None:
            lines.append(f"Content-Length: {len(self.body)}")
        elif self.length:
            lines.append(f"Content-Length: {self.length}")
        text = self.eol.join(lines) + self.eol + self.eol
        return text.encode("utf-8", errors="surrogateescape") + self.body

    @classmethod
    def from_bytes(cls, data: bytes) -> Message:
        """A loose split of any bytes (the RFC 4475 files keep their own Content-Length)."""
        head, sep, body = data.partition(b"\r\n\r\n")
        if not sep:
            head, _, body = data.partition(b"\n\n")
        lines = head.decode("utf-8", errors="surrogateescape").replace("\r\n", "\n").split("\n")
        return cls(lines[0], lines[1:], body, length="")

    def header_index(self, name: str) -> int | None:
        prefix = name.lower() + ":"
        for i, line in enumerate(self.headers):
            if line.lower().replace(" ", "").startswith(prefix):
                return i
        return None


@dataclass
class Party:
    """A fuzzing socket: the address its messages say they come from."""

    ip: str
    port: int
    transport: str = "UDP"


@dataclass
class DialogIds:
    """A call the campaign set up with the box (its INVITE answered 200 and ACKed)."""

    call_id: str
    local_tag: str  # ours: the From tag
    remote_tag: str  # the box's To tag
    box_contact: str  # the Request-URI of in-dialog requests
    box_rtp_port: int
    party: Party
    rtp_port: int  # where our side of the call receives RTP
    cseq: int = 1
    invite_branch: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def next_cseq(self) -> int:
        self.cseq += 1
        return self.cseq


def sdp(ip: str, rtp_port: int, *, variant: str = "plain", version: int = 1) -> bytes:
    """An SDP offer like a desk phone's (RFC 4566); ``variant``: plain, hold, srtp, late-dtmf."""
    proto = "RTP/SAVP" if variant == "srtp" else "RTP/AVP"
    conn = "0.0.0.0" if variant == "hold-2543" else ip
    lines = [
        "v=0",
        f"o=fuzz 4711 {version} IN IP4 {ip}",
        "s=-",
        f"c=IN IP4 {conn}",
        "t=0 0",
        f"m=audio {rtp_port} {proto} 8 0 9 101",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
    ]
    if variant == "srtp":
        lines.append("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz")
    lines.append("a=sendonly" if variant == "hold" else "a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


@functools.cache
def torture_messages() -> list[Message]:
    """RFC 4475's messages, read once."""
    return [Message.from_bytes(p.read_bytes()) for p in sorted(RFC4475.glob("*/*.dat"))]


class SeedBook:
    """Builds seed messages toward one box; every identifier comes from ``rng``."""

    def __init__(self, rng: random.Random, box_host: str, box_port: int) -> None:
        self.rng = rng
        self.box_host = box_host
        self.box_port = box_port
        self.rfc4475 = torture_messages()

    # --- identifiers -----------------------------------------------------------------

    def token(self, n: int = 8) -> str:
        return f"{self.rng.getrandbits(4 * n):0{n}x}"

    def branch(self) -> str:
        return "z9hG4bK" + self.token(12)

    def via(self, party: Party, branch: str | None = None) -> str:
        return f"Via: SIP/2.0/{party.transport} {party.ip}:{party.port};branch={branch or self.branch()};rport"

    # --- out of a dialog ----------------------------------------------------------------

    OUT_OF_DIALOG = ("INVITE", "INVITE", "INVITE", "OPTIONS", "CANCEL", "ACK", "BYE", "INFO", "NOTIFY", "REFER",
                     "REGISTER", "SUBSCRIBE", "MESSAGE", "PRACK", "PUBLISH", "UPDATE")  # fmt: skip

    def request(self, method: str, party: Party, *, body: bytes = b"", user: str = NUMBER) -> Message:
        uri = f"sip:{user}@{self.box_host}:{self.box_port}"
        if party.transport == "TCP":
            uri += ";transport=tcp"
        headers = [
            self.via(party),
            "Max-Forwards: 70",
            f'From: "Fuzz {self.token(4)}" <sip:fuzz{self.token(3)}@{party.ip}>;tag={self.token()}',
            f"To: <sip:{user}@{self.box_host}>",
            f"Call-ID: {self.token(16)}@{party.ip}",
            f"CSeq: {self.rng.randint(1, 9999)} {method}",
            f"Contact: <sip:fuzz@{party.ip}:{party.port}>",
            "User-Agent: zentrale-fuzz/1",
        ]
        if method == "INVITE":
            headers += ["Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY", "Supported: timer, replaces"]
            if self.rng.random() < 0.3:
                headers += [f"Session-Expires: {self.rng.choice([90, 120, 1800])};refresher=uac", "Min-SE: 90"]
            if self.rng.random() < 0.2:
                headers.append(f'P-Asserted-Identity: "Caller" <sip:0301234{self.token(2)}@{party.ip}>')
        elif method == "SUBSCRIBE":
            headers += ["Event: presence", "Expires: 3600"]
        elif method == "NOTIFY":
            headers += ["Event: refer", "Subscription-State: active;expires=60"]
        elif method == "REFER":
            headers.append(f"Refer-To: <sip:0900123456@{party.ip}>")
        elif method == "REGISTER":
            headers.append("Expires: 3600")
        elif method == "PRACK":
            headers.append("RAck: 1 1 INVITE")
        if body:
            headers.append("Content-Type: application/sdp" if body.startswith(b"v=0") else "Content-Type: text/plain")
        return Message(f"{method} {uri} SIP/2.0", headers, body)

    def invite(self, party: Party, rtp_port: int) -> Message:
        variant = self.rng.choice(["plain", "plain", "plain", "hold", "srtp", "hold-2543", "none"])
        body = b"" if variant == "none" else sdp(party.ip, rtp_port, variant=variant)
        return self.request("INVITE", party, body=body)

    def out_of_dialog(self, party: Party, rtp_port: int) -> Message:
        method = self.rng.choice(self.OUT_OF_DIALOG)
        if method == "INVITE":
            return self.invite(party, rtp_port)
        if method == "INFO":
            return self.request("INFO", party, body=b"Signal=5\r\nDuration=160\r\n")
        if method == "NOTIFY":
            return self.request("NOTIFY", party, body=b"SIP/2.0 200 OK\r\n")
        if method == "MESSAGE":
            return self.request("MESSAGE", party, body=b"Hallo Zentrale")
        return self.request(method, party)

    def invite_and_cancel(self, party: Party, rtp_port: int) -> tuple[Message, Message]:
        """An INVITE and the CANCEL of it (same branch, Call-ID, From and CSeq number; §9.1)."""
        invite = self.invite(party, rtp_port)
        cancel = Message(invite.start.replace("INVITE", "CANCEL", 1), [], b"")
        for line in invite.headers:
            name = line.split(":", 1)[0].lower()
            if name in ("via", "from", "to", "call-id", "max-forwards"):
                cancel.headers.append(line)
            elif name == "cseq":
                cancel.headers.append(line.replace("INVITE", "CANCEL"))
        return invite, cancel

    def response(self, party: Party) -> Message:
        """A response to nothing the box sent (stray, forged or late)."""
        status, reason = self.rng.choice([(100, "Trying"), (180, "Ringing"), (200, "OK"), (202, "Accepted"),
                                          (401, "Unauthorized"), (407, "Proxy Authentication Required"),
                                          (481, "Call/Transaction Does Not Exist"), (487, "Request Terminated"),
                                          (503, "Service Unavailable"), (603, "Decline")])  # fmt: skip
        method = self.rng.choice(["INVITE", "BYE", "OPTIONS", "REGISTER", "REFER", "UPDATE"])
        headers = [
            f"Via: SIP/2.0/{party.transport} {self.box_host}:{self.box_port};branch={self.branch()};rport",
            f"From: <sip:zentrale@{self.box_host}>;tag={self.token()}",
            f"To: <sip:{NUMBER}@{party.ip}>;tag={self.token()}",
            f"Call-ID: {self.token(16)}@{self.box_host}",
            f"CSeq: {self.rng.randint(1, 99)} {method}",
            f"Contact: <sip:fuzz@{party.ip}:{party.port}>",
        ]
        if status == 401:
            headers.append('WWW-Authenticate: Digest realm="fuzz", nonce="abc", algorithm=MD5, qop="auth"')
        body = sdp(party.ip, 40000) if status == 200 and method == "INVITE" else b""
        if body:
            headers.append("Content-Type: application/sdp")
        return Message(f"SIP/2.0 {status} {reason}", headers, body)

    def torture(self) -> Message:
        """One of RFC 4475's messages, as in the RFC (its own Content-Length kept)."""
        original = self.rng.choice(self.rfc4475)
        return Message(original.start, list(original.headers), original.body, length=original.length)

    # --- inside a real dialog ---------------------------------------------------------------

    IN_DIALOG = ("INVITE", "INVITE", "UPDATE", "UPDATE", "INFO", "INFO", "NOTIFY", "OPTIONS", "REFER", "PRACK",
                 "ACK", "MESSAGE", "BYE")  # fmt: skip

    def in_dialog(self, dialog: DialogIds, method: str | None = None) -> Message:
        method = method or self.rng.choice(self.IN_DIALOG)
        party = dialog.party
        cseq = dialog.cseq if method == "ACK" else dialog.next_cseq()
        headers = [
            self.via(party),
            "Max-Forwards: 70",
            f"From: <sip:fuzz@{party.ip}>;tag={dialog.local_tag}",
            f"To: <sip:{NUMBER}@{self.box_host}>;tag={dialog.remote_tag}",
            f"Call-ID: {dialog.call_id}",
            f"CSeq: {cseq} {method}",
            f"Contact: <sip:fuzz@{party.ip}:{party.port}>",
        ]
        body = b""
        if method in ("INVITE", "UPDATE"):
            variant = self.rng.choice(["plain", "hold", "plain", "srtp", "hold-2543", "none"])
            if variant != "none":
                body = sdp(party.ip, dialog.rtp_port, variant=variant, version=cseq)
                headers.append("Content-Type: application/sdp")
            if self.rng.random() < 0.5:
                refresher = self.rng.choice(["uac", "uas"])
                headers += [f"Session-Expires: {self.rng.choice([90, 120, 1800])};refresher={refresher}",
                            "Supported: timer"]  # fmt: skip
        elif method == "INFO":
            digit = self.rng.choice("0123456789*#ABCD")
            body = f"Signal={digit}\r\nDuration=160\r\n".encode()
            headers.append("Content-Type: application/dtmf-relay")
        elif method == "NOTIFY":
            body = self.rng.choice([b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n", b"SIP/2.0 486 Busy Here\r\n"])
            state = self.rng.choice(["active;expires=60", "terminated;reason=noresource"])
            headers += ["Event: refer", f"Subscription-State: {state}", "Content-Type: message/sipfrag;version=2.0"]
        elif method == "REFER":
            headers.append(f"Refer-To: <sip:0900{self.token(3)}@{party.ip}>")
        elif method == "PRACK":
            headers.append(f"RAck: 1 {dialog.cseq} INVITE")
        elif method == "MESSAGE":
            body = b"hello"
            headers.append("Content-Type: text/plain")
        return Message(f"{method} {dialog.box_contact} SIP/2.0", headers, body)
