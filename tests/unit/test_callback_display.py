"""The agent's phone says "Rückruf" before answering a callback (issue 16): the box's real SIP
line places the call to the agent over loopback and the INVITE's From display name (RFC 3261
§20.20) and P-Asserted-Identity (RFC 3325) are read from what arrives at the "phone" socket."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from typing import Any

from zentrale.calls.dialer import LineDialer
from zentrale.config import SipConfig, Team
from zentrale.core.agents import Agent
from zentrale.core.queues import QueueEntry
from zentrale.lines.sip.message import SipRequest, parse_message, parse_name_addr
from zentrale.lines.sip.ua import SipUserAgent
from zentrale.media.clock import MediaClock
from zentrale.teams import TeamDirectory


async def invite_for(entry: QueueEntry[Any]) -> tuple[SipRequest, str | None]:
    """What the agent's phone receives when the box rings it for ``entry`` (the phone answers
    486 Busy Here), and why the dialer gave up."""
    ua = SipUserAgent(SipConfig(bind="127.0.0.1", port=0, rtp_ports=(31000, 31999)), MediaClock())
    await ua.start()
    phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    phone.bind(("127.0.0.1", 0))
    phone.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        dialer = LineDialer(ua, TeamDirectory([Team(id="sap", name="SAP")]))
        agent = Agent("anna", "Anna", frozenset({"sap"}), number=f"sip:anna@127.0.0.1:{phone.getsockname()[1]}")
        ringing = asyncio.ensure_future(dialer.dial(agent, entry, 10.0, loop.create_future()))
        data, box = await asyncio.wait_for(loop.sock_recvfrom(phone, 65535), 5)
        invite = parse_message(data)
        assert isinstance(invite, SipRequest) and invite.method == "INVITE"
        busy = "\r\n".join(
            ["SIP/2.0 486 Busy Here", *(f"{n}: {invite.get(n)}" for n in ("Via", "From", "Call-ID", "CSeq")),
             f"To: {invite.get('To')};tag=phone", "Content-Length: 0", "", ""]
        )  # fmt: skip
        await loop.sock_sendto(phone, busy.encode(), box)
        result = await asyncio.wait_for(ringing, 5)
        return invite, result.reason
    finally:
        phone.close()
        await ua.stop()


def display_of(invite: SipRequest, header: str) -> str:
    value = invite.get(header)
    assert value is not None, header
    return parse_name_addr(value).display


async def test_the_agents_phone_shows_rueckruf_for_a_callback_and_the_team_for_a_waiting_call() -> None:
    now = datetime.now(UTC)
    waiting = QueueEntry("e1", "c1", "sap", "+49301234567", None, 0.0, now)
    invite, why = await invite_for(waiting)
    assert display_of(invite, "From") == "SAP +49301234567"
    assert why == "busy"

    callback = QueueEntry("e2", "callback-cb1", "sap", "0301234567", None, 0.0, now, callback_id="cb1")
    invite, why = await invite_for(callback)
    assert display_of(invite, "From") == "Rückruf SAP 0301234567"
    assert display_of(invite, "P-Asserted-Identity") == "Rückruf SAP 0301234567"  # what a PBX passes on
    assert why == "busy"
    named = QueueEntry("e3", "callback-cb2", "sap", "0301234567", "Erika Muster", 0.0, now, callback_id="cb2")
    invite, _ = await invite_for(named)
    assert display_of(invite, "From") == "Rückruf SAP Erika Muster"


async def test_a_number_with_spaces_or_a_hostile_callers_user_part_never_breaks_the_agents_invite() -> None:
    """The caller's number becomes the user part of the From URI the box writes (no registration):
    "030 1234567" from an analog line's caller ID, or what a hostile SIP caller wrote before the
    ``@``, is reduced to what a URI's user part may hold; the INVITE still parses."""
    now = datetime.now(UTC)
    for caller, user in (("030 1234567", "0301234567"), ('a>;x=1, "b" <sip:evil@x>', "ax1bsipevilx")):
        invite, why = await invite_for(QueueEntry("e1", "c1", "sap", caller, None, 0.0, now))
        source = invite.get("From")
        assert source is not None and f"<sip:{user}@127.0.0.1>" in source, source
        assert why == "busy"  # the phone parsed and answered it
