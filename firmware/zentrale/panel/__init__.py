"""The front panel: one push button and three LEDs on GPIO, driven through gpiozero."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from zentrale.config import PanelConfig
from zentrale.core.events import EventBus
from zentrale.health import HealthMonitor

if TYPE_CHECKING:
    from zentrale.hotline import Hotline
    from zentrale.panel.front import FrontPanel


def front_panel(
    config: PanelConfig,
    *,
    hotline: Hotline,
    events: EventBus,
    health: HealthMonitor,
    recording_refused: Callable[[], str | None],
    setup_pending: Callable[[], bool] = lambda: False,
) -> FrontPanel | None:
    """The panel where one is wired (``panel.enabled``), not started yet; gpiozero is imported only then."""
    if not config.enabled:
        return None
    from zentrale.panel.front import FrontPanel

    return FrontPanel(
        config, hotline=hotline, events=events, health=health, recording_refused=recording_refused,
        setup_pending=setup_pending,
    )  # fmt: skip
