"""Settings are read once and never changed while the box runs; what the web page changes
lives in the services that use it (the team list in force: ``teams.TeamDirectory``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import ValidationError

from zentrale.config import Config, Team
from zentrale.core.agents import AgentBoard
from zentrale.core.clock import ManualClock
from zentrale.core.events import EventBus
from zentrale.core.queues import QueueBoard
from zentrale.errors import Conflict
from zentrale.store.db import Database
from zentrale.store.modes import ModeFiles
from zentrale.store.state import StateRepository
from zentrale.teams import TeamDirectory, TeamSettings


def test_the_configuration_cannot_be_changed_once_read() -> None:
    config = Config.model_validate({"teams": [{"id": "lvs", "name": "LVS"}]})
    with pytest.raises(ValidationError, match="frozen"):
        config.active_mode = "closed"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.teams[0].ring_timeout = 5  # type: ignore[misc]


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "zentrale.db")
    await database.open()
    yield database
    await database.close()


async def test_a_team_saved_in_the_web_page_is_in_force_at_once_and_the_config_stays_as_read(
    db: Database, tmp_path: Path
) -> None:
    config = Config.model_validate({"teams": [{"id": "lvs", "name": "LVS", "allowed_numbers": ["^20[0-9]$"]}]})
    clock = ManualClock()
    events = EventBus()
    directory = TeamDirectory(config.teams)
    agents = AgentBoard(clock, events)
    queues: QueueBoard[str] = QueueBoard(clock, events)
    settings = TeamSettings(
        directory=directory, state=StateRepository(db), clock=clock, modes=ModeFiles(tmp_path / "modes"),
        agents=agents, queues=queues,
    )  # fmt: skip
    assert directory.policy("lvs").ring_timeout == 20 and not directory.numbers.allows("**621", ["lvs"])

    await settings.save("lvs", {"name": "Leitstelle", "distribution": "auto", "ring_timeout": 8,
                                "allowed_numbers": ["**62x"]}, "admin")  # fmt: skip
    policy = directory.policy("lvs")
    assert (policy.name, policy.auto, policy.ring_timeout) == ("Leitstelle", True, 8)  # the distribution's view
    assert directory.name("lvs") == "Leitstelle"  # the agent's phone display
    assert directory.numbers.allows("**621", ["lvs"]) and not directory.numbers.allows("201", ["lvs"])
    assert directory.source == "web"
    assert config.teams == [Team(id="lvs", name="LVS", allowed_numbers=["^20[0-9]$"])]  # as read

    again = TeamDirectory(config.teams)  # the next start: the web page's list wins over the file's
    await TeamSettings(
        directory=again, state=StateRepository(db), clock=clock, modes=ModeFiles(tmp_path / "modes"),
        agents=agents, queues=queues,
    ).load()  # fmt: skip
    assert again.name("lvs") == "Leitstelle" and again.source == "web"

    queues.enter("lvs", "call-1", "+4930123", None)
    with pytest.raises(Conflict, match="waiting"):
        await settings.delete("lvs", "admin")
