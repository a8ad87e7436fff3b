"""The configuration file: one YAML document, validated once at start-up.

A bad file makes ``zentrale serve`` and ``zentrale check-config`` exit
non-zero before any port is opened, naming the file, the field and what is
wrong. Every field has a description; ``docs/configuration.md`` lists them.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import zoneinfo
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zentrale.core.addresses import address_problem, check_addresses
from zentrale.core.numbers import compile_pattern
from zentrale.errors import ConfigError, Invalid

M = TypeVar("M", bound=BaseModel)

DEMO_DIR = Path(__file__).parent / "demo"
LAN_NETWORKS = ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "fe80::/10"]


class _Section(BaseModel):
    # frozen: the configuration is read once and never changed while the box runs; what the web
    # page changes lives in the services that use it (docs/design.md, "Words": settings)
    model_config = ConfigDict(extra="forbid", frozen=True)


class Registration(_Section):
    """Register the box as a phone of a PBX or trunk (digest auth)."""

    registrar: str = Field(description="host or host:port of the registrar, e.g. fritz.box or 192.168.178.1")
    user: str = Field(description="the account's user name (extension)")
    password: str = Field("", description="digest password")
    auth_user: str | None = Field(None, description="authentication user if different from user")
    domain: str | None = Field(None, description="SIP domain (default: the registrar's host)")
    expires: int = Field(300, ge=60, le=86400, description="seconds asked for (the registrar's grant is used)")
    keepalive: int = Field(
        30, ge=0, le=3600, description="seconds between probes of the registrar (0: off); lost: register again"
    )
    transport: Literal["udp", "tcp", "tls"] = Field(
        "udp", description="tls: SIP over TLS to the registrar (default port 5061), its certificate verified"
    )
    outbound_proxy: str | None = Field(
        None, description="host[:port] every request to this PBX/trunk is sent through (loose routing)"
    )
    transfer: Literal["bridge", "refer"] = Field(
        "bridge",
        description="bridge: a call from this PBX taken by an agent stays in the box, which bridges it to the "
        "agent's phone; refer: the box hands the call on by SIP REFER (RFC 3515) and leaves once the PBX reports "
        "the agent answered (a refused or failed transfer keeps the caller waiting). Off by default: a FRITZ!Box "
        "answers REFER from an IP phone with 429",
    )

    @field_validator("registrar", "outbound_proxy")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?", value):
            raise ValueError(f"{value!r} is not a host or host:port like fritz.box or 192.168.178.1:5060")
        return value


class SecurityConfig(_Section):
    """Rate limits and temporary bans per source address (the box's own pike/fail2ban)."""

    trusted: list[str] = Field(
        default_factory=list,
        description="networks (CIDR) never rate-limited or banned, e.g. the PBX or trunk; the registrar and "
        "outbound proxy are always trusted",
    )
    requests_per_second: float = Field(100, gt=0, description="sustained SIP messages per second from one source")
    burst: int = Field(200, ge=1, description="messages one source may send at once above the sustained rate")
    max_failures: int = Field(
        10, ge=1, description="failed attempts (refused, unknown number, bad auth, malformed) before a ban"
    )
    failure_window: float = Field(60, gt=0, description="seconds over which failures are counted")
    ban_seconds: float = Field(300, gt=0, description="first ban of a source")
    ban_escalation: float = Field(4, ge=1, description="each further ban of the same source lasts this much longer")
    max_ban_seconds: float = Field(86400, gt=0, description="longest ban")
    max_sources: int = Field(4096, ge=16, description="sources remembered at once (least recently seen forgotten)")
    max_calls_per_source: int = Field(
        16, ge=1, description="calls at once from one untrusted source (a trusted PBX or trunk has no limit)"
    )

    @field_validator("trusted")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)


class InboundAuth(_Section):
    """Digest authentication of INVITEs from sources outside allowed_peers (a trunk without a fixed address)."""

    user: str = Field(description="the user name the trunk authenticates with")
    password: str = Field(min_length=8, description="its password (at least 8 characters)")
    realm: str = Field("zentrale", description="digest realm")


class TlsConfig(_Section):
    """SIP over TLS (RFC 3261 §26.2, sips:) for trunks that ask for it."""

    port: int = Field(5061, ge=0, le=65535, description="TLS listening port (0: any free port)")
    certificate: Path | None = Field(None, description="PEM certificate (chain) of the box, for incoming TLS")
    key: Path | None = Field(None, description="PEM private key of the certificate")
    ca_file: Path | None = Field(None, description="PEM CA bundle to verify peers with (default: the system's)")
    verify: bool = Field(True, description="verify the certificate and name of peers the box connects to (trunks)")
    srtp: bool = Field(
        True,
        description="the box's own calls over TLS (to agents) offer SRTP only (SDES, RTP/SAVP): the audio is as "
        "private as the signalling; a phone that cannot do SRTP refuses such a call (turn off for those)",
    )


