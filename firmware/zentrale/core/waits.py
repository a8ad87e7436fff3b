"""What a waiting caller is told: their position and the expected wait.

The expected wait comes from what the box measures, per team: the recent
service rate (calls handed to agents per minute, over a sliding window of the
last ``window`` seconds and at most ``max_samples`` hand-overs) scaled by the
agents logged in now against those logged in while it was measured. A figure
is spoken only when it rests on enough hand-overs (``min_observations``) and
someone is logged in at all; otherwise the caller hears "please hold" without
a figure. Figures are rounded the way people speak: under a minute, whole
minutes up to ten, then five-minute steps up to half an hour, then "more than
half an hour". Pure: fed by the event bus, timed by the injected Clock.
"""

from __future__ import annotations

import collections
import math
from collections.abc import Callable
from dataclasses import dataclass

from zentrale.core.agents import AgentStateChanged
from zentrale.core.clock import Clock
from zentrale.core.events import CallLeftQueue, Event, EventBus

WINDOW_SECONDS = 30 * 60.0  # hand-overs older than this say nothing about now
MAX_SAMPLES = 20  # the last 20 hand-overs at most: a quiet morning does not dilute the afternoon
MAX_POSITION = 10  # positions above are spoken as "ten or more callers ahead of you"
LONGEST_FIGURE_MIN = 30  # longer waits are spoken as "more than half an hour"

# Shipped prompts (tools/make_demo_audio.py); English ones end in _EN_SUFFIX.
POSITION_PROMPT = "queue_position_{}"  # 1 .. MAX_POSITION
POSITION_MANY_PROMPT = "queue_position_many"
WAIT_PROMPT = "queue_wait_{}"  # under_1, 1 .. 10, 15, 20, 25, 30, over_30
PATIENCE_PROMPT = "queue_patience"  # "Bitte haben Sie noch etwas Geduld."
EN_SUFFIX = "_en"
WAIT_FIGURES = ("under_1", *(str(m) for m in range(1, 11)), "15", "20", "25", "30", "over_30")


@dataclass(frozen=True)
class ServedCall:
    at: float  # monotonic seconds
    agents: int  # agents logged in to the team at that moment


@dataclass(frozen=True)
class WaitEstimate:
    """The expected wait for a position; ``seconds`` is None when no figure is credible."""

    seconds: float | None
    observations: int
    per_minute: float  # hand-overs per minute now (scaled to the agents logged in now)
    agents: int
    why: str = ""  # why there is no figure


def spoken_wait(seconds: float) -> str:
    """The figure as people say it: 'under_1', whole minutes to 10, 5-minute steps to 30, 'over_30'."""
    minutes = seconds / 60.0
    if minutes < 1.0:
        return "under_1"
    if minutes < 10.5:
        return str(max(1, math.floor(minutes + 0.5)))
    five = 5 * math.floor(minutes / 5 + 0.5)
    return "over_30" if five > LONGEST_FIGURE_MIN else str(five)


def prompt_name(template: str, value: object, language: str) -> str:
    name = template.format(value)
    return name + EN_SUFFIX if language == "en" else name


def position_prompt(position: int, language: str) -> str:
    if position > MAX_POSITION:
        return prompt_name(POSITION_MANY_PROMPT, None, language)
    return prompt_name(POSITION_PROMPT, position, language)


def wait_prompt(estimate: WaitEstimate, language: str) -> str:
    if estimate.seconds is None:
        return prompt_name(PATIENCE_PROMPT, None, language)
    return prompt_name(WAIT_PROMPT, spoken_wait(estimate.seconds), language)


def position_prompts(language: str) -> list[str]:
    return [position_prompt(p, language) for p in range(1, MAX_POSITION + 2)]


def wait_prompts(language: str) -> list[str]:
    names = [prompt_name(WAIT_PROMPT, figure, language) for figure in WAIT_FIGURES]
    return [*names, prompt_name(PATIENCE_PROMPT, None, language)]


def announcement_prompts(language: str) -> list[str]:
    """Every prompt an announce step may speak in ``language`` (they must all exist)."""
    return position_prompts(language) + wait_prompts(language)


class ServiceRates:
    """Per team: the recent hand-overs to agents and the agents logged in now."""

    def __init__(
        self, clock: Clock, events: EventBus, window: float = WINDOW_SECONDS, max_samples: int = MAX_SAMPLES
    ) -> None:
        self._clock = clock
        self.window = window
        self.max_samples = max_samples
        self._handovers: dict[str, collections.deque[ServedCall]] = {}
        self._logged_in: dict[str, frozenset[str]] = {}  # agent -> teams they are logged in to
        self.unsubscribe: Callable[[], None] = events.subscribe(self._on_event)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CallLeftQueue) and event.reason == "connected":
            self.handed_over(event.team)
        elif isinstance(event, AgentStateChanged):
            teams = frozenset() if event.state == "logged_out" else frozenset(event.teams)
            self._logged_in[event.agent_id] = teams

    def agents(self, team: str) -> int:
        return sum(1 for teams in self._logged_in.values() if team in teams)

    def handed_over(self, team: str) -> None:
        samples = self._handovers.setdefault(team, collections.deque(maxlen=self.max_samples))
        samples.append(ServedCall(self._clock.monotonic(), self.agents(team)))

    def recent(self, team: str) -> list[ServedCall]:
        now = self._clock.monotonic()
        return [h for h in self._handovers.get(team, ()) if now - h.at <= self.window]

    def estimate(self, team: str, position: int, min_observations: int) -> WaitEstimate:
        """The expected wait of the caller at ``position`` (1: next) in ``team``'s queue.

        Rate = hand-overs in the window / the time from the oldest of them to now (so a
        team that stops serving is seen to slow down), times agents now / agents then.
        """
        samples = self.recent(team)
        agents = self.agents(team)
        n = len(samples)
        if agents == 0:
            return WaitEstimate(None, n, 0.0, 0, "no agent logged in")
        if n < max(1, min_observations):
            return WaitEstimate(None, n, 0.0, agents, f"{n} of {min_observations} hand-overs seen")
        span = self._clock.monotonic() - samples[0].at
        if span <= 0:
            return WaitEstimate(None, n, 0.0, agents, "no time has passed since the hand-overs")
        measured_agents = max(1.0, sum(h.agents for h in samples) / n)
        per_second = n / span * agents / measured_agents
        return WaitEstimate(position / per_second, n, per_second * 60, agents)


@dataclass
class AnnounceState:
    """What one waiting caller was last told (the "at most every N s, only when changed" rule)."""

    position: int | None = None
    at: float | None = None

    def due(self, position: int, now: float, every: float) -> bool:
        if self.position is None or self.at is None:
            return True
        return position != self.position and now - self.at >= every

    def spoken(self, position: int, now: float) -> None:
        self.position, self.at = position, now
