"""HTTP routes of the statistics (agents and admins), their CSV export, and the wallboard.

The wallboard (``/wallboard?token=...`` and ``/api/wallboard?token=...``) needs no login: a
read-only token admins create and revoke (``/api/wallboard/tokens``). It shows no caller
number and no caller name -- only counts, waits and the agents' states per team -- and the
page polls ``/api/wallboard`` every 2 seconds (the event stream needs a login and carries
caller numbers; a count every 2 s is what a wall screen needs).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from zentrale.errors import Refused, Unauthorized
from zentrale.store.statistics import buckets
from zentrale.web.auth import PUBLIC, USER, access, actor
from zentrale.web.params import Ident
from zentrale.web.schemas import Answer

if TYPE_CHECKING:
    from zentrale.core.clock import Clock
    from zentrale.store.offers import OfferRepository
    from zentrale.store.statistics import Statistics
    from zentrale.store.wallboard import WallboardTokens

STATIC = Path(__file__).parent / "static"
BUSY = ("ringing", "on_call", "wrap_up")


@dataclass(frozen=True)
class LiveBoard:
    """What the wallboard shows live, read from the services that have it."""

    teams: Callable[[], list[dict[str, Any]]]  # [{"id", "name"}]
    waiting: Callable[[], list[dict[str, Any]]]  # queue snapshots (have caller numbers: never passed on)
    agents: Callable[[], list[dict[str, Any]]]  # agent snapshots


class Figures(Answer):
    calls: int = Field(description="every call in the bucket, with or without a team")
    offered: int = Field(description="calls that reached a team's queue")
    answered: int
    abandoned: int = Field(description="the caller hung up before an agent took the call")
    messages: int
    callbacks: int = Field(description="call log rows with outcome 'callback'")
    answered_in_time: int = Field(description="answered within the service level's seconds")
    avg_wait_s: float | None = Field(description="average wait of answered calls")
    p90_wait_s: float | None = Field(description="90th percentile (nearest rank) wait of answered calls")
    abandoned_avg_wait_s: float | None
    abandoned_max_wait_s: float | None
    service_level: float | None = Field(description="answered_in_time / offered (0..1)")
    talk_s: float
    avg_talk_s: float | None
    wrap_up_s: float | None = Field(
        description="the agents' wrap-up seconds after the calls they answered (from the agents' rings; "
        "null per time bucket, and where none was recorded)",
    )


class BucketFigures(Figures):
    start: str
    end: str


class TeamFigures(Figures):
    team: str | None = Field(description="null: calls that never reached a team")


class AgentFigures(Figures):
    agent: str
    rung: int = Field(0, description="times the box rang this agent's phone for a call (pulled or distributed)")
    rung_answered: int = Field(0, description="of those, answered")
    rung_missed: int = Field(
        0, description="not answered by the agent's phone or the agent (no answer, busy, declined, unreachable, "
        "logged out or paused while it rang); a caller who hung up or another agent who took it does not count",
    )  # fmt: skip
    ring_avg_s: float | None = Field(None, description="average seconds it rang until the agent answered")


class StatisticsAnswer(Answer):
    from_: str = Field(alias="from")
    to: str
    by: str
    timezone: str
    team: str | None
    agent: str | None
    service_level_s: float
    total: Figures
    series: list[BucketFigures]
    teams: list[TeamFigures]
    agents: list[AgentFigures]


class WallboardTeam(Answer):
    id: str
    name: str
    waiting: int
    longest_wait_s: float
    available: int
    busy: int
    paused: int
    answered: int = Field(description="today so far")
    abandoned: int
    service_level: float | None


class WallboardAnswer(Answer):
    at: str
    timezone: str = Field(description="the box's time zone: the wall screen's clock and 'today'")
    service_level_s: float
    teams: list[WallboardTeam]


class TokenBody(BaseModel):
    name: str = Field(min_length=1, max_length=80, description="where the screen hangs, e.g. 'Flur'")


class WallboardToken(Answer):
    id: str
    name: str
    created_at: str
    created_by: str
    revoked_at: str | None
    revoked_by: str | None
    token: str | None = Field(None, description="only in the answer that creates it")


Day = Annotated[date | None, Query(description="a local day, YYYY-MM-DD (both ends included)")]
Level = Annotated[float, Query(ge=1, le=3600, description="service level: answered within this many seconds")]
Name = Annotated[str | None, Query(max_length=64, description="only this team / agent (id)")]
Token = Annotated[str, Query(max_length=200, description="a wallboard token")]
ByQuery = Annotated[Literal["hour", "day", "week"], Query(description="bucket size")]

CSV_COLUMNS = [
    ("calls", "Anrufe", "Calls"), ("offered", "Angeboten", "Offered"), ("answered", "Angenommen", "Answered"),
    ("abandoned", "Aufgelegt", "Abandoned"), ("abandoned_avg_wait_s", "Ø Wartezeit bis Auflegen (s)",
    "Avg wait before abandoning (s)"), ("abandoned_max_wait_s", "Längste Wartezeit bis Auflegen (s)",
    "Longest wait before abandoning (s)"), ("messages", "Nachrichten", "Messages"),
    ("callbacks", "Rückrufe", "Callbacks"), ("avg_wait_s", "Ø Wartezeit (s)", "Avg wait (s)"),
    ("p90_wait_s", "90%-Wartezeit (s)", "90th percentile wait (s)"),
    ("service_level", "Servicelevel (%)", "Service level (%)"), ("talk_s", "Gesprächszeit (s)", "Talk time (s)"),
    ("avg_talk_s", "Ø Gesprächszeit (s)", "Avg talk time (s)"),
    ("wrap_up_s", "Nachbearbeitung (s)", "Wrap-up time (s)"),
    ("rung", "Klingelte", "Rung"), ("rung_missed", "Nicht angenommen", "Not answered"),
    ("ring_avg_s", "Ø Klingeln bis Annahme (s)", "Avg ring until answered (s)"),
]  # fmt: skip
NO_RINGS = {"rung": 0, "rung_answered": 0, "rung_missed": 0, "ring_avg_s": None, "wrap_up_s": None}


def _number(value: Any, lang: str, percent: bool = False) -> str:
    """German Excel reads ``12,5``; English ``12.5``; empty for no figure."""
    if value is None:
        return ""
    if percent:
        value = round(value * 100, 1)
    text = str(value)
    return text.replace(".", ",") if lang == "de" else text


def statistics_csv(report: dict[str, Any], lang: str) -> bytes:
    """One table: the buckets, the total, each team, each agent (first column says which)."""
    de = lang == "de"
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if de else ",", lineterminator="\r\n")
    head = ["Art", "Von", "Bis", "Name"] if de else ["Kind", "From", "To", "Name"]
    writer.writerow(head + [de_ if de else en for _, de_, en in CSV_COLUMNS])

    def local(iso: str) -> str:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M")

    def row(kind: str, start: str, end: str, name: str, figures: dict[str, Any]) -> None:
        writer.writerow([kind, start, end, name] + [_number(figures.get(k), lang, k == "service_level")
                                                    for k, _, _ in CSV_COLUMNS])  # fmt: skip

    for b in report["series"]:
        row("Zeit" if de else "Time", local(b["start"]), local(b["end"]), "", b)
    row("Gesamt" if de else "Total", report["from"], report["to"], "", report["total"])
    for t in report["teams"]:
        row("Team", report["from"], report["to"], t["team"] or ("(ohne Team)" if de else "(no team)"), t)
    for a in report["agents"]:
        row("Agent", report["from"], report["to"], a["agent"], a)
    return "\ufeff".encode() + out.getvalue().encode("utf-8")  # the BOM: Excel then reads UTF-8


def _refusal_page(status: int, reason: str) -> HTMLResponse:
    """What a wall screen with a bad link shows: big, in both languages, no data."""
    texts = {
        "unknown": ("Unbekannter Wallboard-Link", "Unknown wallboard link",
                    "Der Link enthält kein gültiges Wallboard-Token. Bitten Sie die Verwaltung um einen neuen Link.",
                    "The link holds no valid wallboard token. Ask an administrator for a new link."),
        "revoked": ("Wallboard-Link widerrufen", "Wallboard link revoked",
                    "Dieser Link wurde in der Verwaltung widerrufen. Bitten Sie um einen neuen Link.",
                    "This link was revoked by an administrator. Ask for a new link."),
    }[reason]  # fmt: skip
    body = (
        '<!doctype html><html lang="de"><head><meta charset="utf-8"><title>Zentrale – Wallboard</title>'
        '<link rel="stylesheet" href="/static/css/wallboard.css"></head>'
        f'<body class="wb-refused" data-reason="{reason}"><main><h1>{texts[0]}</h1><p>{texts[2]}</p>'
        f'<h2 lang="en">{texts[1]}</h2><p lang="en">{texts[3]}</p></main></body></html>'
    )
    return HTMLResponse(body, status_code=status)


def with_rings(agents: list[dict[str, Any]], rings: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The agents' figures from the call log with their rings (store/offers.py); an agent whose
    phone rang but who took no call gets a row of their own."""
    zero: dict[str, float | None] = {name: None if name.endswith("_s") else 0 for name in Figures.model_fields}
    zero |= {"talk_s": 0.0, "service_level": None}
    rows = [{**a, **rings.get(a["agent"], NO_RINGS)} for a in agents]
    known = {a["agent"] for a in agents}
    rows += [{"agent": name, **zero, **r} for name, r in rings.items() if name not in known]
    return sorted(rows, key=lambda r: str(r["agent"]))


