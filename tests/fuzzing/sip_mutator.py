"""Mutations of SIP messages and their SDP bodies, deterministic by seed.

``SipMutator(seed).mutate(message)`` applies one to four mutations to a seed
(``seeds.Message``): on its lines first (headers removed, duplicated, truncated,
made huge; NULs; bad numbers in CSeq, Content-Length, Max-Forwards, Expires and
the session timer headers; bad ports; URI and host garbage; methods, versions,
line endings, folding; the SDP: ports -1/70000/huge, c= names and garbage, many
m= lines, long attributes, bad rtpmap, bad crypto), then sometimes on its bytes
(bit flips, random bytes inserted, deleted, repeated, cut off).

Every mutant passes ``loopback_only`` last: whatever the mutations did, no IPv4
address in it leaves 127.0.0.0/8, so a box that answers a Via, sends RTP to an
SDP c= line or a BYE to a Contact only ever reaches loopback. (Belt and braces:
the daemon under test binds its SIP and RTP sockets to 127.0.0.1, and the kernel
refuses to route from there to any other address.)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from tests.fuzzing.seeds import Message

_OCTET_STARTING_A_QUAD = re.compile(rb"(?<!\d)\d{1,3}(?=(?:\.\d{1,3}){3})")
_ESCAPE_NEAR_DIGITS = re.compile(rb"\\(?=[\d.])|(?<=[\d.])\\")


def loopback_only(data: bytes) -> bytes:
    """Every dotted quad in ``data`` starts with 127 (a quoted-pair escape next to digits
    is dropped first, as a parser unquoting ``"8\\.8.8.8"`` would see 8.8.8.8)."""
    data = _ESCAPE_NEAR_DIGITS.sub(b"", data)
    return _OCTET_STARTING_A_QUAD.sub(lambda m: m.group(0) if m.group(0) == b"127" else b"127", data)


BAD_NUMBERS = ["-1", "0", "4294967296", "2147483648", "99999999999999999999", "1e9", "0x10", " 1 2", "", "abc",
               "１２", "1.5", "+5", "00000000000000000001", "\x00", "9" * 400, "-0", "18446744073709551617", "\u00b2",
               "\u0663\u0660", "5\u00b9"]  # fmt: skip
BAD_PORTS = [
    "-1",
    "0",
    "65536",
    "70000",
    "99999999999",
    "abc",
    "",
    "6o60",
    "5060;x",
    "5060:5060",
    "\x00",
    "\u00b2",
    "\u0665\u0660\u0666\u0660",
]
BAD_HOSTS = ["example.com", "localhost", "[::1", "::1]", "[]", "256.1.1.1", "127.0.0.1.", "127.0.0", "-", "..",
             "ä.example", "x\x00y", "%31%32%37.0.0.1", "[fe80::1%eth0]", "[::ffff:127.0.0.1]", "a" * 300,
             "127.0.0.1:3{16~", "host_name", "[127.0.0.1]", "0", "*", "@", "127.0.0.1@127.0.0.1"]  # fmt: skip
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "UPDATE", "NOTIFY", "REFER", "PRACK",
           "SUBSCRIBE", "MESSAGE", "PUBLISH", "invite", "INVITE\x00", "IN VITE", "", "X" * 100, "NEWMETHOD",
           "ÄCK", "ACK;", "BYE/2"]  # fmt: skip
GARBAGE_URIS = ["sip:", "sip:@", "sip:100@", "<sip:100@127.0.0.1>", "sips:100@127.0.0.1", "tel:+49301234",
                "http://127.0.0.1/", "sip:100@127.0.0.1;transport=sctp", "sip:100@127.0.0.1?Subject=x",
                "sip:%00@127.0.0.1", "sip:100@127.0.0.1;maddr=127.0.0.9;ttl=300", "sip:" + "1" * 2000 + "@127.0.0.1",
                "sip:100:pw@127.0.0.1:5060", "urn:service:sos", "*", "sip:100@[::1]", "SIP:100@127.0.0.1",
                "sip:100@127.0.0.1:0", "sip:100@127.0.0.1:99999", "sip:10 0@127.0.0.1",
                "sip:100@127.0.0.1;lr;lr;lr"]  # fmt: skip
NUMBER_HEADERS = ["CSeq", "Content-Length", "Max-Forwards", "Expires", "Session-Expires", "Min-SE", "Retry-After",
                  "RAck", "RSeq", "Min-Expires"]  # fmt: skip
EXTRA_HEADERS = ["Require: 100rel", "Require: timer", "Require: foo, bar", "Proxy-Require: x", "Accept: text/plain",
                 "Accept: application/sdp;level=1", "Content-Encoding: gzip", "Content-Type: multipart/mixed",
                 "Content-Type: application/sdp; charset=ebcdic", "Record-Route: <sip:127.0.0.1:5999;lr>",
                 "Route: <sip:127.0.0.9;lr>", "Authorization: Digest username=\"x\", response=\"y\"",
                 "P-Asserted-Identity: <sip:110@127.0.0.1>", "Remote-Party-ID: <sip:1@127.0.0.1>;party=calling",
                 "Replaces: abc;to-tag=1;from-tag=2", "Session-Expires: 1", "Min-SE: 999999", "Supported: ",
                 "Allow: ", "Event: refer;id=abc", "Subscription-State: terminated", "Refer-To: <sip:900@127.0.0.1>",
                 "Reason: Q.850;cause=16", "Privacy: id", "Alert-Info: <http://127.0.0.1/x>", "Diversion: <sip:1@x>",
                 "Date: Sat, 13 Nov 2010 23:29:00 GMT", "Warning: 399 x \"y\"", "Max-Forwards: 0",
                 "Call-Info: <sip:127.0.0.1>;answer-after=0", "Expires: 0"]  # fmt: skip


class SdpMutator:
    """Mutations of an SDP body: the ways a peer can get an offer wrong."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def mutate(self, body: bytes) -> bytes:
        lines = body.decode("utf-8", errors="surrogateescape").replace("\r\n", "\n").rstrip("\n").split("\n")
        self.rng.choice(self.MUTATIONS)(self, lines)
        eol = self.rng.choice(["\r\n"] * 8 + ["\n", "\r"])
        return (eol.join(lines) + eol).encode("utf-8", errors="surrogateescape")

    def _index(self, lines: list[str], prefix: str) -> int:
        found = [i for i, line in enumerate(lines) if line.startswith(prefix)]
        return self.rng.choice(found) if found else self.rng.randrange(len(lines) + 1)

    def _set(self, lines: list[str], prefix: str, value: str) -> None:
        i = self._index(lines, prefix)
        if i < len(lines):
            lines[i] = value
        else:
            lines.append(value)

    def port(self, lines: list[str]) -> None:
        port = self.rng.choice(["-1", "70000", "65536", "99999999999", "0", "1", "65535", "abc", "", "40000/2",
                                "40000/99999", "4e4", " 40000"])  # fmt: skip
        self._set(lines, "m=", f"m=audio {port} RTP/AVP 0 8 101")

    def connection(self, lines: list[str]) -> None:
        host = self.rng.choice(["example.com", "localhost", "127.0.0.1\x00", "127.0.0.\x001", "::1", "0.0.0.0",
                                "127.0.0.1/127", "127.0.0.1/127/3", "999.0.0.1", "", "127.0.0.1 extra", "IN",
                                "x" * 500, "[127.0.0.1]", "127.000.000.001", "::ffff:127.0.0.1"])  # fmt: skip
        kind = self.rng.choice(["IN IP4", "IN IP6", "IN", "XX IP4", "IN IP4 IN IP4", "in ip4"])
        self._set(lines, "c=", f"c={kind} {host}")

    def many_media(self, lines: list[str]) -> None:
        n = self.rng.choice([2, 9, 50, 300])
        for i in range(n):
            lines.append(f"m={self.rng.choice(['audio', 'video', 'image', 'text'])} {40002 + 2 * i} RTP/AVP 0")
            if self.rng.random() < 0.5:
                lines.append(f"c=IN IP4 127.0.0.{1 + i % 250}")

    def long_attribute(self, lines: list[str]) -> None:
        size = self.rng.choice([200, 1100, 5000, 20000, 70000])
        lines.insert(self._index(lines, "a="), "a=" + self.rng.choice(["x", "rtpmap:101 ", "fmtp:101 ", "crypto:1 "])
                     + "A" * size)  # fmt: skip

    def many_attributes(self, lines: list[str]) -> None:
        lines.extend(f"a=x-fuzz{i}:{i}" for i in range(self.rng.choice([100, 300, 2000])))

    def rtpmap(self, lines: list[str]) -> None:
        bad = self.rng.choice(["a=rtpmap:abc PCMU/8000", "a=rtpmap:101 telephone-event/0",
                               "a=rtpmap:0 PCMU/99999999999", "a=rtpmap:200 PCMA/8000", "a=rtpmap:96 PCMA/16000",
                               "a=rtpmap:96 opus/48000/2", "a=rtpmap:8", "a=rtpmap:", "a=rtpmap:8 /8000",
                               "a=rtpmap:8 PCMA/", "a=rtpmap:-1 PCMU/8000",
                               "a=rtpmap:101 TELEPHONE-EVENT/8000/1/2", "a=rtpmap:9 G722/16000",
                               "a=rtpmap:0 PCMA/8000", "a=rtpmap:8 PCMU/8000", "a=fmtp:101 0-99999",
                               "a=ptime:0", "a=ptime:99999999", "a=ptime:-20", "a=maxptime:0"])  # fmt: skip
        lines.insert(self._index(lines, "a=rtpmap"), bad)

    def formats(self, lines: list[str]) -> None:
        fmts = self.rng.choice(["", "x y z", "128 129", "-1", "8 " * 300, "96", "101", "0 0 0 0", "999999999999"])
        proto = self.rng.choice(["RTP/AVP", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "TCP/RTP/AVP", "RTP/AVPF", ""])
        self._set(lines, "m=", f"m=audio 40000 {proto} {fmts}".rstrip())

    def crypto(self, lines: list[str]) -> None:
        self._set(lines, "m=", "m=audio 40000 RTP/SAVP 8 101")
        lines.append("a=crypto:" + self.rng.choice([
            "1 AES_CM_128_HMAC_SHA1_80 inline:", "1 AES_CM_128_HMAC_SHA1_80 inline:short",
            "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!notbase64!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "x AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "1 F8_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz",
            "1 AES_CM_128_HMAC_SHA1_32 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32",
            "1", "", "1 AES_CM_128_HMAC_SHA1_80 inline:" + "A" * 3000,
        ]))  # fmt: skip

    def direction(self, lines: list[str]) -> None:
        for _ in range(self.rng.randint(1, 3)):
            lines.insert(self._index(lines, "a="), "a=" + self.rng.choice(["sendonly", "recvonly", "inactive",
                                                                          "sendrecv", "sendonly:x"]))  # fmt: skip

    def remove_line(self, lines: list[str]) -> None:
        if lines:
            del lines[self.rng.randrange(len(lines))]

    def garbage_line(self, lines: list[str]) -> None:
        junk = self.rng.choice(
            [
                "=",
                "m=",
                "c=",
                "a=",
                "x",
                "m=audio",
                "c=IN IP4",
                "v=1",
                "o=",
                "t=a b",
                "b=AS:-1",
                "\x00=\x00",
                "a=\x7f",
                "m=audio 40000 RTP/AVP 0\x00",
                "ä=ö",
                " m=audio 1 RTP/AVP 0",
            ]
        )
        lines.insert(self.rng.randrange(len(lines) + 1), junk)

    def huge_body(self, lines: list[str]) -> None:
        lines.extend(["a=x"] * self.rng.choice([300, 6000, 20000]))

    MUTATIONS: tuple[Callable[[SdpMutator, list[str]], None], ...] = (
        port,
        port,
        connection,
        connection,
        many_media,
        long_attribute,
        many_attributes,
        rtpmap,
        rtpmap,
        formats,
        crypto,
        direction,
        remove_line,
        garbage_line,
        huge_body,
    )


