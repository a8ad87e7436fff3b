"""A fuzzing campaign against a running box: mutated SIP over UDP and TCP, in and out of
a real dialog, RFC 4475's messages, stray responses, and RTP/RTCP garbage at a live
call, all from one seeded generator, on loopback only.

The campaign behaves like a (very confused) set of peers, not a packet cannon:

- every mutant comes from a socket whose address is in its Via, so the box's answers
  come back and are read; a call that a mutated INVITE managed to set up is ACKed
  and hung up at once, and requests the box sends (BYE, probes) are answered 200, so
  calls and transactions end as they would with real peers;
- every ``sync_every`` messages a clean OPTIONS waits for its answer: the campaign
  runs as fast as the box digests, and never overruns the socket buffers (a
  message dropped by the kernel would test nothing);
- one real dialog at a time is set up with a clean INVITE and ACK, and mutated
  in-dialog requests (re-INVITE, UPDATE, INFO, NOTIFY, ...) carry its Call-ID,
  tags and rising CSeq; it is renewed every ``dialog_renew`` messages or when the
  box ends it; RTP and RTCP garbage goes to its media ports;
- TCP connections carry batches of mutants with framing abuse (wrong and huge
  Content-Length, split writes, endless headers, keep-alives, a close mid-message).
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import re
import select
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tests.fuzzing.rtp_mutator import RtpMutator
from tests.fuzzing.seeds import NUMBER, DialogIds, Message, Party, SeedBook, sdp
from tests.fuzzing.sip_mutator import SipMutator, loopback_only
from zentrale.lines.sip.message import SipParseError, parse_name_addr

TRUSTED_NET = "127.0.1.0/24"  # the fuzzing sources the daemon under test trusts (never banned)
TRUSTED = tuple(f"127.0.1.{i}" for i in range(1, 17))
CONTROL = "127.0.1.250"  # clean probes: is the box keeping up?
DIALOG = "127.0.1.251"  # the real dialog's signalling and media
_REQUEST_LINE = re.compile(rb"([A-Z]+) \S+ SIP/2\.0\r\n")
MAX_DATAGRAM = 65507  # what one UDP datagram over IPv4 can carry; longer mutants are cut there


def daemon_config() -> dict[str, object]:
    """What the daemon under fuzzing needs: the one number the seeds call, and the
    fuzzing sources trusted (see ``FuzzPlan``)."""
    return {"sip": {"numbers": [NUMBER], "security": {"trusted": [TRUSTED_NET]}}}


@dataclass
class FuzzPlan:
    """How many messages of which kinds. Most come from ``TRUSTED`` sources: a trusted
    source is never rate-limited or banned, so every mutant reaches the parser and the
    handlers (from an untrusted source the tenth malformed message gets it banned and
    the rest would be dropped unread). ``untrusted_share`` of the out-of-dialog
    mutants come from ever new untrusted addresses (127.0.2.1 on) to fuzz the way
    to a ban as well."""

    seed: int = 1
    messages: int = 20_000
    untrusted_share: float = 0.05
    # per pick; a "tcp" pick is a connection carrying 1-12 messages, about 15 % of all
    weights: dict[str, float] = field(default_factory=lambda: {
        "out_of_dialog": 0.40, "in_dialog": 0.22, "tcp": 0.025, "rtp": 0.16, "torture": 0.04, "response": 0.05,
        "cancel": 0.02, "clean": 0.02,
    })  # fmt: skip
    sync_every: int = 100
    dialog_renew: int = 300
    sync_timeout: float = 10.0
    report_every: int = 0  # call ``Campaign.on_progress`` every so many messages (0: never)


@dataclass
class Figures:
    sent: Counter[str] = field(default_factory=Counter)  # kind -> messages/packets sent
    answers: Counter[str] = field(default_factory=Counter)  # status class of answers read ("2xx", ...)
    seconds: float = 0.0
    syncs: int = 0
    sync_lost: int = 0  # clean OPTIONS that got no answer in time (retransmitted as by Timer E)
    sync_worst_ms: float = 0.0
    dialogs: int = 0
    dialog_failures: int = 0
    calls_hung_up: int = 0  # calls set up by mutated INVITEs, ACKed and ended by us
    hangups_retried: int = 0  # of those, BYEs refused and sent again
    byes_resent: int = 0  # BYE retransmissions (the first one was lost)
    untagged_2xx: int = 0  # 2xx to an INVITE without a To tag: a bug of the box
    examples: list[bytes] = field(default_factory=list)  # the first few such answers, to look at
    box_requests: int = 0  # requests the box sent us (BYE, OPTIONS probes, ...), answered
    untrusted_sources: int = 0
    tcp_connections: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def lines(self) -> list[str]:
        rate = self.total / self.seconds if self.seconds else 0.0
        return [
            f"fuzz: {self.total} messages in {self.seconds:.1f} s ({rate:.0f}/s): "
            + ", ".join(f"{k} {v}" for k, v in sorted(self.sent.items())),
            f"fuzz: answers read {dict(sorted(self.answers.items()))}; {self.dialogs} dialogs "
            f"({self.dialog_failures} failed to set up), {self.calls_hung_up} fuzzed calls hung up "
            f"({self.hangups_retried} BYEs refused and sent again, {self.byes_resent} retransmitted), "
            f"{self.box_requests} requests from the box answered, {self.tcp_connections} TCP connections, "
            f"{self.untrusted_sources} untrusted sources, {self.untagged_2xx} 2xx without a To tag",
            f"fuzz: {self.syncs} sync probes, {self.sync_lost} unanswered, worst {self.sync_worst_ms:.0f} ms",
        ]


@dataclass(eq=False)
class _PendingBye:
    data: bytes
    send: Callable[[bytes], object]
    next_at: float
    interval: float
    give_up: float


@dataclass(eq=False)
class _Tcp:
    sock: socket.socket
    party: Party
    close_at: float
    buf: bytes = b""


class Campaign:
    def __init__(self, box: tuple[str, int], plan: FuzzPlan | None = None) -> None:
        if not ipaddress.ip_address(box[0]).is_loopback:
            raise ValueError("the fuzzer sends to loopback only")
        self.box = box
        self.plan = plan or FuzzPlan()
        self.rng = random.Random(self.plan.seed)
        self.book = SeedBook(self.rng, *box)
        # What the box's answers call for (dialog set-up, ACKs, BYEs, probes) draws from its own
        # generator: the mutants do not depend on when the box answered.
        self.control = SeedBook(random.Random(f"{self.plan.seed}-control"), *box)
        self.mutator = SipMutator(self.rng)
        self.rtp = RtpMutator(self.rng)
        self.figures = Figures()
        self.udp: dict[socket.socket, Party] = {}
        for ip in (*TRUSTED, CONTROL, DIALOG):
            self._udp_socket(ip)
        self.control_sock = next(s for s, p in self.udp.items() if p.ip == CONTROL)
        self.dialog_sock = next(s for s, p in self.udp.items() if p.ip == DIALOG)
        self.rtp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp_sock.bind((DIALOG, 0))
        self.rtp_sock.setblocking(False)
        self.rtp_port = self.rtp_sock.getsockname()[1]
        self.untrusted: list[socket.socket] = []
        self._untrusted_next = 0
        self._untrusted_left = 0
        self.tcp: list[_Tcp] = []
        self.dialog: DialogIds | None = None
        self._dialog_used = 0
        self._dialog_gone = False
        self._own_calls: set[str] = set()  # Call-IDs of our dialogs (not hung up by the responder)
        self._waiting: dict[str, bytes] = {}  # Call-ID -> the 2xx we wait for (dialog set-up, sync)
        self.on_progress: Callable[[Figures], None] | None = None
        self._hangups: dict[str, bytes] = {}  # Call-ID -> the 2xx of a call we hung up, until the BYE's answer
        self._byes: dict[str, _PendingBye] = {}  # Call-ID -> our BYE, retransmitted until answered

    # --- sockets ---------------------------------------------------------------------------

    def _udp_socket(self, ip: str) -> socket.socket:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind((ip, 0))
        sock.setblocking(False)
        self.udp[sock] = Party(ip, sock.getsockname()[1])
        return sock

    def close(self) -> None:
        for sock in [*self.udp, self.rtp_sock]:
            sock.close()
        for conn in self.tcp:
            conn.sock.close()
        self.udp.clear()
        self.tcp.clear()

    def _send(self, sock: socket.socket, data: bytes, kind: str) -> None:
        with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
            sock.sendto(loopback_only(data)[:MAX_DATAGRAM], self.box)
        self.figures.sent[kind] += 1

    # --- the run ---------------------------------------------------------------------------

    def run(self) -> Figures:
        plan = self.plan
        kinds = list(plan.weights)
        weights = [plan.weights[k] for k in kinds]
        started = time.monotonic()
        next_sync = plan.sync_every
        next_report = plan.report_every or plan.messages + 1
        try:
            self._new_dialog()
            while self.figures.total < plan.messages:
                kind = self.rng.choices(kinds, weights)[0]
                getattr(self, f"_{kind}")()
                if self.figures.total >= next_sync:
                    next_sync += plan.sync_every
                    self._sync()
                if self.figures.total >= next_report and self.on_progress is not None:
                    next_report += plan.report_every
                    self.figures.seconds = time.monotonic() - started
                    self.on_progress(self.figures)
            self._end_dialog()
            self.poll(0.5)
        finally:
            self.figures.seconds = time.monotonic() - started
        return self.figures

    def _trusted_socket(self) -> socket.socket:
        ip = self.rng.choice(TRUSTED)
        return next(s for s, p in self.udp.items() if p.ip == ip)

    def _out_of_dialog(self) -> None:
        sock = self._untrusted_socket() if self.rng.random() < self.plan.untrusted_share else self._trusted_socket()
        party = self.udp[sock]
        self._send(sock, self.mutator.mutate(self.book.out_of_dialog(party, self.rtp_port)), "out_of_dialog")

    def _clean(self) -> None:
        """Unmutated requests among the mutants: calls that work, OPTIONS, and the like."""
        sock = self._trusted_socket()
        self._send(sock, self.book.out_of_dialog(self.udp[sock], self.rtp_port).to_bytes(), "clean")

    def _torture(self) -> None:
        sock = self._trusted_socket()
        message = self.book.torture()
        data = message.to_bytes() if self.rng.random() < 0.3 else self.mutator.mutate(message)
        self._send(sock, data, "torture")

    def _response(self) -> None:
        sock = self._trusted_socket()
        message = self.book.response(self.udp[sock])
        self._send(sock, self.mutator.mutate(message) if self.rng.random() < 0.7 else message.to_bytes(), "response")

    def _cancel(self) -> None:
        sock = self._trusted_socket()
        invite, cancel = self.book.invite_and_cancel(self.udp[sock], self.rtp_port)
        self._send(sock, invite.to_bytes(), "cancel")
        self._send(sock, self.mutator.mutate(cancel) if self.rng.random() < 0.7 else cancel.to_bytes(), "cancel")

    def _untrusted_socket(self) -> socket.socket:
        if self._untrusted_left <= 0 or not self.untrusted:
            n = self._untrusted_next
            self._untrusted_next += 1
            sock = self._udp_socket(f"127.0.{2 + n // 254}.{1 + n % 254}")
            self.untrusted.append(sock)
            self.figures.untrusted_sources += 1
            self._untrusted_left = 20
            while len(self.untrusted) > 256:  # open until the end: they answer the box's late BYEs
                old = self.untrusted.pop(0)
                del self.udp[old]
                old.close()
        self._untrusted_left -= 1
        return self.untrusted[-1]

    # --- the real dialog ---------------------------------------------------------------------

    def _in_dialog(self) -> None:
        if self.dialog is None or self._dialog_gone or self._dialog_used >= self.plan.dialog_renew:
            self._end_dialog()
            self._new_dialog()
            if self.dialog is None:
                self._out_of_dialog()
                return
        self._dialog_used += 1
        message = self.book.in_dialog(self.dialog)
        data = message.to_bytes() if self.rng.random() < 0.15 else self.mutator.mutate(message)
        self._send(self.dialog_sock, data, "in_dialog")

    def _rtp(self) -> None:
        dialog = self.dialog
        if dialog is None or not dialog.box_rtp_port:
            self._out_of_dialog()
            return
        sock = self.rtp_sock if self.rng.random() < 0.8 else self._trusted_socket()
        if self.rng.random() < 0.8:
            data, port = self.rtp.packet(), dialog.box_rtp_port
        else:
            data, port = self.rtp.rtcp(), dialog.box_rtp_port + 1
        with contextlib.suppress(BlockingIOError, ConnectionRefusedError):
            sock.sendto(data, (self.box[0], port))
        self.figures.sent["rtp"] += 1

    def _new_dialog(self) -> None:
        party = self.udp[self.dialog_sock]
        invite = self.control.request("INVITE", party, body=sdp(party.ip, self.rtp_port))
        call_id = _header(invite, "Call-ID")
        self._own_calls.add(call_id)
        self._waiting[call_id] = b""
        self.dialog_sock.sendto(invite.to_bytes(), self.box)
        deadline = time.monotonic() + 5.0
        while not self._waiting.get(call_id) and time.monotonic() < deadline:
            self.poll(0.05)
        answer = self._waiting.pop(call_id, b"")
        if not answer:
            self.figures.dialog_failures += 1
            return
        to = re.search(rb"(?im)^(?:To|t)\s*:.*?;tag=([^;>\s]+)", answer)
        contact = re.search(rb"(?im)^(?:Contact|m)\s*:.*?<([^>]+)>", answer)
        media = re.search(rb"(?m)^m=audio (\d+) ", answer)
        from_tag = re.search(r";tag=([^;>\s]+)", _header(invite, "From"))
        if not (to and contact and from_tag):
            self.figures.dialog_failures += 1
            return
        self.dialog = DialogIds(
            call_id=call_id, local_tag=from_tag.group(1), remote_tag=to.group(1).decode(),
            box_contact=contact.group(1).decode(), box_rtp_port=int(media.group(1)) if media else 0,
            party=party, rtp_port=self.rtp_port, cseq=int(_header(invite, "CSeq").split()[0]),
        )  # fmt: skip
        self.dialog_sock.sendto(self.control.in_dialog(self.dialog, "ACK").to_bytes(), self.box)
        self._dialog_used = 0
        self._dialog_gone = False
        self.figures.dialogs += 1

    def _end_dialog(self) -> None:
        if self.dialog is not None:
            self.dialog.cseq = 2**31 - 2  # above whatever CSeq a mutant left in the dialog (§12.2.2)
            bye = self.control.in_dialog(self.dialog, "BYE").to_bytes()
            self._bye(self.dialog.call_id, bye, lambda data: self.dialog_sock.sendto(data, self.box))
        self.dialog = None

    def _bye(self, call_id: str, data: bytes, send: Callable[[bytes], object]) -> None:
        """Send a BYE and keep it until its answer: resent like any UA's (RFC 3261 §17.1.2.2,
        Timer E), as a lost one would leave the call up until the box's RTP timeout."""
        now = time.monotonic()
        self._byes[call_id] = _PendingBye(data, send, now + 0.5, 0.5, now + 32.0)
        with contextlib.suppress(OSError):
            send(data)

    def _resend_byes(self) -> None:
        now = time.monotonic()
        for call_id, bye in list(self._byes.items()):
            if now >= bye.give_up:
                del self._byes[call_id]
            elif now >= bye.next_at:
                bye.interval = min(2 * bye.interval, 4.0)
                bye.next_at = now + bye.interval
                self.figures.byes_resent += 1
                with contextlib.suppress(OSError):
                    bye.send(bye.data)

    # --- TCP ---------------------------------------------------------------------------------

    def _tcp(self) -> None:
        while len(self.tcp) >= 32:
            self.poll(0.01)
        ip = self.rng.choice(TRUSTED)
        try:
            sock = socket.create_connection(self.box, timeout=2.0, source_address=(ip, 0))
        except OSError:
            self.figures.sent["tcp_refused"] += 1
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        party = Party(ip, sock.getsockname()[1], "TCP")
        self.figures.tcp_connections += 1
        stream = b"".join(self._tcp_message(party) for _ in range(self.rng.randint(1, 12)))
        abuse = self.rng.choice(["none", "none", "split", "keepalive", "endless", "huge", "garbage", "cut"])
        if abuse == "keepalive":
            stream = b"\r\n\r\n" + stream.replace(b"\r\n\r\nINVITE", b"\r\n\r\n\r\n\r\nINVITE") + b"\r\n\r\n"
        elif abuse == "endless":
            stream += b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\n" + b"X-Endless: " + b"a" * 20000
        elif abuse == "huge":
            stream += b"OPTIONS sip:100@127.0.0.1 SIP/2.0\r\nContent-Length: 99999999\r\n\r\nxyz"
        elif abuse == "garbage":
            stream += self.rng.randbytes(self.rng.choice([10, 500, 5000]))
        elif abuse == "cut":
            stream = stream[: self.rng.randrange(len(stream) + 1)]
        try:
            if abuse == "split":
                pos = 0
                while pos < len(stream):  # pieces the box must reassemble (RFC 3261 §18.3)
                    step = self.rng.choice([1, 7, 100, 1000])
                    sock.sendall(stream[pos : pos + step])
                    pos += step
                    if self.rng.random() < 0.02:
                        time.sleep(0.002)
            else:
                sock.sendall(stream)
        except OSError:
            sock.close()
            return
        sock.setblocking(False)
        self.tcp.append(_Tcp(sock, party, time.monotonic() + self.rng.choice([0.5, 0.8, 1.2])))

    def _tcp_message(self, party: Party) -> bytes:
        kind = self.rng.random()
        if kind < 0.6:
            message = self.book.out_of_dialog(party, self.rtp_port)
        elif kind < 0.8:
            message = self.book.torture()
        else:
            message = self.book.response(party)
        self.figures.sent["tcp"] += 1
        if self.rng.random() < 0.15:
            return loopback_only(message.to_bytes())
        if self.rng.random() < 0.2:  # a Content-Length that lies about the body on a stream
            message.length = str(max(0, len(message.body) + self.rng.choice([-50, -1, 1, 10, 2000])))
        return self.mutator.mutate(message)

    # --- reading what the box sends ----------------------------------------------------------------

    def poll(self, timeout: float) -> None:
        """Read whatever the box sent within ``timeout`` and act as its peers would."""
        socks: list[socket.socket] = [*self.udp, self.rtp_sock, *(c.sock for c in self.tcp)]
        readable, _, _ = select.select(socks, [], [], timeout)
        self._read(readable)
        self._resend_byes()
        now = time.monotonic()
        for conn in [c for c in self.tcp if c.close_at <= now]:
            self._read([conn.sock])  # what came last, before hanging up
            if conn in self.tcp:
                self.tcp.remove(conn)
                conn.sock.close()

    def _read(self, readable: list[socket.socket]) -> None:
        for sock in readable:
            if sock is self.rtp_sock:
                with contextlib.suppress(OSError):
                    while sock.recv(2048):
                        pass
                continue
            conn = next((c for c in self.tcp if c.sock is sock), None)
            if conn is not None:
                self._read_tcp(conn)
                continue
            if sock not in self.udp:
                continue
            for _ in range(64):
                try:
                    data = sock.recv(70000)
                except (BlockingIOError, ConnectionRefusedError):
                    break
                except OSError:
                    break
                self._from_box(data, lambda reply, s=sock: s.sendto(reply, self.box))

    def _read_tcp(self, conn: _Tcp) -> None:
        if conn not in self.tcp:
            return
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.tcp.remove(conn)
            conn.sock.close()
            return
        conn.buf += data
        while True:
            head, sep, rest = conn.buf.partition(b"\r\n\r\n")
            if not sep:
                return
            length = re.search(rb"(?im)^(?:Content-Length|l)\s*:\s*(\d+)", head)
            size = int(length.group(1)) if length else 0
            if len(rest) < size:
                return
            conn.buf = rest[size:]
            self._from_box(head + sep + rest[:size], lambda reply, c=conn: c.sock.sendall(reply))

    def _from_box(self, data: bytes, send: Callable[[bytes], object]) -> None:
        """A message from the box: answers are counted (and 2xx to INVITEs ACKed, and the
        call hung up unless it is ours), requests answered 200 like a phone would."""
        if data.startswith(b"SIP/2.0 "):
            status = int(data[8:11]) if data[8:11].isdigit() else 0
            self.figures.answers[f"{status // 100}xx"] += 1
            call_id = _header_of(data, "Call-ID", "i")
            cseq = _header_of(data, "CSeq").split()
            if call_id in self._waiting and status >= 200:
                self._waiting[call_id] = data
            if 200 <= status < 300 and len(cseq) == 2 and cseq[1] == "INVITE":
                if not _has_to_tag(_header_of(data, "To", "t")):
                    self.figures.untagged_2xx += 1  # no dialog can follow (RFC 3261 §8.2.6.2, §12.1.1)
                    if len(self.figures.examples) < 5:
                        self.figures.examples.append(data[:1500])
                with contextlib.suppress(OSError):
                    send(self._ack_for(data, cseq[0], "ACK"))
                if call_id not in self._own_calls and call_id not in self._hangups:
                    bye_cseq = min(int(cseq[0]) + 1, 2**31 - 1) if cseq[0].isdigit() else 2**31 - 1
                    self._bye(call_id, self._ack_for(data, str(bye_cseq), "BYE"), send)
                    self._hangups[call_id] = data
                    self.figures.calls_hung_up += 1
            elif len(cseq) == 2 and cseq[1] == "BYE" and call_id in self._byes and status >= 200:
                self._byes.pop(call_id)
                invite_2xx = self._hangups.pop(call_id, None)
                if status >= 300 and invite_2xx is not None:  # refused (a mutant's CSeq?): above any (§12.2.2)
                    self.figures.hangups_retried += 1
                    self._bye(call_id, self._ack_for(invite_2xx, str(2**31 - 1), "BYE"), send)
            elif status in (481, 500) and self.dialog is not None and call_id == self.dialog.call_id:
                self._dialog_gone = True  # ended, or a mutant's CSeq left ours behind (§12.2.2): renew
            return
        request_line = _REQUEST_LINE.match(data)
        if request_line is None:
            return  # RTP the box sends to a socket that once sent it RTP (symmetric RTP latches on)
        method = request_line.group(1).decode()
        if method == "ACK":
            return
        self.figures.box_requests += 1
        if method == "BYE" and self.dialog is not None and _header_of(data, "Call-ID", "i") == self.dialog.call_id:
            self._dialog_gone = True
        lines = [b"SIP/2.0 200 OK"]
        for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
            name = line.split(b":", 1)[0].strip().lower()
            if name in (b"via", b"v", b"from", b"f", b"call-id", b"i", b"cseq"):
                lines.append(line)
            elif name in (b"to", b"t"):
                lines.append(line if b"tag=" in line else line + b";tag=fuzz")
        lines.append(b"Content-Length: 0")
        with contextlib.suppress(OSError):
            send(b"\r\n".join(lines) + b"\r\n\r\n")

    def _ack_for(self, response: bytes, cseq: str, method: str) -> bytes:
        """ACK (or BYE) for a 2xx: a new request in the dialog it set up (RFC 3261 §13.2.2.4)."""
        contact = re.search(rb"(?im)^(?:Contact|m)\s*:.*?<([^>]+)>", response)
        uri = contact.group(1).decode(errors="replace") if contact else f"sip:{NUMBER}@{self.box[0]}:{self.box[1]}"
        via = _header_of(response, "Via", "v")
        transport = "TCP" if "/TCP " in via.upper() else "UDP"
        sent_by = re.search(r"(?:UDP|TCP) ([^;]+)", via, re.IGNORECASE)
        host = sent_by.group(1) if sent_by else "127.0.1.1"
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/{transport} {host};branch={self.control.branch()};rport",
            "Max-Forwards: 70",
            f"From: {_header_of(response, 'From', 'f')}",
            f"To: {_header_of(response, 'To', 't')}",
            f"Call-ID: {_header_of(response, 'Call-ID', 'i')}",
            f"CSeq: {cseq} {method}",
            "Content-Length: 0",
        ]
        return loopback_only(("\r\n".join(lines) + "\r\n\r\n").encode(errors="replace"))

    def _sync(self) -> None:
        """A clean OPTIONS from the control socket; wait for its answer (the box caught up)."""
        party = self.udp[self.control_sock]
        options = self.control.request("OPTIONS", party)
        call_id = _header(options, "Call-ID")
        self._waiting[call_id] = b""
        sent = time.monotonic()
        self.figures.syncs += 1
        deadline = sent + self.plan.sync_timeout
        resend, interval = sent, 0.5
        while not self._waiting.get(call_id) and time.monotonic() < deadline:
            if time.monotonic() >= resend:  # retransmitted like any UA's (RFC 3261 §17.1.2.2, Timer E)
                self.control_sock.sendto(options.to_bytes(), self.box)
                resend, interval = resend + interval, min(2 * interval, 4.0)
            self.poll(0.02)
        if self._waiting.pop(call_id, b""):
            self.figures.sync_worst_ms = max(self.figures.sync_worst_ms, 1000 * (time.monotonic() - sent))
        else:
            self.figures.sync_lost += 1


def _has_to_tag(value: str) -> bool:
    """A tag parameter, as RFC 3261 §25.1 spells it (LWS allowed around "="), read with the
    product's name-addr parser; a value it cannot read counts as one without."""
    try:
        return bool(parse_name_addr(value).params.get("tag"))
    except SipParseError:
        return False


def _header(message: Message, name: str) -> str:
    i = message.header_index(name)
    return message.headers[i].split(":", 1)[1].strip() if i is not None else ""


def _header_of(data: bytes, *names: str) -> str:
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    for line in head.split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        if colon and name.strip().lower() in [n.lower() for n in names]:
            return value.strip()
    return ""
