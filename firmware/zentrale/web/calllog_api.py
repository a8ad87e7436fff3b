"""The call log ("Anrufliste"): the recent calls, newest first, a page at a time.

Admins see every row, also calls that never reached a team (a blocked number, a caller who
hung up in the menu); an agent the rows of his own teams and nothing else -- asking for another
team is refused (403), as the queues and the event stream show him his teams only. A row
carries what the viewer shows of a message (number, phonebook name, team, times); the call's
audio figures (``quality``) are in the admins' rows only. Retention (docs/privacy.md) has already
anonymised or deleted what is due, in the table itself: the page cannot show more.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Query, Request

from zentrale.errors import Invalid, Refused
from zentrale.web import schemas as S
from zentrale.web.auth import USER, access, principal
from zentrale.web.params import Limit

if TYPE_CHECKING:
    from zentrale.staffing import Staffing
    from zentrale.store.state import CallLogRepository

# What core/flow.py and calls/ write into the outcome column (CallOutcome.outcome).
Outcome = Literal[
    "answered", "abandoned", "voicemail", "no_message", "callback", "blocked", "overflow", "hangup", "failed",
    "time_limit", "callback_answered", "callback_no_answer", "callback_agent_gone", "callback_abandoned",
    "callback_no_agent", "shutdown",
]  # fmt: skip
# what CallLogRepository writes (datetime.isoformat()); fromisoformat alone lets a trailing NUL through
ISO_TIME = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)?$"
TeamQuery = Annotated[str | None, Query(min_length=1, max_length=64, description="only this team's calls")]
OutcomeQuery = Annotated[list[Outcome] | None, Query(max_length=20, description="only calls that ended so")]
BeforeQuery = Annotated[
    str | None,
    Query(
        min_length=10,
        max_length=40,
        pattern=ISO_TIME,
        description="the next page: the started_at of the last row shown (ISO 8601)",
    ),
]
BeforeIdQuery = Annotated[
    str | None, Query(min_length=1, max_length=64, description="with before: the call_id of the last row shown")
]


def calllog_router(log: CallLogRepository, staffing: Staffing) -> APIRouter:
    router = APIRouter(tags=["call log"])

    @router.get(
        "/api/calllog",
        response_model=list[S.CallLogRow],
        summary="Recent calls, newest first (admins: all; an agent: his teams'); page on with before/before_id",
    )
    @access(USER)
    async def calls(
        request: Request,
        limit: Limit = 100,
        team: TeamQuery = None,
        outcome: OutcomeQuery = None,
        before: BeforeQuery = None,
        before_id: BeforeIdQuery = None,
    ) -> list[dict[str, Any]]:
        who = principal(request)
        teams: frozenset[str] | None = None
        if not who.is_admin:
            teams = staffing.teams_of(who.agent_id)
        if team is not None:
            if teams is not None and team not in teams:
                raise Refused(f"the call log of team {team} is for its agents")
            teams = frozenset({team})
        cursor = None
        if before is not None:
            try:
                datetime.fromisoformat(before)
            except ValueError:
                raise Invalid(f"before is not a time: {before!r}") from None
            cursor = (before, before_id or "")  # without an id: only rows of an earlier instant
        elif before_id is not None:
            raise Invalid("before_id needs before")
        rows = await log.page(teams=teams, outcomes=tuple(outcome) if outcome else None, before=cursor,
                              limit=limit)  # fmt: skip
        if not who.is_admin:  # the call's audio figures (RTCP-style) are the admins', as in /status
            for row in rows:
                row.pop("quality", None)
        return rows

    return router
