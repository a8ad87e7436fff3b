"""SIP messages: a strict parser (RFC 3261 §7, §25; RFC 4475) and builders.

``parse_message`` turns bytes into a request or response or raises
``SipParseError`` carrying the status code the RFC asks for (400, 416, 505)
and, where enough was readable, the message itself so an error response
can be routed back.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import unquote

TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(rf"^{TOKEN}$")
_CSEQ_RE = re.compile(rf"^(\d{{1,10}})\s+({TOKEN})$")
_VIA_RE = re.compile(
    rf"^SIP\s*/\s*(\d+\.\d+)\s*/\s*({TOKEN})\s+(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:\s*:\s*(\d{{1,5}}))?\s*((?:;.*)?)$",
    re.DOTALL,
)
_DISPLAY_TOKENS_RE = re.compile(rf"^(?:{TOKEN}(?:\s+{TOKEN})*)?$")

COMPACT = {
    "i": "Call-ID",
    "m": "Contact",
    "e": "Content-Encoding",
    "l": "Content-Length",
    "c": "Content-Type",
    "f": "From",
    "s": "Subject",
    "k": "Supported",
    "t": "To",
    "v": "Via",
    "o": "Event",
    "r": "Refer-To",
    "b": "Referred-By",
    "u": "Allow-Events",
    "x": "Session-Expires",
    "a": "Accept-Contact",
    "j": "Reject-Contact",
    "d": "Request-Disposition",
    "y": "Identity",
    "n": "Identity-Info",
}
_CANONICAL = {
    name.lower(): name
    for name in (
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Allow",
        "Authorization",
        "Call-ID",
        "Call-Info",
        "Contact",
        "Content-Disposition",
        "Content-Length",
        "Content-Type",
        "CSeq",
        "Date",
        "Diversion",
        "Expires",
        "From",
        "Max-Forwards",
        "Min-Expires",
        "P-Asserted-Identity",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "Proxy-Require",
        "Reason",
        "Record-Route",
        "Refer-To",
        "Referred-By",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Session-Expires",
        "Supported",
        "To",
        "Unsupported",
        "User-Agent",
        "Via",
        "Warning",
        "WWW-Authenticate",
        "Event",
        "Subscription-State",
        "Allow-Events",
    )
}
SINGLE = frozenset({"call-id", "cseq", "from", "to", "content-length", "max-forwards", "content-type"})
MAX_MESSAGE = 65535
MAX_HEADERS = 200


def canonical(name: str) -> str:
    lower = name.lower()
    if lower in COMPACT:
        return COMPACT[lower]
    return _CANONICAL.get(lower, name)


class SipParseError(ValueError):
    """A message that must be refused (``status``) or dropped (``status`` is None)."""

    def __init__(self, reason: str, status: int | None = 400, message: SipMessage | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.message = message


@dataclass
class SipMessage:
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    def get(self, name: str) -> str | None:
        key = canonical(name).lower()
        for n, v in self.headers:
            if n.lower() == key:
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        key = canonical(name).lower()
        return [v for n, v in self.headers if n.lower() == key]

    def values(self, name: str) -> list[str]:
        """All comma-separated values of a list header, across its lines."""
        out: list[str] = []
        for line in self.get_all(name):
            out.extend(v for v in split_commas(line))
        return out

    def set(self, name: str, value: str) -> None:
        self.remove(name)
        self.headers.append((canonical(name), value))

    def add(self, name: str, value: str) -> None:
        self.headers.append((canonical(name), value))

    def remove(self, name: str) -> None:
        key = canonical(name).lower()
        self.headers = [(n, v) for n, v in self.headers if n.lower() != key]

    @property
    def call_id(self) -> str:
        return self.get("Call-ID") or ""

    @property
    def cseq(self) -> tuple[int, str]:
        return parse_cseq(self.get("CSeq") or "")

    @property
    def from_tag(self) -> str:
        return parse_name_addr(self.get("From") or "").params.get("tag") or ""

    @property
    def to_tag(self) -> str:
        return parse_name_addr(self.get("To") or "").params.get("tag") or ""

    @property
    def top_via(self) -> Via:
        vias = self.values("Via")
        if not vias:
            raise SipParseError("no Via header")
        return parse_via(vias[0])

    @property
    def content_type(self) -> str:
        return (self.get("Content-Type") or "").split(";")[0].strip().lower()

    def start_line(self) -> str:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        lines = [self.start_line()]
        lines.extend(f"{n}: {v}" for n, v in self.headers if n.lower() != "content-length")
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + self.body


@dataclass
class SipRequest(SipMessage):
    method: str = ""
    uri: str = ""

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"


@dataclass
class SipResponse(SipMessage):
    status: int = 0
    reason: str = ""

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"


# --- pieces -------------------------------------------------------------------


def number(text: str | None, largest: int) -> int | None:
    """A header's 1*DIGIT value (RFC 3261 §25.1) up to ``largest``, else None: ASCII digits only
    (str.isdigit() takes "²", which int() refuses), and never int() of thousands of digits."""
    if not text or not re.fullmatch(r"[0-9]+", text):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(largest)):
        return None
    value = int(digits)
    return value if value <= largest else None


def split_commas(value: str) -> list[str]:
    """Split a header value on commas outside quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    angle = 0
    escape = False
    for ch in value:
        if escape:
            escape = False
        elif quoted and ch == "\\":
            escape = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            angle += 1
        elif not quoted and ch == ">":
            angle = max(0, angle - 1)
        elif ch == "," and not quoted and angle == 0:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return parts


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=1;b`` -> {"a": "1", "b": None}; empty or malformed parameters raise."""
    params: dict[str, str | None] = {}
    text = text.strip()
    if not text:
        return params
    if not text.startswith(";"):
        raise SipParseError(f"unexpected text {text[:20]!r} before parameters")
    for raw in _split_semicolons(text[1:]):
        raw = raw.strip()
        if not raw:
            raise SipParseError("empty parameter")
        name, eq, value = raw.partition("=")
        name = name.strip()
        if not _TOKEN_RE.match(name):
            raise SipParseError(f"bad parameter name {name!r}")
        if eq:
            value = value.strip()
            if not value:
                raise SipParseError(f"parameter {name} without value")
            if value.startswith('"'):
                value = _unquote(value)
            params[name.lower()] = value
        else:
            params[name.lower()] = None
    return params


def _split_semicolons(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _unquote(text: str) -> str:
    if len(text) < 2 or not text.startswith('"') or not text.endswith('"'):
        raise SipParseError("unbalanced quotes")
    out, escape = [], False
    for ch in text[1:-1]:
        if escape:
            out.append(ch)
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            raise SipParseError("unbalanced quotes")
        else:
            out.append(ch)
    if escape:
        raise SipParseError("dangling escape in quoted string")
    return "".join(out)


@dataclass
class NameAddr:
    display: str
    uri: str
    params: dict[str, str | None]

    def __str__(self) -> str:
        display = f'"{self.display}" ' if self.display else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"{display}<{self.uri}>{params}"


def parse_name_addr(value: str) -> NameAddr:
    """From/To/Contact/Refer-To value (RFC 3261 §20.10, §25.1 name-addr / addr-spec)."""
    s = value.strip()
    display = ""
    if s.startswith('"'):
        end = _closing_quote(s)
        display = _unquote(s[: end + 1])
        s = s[end + 1 :].lstrip()
        if not s.startswith("<"):
            raise SipParseError("quoted display name without <URI>")
    if "<" in s:
        lt = s.index("<")
        if lt:
            tokens = s[:lt].strip()
            if not _DISPLAY_TOKENS_RE.match(tokens):
                raise SipParseError(f"display name {tokens[:30]!r} must be quoted")
            display = tokens
        gt = s.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>'")
        uri = s[lt + 1 : gt]
        if not uri or uri != uri.strip() or any(c.isspace() for c in uri):
            raise SipParseError("whitespace inside <URI>")
        params = parse_params(s[gt + 1 :])
    else:
        uri, _, rest = s.partition(";")
        uri = uri.strip()
        if not uri or any(c.isspace() or c in ",?" for c in uri):
            raise SipParseError(f"bad addr-spec {uri[:30]!r}")
        params = parse_params(";" + rest) if rest or s.endswith(";") else {}
    if ":" not in uri:
        raise SipParseError(f"URI without scheme {uri[:30]!r}")
    return NameAddr(display, uri, params)


def _closing_quote(s: str) -> int:
    escape = False
    for i, ch in enumerate(s[1:], start=1):
        if escape:
            escape = False
        elif ch == "\\":
            escape = True
        elif ch == '"':
            return i
    raise SipParseError("unbalanced quotes")


@dataclass
class Via:
    version: str
    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @property
    def branch(self) -> str:
        return self.params.get("branch") or ""

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"SIP/{self.version}/{self.transport.upper()} {self.host}{port}{params}"


def parse_via(value: str) -> Via:
    m = _VIA_RE.match(value.strip())
    if not m:
        raise SipParseError(f"bad Via {value[:40]!r}")
    version, transport, host, port, rest = m.groups()
    port_no = int(port) if port else None
    if port_no is not None and not 0 < port_no < 65536:
        raise SipParseError("bad Via port")
    return Via(version, transport.upper(), host, port_no, parse_params(rest))


def parse_cseq(value: str) -> tuple[int, str]:
    m = _CSEQ_RE.match(value.strip())
    if not m:
        raise SipParseError(f"bad CSeq {value[:30]!r}")
    number = int(m.group(1))
    if number >= 2**31:
        raise SipParseError("CSeq number too large")
    return number, m.group(2)


@dataclass
class SipUri:
    scheme: str
    user: str  # unescaped
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    password: str | None = None
    raw_user: str = ""

    def __str__(self) -> str:
        userinfo = f"{self.raw_user or self.user}@" if (self.raw_user or self.user) else ""
        port = f":{self.port}" if self.port else ""
        params = "".join(f";{k}" if v is None else f";{k}={v}" for k, v in self.params.items())
        return f"{self.scheme}:{userinfo}{self.host}{port}{params}"


_HOST_RE = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?::(\d{1,5}))?$")


def parse_uri(text: str) -> SipUri:
    """sip:, sips: and tel: URIs. Raises SipParseError(status=416) for other schemes."""
    scheme, colon, rest = text.partition(":")
    if not colon or not re.match(r"^[A-Za-z][A-Za-z0-9+\-.]*$", scheme):
        raise SipParseError(f"bad URI {text[:40]!r}")
    scheme = scheme.lower()
    if scheme == "tel":
        number, _, params = rest.partition(";")
        return SipUri("tel", unquote(number), "", None, parse_params(";" + params) if params else {})
    if scheme not in ("sip", "sips"):
        raise SipParseError(f"unsupported URI scheme {scheme!r}", status=416)
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart = rest
    hostport, _, params = hostpart.partition(";")
    if "?" in hostport or "?" in params:
        raise SipParseError("URI headers are not allowed here")
    m = _HOST_RE.match(hostport)
    if not m:
        raise SipParseError(f"bad host in URI {text[:40]!r}")
    user, _, password = userinfo.partition(":")
    return SipUri(
        scheme,
        unquote(user),
        m.group(1).lower(),
        int(m.group(2)) if m.group(2) else None,
        parse_params(";" + params) if params else {},
        password or None,
        raw_user=user,
    )


# --- the parser -----------------------------------------------------------------


def parse_message(data: bytes, *, stream: bool = False) -> SipRequest | SipResponse:
    """Parse one message. ``stream`` (TCP) means the framing already cut the body."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError("message too large", status=None)
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = data.partition(b"\n\n")
    text = head.decode("utf-8", errors="replace")
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # RFC 3261 §7.5: ignore CRLFs before the start line
    if not lines:
        raise SipParseError("empty message", status=None)
    start = lines[0]
    unfolded: list[str] = []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        elif line:
            unfolded.append(line)
    if len(unfolded) > MAX_HEADERS:
        raise SipParseError("too many headers", status=None)

    msg: SipRequest | SipResponse
    if start.startswith("SIP/"):
        parts = start.split(" ", 2)
        if len(parts) < 2 or parts[0] != "SIP/2.0" or not re.fullmatch(r"[1-6]\d\d", parts[1]):
            raise SipParseError(f"bad status line {start[:40]!r}", status=None)
        msg = SipResponse(status=int(parts[1]), reason=parts[2] if len(parts) > 2 else "")
    else:
        msg = SipRequest()
    headers: list[tuple[str, str]] = []
    for line in unfolded:
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.match(name):
            raise SipParseError(f"bad header line {line[:40]!r}", message=msg if headers else None)
        headers.append((canonical(name), value.strip()))
    msg.headers = headers

    # Content-Length and body (RFC 3261 §18.3, §20.14)
    lengths = msg.get_all("Content-Length")
    if len(lengths) > 1:
        raise SipParseError("more than one Content-Length", message=msg)
    if lengths:
        if not re.fullmatch(r"\d{1,9}", lengths[0]):
            raise SipParseError(f"bad Content-Length {lengths[0][:20]!r}", message=msg)
        length = int(lengths[0])
        if len(body) < length:
            raise SipParseError("body shorter than Content-Length", message=msg)
        body = body[:length]
    elif stream:
        body = b""
    msg.body = body

    if isinstance(msg, SipRequest):
        _parse_request_line(msg, start)
        _validate_request(msg)
    else:
        _validate_response(msg)
    return msg


