"""The box's last faults for admins: warnings and errors, newest first.

On the appliance the journal is kept on the data partition (image-build: journald
drop-in, ``Storage=persistent`` with a size cap), so last night's fault is still there in
the morning, across reboots: it is read with ``journalctl --output=json`` (the daemon's
user is in the ``systemd-journal`` group). Where there is no journal (a PC, a container,
the daemon not started by systemd) the daemon's own ring buffer of its WARNING and ERROR
lines since its start answers instead, and says so (``source``).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query
from pydantic import Field

from zentrale.web.schemas import Answer

log = logging.getLogger(__name__)

LEVELS = {0: "CRITICAL", 1: "CRITICAL", 2: "CRITICAL", 3: "ERROR", 4: "WARNING"}  # syslog priorities (RFC 5424)
JOURNAL_TIMEOUT = 10.0


@dataclass(frozen=True)
class Fault:
    time: str  # ISO 8601, UTC
    level: str
    logger: str
    message: str
    boot: str = ""  # the journal's boot id: which faults came before a reboot

    def row(self) -> dict[str, str]:
        return {"time": self.time, "level": self.level, "logger": self.logger, "message": self.message,
                "boot": self.boot}  # fmt: skip


class _Ring(logging.Handler):
    def __init__(self, capacity: int) -> None:
        super().__init__(logging.WARNING)
        self.records: collections.deque[Fault] = collections.deque(maxlen=capacity)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info and record.exc_info[1] is not None:
                message += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
            when = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            self.records.append(Fault(when, record.levelname, record.name, message))
        except Exception:
            self.handleError(record)


class FaultLog:
    """``journal``: read the journal (None: when started by systemd, which sets
    INVOCATION_ID); ``journal_dir``: read that folder instead of the system's (tests)."""

    def __init__(
        self,
        capacity: int = 500,
        *,
        journal: bool | None = None,
        journal_dir: Path | None = None,
        unit: str = "zentrale.service",
    ) -> None:
        self.ring = _Ring(capacity)
        self.journal = journal if journal is not None else ("INVOCATION_ID" in os.environ or journal_dir is not None)
        self.journal_dir = journal_dir
        self.unit = unit

    def install(self) -> None:
        logging.getLogger().addHandler(self.ring)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self.ring)

    async def recent(self, limit: int = 100) -> dict[str, Any]:
        if self.journal and shutil.which("journalctl"):
            try:
                faults = await asyncio.to_thread(self._from_journal, limit)
                return {"source": "journal", "faults": [f.row() for f in faults]}
            except (OSError, subprocess.SubprocessError, ValueError) as err:
                log.warning("faults: the journal could not be read (%s); the daemon's own lines instead", err)
        faults = list(reversed(self.ring.records))[:limit]
        return {"source": "daemon", "faults": [f.row() for f in faults]}

    def _from_journal(self, limit: int) -> list[Fault]:
        where = ["--directory", str(self.journal_dir)] if self.journal_dir else []
        done = subprocess.run(
            ["journalctl", *where, "--unit", self.unit, "--priority", "warning", "--output", "json",
             "--lines", str(limit), "--reverse", "--no-pager", "--quiet"],
            capture_output=True, text=True, timeout=JOURNAL_TIMEOUT, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise OSError(done.stderr.strip() or f"journalctl exited with {done.returncode}")
        faults = []
        for line in done.stdout.splitlines():
            entry = json.loads(line)
            message = entry.get("MESSAGE", "")
            if isinstance(message, list):  # journald gives binary messages as byte lists
                message = bytes(message).decode("utf-8", errors="replace")
            micros = int(entry.get("__REALTIME_TIMESTAMP", 0))
            when = datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="milliseconds")
            level = LEVELS.get(int(entry.get("PRIORITY", 4)), "WARNING")
            faults.append(Fault(when, level, str(entry.get("SYSLOG_IDENTIFIER", self.unit)), str(message),
                                str(entry.get("_BOOT_ID", ""))))  # fmt: skip
        return faults

    async def export(self, path: Path, limit: int = 1000) -> None:
        """The faults as JSON, for a backup that asks for them."""
        data = await self.recent(limit)
        await asyncio.to_thread(path.write_text, json.dumps(data, indent=1, ensure_ascii=False), "utf-8")


class FaultRow(Answer):
    time: str
    level: str
    logger: str
    message: str
    boot: str = Field("", description="the journal's boot id: faults before a reboot have another")


class Faults(Answer):
    source: str = Field(description="journal (survives reboots) or daemon (its own lines since its start)")
    faults: list[FaultRow]


def faults_router(faults: FaultLog) -> APIRouter:
    router = APIRouter(tags=["status"])

    @router.get(
        "/api/faults",
        response_model=Faults,
        summary="The box's last warnings and errors, newest first (admins): from the journal, which survives "
        "reboots on the appliance (source 'journal'), else the daemon's own since its start (source 'daemon')",
    )
    async def recent(limit: int = Query(100, ge=1, le=1000)) -> dict[str, Any]:
        return await faults.recent(limit)

    return router
