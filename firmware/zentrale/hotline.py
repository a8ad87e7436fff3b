"""The hotline's use cases, one facade for the web API, the CLI and the front panel.

Activating a mode, flipping a switch, listing waiting calls and messages:
each operation validates, changes the domain state, persists and audits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from zentrale.core.clock import Clock
from zentrale.core.events import EventBus, MessageDeleted, MessageUpdated, ModeActivated
from zentrale.core.flow import NO_MESSAGE_PROMPTS
from zentrale.core.modes import Mode, VoicemailNode, check_mode, parse_mode
from zentrale.core.queues import QueueBoard
from zentrale.core.switches import ManualControl
from zentrale.errors import Conflict, ModeError, NotFound, Refused, StoreError, ZentraleError
from zentrale.lines.base import Call
from zentrale.media.library import AudioLibrary
from zentrale.store.messages import MessageRepository
from zentrale.store.modes import ModeFiles, ModeVersions
from zentrale.store.state import CallLogRepository, StateRepository
from zentrale.teams import TeamDirectory

log = logging.getLogger(__name__)
MESSAGE_STATES = ("new", "in_progress", "done")


def _has_voicemail(mode: Mode) -> bool:
    return any(isinstance(node, VoicemailNode) for node in mode.nodes.values())


class Hotline:
    def __init__(
        self,
        *,
        teams: TeamDirectory,
        clock: Clock,
        events: EventBus,
        queues: QueueBoard[Call],
        control: ManualControl,
        library: AudioLibrary,
        modes: ModeFiles,
        state: StateRepository,
        messages: MessageRepository,
        call_log: CallLogRepository,
        versions: ModeVersions,
    ) -> None:
        self.teams = teams
        self.clock = clock
        self.events = events
        self.queues = queues
        self.control = control
        self.library = library
        self.modes = modes
        self.state = state
        self.messages = messages
        self.call_log = call_log
        self.versions = versions
        self.mode: Mode | None = None
        self.mode_name: str | None = None

    def validate(self, mode: Mode, source: str) -> None:
        """Refuse a mode whose prompts or teams do not exist here."""
        problems = [
            p for p in check_mode(mode, prompts=self.library.names(), teams=self.teams.ids()) if p.severity == "error"
        ]
        if problems:
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise ModeError(source, problems[0].path, problems[0].message + more)

    async def activate(self, name: str, by: str, mode: Mode | None = None) -> Mode:
        """Load, validate and pre-decode a mode, then make it active. A broken
        document raises ModeError and the active mode keeps running.
        ``mode``: the document just saved under ``name``, already checked."""
        if mode is None:
            # parsing and checking a document is work for a thread, never for the loop the media clock runs on
            mode = await asyncio.to_thread(self.modes.load, name)
            await asyncio.to_thread(self.validate, mode, str(self.modes.path(name)))
        loop = asyncio.get_running_loop()
        # the no-message prompts too: a full disk must not make the loop decode files mid-call
        needed = mode.prompts() | (NO_MESSAGE_PROMPTS if _has_voicemail(mode) else set())
        await loop.run_in_executor(None, self.library.preload, needed)
        # The decoded prompts are many long-lived objects: keep them out of the
        # cyclic collector's scans so a full collection cannot stall the media clock.
        gc.collect()
        gc.freeze()
        self.mode, self.mode_name = mode, name
        try:
            await self.state.set_setting("active_mode", name)
            await self.state.audit(self.clock.now(), by, "mode.activate", name)
        except StoreError as err:
            # a full disk must not keep a box from starting or a mode from taking over: it is
            # active now, only the next start may not remember it (or the audit entry lacks)
            log.error("mode '%s' is active, but the database did not take note: %s", name, err)
        self.events.publish(ModeActivated(name, by))
        log.info("mode '%s' (%s) is active", name, mode.name)
        return mode

    async def activate_at_start(self, configured: str) -> None:
        """The mode active before the restart (else ``configured``, the config's ``active_mode``).
        A box without that mode -- an empty box, or one whose modes have other names -- runs
        without a mode and refuses calls until an admin activates one; a broken document stops
        the start."""
        names = self.modes.names()
        name = await self.state.setting("active_mode") or configured
        if name not in names and configured in names:
            name = configured
        if name not in names:
            log.warning(
                "no mode to activate (%s): calls are refused until an admin builds one in the editor and activates it",
                f"modes: {', '.join(names)}" if names else "no modes yet",
            )
            return
        try:
            await self.activate(name, "start-up")
        except ZentraleError as err:
            log.error("cannot activate mode '%s': %s", name, err)
            if name != configured and configured in names:
                await self.activate(configured, "start-up")
            else:
                raise

    async def restore_switches(self) -> None:
        """The switches as they were before the restart (the outage announcement stays on)."""
        self.control.restore(await self.state.switch_states())

    # --- mode documents: versions, import, rollback ------------------------------------

    async def record_files(self) -> None:
        """A document changed on disk (or new) becomes a version, by "file"."""
        for name in self.modes.names():
            await self.versions.record(name, self.modes.text(name), "file", self.clock.now())

    async def save_mode(
        self, name: str, text: str, author: str, comment: str = "", mode: Mode | None = None
    ) -> dict[str, Any]:
        """Validate and store a document as a new version; the active mode is reloaded.
        ``mode``: ``text`` already parsed and checked (the web layer does that in its worker process)."""
        source = f"{name}.yaml"
        if mode is None:
            mode = await asyncio.to_thread(parse_mode, text, source)
            await asyncio.to_thread(self.validate, mode, source)
        await asyncio.to_thread(self.modes.save_text, name, text)
        version = await self.versions.record(name, text, author, self.clock.now(), comment)
        await self.state.audit(self.clock.now(), author, "mode.save", f"{name} v{version}")
        if self.mode_name == name:
            await self.activate(name, author, mode)
        return {"mode": name, "version": version}

    async def rollback(self, name: str, version: int, author: str) -> dict[str, Any]:
        old = await self.versions.get(name, version)
        return await self.save_mode(name, str(old["document"]), author, f"rollback to v{version}")

    async def duplicate_mode(self, name: str, to: str, author: str) -> dict[str, Any]:
        if to in self.modes.names():
            raise Conflict(f"mode '{to}' exists already")
        return await self.save_mode(to, self.modes.text(name), author, f"copy of {name}")

    async def rename_mode(self, name: str, to: str, author: str) -> dict[str, Any]:
        if to in self.modes.names():
            raise Conflict(f"mode '{to}' exists already")
        if name == self.mode_name:
            raise Conflict(f"mode '{name}' is active; activate another one first")
        self.modes.save_text(to, self.modes.text(name))
        self.modes.delete(name)
        await self.versions.rename(name, to)
        await self.state.audit(self.clock.now(), author, "mode.rename", f"{name} -> {to}")
        return {"mode": to, "version": await self.versions.latest(to)}

    async def delete_mode(self, name: str, author: str) -> None:
        if name == self.mode_name:
            raise Conflict(f"mode '{name}' is active; activate another one first")
        self.modes.delete(name)
        await self.state.audit(self.clock.now(), author, "mode.delete", name)

    def switch_list(self) -> list[dict[str, Any]]:
        if self.mode is None:
            return []
        out = []
        for switch in self.mode.switches:
            st = self.control.state(switch.id)
            out.append(
                {
                    "id": switch.id,
                    "label": switch.label,
                    "label_en": switch.label_en or switch.label,
                    "tab": switch.tab,
                    "front_panel": switch.front_panel,
                    "on": st.on,
                    "since": st.since.isoformat() if st.since else None,
                    "by": st.by,
                    "replaces": [r.node for r in switch.replaces],
                }
            )
        return out

    async def set_switch(self, switch_id: str, on: bool, by: str) -> dict[str, Any]:
        if self.mode is None or switch_id not in {s.id for s in self.mode.switches}:
            raise NotFound(f"the active mode has no switch '{switch_id}'")
        before = self.control.is_on(switch_id)
        state = self.control.set(switch_id, on, by)
        try:
            await self.state.save_switch(state)
            if before != on:
                await self.state.audit(self.clock.now(), by, "switch.on" if on else "switch.off", switch_id)
        except StoreError as err:
            # an outage announcement must go on even when the disk is full: callers hear it now,
            # only a restart would not remember it (the disk's state is on /status and the banner)
            log.error("switch '%s' is %s, but the database did not take note: %s", switch_id, "on" if on else "off",
                      err)  # fmt: skip
        return next(s for s in self.switch_list() if s["id"] == switch_id)

    def front_panel_switch_id(self) -> str | None:
        """The switch the front-panel button toggles: the mode's front-panel switch (or the first one)."""
        if self.mode is None or not self.mode.switches:
            return None
        return next((s for s in self.mode.switches if s.front_panel), self.mode.switches[0]).id

    async def toggle_front_panel_switch(self, by: str = "front panel") -> dict[str, Any] | None:
        """The front-panel button: toggle the mode's front-panel switch (or the first one)."""
        switch_id = self.front_panel_switch_id()
        if switch_id is None:
            return None
        return await self.set_switch(switch_id, not self.control.is_on(switch_id), by)

    def waiting_calls(self, team: str | None = None) -> list[dict[str, Any]]:
        return [self.queues.snapshot(e) for e in self.queues.entries(team)]

    async def update_message(
        self, message_id: str, by: str, status: str | None = None, comment: str | None = None
    ) -> dict[str, Any]:
        """The viewer: take a message on (in_progress), finish it (done), reopen it (new), comment it.
        Taking on a message someone else is working on is a Conflict."""
        row = await self.messages.get(message_id)
        fields: dict[str, Any] = {}
        if status is not None:
            if status not in MESSAGE_STATES:
                raise Refused(f"status must be one of {', '.join(MESSAGE_STATES)}")
            if status == "in_progress" and row["status"] == "in_progress" and row["status_by"] not in (None, by):
                raise Conflict(f"{row['status_by']} is already working on this message")
            if status != row["status"]:
                fields |= {"status": status, "status_by": by, "status_at": self.clock.now().isoformat()}
        if comment is not None and comment != row["comment"]:
            fields["comment"] = comment
        if fields:
            row = await self.messages.update(message_id, **fields)
            self.events.publish(
                MessageUpdated(message_id, row["status"], row["status_by"], row["status_at"], row["comment"])
            )
        return row

    async def delete_message(self, message_id: str, by: str) -> None:
        row = await self.messages.delete(message_id)
        detail = f"{message_id} from {row['caller']} (team {row['team'] or '-'}, {row['created_at']})"
        await self.state.audit(self.clock.now(), by, "message.delete", detail)
        self.events.publish(MessageDeleted(message_id, by))