def _check_networks(value: list[str]) -> list[str]:
    for net in value:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            raise ValueError(f"{net!r} is not a network like 192.168.0.0/16") from None
    return value


class SipLimits(_Section):
    """Bounded tables of the SIP line and each source's share of them (docs/security.md)."""

    transactions: int = Field(
        4096, ge=64, le=1_000_000, description="live server transactions (requests not answered yet) at once"
    )
    transactions_per_source: int = Field(
        256, ge=8, description="live server transactions of one untrusted source (a trusted PBX: all but 1/8)"
    )
    completed_memory_mb: float = Field(
        32, gt=0, le=1024, description="memory for answered transactions kept to absorb retransmissions (oldest go)"
    )
    calls: int = Field(1000, ge=1, le=100_000, description="calls at once (the PBX may use all but 1/8)")
    tcp_connections: int = Field(512, ge=8, le=65_536, description="TCP/TLS connections at once")
    tcp_connections_per_source: int = Field(8, ge=1, description="TCP/TLS connections of one untrusted source")
    tcp_idle_seconds: float = Field(
        600, ge=10, description="a TCP connection of a trusted or authenticated source without a call closes after"
    )
    tcp_idle_seconds_untrusted: float = Field(
        30, ge=2, description="a TCP connection of any other source without a call closes after this much silence"
    )


class SessionTimers(_Section):
    """Every call ends: session timers (RFC 4028) and liveness probes for calls on hold."""

    session_expires: int = Field(
        1800, ge=90, le=86400, description="session interval the box asks for and accepts (RFC 4028)"
    )
    min_se: int = Field(
        90,
        ge=2,
        le=86400,
        description="shortest session interval accepted (below: 422); RFC 4028 asks for >= 90, "
        "lower values are for tests",
    )
    hold_probe_interval: float = Field(
        30, ge=1, le=3600, description="a call on hold is probed by in-dialog OPTIONS this often; no answer: hang up"
    )
    probe_timeout: float = Field(8, ge=1, le=32, description="seconds a probe may go unanswered")


class JitterBuffer(_Section):
    """Incoming call audio: the jitter buffer's bounds, and when bridged audio bypasses it (docs/audio.md)."""

    min_ms: float = Field(
        20, ge=10, le=500, description="shallowest depth (ms) the jitter buffer adapts to; it follows the line's jitter"
    )
    max_ms: float = Field(
        120,
        ge=20,
        le=1000,
        description="deepest depth (ms): more jitter than this is concealed as loss, not waited for",
    )
    relay: Literal["auto", "always", "never"] = Field(
        "auto",
        description="bridged legs with the same codec: auto relays packets as they come (the agent's phone buffers "
        "them itself) while the caller's line is steady and re-clocks them through this buffer (reordered, losses "
        "concealed) when it is jittery; always / never: one or the other",
    )

    @model_validator(mode="after")
    def _bounds(self) -> JitterBuffer:
        if self.min_ms > self.max_ms:
            raise ValueError(f"min_ms ({self.min_ms:g}) is above max_ms ({self.max_ms:g})")
        return self


class SipConfig(_Section):
    bind: str = Field("0.0.0.0", description="address the SIP and RTP sockets listen on")
    port: int = Field(5060, ge=0, le=65535, description="SIP port (UDP and TCP)")
    udp: bool = True
    tcp: bool = True
    public_address: str | None = Field(None, description="address put into Contact and SDP (default: detected)")
    numbers: list[str] = Field(["*"], description="hotline numbers answered; '*' answers any number")
    allowed_peers: list[str] = Field(
        default_factory=lambda: list(LAN_NETWORKS),
        description="networks (CIDR) whose INVITEs are answered; the registrar is always allowed",
    )
    codecs: list[Literal["G722", "PCMA", "PCMU"]] = Field(
        ["G722", "PCMA", "PCMU"], description="codecs offered/accepted (the caller's order wins)"
    )
    rtp_ports: tuple[int, int] = Field((10000, 20000), description="RTP port range")
    rtp_timeout: float = Field(60, ge=0, description="hang up when no RTP arrives for this long (0: never)")
    answer_after: float = Field(
        0, ge=0, le=30, description="seconds a call rings (180 Ringing) before the box answers; 0: at once"
    )
    symmetric_rtp: bool = Field(True, description="send RTP back to where it comes from (NAT)")
    jitter_buffer: JitterBuffer = Field(default_factory=JitterBuffer)
    inband_dtmf: Literal["auto", "always", "off"] = Field(
        "auto",
        description="DTMF tones in the call audio (ITU-T Q.24 detector): auto listens while no telephone-event "
        "(RFC 4733) was negotiated; always also with it (a key reported both ways counts once); off never",
    )
    user_agent: str = "Zentrale"
    registration: Registration | None = None
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    tls: TlsConfig | None = Field(None, description="SIP over TLS; off unless configured")
    inbound_auth: InboundAuth | None = Field(
        None, description="let INVITEs from outside allowed_peers in when they authenticate (digest); off by default"
    )
    limits: SipLimits = Field(default_factory=SipLimits)
    session_timers: SessionTimers = Field(default_factory=SessionTimers)
    identity: bool = Field(
        True,
        description="calls to agents carry the waiting caller and team in P-Asserted-Identity and Remote-Party-ID "
        "(the PBX shows them on desk phones if it trusts the box; docs/pbx.md)",
    )

    @field_validator("allowed_peers")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        return _check_networks(value)

    @model_validator(mode="after")
    def _ports(self) -> SipConfig:
        low, high = self.rtp_ports
        if not 1024 <= low < high <= 65535 or high - low < 20:
            raise ValueError("rtp_ports must be a range like [10000, 20000]")
        return self


