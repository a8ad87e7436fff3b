"""SIP over UDP, TCP and TLS (RFC 3261 §18, §26.2) on one asyncio loop.

Requests get ``received``/``rport`` stamped into their top Via (RFC 3581);
responses go back the way §18.2.2 says, which for a request that came over
TCP or TLS is the same connection. Addresses in Via are never resolved by
DNS: a response goes to an IP literal or to the packet's source.

Every packet and every new connection passes the ``SourceGuard`` before a
byte of it is parsed: a banned or flooding source costs a dict lookup.

TCP and TLS connections are a bounded table shared by sources
(``Admission.connections``). A connection without a call on it closes after
a silence (short for untrusted sources); one that closes so without ever
having carried a message counts as a failure of its source (slow-loris).
When the table is full, the connection silent for longest is closed to make
room, so idle connections can never lock legitimate peers out.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import socket
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from zentrale.config import TlsConfig
from zentrale.lines.sip.guard import SourceGuard

if TYPE_CHECKING:
    from zentrale.lines.sip.admission import Admission
from zentrale.lines.sip.message import SipMessage, SipParseError, SipRequest, number, parse_message, parse_via

log = logging.getLogger(__name__)

MAX_TCP_HEADER = 16 * 1024
MAX_TCP_BODY = 64 * 1024
TCP_IDLE_SECONDS = 600  # without an Admission (tests of the transport alone)
TLS_HANDSHAKE_SECONDS = 10
EPHEMERAL_ATTEMPTS = 5  # port 0: UDP's free port taken for TCP by another program, picked again


@dataclass(eq=False)
class TcpConnection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    remote: tuple[str, int]
    local: tuple[str, int]
    transport: str = "tcp"  # "tcp" | "tls"
    closed: bool = False
    messages: int = 0  # complete messages read from it
    last_activity: float = 0.0  # loop time of the last message (or of the accept)
    outgoing: bool = False  # we connected (to a trunk or an agent's phone)

    def write(self, data: bytes) -> None:
        if self.closed or self.writer.is_closing():
            raise ConnectionError(f"TCP connection to {self.remote} is closed")
        self.writer.write(data)


@dataclass(frozen=True)
class Peer:
    """Where a message came from, or where one goes."""

    transport: str  # "udp" | "tcp" | "tls"
    host: str
    port: int
    conn: TcpConnection | None = field(default=None, compare=False)

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)


Handler = Callable[[SipMessage | SipParseError, Peer], None]


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def stamp_via(request: SipRequest, peer: Peer) -> None:
    """Add received= and fill rport= in the top Via (RFC 3261 §18.2.1, RFC 3581 §4)."""
    for i, (name, value) in enumerate(request.headers):
        if name != "Via":
            continue
        first, sep, rest = value.partition(",")  # only the topmost value
        via = parse_via(first)
        if via.host.strip("[]") != peer.host:
            via.params["received"] = peer.host
        if "rport" in via.params:
            via.params["rport"] = str(peer.port)
        request.headers[i] = (name, str(via) + (sep + rest if sep else ""))
        return


def response_peer(message: SipMessage, source: Peer | None) -> Peer | None:
    """Where a response to ``message`` goes (RFC 3261 §18.2.2, RFC 3581 §4)."""
    if source is not None and source.transport != "udp":
        return source
    try:
        via = message.top_via
    except SipParseError:
        return source
    host = via.params.get("received") or via.host
    rport = via.params.get("rport")
    port = number(rport, 65535) or via.port or 5060  # a hostile rport=² or rport=70000: the Via's port
    if not is_ip(host):
        return source  # never resolve names found in a message
    return Peer("udp", host.strip("[]"), port)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: SipTransport) -> None:
        self.owner = owner
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]) -> None:
        guard = self.owner.guard
        if guard is not None and not guard.admit(addr[0]):
            return  # banned or flooding: not even parsed
        self.owner.received(data, Peer("udp", addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("udp: %s", exc)  # ICMP port unreachable from a gone peer


def client_tls_context(config: TlsConfig | None) -> ssl.SSLContext:
    """Toward trunks: the peer's certificate and name are verified unless ``verify`` is off."""
    cafile = str(config.ca_file) if config is not None and config.ca_file else None
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if config is not None and not config.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def server_tls_context(config: TlsConfig) -> ssl.SSLContext:
    if config.certificate is None or config.key is None:
        raise ValueError("sip.tls needs certificate and key to accept TLS connections")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(config.certificate), str(config.key))
    return ctx