def statistics_router(
    stats: Statistics, tokens: WallboardTokens, board: LiveBoard, clock: Clock, tz: Callable[[], ZoneInfo],
    offers: OfferRepository | None = None,
) -> APIRouter:  # fmt: skip
    router = APIRouter(tags=["statistics"])

    async def report(first: date | None, last: date | None, by: str, team: str | None, agent: str | None,
                     level: float) -> dict[str, Any]:  # fmt: skip
        zone = tz()
        today = clock.now().astimezone(zone).date()
        last = last or today
        if first is None:  # the week up to ``last``; a ``last`` near date.min is refused by the report
            first = last - timedelta(days=6) if last > date.min + timedelta(days=6) else last
        found = await stats.report(first, last, by, zone, team or None, agent or None, level, now=clock.now())
        if offers is not None:  # the same range (checked by the report): its first start, its last end
            cuts = buckets(first, last, by, zone)
            lo, hi = cuts[0].utc()[0], cuts[-1].utc()[1]
            found["agents"] = with_rings(found["agents"], await offers.per_agent(lo, hi, team or None, agent or None))
            wrap_up = await offers.wrap_up(lo, hi, team or None, agent or None)
            found["total"]["wrap_up_s"] = wrap_up[None]
            for row in found["teams"]:
                row["wrap_up_s"] = wrap_up.get(row["team"]) if row["team"] else None
        return found

    @router.get(
        "/api/statistics",
        response_model=StatisticsAnswer,
        summary="Offered, answered, abandoned, waits, service level, talk time per hour/day/week, team, agent",
    )
    @access(USER)
    async def statistics(
        from_: Annotated[date | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
        to: Day = None,
        by: ByQuery = "day",
        team: Name = None,
        agent: Name = None,
        sl: Level = 20,
    ) -> JSONResponse:
        # built as it is (its types are the report's own): FastAPI's checking and encoding of 744
        # hour buckets took longer than counting them, on the event loop
        return JSONResponse(await report(from_, to, by, team, agent, sl))

    @router.get(
        "/api/statistics.csv",
        summary="The same figures as a CSV file (German: semicolons, decimal commas, UTF-8 with BOM for Excel)",
        response_class=Response,
        responses={200: {"content": {"text/csv": {}}}},
    )
    @access(USER)
    async def statistics_file(
        from_: Annotated[date | None, Query(alias="from", description="first local day, YYYY-MM-DD")] = None,
        to: Day = None,
        by: ByQuery = "day",
        team: Name = None,
        agent: Name = None,
        sl: Level = 20,
        lang: Annotated[Literal["de", "en"], Query(description="column names and number format")] = "de",
    ) -> Response:
        found = await report(from_, to, by, team, agent, sl)
        name = f"statistik-{found['from']}-{found['to']}-{by}.csv"
        return Response(statistics_csv(found, lang), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip

    async def checked(token: str) -> None:
        verdict = await tokens.check(token)
        if verdict == "unknown":
            raise Unauthorized("unknown wallboard token")
        if verdict == "revoked":
            raise Refused("this wallboard token was revoked")

    @router.get("/wallboard", include_in_schema=False, response_model=None)
    @access(PUBLIC)  # the token decides
    async def wallboard_page(token: Token = "") -> FileResponse | HTMLResponse:
        verdict = await tokens.check(token)
        if verdict != "valid":
            return _refusal_page(401 if verdict == "unknown" else 403, verdict)
        return FileResponse(STATIC / "wallboard.html", headers={"Cache-Control": "no-cache"})

    @router.get(
        "/api/wallboard",
        response_model=WallboardAnswer,
        summary="The wallboard's figures per team (read-only token, no caller numbers)",
    )
    @access(PUBLIC)  # the token decides
    async def wallboard(token: Token = "", sl: Level = 20) -> dict[str, Any]:
        await checked(token)
        now, zone = clock.now(), tz()
        today = await stats.today(now, zone, sl)
        waiting = board.waiting()
        agents = board.agents()
        teams = []
        for team in board.teams():
            tid = team["id"]
            here = [w for w in waiting if w.get("team") == tid]
            staff = [a for a in agents if tid in a.get("logged_in_teams", ())]
            figures = today.get(tid, {})
            teams.append({
                "id": tid, "name": team.get("name") or tid, "waiting": len(here),
                "longest_wait_s": max((float(w.get("waited") or 0) for w in here), default=0.0),
                "available": sum(a["state"] == "available" for a in staff),
                "busy": sum(a["state"] in BUSY for a in staff),
                "paused": sum(a["state"] == "paused" for a in staff),
                "answered": figures.get("answered", 0), "abandoned": figures.get("abandoned", 0),
                "service_level": figures.get("service_level"),
            })  # fmt: skip
        return {"at": now.isoformat(), "timezone": zone.key, "service_level_s": sl, "teams": teams}

    @router.get("/api/wallboard/tokens", response_model=list[WallboardToken], summary="Wallboard tokens (admins)")
    async def token_list() -> list[dict[str, Any]]:
        return await tokens.list()

    @router.post(
        "/api/wallboard/tokens",
        response_model=WallboardToken,
        summary="Create a wallboard token; its text is in this answer only (admins)",
    )
    async def token_create(body: TokenBody, request: Request) -> dict[str, Any]:
        return await tokens.create(body.name.strip() or "Wallboard", actor(request))

    @router.delete(
        "/api/wallboard/tokens/{token_id}", response_model=WallboardToken, summary="Revoke a wallboard token (admins)"
    )
    async def token_revoke(token_id: Ident, request: Request) -> dict[str, Any]:
        return await tokens.revoke(token_id, actor(request))

    return router
