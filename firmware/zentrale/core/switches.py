"""Manual control (Manuelle Steuerung): switches any agent may flip.

A switch that is on replaces announcements of the active mode, e.g. the
greeting by the outage announcement "SAP-Störung". The state lives here;
persistence and the audit log subscribe to ``SwitchChanged``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zentrale.core.clock import Clock
from zentrale.core.events import EventBus, SwitchChanged
from zentrale.core.modes import Mode, Replacement


@dataclass(frozen=True)
class SwitchState:
    switch_id: str
    on: bool
    since: datetime | None
    by: str | None


class ManualControl:
    """Holds which switches are on, since when and by whom."""

    def __init__(self, clock: Clock, events: EventBus) -> None:
        self._clock = clock
        self._events = events
        self._states: dict[str, SwitchState] = {}

    def restore(self, states: list[SwitchState]) -> None:
        """Load the persisted states at start-up (no events)."""
        self._states = {s.switch_id: s for s in states}

    def state(self, switch_id: str) -> SwitchState:
        return self._states.get(switch_id, SwitchState(switch_id, False, None, None))

    def is_on(self, switch_id: str) -> bool:
        return self.state(switch_id).on

    def set(self, switch_id: str, on: bool, by: str) -> SwitchState:
        """Flip a switch; an unchanged state is kept (no event, no new 'since')."""
        current = self.state(switch_id)
        if current.on == on and current.since is not None:
            return current
        state = SwitchState(switch_id, on, self._clock.now(), by)
        self._states[switch_id] = state
        self._events.publish(SwitchChanged(switch_id, on, by, state.since.isoformat() if state.since else ""))
        return state

    def active_replacements(self, mode: Mode, node_id: str) -> list[Replacement]:
        """Replacements of ``node_id`` by switches that are on, in the mode's switch order."""
        found: list[Replacement] = []
        for switch in mode.switches:
            if self.is_on(switch.id):
                found.extend(r for r in switch.replaces if r.node == node_id)
        return found