class SipTransport:
    """One UDP socket and one TCP listener on the same port, a TLS listener on its own."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        *,
        udp: bool = True,
        tcp: bool = True,
        tls: TlsConfig | None = None,
        guard: SourceGuard | None = None,
        admission: Admission | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ephemeral = port == 0  # any free port (tests, tools): picked again if TCP finds it taken
        self.handler = handler
        self.use_udp = udp
        self.use_tcp = tcp
        self.tls = tls
        self.tls_port = tls.port if tls is not None else 0
        self.guard = guard
        self.admission = admission
        self.in_use: Callable[[TcpConnection], bool] = lambda conn: False  # a call runs over it: never idle
        self.idle_closed = 0  # connections closed for silence
        self.evicted = 0  # idle connections closed to make room for a new one
        self._udp: _Udp | None = None
        self._server: asyncio.Server | None = None
        self._tls_server: asyncio.Server | None = None
        self._client_tls: ssl.SSLContext | None = None
        self._server_tls: ssl.SSLContext | None = None
        self._conns: dict[tuple[str, int], TcpConnection] = {}
        self._names: dict[str, str] = {}  # IP -> name its TLS certificate must carry
        self._tasks: set[asyncio.Task[None]] = set()
        self.dropped = 0  # unparseable messages
        self.received_count = 0

    async def start(self) -> None:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for attempt in range(1, EPHEMERAL_ATTEMPTS + 1):
            try:
                await self._listen(family)
                break
            except OSError as err:
                # port 0: UDP picks a free port, TCP must then get the same one, which another
                # program may hold -- let UDP pick again (a fixed port's clash is the caller's)
                if not (self.ephemeral and self.use_udp and err.errno == errno.EADDRINUSE):
                    raise
                if self._udp is not None and self._udp.transport is not None:
                    self._udp.transport.close()
                self._udp, self.port = None, 0
                if attempt == EPHEMERAL_ATTEMPTS:
                    raise
        if self.tls is not None:
            self._client_tls = client_tls_context(self.tls)
            if self.tls.certificate is not None:
                # A plain listener: the guard sees the connection before any (costly) handshake,
                # which follows in _accept by start_tls.
                self._server_tls = server_tls_context(self.tls)
                self._tls_server = await asyncio.start_server(
                    self._serve_tls, self.host, self.tls.port, family=family, reuse_address=True
                )
                self.tls_port = self._tls_server.sockets[0].getsockname()[1]

    async def _listen(self, family: socket.AddressFamily) -> None:
        loop = asyncio.get_running_loop()
        if self.use_udp:
            _, proto = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=(self.host, self.port), family=family
            )
            self._udp = proto
            if self.port == 0 and proto.transport is not None:
                self.port = proto.transport.get_extra_info("sockname")[1]
        if self.use_tcp:
            self._server = await asyncio.start_server(
                self._serve, self.host, self.port, family=family, reuse_address=True
            )

    @property
    def connections(self) -> list[TcpConnection]:
        return list(self._conns.values())

    @property
    def listening(self) -> bool:
        """True while the configured sockets are open (health, systemd READY)."""
        udp = self._udp.transport if self._udp is not None else None
        udp_up = not self.use_udp or (udp is not None and not udp.is_closing())
        tcp_up = not self.use_tcp or (self._server is not None and self._server.is_serving())
        return udp_up and tcp_up

    async def stop(self) -> None:
        if self._udp and self._udp.transport:
            self._udp.transport.close()
        if self._tls_server:
            self._tls_server.close()
        if self._server:
            self._server.close()
        for conn in list(self._conns.values()):
            conn.writer.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()

    # --- receiving ---------------------------------------------------------------

    def received(self, data: bytes, peer: Peer) -> None:
        self.received_count += 1
        if not data.strip(b"\r\n"):
            return  # keep-alive (RFC 5626 §4.4.1)
        try:
            msg = parse_message(data, stream=peer.transport == "tcp")
        except SipParseError as err:
            if err.message is None or err.status is None:
                self.dropped += 1
                log.info("sip: dropped unparseable message from %s:%d: %s", peer.host, peer.port, err.reason)
            if err.message is not None and err.status is not None and isinstance(err.message, SipRequest):
                with contextlib.suppress(SipParseError):
                    stamp_via(err.message, peer)
            self.handler(err, peer)
            return
        if isinstance(msg, SipRequest):
            stamp_via(msg, peer)
        self.handler(msg, peer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A connection task cancelled by stop() ends quietly: Python 3.11's stream server asks
        # a cancelled handler task for its exception, which raises and logs a traceback.
        with contextlib.suppress(asyncio.CancelledError):
            await self._accept(reader, writer, "tcp")

    async def _serve_tls(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await self._accept(reader, writer, "tls")

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, kind: str) -> None:
        remote = writer.get_extra_info("peername")
        local = writer.get_extra_info("sockname")
        host = remote[0]
        guard = self.guard
        if guard is not None and not guard.admit(host):
            writer.transport.abort()  # banned: no goodbye
            return
        if not self._take_slot(host):
            # The box's own limit, not the source's doing: refused, never charged (docs/security.md).
            log.info("sip: no room for another %s connection from %s", kind.upper(), host)
            writer.transport.abort()
            return
        conn = TcpConnection(reader, writer, (host, remote[1]), (local[0], local[1]), kind)
        conn.last_activity = asyncio.get_running_loop().time()
        if kind == "tls" and self._server_tls is not None:
            try:
                await writer.start_tls(self._server_tls, ssl_handshake_timeout=TLS_HANDSHAKE_SECONDS)
            except (OSError, TimeoutError, ConnectionError) as err:  # ssl.SSLError is an OSError
                log.info("sip: TLS handshake with %s failed: %s", remote, err)
                if guard is not None:
                    guard.failed(host, "TLS handshake failed")
                writer.transport.abort()
                self._release_slot(host)
                return
        await self._read_loop(conn, slot_taken=True)

    def _take_slot(self, host: str) -> bool:
        """A slot in the connection table for ``host``; when the table is full, the
        connection silent for longest (without a call) is closed to make room."""
        shares = self.admission.connections if self.admission is not None else None
        if shares is None:
            return True
        refusal = shares.acquire(host)
        if refusal == "full" and self._evict_idle():
            refusal = shares.acquire(host)
        return refusal is None

    def _release_slot(self, host: str) -> None:
        if self.admission is not None:
            self.admission.connections.release(host)

    def _evict_idle(self) -> bool:
        candidates = [c for c in self._conns.values() if not c.closed and not c.outgoing and not self.in_use(c)]
        if not candidates:
            return False
        oldest = min(candidates, key=lambda c: c.last_activity)
        log.info("sip: closing the idle %s connection of %s:%d to make room", oldest.transport.upper(), *oldest.remote)
        self.evicted += 1
        self._close(oldest)
        return True

    def _close(self, conn: TcpConnection) -> None:
        """Close now and give the slot back (the read loop's clean-up sees ``closed``)."""
        if conn.closed:
            return
        conn.closed = True
        if self._conns.get(conn.remote) is conn:
            del self._conns[conn.remote]
        if not conn.outgoing:
            self._release_slot(conn.remote[0])
        conn.writer.transport.abort()

    def _idle_limit(self, host: str) -> float:
        return self.admission.idle_timeout(host) if self.admission is not None else TCP_IDLE_SECONDS

    async def _read_loop(self, conn: TcpConnection, *, slot_taken: bool = False) -> None:
        self._conns[conn.remote] = conn
        host = conn.remote[0]
        peer = Peer(conn.transport, host, conn.remote[1], conn)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        guard = self.guard
        loop = asyncio.get_running_loop()
        conn.last_activity = loop.time()
        try:
            while not conn.closed:
                try:
                    async with asyncio.timeout(self._idle_limit(host)):
                        data = await _read_framed(conn.reader)
                except TimeoutError:
                    if self.in_use(conn) or conn.outgoing:
                        continue  # a call runs over it: silence is normal
                    self.idle_closed += 1
                    log.info("sip: closing the silent %s connection of %s:%d", conn.transport.upper(), *conn.remote)
                    if conn.messages == 0 and guard is not None:
                        guard.failed(host, f"{conn.transport.upper()} connection held open without a message")
                    break
                if data is None:
                    break
                if guard is not None and not guard.admit(host):
                    break  # banned while connected: hang up the connection
                conn.messages += 1
                conn.last_activity = loop.time()
                self.received(data, peer)
        except FramingError as err:
            log.info("sip: tcp %s: %s; answering and closing", conn.remote, err)
            self.received(err.head, peer)  # the parser refuses it with 400
            with contextlib.suppress(ConnectionError):
                await conn.writer.drain()
        except (
            ConnectionError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ValueError,
            OSError,
        ) as err:
            log.debug("sip: tcp %s closed: %r", conn.remote, err)
        finally:
            was_closed = conn.closed
            conn.closed = True
            if self._conns.get(conn.remote) is conn:
                del self._conns[conn.remote]
            if slot_taken and not was_closed:
                self._release_slot(host)
            conn.writer.close()
            if task is not None:
                self._tasks.discard(task)

    # --- sending -----------------------------------------------------------------

    def send(self, message: SipMessage, peer: Peer) -> None:
        self.send_bytes(message.to_bytes(), peer)

    def send_bytes(self, data: bytes, peer: Peer, on_error: Callable[[BaseException], None] | None = None) -> None:
        """Send now, or over a connection opened first; ``on_error`` hears if that fails later."""
        if peer.transport == "udp":
            if self._udp is None or self._udp.transport is None:
                raise ConnectionError("UDP is not enabled")
            self._udp.transport.sendto(data, peer.addr)
            return
        conn = peer.conn if peer.conn is not None and not peer.conn.closed else self._conns.get(peer.addr)
        if conn is not None and not conn.closed:
            conn.write(data)
            return
        self._spawn(self._connect_and_send(peer, data, on_error))

    async def connect(
        self, host: str, port: int, *, tls: bool = False, server_name: str | None = None
    ) -> TcpConnection:
        """A connection to ``host:port`` (an IP); over TLS the certificate must name ``server_name``."""
        existing = self._conns.get((host, port))
        if existing is not None and not existing.closed:
            return existing
        ctx: ssl.SSLContext | None = None
        if tls:
            ctx = self._client_tls or client_tls_context(self.tls)
            self._client_tls = ctx
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=(server_name or host) if ctx else None), 10
        )
        local = writer.get_extra_info("sockname")
        conn = TcpConnection(reader, writer, (host, port), (local[0], local[1]), "tls" if tls else "tcp")
        conn.outgoing = True  # ours: not counted against the peer's share, never idle-closed
        self._conns[(host, port)] = conn
        self._spawn(self._read_loop(conn))
        return conn

    def server_name(self, host: str, name: str) -> None:
        """Verify the certificate of ``host`` (an IP) against ``name`` (what the config or URI said)."""
        self._names[host] = name

    async def _connect_and_send(
        self, peer: Peer, data: bytes, on_error: Callable[[BaseException], None] | None = None
    ) -> None:
        try:
            conn = await self.connect(
                peer.host, peer.port, tls=peer.transport == "tls", server_name=self._names.get(peer.host)
            )
            conn.write(data)
        except (OSError, TimeoutError, ssl.SSLError) as err:
            log.warning("sip: cannot send over %s to %s:%d: %s", peer.transport.upper(), peer.host, peer.port, err)
            if on_error is not None:
                on_error(err)  # the transaction ends now, not by its timer (RFC 3261 §17.1.4)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local_ip_for(self, host: str) -> str:
        """The local address the kernel would use to reach ``host`` (no packet is sent)."""
        if self.host not in ("0.0.0.0", "::", ""):
            return self.host
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.connect((host, 9))
                return str(s.getsockname()[0])
            except OSError:
                return "127.0.0.1"


class FramingError(ValueError):
    """The stream cannot be framed any further; ``head`` is answered, then the connection closes."""

    def __init__(self, head: bytes, reason: str) -> None:
        super().__init__(reason)
        self.head = head


async def _read_framed(reader: asyncio.StreamReader) -> bytes | None:
    """One message from a stream, framed by Content-Length (RFC 3261 §18.3)."""
    head = bytearray()
    while True:
        line = await reader.readline()
        if not line:
            return None
        if not head and line in (b"\r\n", b"\n"):
            continue  # CRLF keep-alives between messages (RFC 3261 §7.5, RFC 5626 §4.4.1)
        head += line
        if len(head) > MAX_TCP_HEADER:
            raise ValueError("header section too large")
        if head.endswith(b"\r\n\r\n") or head.endswith(b"\n\n"):
            break
    length = 0
    for raw in bytes(head).split(b"\n")[1:]:
        name, _, value = raw.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            value = value.strip()
            if not value.isdigit():
                raise FramingError(bytes(head), "bad Content-Length on a stream")
            length = int(value)
            break
    if length > MAX_TCP_BODY:
        raise FramingError(bytes(head), "body too large")
    body = await reader.readexactly(length) if length else b""
    return bytes(head) + body
