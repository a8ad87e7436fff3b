"""What the HTTP API answers, as pydantic models: ``/openapi.json`` documents each route's
answer from these (``tests/unit/test_api_answers.py`` checks that no route answers an
untyped object).

The models name the fields a client can rely on. They allow more (``extra="allow"``):
rows and snapshots carry a few more columns than listed (the call's line details, the
outbox's state), which pass through unchanged.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from zentrale.core.modes import ModeProblem
from zentrale.core.schedule import Schedule


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- small confirmations -------------------------------------------------------------------


class Deleted(Answer):
    deleted: str


class Lifted(Answer):
    lifted: str = Field(description="the address whose ban was lifted")


class Stopped(Answer):
    stopped: str = Field(description="the simulation's id")


class Activated(Answer):
    active: str = Field(description="the mode now active")


class Done(Answer):
    status: str = Field(description="what happened, e.g. 'logged out', 'changed'")


class Liveness(Answer):
    status: str = Field(description="'ok' while the daemon answers")


class ModeSaved(Answer):
    mode: str
    version: int = Field(description="the version the document was stored as")


class ModeUploaded(ModeSaved):
    saved: str = Field(description="the mode's name")


class Restarting(Answer):
    restarting: bool
    created_at: str = Field(description="when the uploaded backup was made")
    counts: dict[str, int] = Field(description="what it holds: messages, modes, prompts")


# --- the box ------------------------------------------------------------------------------------


class Component(Answer):
    state: str = Field(description="ok | degraded | fault")
    detail: str = ""


class BoxStatus(Answer):
    overall: str = Field(description="ok | degraded | fault: the worst component")
    components: dict[str, Component]
    version: str
    mode: str | None
    lines: list[dict[str, object]]
    calls: int
    tasks: int
    waiting: int
    agents: dict[str, int] = Field(description="agents per state")
    media_clock: dict[str, float | int | bool | str]  # "scheduling": the loop thread's, e.g. "real-time RR 10, …"
    disk: Component
    switches: list[dict[str, object]] = Field(description="the switches that are on")
    panel: dict[str, object] | None
    setup_needed: bool


class Notice(Answer):
    id: str
    state: str
    detail: str
    space: str | None = None
    free: int | None = None
    min_free: int | None = None
    recording: bool | None = None


# --- modes, switches, queues, calls ---------------------------------------------------------------


class ModeList(Answer):
    active: str | None
    modes: list[str]


class Switch(Answer):
    id: str
    label: str
    label_en: str
    tab: str | None = None
    front_panel: bool = False
    on: bool
    since: str | None
    by: str | None
    replaces: list[str] = Field(description="the nodes whose announcement it replaces")


class WaitingCall(Answer):
    entry_id: str
    call_id: str
    team: str
    caller: str
    caller_name: str | None
    position: int
    entered: str
    waited: float
    state: str = Field(description="waiting | offered | connected | left")
    offered_to: str | None
    hold_step: int
    hold_label: str
    vip: bool = Field(False, description="on the VIP list: waits ahead of callers who are not")
    callback: str | None = Field(None, description="a callback's id: the caller hung up and is to be called back")
    callback_attempts: int | None = Field(None, description="a callback: calls to the caller that failed so far")


class CallInProgress(Answer):
    call_id: str
    node: str | None = Field(description="the node of the mode the call is in")


class CallLogRow(Answer):
    call_id: str
    line: str | None = None
    caller: str | None = None
    caller_name: str | None = None
    called: str | None = None
    team: str | None = None
    started_at: str
    answered_at: str | None = None
    ended_at: str | None = None
    waited_s: float | None = None
    answered_by: str | None = None
    talk_s: float | None = None
    outcome: str | None = None
    message_id: str | None = None
    entered_queue_at: str | None = None
    left_queue: str | None = Field(None, description="why the caller left a queue unanswered: key *, overflow, ...")


class Message(Answer):
    id: str
    created_at: str
    caller: str
    caller_name: str | None = None
    called: str | None = None
    team: str | None = None
    mode: str | None = None
    node: str | None = None
    duration_ms: int
    status: str = Field(description="new | in_progress | done")
    status_by: str | None = None
    status_at: str | None = None
    comment: str = ""


class AuditEntry(Answer):
    id: int
    at: str
    who: str
    action: str
    detail: str = ""


# --- agents, accounts -------------------------------------------------------------------------------


class LastPull(Answer):
    entry_id: str
    result: str


class Agent(Answer):
    id: str
    name: str
    teams: list[str]
    default_number: str
    priority: int
    state: str = Field(description="logged_out | available | paused | ringing | on_call | wrap_up")
    number: str | None
    logged_in_teams: list[str]
    seconds_in_state: float
    calls: int
    current_call: str | None
    last_pull: LastPull | None = None


class PullResult(Answer):
    entry_id: str
    agent: str
    result: str = Field(description="ringing (without wait) | answered | busy | no_answer | ...")


class User(Answer):
    name: str
    display_name: str
    role: str = Field(description="admin | agent")
    agent_id: str | None = None
    created_at: str | None = None


class NumberChecked(Answer):
    number: str = Field(description="the number as the box reads it (spaces, dashes and slashes removed)")
    valid: bool = Field(description="a phone number or a SIP URI at all")
    allowed: bool


class DeskPhone(Answer):
    number: str | None = Field(description="the service number agents dial (none: feature codes off)")
    agents_with_pin: list[str]


class TeamSummary(Answer):
    id: str
    name: str
    distribution: str
    wrap_up: float | None = Field(None, description="seconds of wrap-up after a call (the page counts them down)")


class Me(Answer):
    name: str
    display_name: str
    role: str
    agent_id: str | None
    csrf: str | None = Field(description="send as X-CSRF-Token with every change (cookie sessions)")
    language: str
    version: str | None = None
    teams: list[TeamSummary] = []
    mp3_path: str | None = None
    people: dict[str, str] = Field(
        default_factory=dict, description="every account's full name by user name (statuses show names, not logins)"
    )
    admins: list[str] = Field(default_factory=list, description="the administrators' full names: whom to ask")


class LoginState(Answer):
    setup_needed: bool
    language: str


# --- teams, settings -------------------------------------------------------------------------------


class Team(Answer):
    id: str
    name: str
    distribution: str
    strategy: str
    ring_timeout: float
    wrap_up: float
    email: list[str]
    allowed_numbers: list[str] | None
    callback_numbers: list[str] | None = Field(None, description="numbers a callback may call (null: the default)")
    callback_attempts: int = 3
    callback_interval: float = Field(300, description="seconds between two callback attempts")
    callback_ring_timeout: float = 30
    callback_order: str = Field("agent_first", description="agent_first | caller_first")
    members: list[str]
    modes: list[str] = Field(description="the modes that use the team")


class Teams(Answer):
    source: str = Field(description="config | web: where the list comes from")
    teams: list[Team]


class Bans(Answer):
    bans: list[dict[str, object]]
    bans_total: int
    dropped_packets: int
    sources: int


class SipSettings(Answer):
    registrar: str | None
    user: str | None
    enabled: bool
    password_set: bool
    source: str
    status: dict[str, object] | None


class MailOverview(Answer):
    enabled: bool
    host: str | None
    port: int | None
    security: str
    sender: str | None
    login: bool
    viewer_url: str | None
    language: str
    source: str
    outbox: dict[str, int] = Field(description="messages per delivery state")


class TeamMailList(Answer):
    id: str
    email: list[str]


class TeamMailSettings(TeamMailList):
    name: str


class MailSettings(Answer):
    host: str | None
    password_set: bool
    enabled: bool
    source: str
    teams: list[TeamMailSettings]


class TestMailSent(Answer):
    sent: bool
    to: str
    message_id: str


class MailStatus(Answer):
    state: str = Field(description="queued | sending | sent | failed")
    recipients: list[str]
    attempts: int
    queued_at: str
    next_attempt_at: str | None
    last_attempt_at: str | None
    sent_at: str | None
    error: str | None
    mp3_error: str | None
    refused: dict[str, str] = Field(description="recipients the server refused, with its answer")
    attached: bool | None


class MessageWithMail(Message):
    mail: MailStatus | None = Field(description="its e-mail delivery; none: not e-mailed")


# --- the editor -------------------------------------------------------------------------------------


class EditorMode(Answer):
    name: str
    title: str | None
    description: str | None
    active: bool
    version: int
    updated_at: str | None
    updated_by: str | None
    problems: list[str] = Field(description="the stored document's errors, as text (empty: it can be activated)")


class Check(Answer):
    ok: bool
    problems: list[ModeProblem]


class ModeVersion(Answer):
    version: int
    author: str
    created_at: str
    comment: str


class Prompt(Answer):
    name: str
    seconds: float | None = Field(description="its length; none when it cannot be decoded")
    kind: str = Field(description="prompt | music")
    source: str = Field(description="uploaded | shipped")
    used_by: list[str] = Field(description="the modes that use it")


class ScheduleStatus(Answer):
    schedule: Schedule
    active_mode: str | None
    scheduled_mode: str | None
    why: str | None
    detail: str | None
    override: str | None
    next_change: dict[str, str] | None
    now: str
    upcoming_holidays: list[dict[str, object]]
    federal_states: list[dict[str, str]]


class Simulation(Answer):
    id: str
    mode: str
    time: float = Field(description="simulated seconds since the call came in")
    node: str | None
    activity: dict[str, object]
    transcript: list[dict[str, object]]
    waiting: list[WaitingCall]
    ended: bool
    outcome: str | None