class AcmeDnsConfig(_Section):
    """The office's DNS server that takes RFC 2136 dynamic updates signed with a TSIG key (RFC 8945)."""

    server: str = Field(description="address of the primary DNS server for the zone (IPv4 or IPv6)")
    port: int = Field(53, ge=1, le=65535)
    zone: str = Field(description="the zone the _acme-challenge record goes into, e.g. firma.de")
    tsig_name: str = Field(description="the TSIG key's name as the DNS server knows it")
    tsig_algorithm: Literal["hmac-sha256", "hmac-sha384", "hmac-sha512", "hmac-sha1", "hmac-md5"] = "hmac-sha256"
    tsig_secret: str = Field(description="the TSIG key's secret (base64, as in BIND's key statement)")

    @field_validator("server")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError("http.tls.acme.dns.server must be an IP address") from None
        return value

    @field_validator("tsig_secret")
    @classmethod
    def _base64(cls, value: str) -> str:
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise ValueError("http.tls.acme.dns.tsig_secret must be base64 (as in BIND's key statement)") from None
        return value


class AcmeConfig(_Section):
    """A certificate from an ACME CA (RFC 8555, e.g. Let's Encrypt) for the office's real domain (web/acme.py)."""

    domain: str = Field(
        max_length=253,
        pattern=r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$",
        description="the box's name in the office's DNS, e.g. zentrale.firma.de",
    )
    email: str | None = Field(None, description="contact for the CA's expiry notices (optional)")
    directory: str = Field(
        "https://acme-v02.api.letsencrypt.org/directory", pattern=r"^https://", description="the CA's ACME directory"
    )
    directory_ca: Path | None = Field(
        None, description="CA certificates (PEM) to trust for the directory (a private ACME CA); default: the system's"
    )
    challenge: Literal["dns-01", "http-01"] = Field(
        "dns-01",
        description="dns-01: a TXT record via RFC 2136 (works on a LAN); http-01: the CA fetches "
        "http://<domain>/.well-known/acme-challenge/ (port 80 forwarded to the box)",
    )
    dns: AcmeDnsConfig | None = Field(None, description="the DNS server for dns-01")
    retry_seconds: float = Field(300, gt=0, le=86400, description="first wait after a failure; doubles up to 6 h")

    @model_validator(mode="after")
    def _dns_for_dns01(self) -> AcmeConfig:
        if self.challenge == "dns-01" and self.dns is None:
            raise ValueError("http.tls.acme.challenge dns-01 needs http.tls.acme.dns (server, zone, TSIG key)")
        return self


class HttpTlsConfig(_Section):
    """HTTPS for the web page (web/tls.py, docs/https.md)."""

    enabled: bool = Field(True, description="serve the page over HTTPS; plain HTTP then redirects to it")
    port: int = Field(8443, ge=0, le=65535, description="HTTPS port (the appliance image: 443)")
    names: list[str] = Field(
        default_factory=list, description="more DNS names for the box's certificate (besides <host>.local)"
    )
    certificate: Path | None = Field(None, description="an own certificate chain (PEM), e.g. from an ACME client")
    key: Path | None = Field(None, description="its private key (PEM, no password)")
    renew_days: int = Field(30, ge=1, le=300, description="re-issue the local certificate this long before its end")
    check_seconds: float = Field(60, gt=0, le=86400, description="how often the box's addresses are compared")
    acme: AcmeConfig | None = Field(None, description="a certificate for the office's domain via ACME; off by default")

    @model_validator(mode="after")
    def _both_files(self) -> HttpTlsConfig:
        if (self.certificate is None) != (self.key is None):
            raise ValueError("http.tls.certificate and http.tls.key go together")
        if self.acme is not None and not self.enabled:
            raise ValueError("http.tls.acme needs HTTPS on (http.tls.enabled: true)")
        return self