def _parse_request_line(msg: SipRequest, start: str) -> None:
    parts = start.split(" ")
    if len(parts) != 3 or not all(parts):
        raise SipParseError(f"bad request line {start[:60]!r}", message=msg)
    method, uri, version = parts
    if not _TOKEN_RE.match(method):
        raise SipParseError(f"bad method {method[:20]!r}", message=msg)
    msg.method, msg.uri = method, uri
    if version.upper() != "SIP/2.0":
        if re.fullmatch(r"SIP/\d+\.\d+", version, re.IGNORECASE):
            raise SipParseError(f"SIP version {version} not supported", status=505, message=msg)
        raise SipParseError(f"bad SIP version {version[:20]!r}", message=msg)
    if uri.startswith("<") or uri.endswith(">"):
        raise SipParseError("Request-URI must not be enclosed in <>", message=msg)


def _validate_request(msg: SipRequest) -> None:
    missing = [h for h in ("Via", "From", "To", "Call-ID", "CSeq") if msg.get(h) is None]
    vias = msg.values("Via")
    if not vias:
        raise SipParseError("no Via header", status=None)
    for via in vias:
        try:
            parse_via(via)
        except SipParseError as err:
            raise SipParseError(str(err), message=msg) from None
    if missing:
        raise SipParseError(f"missing {', '.join(missing)}", message=msg)
    for name in SINGLE:
        if len(msg.get_all(name)) > 1:
            raise SipParseError(f"more than one {canonical(name)}", message=msg)
    try:
        _, method = parse_cseq(msg.get("CSeq") or "")
        for name in ("From", "To"):
            uri = parse_name_addr(msg.get(name) or "").uri
            if uri[:4].lower() in ("sip:", "sips"):
                parse_uri(uri)  # a host the box could never answer to is refused here, not deep inside
        for contact in msg.values("Contact"):
            if contact != "*":
                parse_name_addr(contact)
    except SipParseError as err:
        raise SipParseError(str(err), message=msg) from None
    if method != msg.method:
        raise SipParseError(f"CSeq method {method} does not match {msg.method}", message=msg)
    max_forwards = msg.get("Max-Forwards")
    if max_forwards is not None and number(max_forwards, 255) is None:
        raise SipParseError("bad Max-Forwards", message=msg)
    try:
        parse_uri(msg.uri)
    except SipParseError as err:
        raise SipParseError(str(err), status=err.status, message=msg) from None


