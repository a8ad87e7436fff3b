"""Every time the box rang an agent for a call, and how that ended (calls/offers.py writes them).

The call log names only the agent who took a call; a team lead also wants to know whose phone
rang and was not answered. One row per ring: the call, the agent, the team, ``pull`` (the agent
pulled it) or ``auto`` (the distribution rang), when, how long it rang, and the result:
``answered``, or why not -- ``no_answer``, ``busy``, ``declined``, ``unreachable``, ``failed``
(the agent's side), ``caller_gone``, ``cancelled``, ``taken by another agent`` (not the agent's),
``logged_out``/``paused`` (the agent left while it rang); for an answered ring the agent's
wrap-up after the call (``wrap_up_s``: from the end of the call until the agent is free again;
0 without wrap-up; NULL when the box stopped first). Kept as long as the call log.
"""

from __future__ import annotations

from typing import Any

from zentrale.store.db import Database

# Results that were the agent's phone or the agent: counted as "not answered" in the statistics.
MISSED = ("no_answer", "busy", "declined", "unreachable", "failed", "logged_out", "paused")


class OfferRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, rows: list[tuple[str, str, str | None, str, str, float, str, float | None]]) -> None:
        """Rows of (call_id, agent, team, how, offered_at (UTC ISO), ring_s, result, wrap_up_s)."""
        await self.db.run(
            lambda conn: conn.executemany(
                "INSERT INTO agent_offers (call_id, agent, team, how, offered_at, ring_s, result, wrap_up_s)"
                " VALUES (?,?,?,?,?,?,?,?)",
                rows,
            )
        )

    async def per_agent(self, lo: str, hi: str, team: str | None, agent: str | None) -> dict[str, dict[str, Any]]:
        """Per agent, rings from ``lo`` up to ``hi`` (UTC ISO, as the call log's times): rung,
        answered, missed (the agent's phone or the agent), and the average ring until answered."""
        marks = ",".join("?" * len(MISSED))
        rows = await self.db.fetch(
            "SELECT agent, COUNT(*) AS rung, SUM(result = 'answered') AS rung_answered,"
            f" SUM(result IN ({marks})) AS rung_missed,"
            " AVG(CASE WHEN result = 'answered' THEN ring_s END) AS ring_avg_s, SUM(wrap_up_s) AS wrap_up_s"
            " FROM agent_offers WHERE offered_at >= ? AND offered_at < ?"
            " AND (? IS NULL OR team = ?) AND (? IS NULL OR agent = ?) GROUP BY agent",
            (*MISSED, lo, hi, team, team, agent, agent),
        )
        return {
            r["agent"]: {
                "rung": r["rung"], "rung_answered": r["rung_answered"] or 0, "rung_missed": r["rung_missed"] or 0,
                "ring_avg_s": round(r["ring_avg_s"], 1) if r["ring_avg_s"] is not None else None,
                "wrap_up_s": _seconds(r["wrap_up_s"]),
            }
            for r in rows
        }  # fmt: skip

    async def wrap_up(self, lo: str, hi: str, team: str | None, agent: str | None) -> dict[str | None, float | None]:
        """The agents' wrap-up seconds after the calls they answered from ``lo`` up to ``hi``, per
        team (the key ``None``: all of them together)."""
        rows = await self.db.fetch(
            "SELECT team, SUM(wrap_up_s) AS wrap_up_s FROM agent_offers WHERE result = 'answered'"
            " AND offered_at >= ? AND offered_at < ? AND (? IS NULL OR team = ?) AND (? IS NULL OR agent = ?)"
            " GROUP BY team",
            (lo, hi, team, team, agent, agent),
        )
        by_team: dict[str | None, float | None] = {r["team"]: _seconds(r["wrap_up_s"]) for r in rows if r["team"]}
        known = [r["wrap_up_s"] for r in rows if r["wrap_up_s"] is not None]
        by_team[None] = _seconds(sum(known)) if known else None
        return by_team


def _seconds(value: float | None) -> float | None:
    return round(value, 1) if value is not None else None
