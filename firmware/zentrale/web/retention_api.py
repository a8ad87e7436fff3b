"""HTTP routes of the retention job (GDPR): its settings and last run; a run now. Admins only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from pydantic import Field

from zentrale.web.schemas import Answer

if TYPE_CHECKING:
    from zentrale.store.retention import RetentionJob


class RetentionCountsAnswer(Answer):
    call_log: int = Field(description="call log entries deleted")
    numbers: int = Field(description="call log entries whose caller number was anonymised")
    done_messages: int = Field(description="messages deleted after being done long enough")
    open_messages: int = Field(description="messages never marked done, deleted after their limit")
    files: int = Field(description="recordings and MP3s removed with their messages")
    mail_copies: int = Field(description="MP3 copies of sent mails removed (the message stays)")
    outbox: int = Field(description="delivery records of messages that are gone")
    audit: int = Field(description="audit log entries deleted")
    kept_for_mail: int = Field(description="due messages kept because their e-mail is not sent yet")


class RetentionRunAnswer(Answer):
    started_at: str
    finished_at: str | None
    ok: bool = Field(description="false: the run stopped early (error says why); the next run goes on")
    error: str | None
    counts: RetentionCountsAnswer


class RetentionAnswer(Answer):
    settings: dict[str, float | int | None] = Field(description="the config file's retention section")
    anonymised_marker: str = Field(description="what the call log shows instead of an old caller number")
    last_run: RetentionRunAnswer | None
    runs_since_start: int
    running: bool


def retention_router(job: RetentionJob) -> APIRouter:
    router = APIRouter(tags=["retention"])

    @router.get(
        "/api/retention",
        response_model=RetentionAnswer,
        summary="How long personal data is kept, and what the last daily run deleted (counts)",
    )
    async def status() -> dict[str, Any]:
        return job.status()

    @router.post(
        "/api/retention/run",
        response_model=RetentionRunAnswer,
        summary="Run the retention job now (it also runs daily); answers with what it deleted",
    )
    async def run() -> dict[str, Any]:
        return (await job.run_once()).public()

    return router