def _validate_response(msg: SipResponse) -> None:
    for name in ("Via", "From", "To", "Call-ID", "CSeq"):
        if msg.get(name) is None:
            raise SipParseError(f"response without {name}", status=None)
    try:
        parse_cseq(msg.get("CSeq") or "")
        msg.top_via  # noqa: B018 - validates
        msg.from_tag, msg.to_tag  # noqa: B018 - responses are matched by their tags: unreadable ones dropped
    except SipParseError as err:
        raise SipParseError(str(err), status=None) from None


# --- builders -------------------------------------------------------------------


def new_tag() -> str:
    return secrets.token_hex(6)


def new_branch() -> str:
    return "z9hG4bK" + secrets.token_hex(10)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def _has_tag(value: str) -> bool:
    """A tag parameter on the header (not "tag=" in a display name or inside the URI)."""
    try:
        return parse_name_addr(value).params.get("tag") is not None
    except SipParseError:
        return "tag=" in value.lower().replace(" ", "")


def make_response(
    request: SipRequest,
    status: int,
    reason: str,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
) -> SipResponse:
    """A response copying Via, From, To (+tag), Call-ID, CSeq (RFC 3261 §8.2.6.2)."""
    resp = SipResponse(status=status, reason=reason)
    for via in request.get_all("Via"):
        resp.add("Via", via)
    if status in (180, 183) or 200 <= status < 300:
        for rr in request.get_all("Record-Route"):
            resp.add("Record-Route", rr)
    resp.add("From", request.get("From") or "")
    to = request.get("To") or ""
    if to_tag and status > 100 and not _has_tag(to):
        to = f"{to};tag={to_tag}"
    resp.add("To", to)
    resp.add("Call-ID", request.call_id)
    resp.add("CSeq", request.get("CSeq") or "")
    for name, value in headers or []:
        resp.add(name, value)
    if content_type:
        resp.add("Content-Type", content_type)
    resp.body = body
    return resp
