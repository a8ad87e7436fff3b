"""Ringing an agent's phone over a line: the ``Dialer`` port of core.distribution.

The agent's display shows who is waiting: the From display name is the
team and the caller's number ("SAP +49 30 1234567"); for a callback it starts
with "Rückruf" ("Rückruf SAP 030 1234567"), so the agent knows before answering
that the box will call the caller once they pick up. Where the caller's own
line hands calls on itself (``TransferPolicy``: SIP REFER to a PBX set up
for it, hook flash on an analog line), the box asks it to instead of
bridging the caller to a second call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from zentrale.config import Config
from zentrale.core.agents import Agent
from zentrale.core.distribution import DialResult
from zentrale.core.handover import HandOver, HookFlashTransfer, TransferredByPbx
from zentrale.core.queues import QueueEntry
from zentrale.lines.base import Call, Line, OriginateFailed, ReferableCall
from zentrale.teams import TeamDirectory

log = logging.getLogger(__name__)

CALLBACK_DISPLAY = "Rückruf"  # before the team on the agent's display when the call is a callback


def agent_display(team_name: str, entry: QueueEntry[Any]) -> str:
    """The From display name of the call to the agent (RFC 3261 §20.20): who is waiting, and
    whether the box is calling back a caller who hung up (a virtual entry) rather than bridging one."""
    shown = f"{team_name} {entry.caller_name or entry.caller}"
    return f"{CALLBACK_DISPLAY} {shown}" if entry.callback_id is not None else shown


AgentHandOver: TypeAlias = HandOver[Call]  # the agent's answered call, or a transfer by the caller's line
Ringing: TypeAlias = DialResult[Call]


class CallLookup(Protocol):
    """The calls in progress by id (the supervisor lends it to the dialer)."""

    def call(self, call_id: str) -> Call | None: ...


class TransferPolicy:
    """Which callers are handed on by their own line instead of bridged by the box: calls on
    an analog line configured for hook-flash transfer, and SIP calls from a PBX configured
    for REFER (``refer``: the SIP line's check)."""

    def __init__(self, flash_lines: frozenset[str], refer: Callable[[Call], bool]) -> None:
        self.flash_lines = flash_lines
        self.refer = refer

    @classmethod
    def from_config(cls, config: Config, refer: Callable[[Call], bool]) -> TransferPolicy:
        analog = (config.modem, config.alsa_line)
        return cls(frozenset(c.name for c in analog if c is not None and c.transfer == "flash"), refer)

    def blind(self, call: Call) -> bool:
        if call.line == "sip":
            return self.refer(call)
        return call.line in self.flash_lines


class LineDialer:
    def __init__(
        self,
        line: Line | None,
        teams: TeamDirectory,
        calls: CallLookup | None = None,
        transfers: TransferPolicy | None = None,
    ) -> None:
        self.line = line
        self.teams = teams
        self.calls = calls
        self.transfers = transfers

    async def dial(
        self, agent: Agent, entry: QueueEntry[Call], ring_timeout: float, cancel: asyncio.Future[Any]
    ) -> Ringing:
        if not agent.number:
            return DialResult(None, "unreachable")
        # Defence in depth: the login checked the number; check again right before dialling.
        if not self.teams.numbers.allows(agent.number, [entry.team]):
            log.error("refused to dial %s for agent %s (team %s): number not allowed", agent.number,
                      agent.agent_id, entry.team)  # fmt: skip
            return DialResult(None, "unreachable")
        caller = self.calls.call(entry.call_id) if self.calls is not None else None
        if caller is not None and self.transfers is not None and self.transfers.blind(caller):
            if isinstance(caller, ReferableCall):
                return await self._refer(caller, agent, agent.number, entry, ring_timeout, cancel)
            log.info("call %s goes to agent %s at %s by blind transfer", entry.call_id, agent.agent_id, agent.number)
            return DialResult(HookFlashTransfer(agent.number))
        if self.line is None:
            return DialResult(None, "unreachable")
        team = self.teams.name(entry.team)
        display = agent_display(team, entry)
        log.info("ringing agent %s at %s for call %s (%s)", agent.agent_id, agent.number, entry.call_id, display)
        try:
            leg = await self.line.originate(
                agent.number, display=display, caller=entry.caller, ring_timeout=ring_timeout, cancel=cancel
            )
        except OriginateFailed as err:
            reason = "cancelled" if cancel.done() else err.why
            log.info("agent %s did not take call %s: %s (%s)", agent.agent_id, entry.call_id, reason, err)
            return DialResult(None, reason)
        return DialResult(leg)

    async def _refer(
        self,
        caller: ReferableCall,
        agent: Agent,
        number: str,
        entry: QueueEntry[Call],
        ring_timeout: float,
        cancel: asyncio.Future[Any],
    ) -> Ringing:
        """The caller's PBX rings the agent (SIP REFER); the caller keeps hearing the
        hold sequence from the box until the PBX reports the agent answered."""
        log.info("call %s: asking the PBX to put it through to agent %s at %s (REFER)", entry.call_id,
                 agent.agent_id, number)  # fmt: skip
        try:
            await caller.refer(number, ring_timeout=ring_timeout, cancel=cancel)
        except OriginateFailed as err:
            reason = "cancelled" if cancel.done() else err.why
            log.info("agent %s did not take call %s by REFER: %s (%s)", agent.agent_id, entry.call_id, reason, err)
            return DialResult(None, reason)
        return DialResult(TransferredByPbx(number))

    async def hang_up(self, handover: AgentHandOver) -> None:
        if not isinstance(handover, TransferredByPbx | HookFlashTransfer):  # a transfer: the call is the PBX's
            await handover.hangup()

    async def wait_ended(self, handover: AgentHandOver) -> None:
        if not isinstance(handover, TransferredByPbx | HookFlashTransfer):
            await asyncio.shield(handover.ended)
