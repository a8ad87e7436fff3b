"""Ringing an agent's phone over a line: the ``Dialer`` port of core.distribution.

The agent's display shows who is waiting: the From display name is the
team and the caller's number ("SAP +49 30 1234567").
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from zentrale.core.agents import Agent
from zentrale.core.distribution import DialResult
from zentrale.core.numbers import NumberPolicies
from zentrale.core.queues import QueueEntry
from zentrale.lines.base import Call, Line, OriginateFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BlindTransfer:
    """The caller's own line hands the call on (hook flash on analog lines); the box leaves."""

    target: str


class LineDialer:
    def __init__(
        self,
        line: Line | None,
        team_names: dict[str, str],
        caller_call: Callable[[str], Call | None] = lambda _call_id: None,
        blind: Callable[[Call], bool] = lambda _call: False,
        numbers: NumberPolicies | None = None,
    ) -> None:
        self.line = line
        self.team_names = team_names
        self.caller_call = caller_call
        self.blind = blind
        self.numbers = numbers or NumberPolicies({})

    async def dial(
        self, agent: Agent, entry: QueueEntry, ring_timeout: float, cancel: asyncio.Future[Any]
    ) -> DialResult:
        if not agent.number:
            return DialResult(None, "unreachable")
        # Defence in depth: the login checked the number; check again right before dialling.
        if not self.numbers.allows(agent.number, [entry.team]):
            log.error("refused to dial %s for agent %s (team %s): number not allowed", agent.number,
                      agent.agent_id, entry.team)  # fmt: skip
            return DialResult(None, "unreachable")
        caller = self.caller_call(entry.call_id)
        if caller is not None and self.blind(caller):
            log.info("call %s goes to agent %s at %s by blind transfer", entry.call_id, agent.agent_id, agent.number)
            return DialResult(BlindTransfer(agent.number))
        if self.line is None:
            return DialResult(None, "unreachable")
        team = self.team_names.get(entry.team, entry.team)
        display = f"{team} {entry.caller_name or entry.caller}"
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

    async def hang_up(self, leg: object) -> None:
        if not isinstance(leg, BlindTransfer):
            await cast(Call, leg).hangup()

    async def wait_ended(self, leg: object) -> None:
        if not isinstance(leg, BlindTransfer):  # after a blind transfer the call is the PBX's
            await asyncio.shield(cast(Call, leg).ended)