class HttpConfig(_Section):
    bind: str = Field(
        "0.0.0.0", description="address of the web page and API (every page needs a login; 127.0.0.1: this box only)"
    )
    port: int = Field(8080, ge=0, le=65535)
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="reverse proxies (addresses or CIDR networks) whose X-Forwarded-For/-Proto headers are "
        "believed; empty (the default): none, the connecting address is the client (login throttling keys on it)",
    )
    max_body_bytes: int = Field(
        65_536, ge=4096, le=16_000_000, description="largest request body of an ordinary JSON request (413 above)"
    )
    max_document_bytes: int = Field(
        1_000_000, ge=65_536, le=64_000_000, description="largest mode document (YAML or JSON) one request may carry"
    )
    max_json_depth: int = Field(32, ge=8, le=256, description="deepest nesting of objects/lists a request may have")
    tls: HttpTlsConfig = Field(default_factory=HttpTlsConfig)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, value: list[str]) -> list[str]:
        return _check_networks(value)


class Team(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")
    name: str
    distribution: Literal["pull", "auto"] = Field("pull", description="pull: agents take calls; auto: ring agents")
    strategy: Literal["longest_idle", "round_robin", "linear", "ring_all"] = "longest_idle"
    ring_timeout: float = Field(20, gt=0, le=120)
    wrap_up: float = Field(10, ge=0, le=600)
    email: list[str] = Field(default_factory=list, description="distribution list for messages")
    allowed_numbers: list[str] | None = Field(
        None,
        description="numbers agents of this team may log in with: '^...' regular expressions, dial patterns "
        "('**62x', x = a digit) or SIP URI patterns ('sip:*@vpn.example'); default: internal extensions and SIP "
        "URIs on private networks",
    )
    callback_numbers: list[str] | None = Field(
        None,
        description="numbers callers may be called back at (patterns as for allowed_numbers); default: internal "
        "extensions and German landline and mobile numbers (0..., never 09..., 0137/0138, 0180, 0700, 0118, 00...)",
    )
    callback_attempts: int = Field(3, ge=1, le=10, description="calls to a caller who asked for a callback")
    callback_interval: float = Field(300, ge=1, le=86400, description="seconds between two callback attempts")
    callback_ring_timeout: float = Field(30, gt=0, le=120, description="seconds the caller's phone rings")
    callback_order: Literal["agent_first", "caller_first"] = Field(
        "agent_first", description="a callback rings the agent first, then calls the caller; or the other way round"
    )

    @field_validator("allowed_numbers", "callback_numbers")
    @classmethod
    def _patterns(cls, value: list[str] | None) -> list[str] | None:
        for pattern in value or []:
            compile_pattern(pattern)
        return value

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        return check_addresses(value)


class PhoneRecordingConfig(_Section):
    """Record prompts by phone: call ``number`` on the box, enter the PIN, choose a prompt
    number 1–99, speak after the beep; the box plays it back and keeps it as ``telefon_<n>``."""

    number: str = Field(pattern=r"^[0-9]{2,16}$", description="the number (SIP user part) of the service, e.g. 990")
    pin: str = Field(pattern=r"^[0-9]{4,12}$", description="4 to 12 digits asked before anything else")
    max_seconds: float = Field(120, ge=5, le=900, description="longest recording")
    silence_seconds: float = Field(3, ge=1, le=30, description="silence that ends a recording")


class DeskPhoneConfig(_Section):
    """Feature codes: agents dial ``number`` from their desk phone, enter their PIN (set on the
    web page) and log in, log out or pause (``zentrale/desk_phone.py``)."""

    number: str = Field(pattern=r"^[0-9]{2,16}$", description="the number (SIP user part) of the service, e.g. 991")


class VoicemailConfig(_Section):
    silence_dbfs: float = Field(-45, le=-20, ge=-80, description="below this level a frame counts as silence")
    min_free_mb: float = Field(
        200,
        ge=0,
        le=1_000_000,
        description="free space (MB) the data disk must have for a new message to be recorded; below it callers "
        "hear that no message is possible now (docs/modes.md) and /status says 'disk low', so the last space "
        "stays for the database and the recordings already running. Recording works again as soon as space is "
        "back, without a restart",
    )


class CallLimitsConfig(_Section):
    """Every call ends: limits on the clock, enforced whatever the call's media does (docs/modes.md)."""

    max_call_seconds: float = Field(
        4 * 3600, ge=5, le=7 * 86400, description="longest any call may last, from its answer (talking included)"
    )
    grace_seconds: float = Field(
        30,
        ge=0,
        le=3600,
        description="added to a node's own length before the box hangs up: a voicemail node lasts at most its "
        "prompt, the beep and max_seconds plus this, a queue its max_wait (or hold sequence) plus this",
    )
    max_queue_seconds: float = Field(
        3600,
        ge=5,
        le=7 * 86400,
        description="longest wait in a queue that sets no max_wait and repeats its hold sequence (the mode's "
        "max_wait wins where set); an agent's conversation is not counted",
    )


class ModemConfig(_Section):
    """An analog line through a V.253 voice modem on a serial port (USB or UART)."""

    name: str = Field("modem", pattern=r"^[A-Za-z0-9_\-]{1,32}$", description="the line's name in calls and /status")
    device: str = Field(
        description="serial device, best a stable name like /dev/serial/by-id/usb-...; any pyserial URL works"
    )
    baud: int = Field(115200, description="DTE speed; 8-bit voice at 8 kHz needs at least 115200 with 16-bit formats")
    profile: str = Field("auto", description="chip settings: auto (detect by ATI3/+FMI/+FMM) or a profile id")
    number: str = Field("", description="this line's own number (shown as 'called')")
    caller_id: bool = Field(True, description="ask the modem for caller ID (+VCID=1)")
    answer_after_rings: int = Field(2, ge=1, le=10, description="caller ID arrives after the first ring: keep >= 2")
    flash_ms: int = Field(
        100, ge=20, le=2550, description="hook-flash time for transfers (EU PBX ~100 ms, North America ~600 ms)"
    )
    transfer: Literal["flash", "bridge"] = Field(
        "flash",
        description="flash: a call taken by an agent is handed to the agent's extension by hook flash (blind: the box"
        " leaves the call); bridge: the box rings the agent over SIP and stays in the call",
    )
    transfer_dial: str = Field("!{extension}", description="dial string of a transfer: ! = hook flash, , = pause")
    transfer_hangup_delay: float = Field(0.5, ge=0, le=10, description="seconds between the last digit and on-hook")
    flow_control: Literal["rtscts", "xonxoff"] = Field("rtscts", description="rtscts (+IFC=2,2) for full duplex")
    silence_hangup_seconds: float = Field(
        0, ge=0, le=25.5, description="hang up after this much silence from the caller (+VSD); 0: never"
    )
    reopen_seconds: float = Field(2.0, gt=0, le=300, description="wait before reopening a lost or failed modem")

    @field_validator("profile")
    @classmethod
    def _profile(cls, value: str) -> str:
        known = ["auto", "conexant-cx93010", "conexant-hsf", "v253-generic"]
        if value not in known:
            raise ValueError(f"unknown modem profile {value!r}; one of {', '.join(known)}")
        return value

    @field_validator("transfer_dial")
    @classmethod
    def _transfer_dial(cls, value: str) -> str:
        if "{extension}" not in value:
            raise ValueError("transfer_dial must contain {extension}")
        return value


class AlsaLineConfig(_Section):
    """An analog line through a line-interface board: ALSA audio, GPIO ring detect and hook relay."""

    name: str = Field("alsa", pattern=r"^[A-Za-z0-9_\-]{1,32}$", description="the line's name in calls and /status")
    playback_device: str = Field("default", description="ALSA PCM the caller hears (e.g. plughw:CARD=Line,DEV=0)")
    capture_device: str = Field("default", description="ALSA PCM that hears the caller")
    ring_gpio: str = Field("GPIO17", description="input from the ring detector (active while it rings)")
    hook_gpio: str = Field("GPIO27", description="output to the hook relay (on = off hook)")
    number: str = Field("", description="this line's own number (shown as 'called')")
    answer_after_rings: int = Field(1, ge=1, le=10, description="rings before answering")
    flash_ms: int = Field(100, ge=20, le=2000, description="hook-flash time for transfers")
    transfer: Literal["flash", "bridge"] = Field(
        "flash",
        description="flash: a call taken by an agent is handed to the agent's extension by hook flash (blind: the box"
        " leaves the call); bridge: the box rings the agent over SIP and stays in the call",
    )
    tones: Literal["eu", "us"] = Field("eu", description="busy/dial tone plan: eu (425 Hz) or us (480+620 Hz)")
    pin_factory: Literal["default", "mock"] = Field("default", description="mock: gpiozero's mock pins (tests)")


class MailConfig(_Section):
    """Messages by e-mail (``docs/mail.md``). Without ``host`` no e-mail is sent."""

    host: str | None = Field(None, description="SMTP server (host name or address); unset: e-mail is off")
    port: int | None = Field(None, ge=1, le=65535, description="default: 25 (none), 587 (starttls), 465 (tls)")
    security: Literal["none", "starttls", "tls"] = Field(
        "starttls", description="none: plain SMTP; starttls: upgrade with STARTTLS (required); tls: implicit TLS"
    )
    user: str | None = Field(None, description="SMTP login (AUTH); unset: no login")
    password: str = Field("", description="SMTP password")
    sender: str | None = Field(None, description="From address, e.g. hotline@example.com (required with host)")
    sender_name: str = Field("Zentrale", max_length=80, description="display name in From")
    max_attachment_kb: int = Field(
        5000, ge=0, le=100_000, description="an MP3 larger than this is not attached; the mail has the link only"
    )
    viewer_url: str | None = Field(
        None, description="the web page as the team reaches it, e.g. http://zentrale.office.lan:8080 (for links)"
    )
    language: Literal["de", "en"] | None = Field(None, description="language of the mails (default: language)")
    timezone: str | None = Field(None, description="time zone of times in mails, e.g. Europe/Berlin (default: system)")
    bitrate_kbps: Literal[16, 24, 32, 40, 48, 56, 64] = Field(32, description="MP3 bit rate (mono speech)")
    timeout: float = Field(30, gt=0, le=600, description="seconds an SMTP server may take to answer")
    retry_first: float = Field(30, gt=0, le=86400, description="seconds before the first retry")
    retry_max: float = Field(3600, gt=0, le=86400, description="longest wait between retries (doubling up to it)")
    give_up_hours: float = Field(72, gt=0, le=24 * 30, description="temporary failures for this long: failed")
    ca_file: Path | None = Field(None, description="CA certificate(s) to trust for the server (default: system's)")
    verify_tls: bool = Field(True, description="check the server's certificate and name (turn off only for tests)")

    @field_validator("sender")
    @classmethod
    def _sender(cls, value: str | None) -> str | None:
        problem = None if value is None else address_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("viewer_url")
    @classmethod
    def _viewer(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not a web address starting with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not a known time zone like Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> MailConfig:
        if self.host and not self.sender:
            raise ValueError("mail.host is set: mail.sender (the From address) is required as well")
        if self.retry_first > self.retry_max:
            raise ValueError("retry_first must not be longer than retry_max")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise ValueError(f"ca_file {str(self.ca_file)!r} is not a readable file")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @property
    def smtp_port(self) -> int:
        return self.port or {"none": 25, "starttls": 587, "tls": 465}[self.security]


class PanelConfig(_Section):
    """The front panel: one push button and three LEDs on GPIO (BCM numbers; hw/README.md).

    The defaults sit together on header pins 29-34 and stay clear of the ALSA line board's
    ring/hook GPIOs (17, 27), I2S audio (18-21), I2C, SPI and the UART."""

    enabled: bool = Field(False, description="drive the front panel (true on the appliance image)")
    pin_factory: Literal["auto", "lgpio", "mock"] = Field(
        "auto", description="gpiozero pin factory: auto (lgpio on a Pi), lgpio, or mock (a virtual panel)"
    )
    button: int = Field(5, ge=0, le=53, description="GPIO of the button (to ground; internal pull-up)")
    long_press: float = Field(3.0, ge=0.5, le=30, description="seconds held that count as a long press")
    debounce: float = Field(0.05, ge=0.005, le=0.5, description="seconds the contact must be steady to count")
    led_outage: int | None = Field(6, ge=0, le=53, description="GPIO of the outage LED (red)")
    led_waiting: int | None = Field(12, ge=0, le=53, description="GPIO of the callers-waiting LED (yellow)")
    led_fault: int | None = Field(13, ge=0, le=53, description="GPIO of the fault LED (red or amber)")
    lamp_test: float = Field(3.0, ge=0.5, le=30, description="seconds all LEDs light after a long press")

    @model_validator(mode="after")
    def _distinct(self) -> PanelConfig:
        pins = [p for p in (self.button, self.led_outage, self.led_waiting, self.led_fault) if p is not None]
        if len(pins) != len(set(pins)):
            raise ValueError(f"button and LEDs need different GPIOs, got {pins}")
        return self


class HealthConfig(_Section):
    """Thresholds of the health report (GET /status, fault LED)."""

    disk_warn_percent: float = Field(85, gt=0, le=100, description="data disk use that makes the box 'degraded'")
    disk_fault_percent: float = Field(95, gt=0, le=100, description="data disk use that is a fault (LED on)")
    interval: float = Field(5, ge=0.2, le=300, description="seconds between checks that need I/O (database)")

    @model_validator(mode="after")
    def _order(self) -> HealthConfig:
        if self.disk_warn_percent > self.disk_fault_percent:
            raise ValueError("disk_warn_percent must not be above disk_fault_percent")
        return self


class ServiceConfig(_Section):
    """How the daemon talks to systemd (Type=notify) when started by it."""

    registration_wait: float = Field(
        60,
        ge=0,
        le=3600,
        description="seconds READY=1 waits for the SIP registration; then the daemon reports ready but "
        "degraded so the web page stays reachable to fix the account (keep below TimeoutStartSec)",
    )
    realtime_priority: int = Field(
        0,
        ge=0,
        le=49,
        description="run the event loop (the media clock) SCHED_RR at this real-time priority, its threads and "
        "programs at normal priority (zentrale/priority.py); 0: as started (the appliance's systemd unit sets "
        "it: CPUSchedulingPolicy=rr). Needs root or CAP_SYS_NICE",
    )


class RetentionConfig(_Section):
    """How long the box keeps personal data (GDPR Art. 5(1)(e)); docs/privacy.md gives the reasons.
    A limit of 0 or null keeps that data forever."""

    call_log_days: int | None = Field(
        365, ge=0, le=36500, description="call log entries are deleted this many days after the call"
    )
    caller_numbers_days: int | None = Field(
        90,
        ge=0,
        le=36500,
        description="caller numbers and names in the call log are replaced by a marker this many days after the "
        "call; the entry stays for statistics",
    )
    done_messages_days: int | None = Field(
        30,
        ge=0,
        le=36500,
        description="a message (recording, MP3, row) is deleted this many days after it was marked done",
    )
    open_messages_days: int | None = Field(
        180, ge=0, le=36500, description="a message never marked done is deleted this many days after the call"
    )
    mail_copies_days: int | None = Field(
        7,
        ge=0,
        le=36500,
        description="the MP3 copy made for an e-mail is deleted this many days after the mail was sent (or failed); "
        "the recording stays, and the MP3 is made again when someone asks for it",
    )
    audit_days: int | None = Field(
        365, ge=0, le=36500, description="audit log entries (who changed what) are deleted after this many days"
    )
    callbacks_days: int | None = Field(
        30,
        ge=0,
        le=36500,
        description="a finished callback (the caller was reached, or the task marked done) is deleted, with the "
        "number to call, this many days after it was marked done or, if never, after it was asked for; waiting "
        "callbacks and open tasks stay",
    )
    first_run_seconds: float = Field(
        300, ge=0, le=86400, description="seconds after the start the first run begins; then every interval_hours"
    )
    interval_hours: float = Field(24, gt=0, le=24 * 7, description="hours between runs (daily)")
    batch: int = Field(500, ge=1, le=10000, description="rows deleted in one database transaction")


class FritzboxPhonebookConfig(_Section):
    """The FRITZ!Box's phonebooks over TR-064 (``docs/phonebook.md``)."""

    address: str = Field(description="the FRITZ!Box's address, e.g. 192.168.178.1 or fritz.box")
    port: int | None = Field(None, ge=1, le=65535, description="TR-064 port (default: 49000, 49443 with tls)")
    tls: bool = Field(False, description="TR-064 over HTTPS (the box's own certificate is not checked)")
    user: str = Field(min_length=1, description="a FRITZ!Box user allowed to read the phonebooks (FRITZ!OS 7.24+)")
    password: str = Field("", description="that user's password (TR-064 uses HTTP digest authentication)")
    phonebooks: list[int] | None = Field(None, description="phonebook ids to read (default: all of them)")
    timeout: float = Field(15, gt=0, le=300, description="seconds the box may take to answer one request")


class CardDavConfig(_Section):
    """A CardDAV address book (RFC 6352), e.g. Nextcloud or Radicale (``docs/phonebook.md``)."""

    url: str = Field(pattern=r"^https?://", description="the address book collection, e.g. https://cloud/remote.php/"
                     "dav/addressbooks/users/office/contacts/")  # fmt: skip
    user: str | None = Field(None, description="login (HTTP basic or digest authentication); unset: none")
    password: str = Field("", description="that login's password")
    verify_tls: bool = Field(True, description="check the server's certificate")
    timeout: float = Field(15, gt=0, le=300, description="seconds the server may take to answer")


class PhonebookConfig(_Section):
    """Caller names from the office's phonebooks (``docs/phonebook.md``); a CSV file is uploaded in the web page."""

    country_code: str = Field("49", pattern=r"^[1-9][0-9]{0,2}$", description="for national numbers (0 30 ...)")
    area_code: str = Field("", pattern=r"^0?[1-9][0-9]{0,5}$|^$", description="for local numbers without one (030)")
    refresh_minutes: float = Field(60, ge=1, le=7 * 24 * 60, description="minutes between reading the sources")
    max_csv_kb: int = Field(5000, ge=1, le=50_000, description="largest CSV upload accepted")
    fritzbox: FritzboxPhonebookConfig | None = Field(None, description="read the FRITZ!Box's phonebooks")
    carddav: CardDavConfig | None = Field(None, description="read a CardDAV address book")


class Config(_Section):
    data_dir: Path = Field(Path("/var/lib/zentrale"), description="SQLite database, messages, modes, prompts")
    sip: SipConfig = Field(default_factory=SipConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    teams: list[Team] = Field(default_factory=list)
    active_mode: str = Field("hotline", description="mode activated on first start")
    demo_modes: bool = Field(
        True,
        description="copy the demo modes (the customer's example and 'closed') into an empty modes folder at the "
        "first start; false: the box starts without a mode and refuses calls until one is built and activated",
    )
    prompt_dirs: list[Path] = Field(default_factory=list, description="extra prompt folders (searched first)")
    voicemail: VoicemailConfig = Field(default_factory=VoicemailConfig)
    call_limits: CallLimitsConfig = Field(default_factory=CallLimitsConfig)
    desk_phone: DeskPhoneConfig | None = Field(
        None, description="feature codes: log in, log out and pause by dialling this number from the desk phone"
    )
    phone_recording: PhoneRecordingConfig | None = Field(
        None, description="record prompts by phone (a service number with a PIN); off unless configured"
    )
    modem: ModemConfig | None = Field(None, description="an analog line through a voice modem (optional)")
    alsa_line: AlsaLineConfig | None = Field(None, description="an analog line through an ALSA line board (optional)")
    language: Literal["de", "en"] = "de"
    mail: MailConfig = Field(default_factory=MailConfig)
    panel: PanelConfig = Field(default_factory=PanelConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    service: ServiceConfig = Field(default_factory=ServiceConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    phonebook: PhonebookConfig = Field(default_factory=PhonebookConfig)

    @model_validator(mode="after")
    def _mail_lists_need_a_server(self) -> Config:
        listed = [t.id for t in self.teams if t.email]
        if listed and not self.mail.enabled:
            raise ValueError(
                f"team {listed[0]!r} has an e-mail distribution list, but mail.host (the SMTP server) is not set"
            )
        return self

    def team(self, team_id: str) -> Team | None:
        return next((t for t in self.teams if t.id == team_id), None)

    @model_validator(mode="after")
    def _panel_and_line_share_no_gpio(self) -> Config:
        if self.panel.enabled and self.alsa_line is not None:
            line_pins = {int(m) for g in (self.alsa_line.ring_gpio, self.alsa_line.hook_gpio)
                         for m in re.findall(r"^(?:GPIO|BCM)?(\d+)$", g.strip(), re.IGNORECASE)}  # fmt: skip
            panel = self.panel
            shared = line_pins & {p for p in (panel.button, panel.led_outage, panel.led_waiting, panel.led_fault) if p}
            if shared:
                raise ValueError(f"panel and alsa_line both use GPIO {sorted(shared)}")
        return self

    @property
    def modes_dir(self) -> Path:
        return self.data_dir / "modes"

    @property
    def prompt_folders(self) -> list[Path]:
        return [*self.prompt_dirs, self.prompts_dir, self.music_dir, DEMO_DIR / "prompts", DEMO_DIR / "music"]

    @property
    def prompts_dir(self) -> Path:
        """Uploaded prompts (announcements)."""
        return self.data_dir / "prompts"

    @property
    def music_dir(self) -> Path:
        """Uploaded hold music (inside the prompts folder, so a backup carries it)."""
        return self.data_dir / "prompts" / "music"


def parse_config(text: str, source: str, overrides: dict[str, object] | None = None) -> Config:
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else ""
        raise ConfigError(source, where, f"not valid YAML: {getattr(err, 'problem', err)}") from err
    if not isinstance(data, dict):
        raise ConfigError(source, "", "the configuration must be a mapping")
    for dotted, value in (overrides or {}).items():
        node = data
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    try:
        return Config.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        path = ".".join(str(p) for p in first["loc"])
        more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
        raise ConfigError(source, path, first["msg"].removeprefix("Value error, ") + more) from err


class InvalidField(Invalid):
    """A settings form's value refused by its model: the text names every problem; ``field``,
    ``kind`` (pydantic's error type) and ``context`` the first, for the web page to translate."""

    def __init__(self, text: str, field: str, kind: str, context: dict[str, str]) -> None:
        super().__init__(text)
        self.field = field
        self.kind = kind
        self.context = context


def validated(model: type[M], data: dict[str, Any], what: str) -> M:
    """``model`` from data a person submitted (the web page); ``Invalid`` naming every
    field and its problem, e.g. ``sender: 'x y' has a space in it``."""
    try:
        return model.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or what}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in err.errors()
        )
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or what
        raise InvalidField(
            problems, where, first["type"], {k: str(v) for k, v in first.get("ctx", {}).items()}
        ) from None


def load_config(path: Path | None, overrides: dict[str, object] | None = None) -> Config:
    """Read the file (None: the demo configuration) and apply command-line overrides."""
    if path is None:
        path = DEMO_DIR / "config.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(str(path), "", f"cannot read: {err.strerror}") from err
    return parse_config(text, str(path), overrides)
