"""Every repository over the box's one database, made in one place for the composition root.

Each use case gets the repositories it works with (never this bundle), so what a service
may read and write stays visible in its constructor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zentrale.core.callers import CallerLists
from zentrale.core.clock import Clock
from zentrale.store.agents import AgentRepository
from zentrale.store.callbacks import CallbackRepository
from zentrale.store.callers import CallerListRepository
from zentrale.store.db import Database
from zentrale.store.messages import MessageRepository
from zentrale.store.modes import ModeVersions
from zentrale.store.offers import OfferRepository
from zentrale.store.outbox import OutboxRepository
from zentrale.store.phonebook import PhonebookRepository
from zentrale.store.state import CallLogRepository, StateRepository
from zentrale.store.users import UserRepository
from zentrale.store.wallboard import WallboardTokens


@dataclass(frozen=True, slots=True)
class Repositories:
    state: StateRepository  # settings, the audit log
    messages: MessageRepository  # callers' messages: rows and audio files
    call_log: CallLogRepository
    versions: ModeVersions  # every saved version of every mode
    outbox: OutboxRepository  # mails waiting to go out
    callbacks: CallbackRepository  # callers waiting for a call back
    agents: AgentRepository
    callers: CallerListRepository  # blocked and VIP numbers
    offers: OfferRepository  # each ring of an agent's phone
    phonebook: PhonebookRepository  # names from the office's phone books
    users: UserRepository  # web accounts
    wallboard: WallboardTokens  # the wall display's links

    @classmethod
    def over(cls, db: Database, data_dir: Path, clock: Clock) -> Repositories:
        return cls(
            state=StateRepository(db), messages=MessageRepository(db, data_dir), call_log=CallLogRepository(db),
            versions=ModeVersions(db), outbox=OutboxRepository(db), callbacks=CallbackRepository(db),
            agents=AgentRepository(db), callers=CallerListRepository(db, CallerLists()), offers=OfferRepository(db),
            phonebook=PhonebookRepository(db), users=UserRepository(db), wallboard=WallboardTokens(db, clock),
        )  # fmt: skip