class SipMutator:
    """Mutations of whole SIP messages; the same seed gives the same mutants."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sdp = SdpMutator(rng)
        self.donors: list[Message] = []  # earlier seeds, for splicing headers across messages

    def mutate(self, message: Message, *, rounds: int | None = None) -> bytes:
        msg = Message(message.start, list(message.headers), message.body, message.length, message.eol)
        for _ in range(rounds if rounds is not None else self.rng.choice([1, 1, 1, 2, 2, 3, 4])):
            self.rng.choice(self.MUTATIONS)(self, msg)
        self.donors.append(message)
        if len(self.donors) > 32:
            self.donors.pop(0)
        data = msg.to_bytes()
        if self.rng.random() < 0.25:
            data = self.bytes(data)
        return loopback_only(data)

    # --- byte level -----------------------------------------------------------------------

    def bytes(self, data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(self.rng.randint(1, 4)):
            if not buf:
                break
            kind = self.rng.randrange(7)
            pos = self.rng.randrange(len(buf))
            if kind == 0:
                buf[pos] ^= 1 << self.rng.randrange(8)
            elif kind == 1:
                buf[pos] = self.rng.randrange(256)
            elif kind == 2:
                buf[pos:pos] = bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 16)))
            elif kind == 3:
                del buf[pos : pos + self.rng.randint(1, 64)]
            elif kind == 4:
                chunk = buf[pos : pos + self.rng.randint(1, 64)]
                buf[pos:pos] = chunk * self.rng.randint(1, 50)
            elif kind == 5:
                del buf[pos:]
            else:
                buf[pos:pos] = self.rng.choice([b"\x00", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b":", b";", b",", b"<",
                                                b">", b'"', b"\\", b"\xff", b"\xc3", b"%", b" "])  # fmt: skip
        return bytes(buf)

    # --- lines ---------------------------------------------------------------------------

    def _pick(self, msg: Message) -> int | None:
        return self.rng.randrange(len(msg.headers)) if msg.headers else None

    def _header(self, msg: Message, name: str) -> int | None:
        i = msg.header_index(name)
        return i if i is not None else self._pick(msg)

    def remove(self, msg: Message) -> None:
        i = self._header(msg, self.rng.choice(["Via", "From", "To", "Call-ID", "CSeq", "Contact", "Max-Forwards"]))
        if i is not None:
            del msg.headers[i]

    def duplicate(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            line = msg.headers[i]
            for _ in range(self.rng.choice([1, 1, 2, 10, 150])):
                msg.headers.insert(i, line)

    def truncate(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            line = msg.headers[i]
            msg.headers[i] = line[: self.rng.randrange(len(line) + 1)]

    def huge_value(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            size = self.rng.choice([300, 1000, 9000, 17000, 70000])
            name, _, value = msg.headers[i].partition(":")
            filler = value.strip() or "x"
            msg.headers[i] = f"{name}: {(filler * (size // len(filler) + 1))[:size]}"

    def many_headers(self, msg: Message) -> None:
        for n in range(self.rng.choice([50, 199, 201, 1000])):
            msg.headers.append(f"X-Fuzz-{n}: {n}")

    def nul(self, msg: Message) -> None:
        if msg.headers and self.rng.random() < 0.8:
            i = self.rng.randrange(len(msg.headers))
            line = msg.headers[i]
            pos = self.rng.randrange(len(line) + 1)
            msg.headers[i] = line[:pos] + "\x00" + line[pos:]
        else:
            pos = self.rng.randrange(len(msg.start) + 1)
            msg.start = msg.start[:pos] + "\x00" + msg.start[pos:]

    def bad_number(self, msg: Message) -> None:
        name = self.rng.choice(NUMBER_HEADERS)
        value = self.rng.choice(BAD_NUMBERS)
        i = msg.header_index(name)
        if name == "CSeq":
            method = msg.start.split(" ")[0] if not msg.start.startswith("SIP/") else "INVITE"
            value = self.rng.choice([f"{value} {method}", value, f"1 {method} extra", f"{value}{method}"])
        if name == "Content-Length" and self.rng.random() < 0.5:
            msg.length = value  # the one Content-Length, wrong
            return
        line = f"{name}: {value}"
        if i is None:
            msg.headers.append(line)
        else:
            msg.headers[i] = line

    def bad_port(self, msg: Message) -> None:
        i = self._header(msg, self.rng.choice(["Via", "Contact", "From", "To"]))
        if i is not None:
            msg.headers[i] = re.sub(r":(\d{1,5})", ":" + self.rng.choice(BAD_PORTS), msg.headers[i], count=1)
        if self.rng.random() < 0.3:
            msg.start = re.sub(r":(\d{1,5})", ":" + self.rng.choice(BAD_PORTS), msg.start, count=1)

    def bad_host(self, msg: Message) -> None:
        host = self.rng.choice(BAD_HOSTS)
        if self.rng.random() < 0.3:
            msg.start = re.sub(r"@[^;> :]+", "@" + host, msg.start, count=1)
            return
        i = self._header(msg, self.rng.choice(["Via", "From", "To", "Contact", "Record-Route"]))
        if i is not None:
            line = msg.headers[i]
            if line.lower().startswith(("via", "v:")):
                msg.headers[i] = re.sub(r"(UDP|TCP|TLS) [^;:]+", rf"\1 {host}", line, count=1)
            else:
                msg.headers[i] = re.sub(r"@[^;> :]+", "@" + host, line, count=1)

    def bad_uri(self, msg: Message) -> None:
        uri = self.rng.choice(GARBAGE_URIS)
        if msg.start.startswith("SIP/") or self.rng.random() < 0.4:
            i = self._header(msg, self.rng.choice(["From", "To", "Contact", "Refer-To", "Route", "Record-Route"]))
            if i is not None:
                name = msg.headers[i].split(":", 1)[0]
                msg.headers[i] = f"{name}: " + self.rng.choice([f"<{uri}>", uri, f'"x" <{uri}>;tag=1', f"<{uri}"])
            return
        parts = msg.start.split(" ")
        if len(parts) == 3:
            msg.start = f"{parts[0]} {uri} {parts[2]}"

    def method(self, msg: Message) -> None:
        new = self.rng.choice(METHODS)
        if msg.start.startswith("SIP/"):
            msg.start = self.rng.choice(
                [
                    "SIP/2.0 999 X",
                    "SIP/2.0 099 X",
                    "SIP/2.0 20 OK",
                    "SIP/3.0 200 OK",
                    "SIP/2.0  200 OK",
                    "SIP/2.0 200",
                    "SIP/2.0 6000 X",
                    "sip/2.0 200 OK",
                ]
            )
            return
        parts = msg.start.split(" ", 1)
        msg.start = f"{new} {parts[1]}" if len(parts) == 2 else new
        if self.rng.random() < 0.5:
            i = msg.header_index("CSeq")
            if i is not None:
                number = re.findall(r"\d+", msg.headers[i])
                msg.headers[i] = f"CSeq: {number[0] if number else 1} {new}"

    def version(self, msg: Message) -> None:
        version = self.rng.choice(["SIP/3.0", "SIP/2.1", "SIP/2", "SIP/", "HTTP/1.1", "sip/2.0", "SIP/2.0 ", "",
                                   "SIP/20", "SIP/2.0\x00"])  # fmt: skip
        if msg.start.startswith("SIP/"):
            msg.start = version + msg.start[7:]
        else:
            msg.start = re.sub(r"SIP/2\.0$", version, msg.start)

    def line_endings(self, msg: Message) -> None:
        msg.eol = self.rng.choice(["\n", "\r", "\n\r", "\r\r\n"])

    def folding(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            name, _, value = msg.headers[i].partition(":")
            cut = self.rng.randrange(len(value) + 1)
            fold = self.rng.choice([" ", "\t", "  "])
            msg.headers[i] = f"{name}:{value[:cut]}\r\n{fold}{value[cut:]}"

    def compact(self, msg: Message) -> None:
        forms = {
            "via": "v",
            "from": "f",
            "to": "t",
            "call-id": "i",
            "contact": "m",
            "content-type": "c",
            "content-length": "l",
            "supported": "k",
            "session-expires": "x",
            "refer-to": "r",
            "event": "o",
        }
        for i, line in enumerate(msg.headers):
            name, colon, value = line.partition(":")
            if colon and name.strip().lower() in forms and self.rng.random() < 0.5:
                msg.headers[i] = self.rng.choice([forms[name.strip().lower()], name.upper(), name.lower(),
                                                  name + "  ", name + "\t"]) + ":" + value  # fmt: skip

    def params(self, msg: Message) -> None:
        i = self._header(msg, self.rng.choice(["Via", "From", "To", "Contact"]))
        if i is not None:
            msg.headers[i] += self.rng.choice(
                [
                    ";branch=",
                    ";branch=z9hG4bK",
                    ";tag=",
                    ";tag=a;tag=b",
                    ";rport=abc",
                    ";received=",
                    ";received=127.0.0.9",
                    ";maddr=127.0.0.9",
                    ";;",
                    ";=x",
                    ";ttl=-1",
                    ";expires=-1",
                    ";q=2.0",
                    ";lr",
                    ';x="unterminated',
                    ";branch=z9hG4bK" + "a" * 5000,
                    ";transport=sctp",
                    ";rport;rport",
                ]
            )

    def quotes(self, msg: Message) -> None:
        i = self._header(msg, self.rng.choice(["From", "To", "Contact"]))
        if i is not None:
            name = msg.headers[i].split(":", 1)[0]
            msg.headers[i] = f"{name}: " + self.rng.choice([
                '"unbalanced <sip:1@127.0.0.1>', '"a\\" <sip:1@127.0.0.1>', "<sip:1@127.0.0.1", "sip:1@127.0.0.1>",
                "<<sip:1@127.0.0.1>>", "Name With Spaces <sip:1@127.0.0.1>;tag=1", '"\\\\" <sip:1@127.0.0.1>',
                "<sip:1@127.0.0.1>, <sip:2@127.0.0.1>", "*", "<>", '""<sip:1@127.0.0.1>', "<sip:1@127.0.0.1>;tag",
                '"' + "\u00e4" * 100 + '" <sip:1@127.0.0.1>', "<sip:1@127.0.0.1>;tag=\x00",
                '"tag=me" <sip:100@127.0.0.1>', "<sip:100@127.0.0.1;tag=x>", "<sip:100@127.0.0.1>;xtag=1",
            ])  # fmt: skip

    def extra_header(self, msg: Message) -> None:
        for _ in range(self.rng.randint(1, 3)):
            msg.headers.insert(self.rng.randrange(len(msg.headers) + 1), self.rng.choice(EXTRA_HEADERS))

    def whitespace(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            name, colon, value = msg.headers[i].partition(":")
            msg.headers[i] = (
                name + self.rng.choice([" ", "\t", "  ", ""]) + colon + self.rng.choice(["", "   ", "\t"]) + value
            )
        if self.rng.random() < 0.3:
            msg.start = self.rng.choice([" ", "\r\n", "\t"]) + msg.start.replace(" ", self.rng.choice(["  ", "\t"]))

    def body(self, msg: Message) -> None:
        if msg.body.startswith(b"v=0") and self.rng.random() < 0.8:
            msg.body = self.sdp.mutate(msg.body)
            return
        msg.body = self.rng.choice([
            bytes(self.rng.randrange(256) for _ in range(self.rng.randint(1, 600))), b"v=0\r\n", b"\x00" * 100,
            b"Signal=\r\n", b"Signal=55\r\n", b"SIP/2.0 2000 OK\r\n", b"SIP/2.0\r\n", b"{}", b"v=0" + b"\r\n" * 5000,
        ])  # fmt: skip
        if self.rng.random() < 0.5:
            i = msg.header_index("Content-Type")
            line = "Content-Type: " + self.rng.choice(
                [
                    "application/sdp",
                    "application/dtmf-relay",
                    "application/dtmf",
                    "message/sipfrag",
                    "text/plain",
                    "",
                    "a/b/c",
                    ";;",
                ]
            )
            if i is None:
                msg.headers.append(line)
            else:
                msg.headers[i] = line

    def splice(self, msg: Message) -> None:
        if not self.donors:
            return
        donor = self.rng.choice(self.donors)
        if donor.headers:
            for _ in range(self.rng.randint(1, 4)):
                msg.headers.insert(self.rng.randrange(len(msg.headers) + 1), self.rng.choice(donor.headers))
        if self.rng.random() < 0.3:
            msg.body = donor.body

    def shuffle(self, msg: Message) -> None:
        self.rng.shuffle(msg.headers)

    def unicode(self, msg: Message) -> None:
        i = self._pick(msg)
        if i is not None:
            junk = self.rng.choice(["\u00e4\u00f6\u00fc", "\ufffd", "\udcff\udcfe", "\u202e", "\U0001f4de", "\u0000",
                                    "\x1b[31m", "\u2028"])  # fmt: skip
            line = msg.headers[i]
            pos = self.rng.randrange(len(line) + 1)
            msg.headers[i] = line[:pos] + junk + line[pos:]

    def unicode_digit(self, msg: Message) -> None:
        """A digit that is one to str.isdigit() but not to int(), or one of another script."""
        digits = "\u00b2\u00b9\u00b3\u0663\u06f5\u0967\uff17\u2460"
        where = self.rng.randrange(3)
        if where == 0 and msg.body:
            text = msg.body.decode("utf-8", errors="surrogateescape")
            spots = [i for i, c in enumerate(text) if c in "0123456789"]
            if spots:
                i = self.rng.choice(spots)
                msg.body = (text[:i] + self.rng.choice(digits) + text[i + 1 :]).encode("utf-8", "surrogateescape")
            return
        lines = [msg.start, *msg.headers]
        places = [(n, i) for n, line in enumerate(lines) for i, c in enumerate(line) if c in "0123456789"]
        if places:
            n, i = self.rng.choice(places)
            lines[n] = lines[n][:i] + self.rng.choice(digits) + lines[n][i + 1 :]
            msg.start, msg.headers = lines[0], lines[1:]

    MUTATIONS: tuple[Callable[[SipMutator, Message], None], ...] = (
        unicode_digit,
        unicode_digit,
        remove,
        duplicate,
        truncate,
        huge_value,
        many_headers,
        nul,
        bad_number,
        bad_number,
        bad_port,
        bad_host,
        bad_host,
        bad_uri,
        bad_uri,
        method,
        version,
        line_endings,
        folding,
        compact,
        params,
        params,
        quotes,
        extra_header,
        extra_header,
        whitespace,
        body,
        body,
        body,
        splice,
        shuffle,
        unicode,
    )
