"""Calls the box places (to reach an agent): the UAC side of the SIP line.

An INVITE with our offer, digest answered once, ring timeout with CANCEL
(RFC 3261 §9.1), a session timer asked for (RFC 4028 §7.1, a 422 answered with
its Min-SE), and the waiting caller and team in P-Asserted-Identity and
Remote-Party-ID so that a PBX that trusts the box shows them on the agent's
desk phone (docs/pbx.md). A 3xx is never followed (toll fraud).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from zentrale.lines.base import OriginateFailed
from zentrale.lines.sip import session_timer as st
from zentrale.lines.sip.call import SipCall
from zentrale.lines.sip.dialog import DialogEvent
from zentrale.lines.sip.digest import DigestClient
from zentrale.lines.sip.message import SipRequest, SipResponse, new_call_id, new_tag, parse_name_addr, parse_uri
from zentrale.lines.sip.registration import split_hostport
from zentrale.lines.sip.rtp import RtpStream
from zentrale.lines.sip.sdp import SdpError, negotiate, parse_sdp
from zentrale.lines.sip.transport import Peer

if TYPE_CHECKING:
    from zentrale.lines.sip.ua import SipUserAgent

log = logging.getLogger(__name__)


class Dialler:
    def __init__(self, ua: SipUserAgent) -> None:
        self.ua = ua

    async def originate(
        self,
        target: str,
        *,
        display: str = "",
        caller: str = "",
        ring_timeout: float = 30.0,
        on_ringing: Callable[[], None] | None = None,
        cancel: asyncio.Future[None] | None = None,
    ) -> SipCall:
        """Call a SIP URI, or a number through the registrar/PBX. A sips: URI (or
        ;transport=tls, or a registration over TLS) goes over TLS with the
        peer's certificate verified against the name in the URI or config."""
        ua = self.ua
        reg = ua.registration
        if target.startswith(("sip:", "sips:")):
            uri = parse_uri(target)
            transport = str(uri.params.get("transport") or ("tls" if uri.scheme == "sips" else "udp")).lower()
            host, port = uri.host.strip("[]"), uri.port or (5061 if transport == "tls" else 5060)
        elif reg is not None:
            default_port = 5061 if reg.transport == "tls" else 5060
            host, port = split_hostport(reg.registrar, default_port)
            domain = reg.domain or host
            target = f"sip:{target}@{domain}"
            transport = reg.transport
            if reg.outbound_proxy:
                host, port = split_hostport(reg.outbound_proxy, default_port)
        else:
            raise OriginateFailed(404, "a phone number needs a PBX registration to be dialled")
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as err:
            raise OriginateFailed(404, f"cannot resolve {host}: {err}") from err
        address = str(infos[0][4][0])
        peer = Peer(transport if transport in ("tcp", "tls") else "udp", address, port)
        if transport == "tls":
            ua.transport.server_name(address, host)
            try:
                await ua.transport.connect(address, port, tls=True, server_name=host)
            except (OSError, TimeoutError) as err:  # ssl.SSLError included: a certificate that does not verify
                log.warning("sip: no TLS connection to %s (%s:%d): %s", host, address, port, err)
                raise OriginateFailed(503, f"TLS to {host}: {err}") from err
        call_id = new_call_id(ua.local_ip(peer))
        stream = RtpStream.configured(ua.media_clock, ua.config)
        await stream.open(ua.ports)
        call = SipCall(ua, direction="out", call_id=call_id, local_tag=new_tag(), peer=peer, stream=stream,
                       caller=caller, caller_name=display or None, called=target)  # fmt: skip
        user = reg.user if reg else (_user_part(caller) or "zentrale")
        from_host = (reg.domain or split_hostport(reg.registrar)[0]) if reg else ua.local_ip(peer)
        name = f'"{_quote(display)}" ' if display else ""
        call.offer_srtp = transport == "tls" and (ua.config.tls.srtp if ua.config.tls else True)
        dialog = call.dialog
        dialog.local_header = f"{name}<sip:{user}@{from_host}>;tag={call.local_tag}"
        dialog.remote_header = f"<{target}>"
        dialog.remote_target = target
        if reg is not None and reg.outbound_proxy and host == split_hostport(reg.outbound_proxy)[0]:
            dialog.route_set = [f"<sip:{reg.outbound_proxy};lr>"]
        ua.register_call(call)
        identity = self._identity(display, caller, from_host) if ua.config.identity and caller else []
        try:
            return await self._invite(call, peer, ring_timeout, on_ringing, cancel, identity)
        except BaseException:
            call._end("not answered")
            raise

    @staticmethod
    def _identity(display: str, caller: str, domain: str) -> list[tuple[str, str]]:
        """Who the agent's phone should show: the waiting caller, with the team in the name
        (RFC 3325 P-Asserted-Identity; Remote-Party-ID for older PBXs and phones)."""
        user = _user_part(caller)
        if not user:
            return []
        name = f'"{_quote(display)}" ' if display else ""
        uri = f"<sip:{user}@{domain}>"
        return [
            ("P-Asserted-Identity", f"{name}{uri}"),
            ("Remote-Party-ID", f"{name}{uri};party=calling;screen=yes;privacy=off"),
        ]

    async def _invite(
        self,
        call: SipCall,
        peer: Peer,
        ring_timeout: float,
        on_ringing: Callable[[], None] | None,
        cancel: asyncio.Future[None] | None,
        identity: list[tuple[str, str]],
    ) -> SipCall:
        ua = self.ua
        reg = ua.registration
        digest = DigestClient(reg.auth_user or reg.user, reg.password) if reg else None
        auth: tuple[str, str] | None = None
        body = call._offer_sdp().encode()
        timers = ua.timers
        interval = timers.session_expires
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ring_timeout
        for _attempt in range(4):
            request = call.build_request("INVITE")
            request.add("Contact", ua.contact(peer, ua.own_user))
            request.add("Allow", ", ".join(ua.ALLOW))
            for name, value in st.offer_headers(interval, timers.min_se):
                request.add(name, value)
            for name, value in identity:
                request.add(name, value)
            request.add("Content-Type", "application/sdp")
            if auth is not None:
                request.add(*auth)
            request.body = body
            pending = ua.transactions.send_request(request, peer, timer_c=ring_timeout + 32.0)

            def provisional(resp: SipResponse) -> None:
                if resp.status in (180, 183) and on_ringing is not None:
                    on_ringing()

            pending.on_provisional = provisional
            pending.on_late_2xx = call._send_ack
            waits: set[asyncio.Future[Any]] = {pending.final}
            if cancel is not None:
                waits.add(cancel)
            done, _ = await asyncio.wait(waits, timeout=max(0.0, deadline - loop.time()),
                                         return_when=asyncio.FIRST_COMPLETED)  # fmt: skip
            if pending.final not in done:
                why = (487, "Cancelled") if cancel is not None and cancel.done() else (408, "No Answer")
                await self._cancel_invite(call, request, pending.final, peer)
                raise OriginateFailed(*why)
            response = pending.final.result()
            if response.status in (401, 407) and digest is not None and auth is None:
                challenge = response.get("WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate")
                auth = digest.answer(response.status, challenge or "", "INVITE", request.uri) if challenge else None
                if auth is not None:
                    continue
            if response.status == 422:  # RFC 4028 §7.4: ask again with at least its Min-SE
                wanted = st.min_se(response)
                if wanted is not None and interval < wanted <= 86400:
                    interval = wanted
                    continue
            if not 200 <= response.status < 300:
                # A 3xx is a failure like any other: its Contact is never dialled, so a
                # redirect cannot send the box to a number nobody allowed (toll fraud).
                if 300 <= response.status < 400:
                    log.warning("call %s: %d redirect to %s ignored", call.call_id, response.status,
                                (response.get("Contact") or "")[:80])  # fmt: skip
                raise OriginateFailed(response.status, response.reason)
            self._confirm(call, response)
            return call
        raise OriginateFailed(401, "authentication failed")

    def _confirm(self, call: SipCall, response: SipResponse) -> None:
        ua = self.ua
        dialog = call.dialog
        dialog.remote_tag = response.to_tag
        dialog.remote_header = response.get("To") or dialog.remote_header
        contact = response.values("Contact")
        if contact:
            try:
                dialog.remote_target = parse_name_addr(contact[0]).uri
            except ValueError:
                pass
        dialog.route_set = list(reversed(response.values("Record-Route")))
        call.peer_allows = {m.strip().upper() for m in response.values("Allow")}
        call._send_ack(response)
        dialog.fire(DialogEvent.ACCEPTED)
        call.answered_at = ua.now()
        try:
            session = parse_sdp(response.body.decode(errors="replace"), ua.sdp_limits)
            _, neg = negotiate(session, ua.codecs)
        except SdpError as err:
            log.warning("call %s: unusable SDP answer: %s", call.call_id, err)
            call._send_in_dialog("BYE")
            raise OriginateFailed(488, f"unusable SDP answer: {err}") from err
        if call.offer_srtp and neg.crypto is None:
            log.warning("call %s: answered without SRTP although only SRTP was offered; hanging up", call.call_id)
            call._send_in_dialog("BYE")
            raise OriginateFailed(488, "the phone answered without SRTP (RTP/SAVP was offered)")
        call.apply(neg)
        call.session_timer = st.from_answer(response)
        call.stream.start()
        call._start_liveness()

    async def _cancel_invite(
        self, call: SipCall, invite: SipRequest, final: asyncio.Future[SipResponse], peer: Peer
    ) -> None:
        cancel = SipRequest(method="CANCEL", uri=invite.uri)
        cancel.add("Via", invite.get_all("Via")[0])
        for route in invite.get_all("Route"):
            cancel.add("Route", route)
        cancel.add("Max-Forwards", "70")
        cancel.add("From", invite.get("From") or "")
        cancel.add("To", invite.get("To") or "")
        cancel.add("Call-ID", invite.call_id)
        cancel.add("CSeq", f"{invite.cseq[0]} CANCEL")
        try:
            self.ua.transactions.send_request(cancel, peer)
        except ConnectionError:
            return
        try:
            response = await asyncio.wait_for(asyncio.shield(final), 5)
        except TimeoutError:
            return
        if 200 <= response.status < 300:  # answered at the same moment: ACK, then BYE
            try:
                self._confirm(call, response)
            except OriginateFailed:
                return  # _confirm said goodbye already
            call._send_in_dialog("BYE")


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _user_part(caller: str) -> str:
    """A caller's number as the user part of a URI the box writes: what a number or a name of
    a phone may hold, nothing a header could be broken with ("030 1234567" -> "0301234567"; a
    hostile caller's ``<``, ``>``, ``;`` or space never reach the agent's INVITE)."""
    return "".join(c for c in caller if c.isascii() and (c.isalnum() or c in "+*#-_."))[:64]
