"""Mode documents (Betriebsarten): schema, parsing and validation.

A mode is one YAML or JSON document: a start node and named nodes of seven
types (announcement, menu, queue, voicemail, hangup, condition, callback) plus manual-control
switches that replace announcements. ``parse_mode`` refuses a broken
document with a ``ModeError`` naming the source, the path to the field and
what is wrong. Pure: the caller reads the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from zentrale.core.addresses import check_addresses
from zentrale.core.callbacks import callback_prompts
from zentrale.core.callers import CallerNumberError, Test, in_language, patterns
from zentrale.core.waits import announcement_prompts
from zentrale.errors import ModeError

NodeId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$")]
PromptName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")]
DTMF_DIGITS = "0123456789*#"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AnnouncementNode(_Strict):
    """Plays a prompt, then goes to ``next`` (no ``next``: the call is hung up)."""

    type: Literal["announcement"]
    prompt: PromptName
    next: NodeId | None = None
    barge_in: bool = Field(False, description="a digit stops the prompt and is kept for a menu")
    label: str | None = None


class MenuNode(_Strict):
    """Plays a prompt and branches on one DTMF digit."""

    type: Literal["menu"]
    prompt: PromptName
    choices: dict[str, NodeId]
    timeout: float = Field(6.0, gt=0, le=120, description="seconds to wait for a digit")
    retries: int = Field(3, ge=1, le=10, description="how often the menu is offered")
    invalid_prompt: PromptName | None = None
    timeout_prompt: PromptName | None = None
    on_failure: NodeId | None = Field(None, description="after the last retry; none: hang up")
    label: str | None = None

    @field_validator("choices", mode="before")
    @classmethod
    def _targets(cls, choices: Any) -> Any:
        if isinstance(choices, dict):
            for digit, target in choices.items():
                if not target:
                    raise ValueError(f"digit {digit} has no target node")
        return choices

    @field_validator("choices")
    @classmethod
    def _digits(cls, choices: dict[str, str]) -> dict[str, str]:
        if not choices:
            raise ValueError("a menu needs at least one choice")
        for digit in choices:
            if len(digit) != 1 or digit not in DTMF_DIGITS:
                raise ValueError(f"choice key {digit!r} is not one DTMF digit (0-9, *, #)")
        return choices


AnnounceWhat = Literal["position", "wait", "both"]


class HoldStep(_Strict):
    """One step of a hold sequence: an announcement, music for some seconds, or the
    caller's position and/or expected wait spoken (``announce``, core/waits.py)."""

    announcement: PromptName | None = None
    music: PromptName | None = None
    seconds: float | None = Field(None, gt=0, le=3600)
    announce: AnnounceWhat | None = Field(None, description="speak the position, the expected wait, or both")

    @model_validator(mode="after")
    def _one_kind(self) -> HoldStep:
        if sum(x is not None for x in (self.announcement, self.music, self.announce)) != 1:
            raise ValueError(
                "a hold step is either 'announcement: <prompt>', 'music: <name>' or 'announce: position|wait|both'"
            )
        if self.music is not None and self.seconds is None:
            raise ValueError("a music step needs 'seconds'")
        if self.music is None and self.seconds is not None:
            raise ValueError("only a music step has 'seconds'; the others play once")
        return self

    @property
    def kind(self) -> str:
        if self.announce is not None:
            return "announce"
        return "announcement" if self.announcement is not None else "music"

    @property
    def name(self) -> str:
        return self.announcement or self.music or self.announce or ""


class QueueNode(_Strict):
    """Puts the caller into a team's queue with a hold sequence."""

    type: Literal["queue"]
    team: NodeId
    hold: list[HoldStep] = Field(min_length=1)
    repeat_hold: bool = Field(False, description="start the hold sequence again when it ends")
    max_wait: float | None = Field(None, gt=0, le=24 * 3600, description="seconds")
    after_hold: NodeId | None = Field(None, description="when the sequence ends (no repeat)")
    on_max_wait: NodeId | None = Field(None, description="when max_wait has passed")
    keys: dict[str, NodeId] | None = Field(None, description="digit -> node: the caller leaves the queue there at once")
    announce_every: float = Field(
        60, ge=0, le=3600, description="seconds: a position is spoken again only when changed and after this long"
    )
    wait_min_observations: int = Field(
        5, ge=1, le=100, description="hand-overs to agents seen before an expected wait is spoken"
    )
    label: str | None = None

    @field_validator("keys", mode="before")
    @classmethod
    def _key_targets(cls, keys: Any) -> Any:
        if isinstance(keys, dict):
            for digit, target in keys.items():
                if not target:
                    raise ValueError(f"key {digit} has no target node")
        return keys

    @field_validator("keys")
    @classmethod
    def _key_digits(cls, keys: dict[str, str] | None) -> dict[str, str] | None:
        for digit in keys or {}:
            if len(digit) != 1 or digit not in DTMF_DIGITS:
                raise ValueError(f"key {digit!r} is not one DTMF digit (0-9, *, #)")
        return keys

    @model_validator(mode="after")
    def _has_exit(self) -> QueueNode:
        if self.repeat_hold and self.max_wait is None and self.on_max_wait is not None:
            raise ValueError("'on_max_wait' needs 'max_wait'")
        if all(step.announce is not None for step in self.hold):
            # announce steps may say nothing (nothing changed): the sequence would spin
            raise ValueError("a hold sequence needs at least one announcement or music step besides 'announce'")
        return self


class VoicemailNode(_Strict):
    """Offers to leave a message: prompt, beep, record until #, silence, hang-up or max."""

    type: Literal["voicemail"]
    prompt: PromptName | None = None
    beep: bool = True
    max_seconds: float = Field(120, gt=0, le=3600)
    silence_seconds: float = Field(5, gt=0, le=60)
    end_digits: str = "#"
    team: NodeId | None = None
    email: list[str] | None = Field(None, description="overrides the team's distribution list")
    next: NodeId | None = None
    label: str | None = None

    @field_validator("email")
    @classmethod
    def _addresses(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else check_addresses(value)


class CallbackNode(_Strict):
    """The caller asks to be called back and keeps their place in the queue (core/callbacks.py):
    the number heard is read back (1 confirms) or another one typed (checked against the team's
    patterns); then the box says so and hangs up. No number: ``on_failure`` (none: hang up)."""

    type: Literal["callback"]
    team: NodeId | None = Field(None, description="the queue to keep the place in; none: the queue the caller left")
    on_failure: NodeId | None = Field(None, description="when the caller gives no number the box may call")
    label: str | None = None


class HangupNode(_Strict):
    """Optionally plays a prompt, then hangs up."""

    type: Literal["hangup"]
    prompt: PromptName | None = None
    label: str | None = None


class ConditionRule(_Strict):
    """One rule of a condition: a test and the node to go to when it holds."""

    test: Test = Field(description="blocked | vip | anonymous | number | schedule")
    numbers: list[Annotated[str, Field(max_length=32)]] | None = Field(
        None, max_length=100, description="for 'number': +4930*, 030*, 0171???????, or 'mobile'"
    )
    schedule: Literal["open", "closed", "holiday"] | None = Field(None, description="for 'schedule'")
    next: NodeId

    @model_validator(mode="after")
    def _arguments(self) -> ConditionRule:
        if (self.test == "number") != bool(self.numbers):
            raise ValueError("'numbers' belongs to (and is needed by) the test 'number'")
        if (self.test == "schedule") != (self.schedule is not None):
            raise ValueError("'schedule: open|closed|holiday' belongs to (and is needed by) the test 'schedule'")
        try:
            patterns(self.numbers or [])
        except CallerNumberError as err:
            raise ValueError(str(err)) from None
        return self


class ConditionNode(_Strict):
    """Branches on the caller: the first rule that holds wins, else ``otherwise``. Plays nothing."""

    type: Literal["condition"]
    rules: list[ConditionRule] = Field(min_length=1, max_length=50)
    otherwise: NodeId
    label: str | None = None


Node = Annotated[
    AnnouncementNode | MenuNode | QueueNode | VoicemailNode | HangupNode | ConditionNode | CallbackNode,
    Field(discriminator="type"),
]


class Replacement(_Strict):
    """While the switch is on, ``node`` plays ``prompt`` instead of its own."""

    node: NodeId
    prompt: PromptName
    next: NodeId | None = Field(None, description="optional: continue here instead")


class Switch(_Strict):
    """A manual-control switch (e.g. "SAP-Störung") any agent may flip."""

    id: NodeId
    label: str
    label_en: str | None = None
    tab: str = Field("Allgemein", description="tab of the manual control list")
    replaces: list[Replacement] = Field(min_length=1)
    front_panel: bool = Field(False, description="the switch the front-panel button toggles")


class Mode(_Strict):
    """A whole call flow (Betriebsart)."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=80)
    description: str = ""
    language: str = "de"
    start: NodeId
    nodes: dict[NodeId, Node]
    switches: list[Switch] = Field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return self.nodes[node_id]

    def switch(self, switch_id: str) -> Switch:
        for switch in self.switches:
            if switch.id == switch_id:
                return switch
        raise KeyError(switch_id)

    def prompts(self) -> set[str]:
        """Every prompt and music name the mode refers to."""
        names: set[str] = set()
        for node in self.nodes.values():
            names.update(_node_prompts(node, self.language))
        for switch in self.switches:
            names.update(r.prompt for r in switch.replaces)
        return names

    def teams(self) -> set[str]:
        teams: set[str] = set()
        for node in self.nodes.values():
            team = node.team if isinstance(node, QueueNode | VoicemailNode | CallbackNode) else None
            if team:
                teams.add(team)
        return teams


def _node_prompts(node: Node, language: str) -> Iterator[str]:
    if isinstance(node, AnnouncementNode | MenuNode):
        yield node.prompt
    if isinstance(node, MenuNode):
        yield from (p for p in (node.invalid_prompt, node.timeout_prompt) if p)
    if isinstance(node, QueueNode):
        yield from (step.name for step in node.hold if step.announce is None)
        if any(step.announce is not None for step in node.hold):
            yield from announcement_prompts(language)
    if isinstance(node, VoicemailNode) and node.prompt:
        yield node.prompt
    if isinstance(node, HangupNode) and node.prompt:
        yield in_language(node.prompt, language)  # what is played: caller_blocked_en in English
    if isinstance(node, CallbackNode):
        yield from callback_prompts(language)


def node_targets(node: Node) -> Iterator[tuple[str, str]]:
    """(field path, target node id) of every edge leaving ``node``."""
    if isinstance(node, AnnouncementNode) and node.next:
        yield "next", node.next
    elif isinstance(node, MenuNode):
        for digit, target in node.choices.items():
            yield f"choices.{digit}", target
        if node.on_failure:
            yield "on_failure", node.on_failure
    elif isinstance(node, QueueNode):
        if node.after_hold:
            yield "after_hold", node.after_hold
        if node.on_max_wait:
            yield "on_max_wait", node.on_max_wait
        for digit, target in (node.keys or {}).items():
            yield f"keys.{digit}", target
    elif isinstance(node, VoicemailNode) and node.next:
        yield "next", node.next
    elif isinstance(node, ConditionNode):
        for i, rule in enumerate(node.rules):
            yield f"rules.{i}.next", rule.next
        yield "otherwise", node.otherwise
    elif isinstance(node, CallbackNode) and node.on_failure:
        yield "on_failure", node.on_failure


class ModeProblem(BaseModel):
    """One problem found in a mode; ``path`` is dotted, ``node`` set where it belongs."""

    path: str
    message: str
    node: str | None = None
    severity: Literal["error", "warning"] = "error"


def check_mode(
    mode: Mode, *, prompts: Iterable[str] | None = None, teams: Iterable[str] | None = None
) -> list[ModeProblem]:
    """Semantic checks beyond the schema: dangling targets, unknown prompts and
    teams, unreachable nodes (warning), loops without an exit."""
    problems: list[ModeProblem] = []
    if mode.start not in mode.nodes:
        problems.append(ModeProblem(path="start", message=f"start node '{mode.start}' does not exist"))
    for node_id, node in mode.nodes.items():
        for path, target in node_targets(node):
            if target not in mode.nodes:
                problems.append(
                    ModeProblem(
                        path=f"nodes.{node_id}.{path}",
                        message=f"target node '{target}' does not exist",
                        node=node_id,
                    )
                )
    seen_switches: set[str] = set()
    for i, switch in enumerate(mode.switches):
        if switch.id in seen_switches:
            problems.append(ModeProblem(path=f"switches.{i}.id", message=f"switch '{switch.id}' appears twice"))
        seen_switches.add(switch.id)
        for j, repl in enumerate(switch.replaces):
            path = f"switches.{i}.replaces.{j}"
            replaced = mode.nodes.get(repl.node)
            if replaced is None:
                problems.append(ModeProblem(path=f"{path}.node", message=f"node '{repl.node}' does not exist"))
            elif not isinstance(replaced, AnnouncementNode):
                problems.append(ModeProblem(path=f"{path}.node", message=f"node '{repl.node}' is not an announcement"))
            if repl.next is not None and repl.next not in mode.nodes:
                problems.append(ModeProblem(path=f"{path}.next", message=f"node '{repl.next}' does not exist"))
    if sum(1 for s in mode.switches if s.front_panel) > 1:
        problems.append(ModeProblem(path="switches", message="only one switch can be on the front-panel button"))
    if prompts is not None:
        known = set(prompts)
        for node_id, node in mode.nodes.items():
            for name in _node_prompts(node, mode.language):
                if name not in known:
                    problems.append(
                        ModeProblem(path=f"nodes.{node_id}", message=f"prompt '{name}' is missing", node=node_id)
                    )
        for i, switch in enumerate(mode.switches):
            for j, repl in enumerate(switch.replaces):
                if repl.prompt not in known:
                    problems.append(
                        ModeProblem(
                            path=f"switches.{i}.replaces.{j}.prompt", message=f"prompt '{repl.prompt}' is missing"
                        )
                    )
    if teams is not None:
        known_teams = set(teams)
        for node_id, node in mode.nodes.items():
            team = getattr(node, "team", None)
            if team is not None and team not in known_teams:
                problems.append(
                    ModeProblem(path=f"nodes.{node_id}.team", message=f"team '{team}' is not configured", node=node_id)
                )
    if any(p.severity == "error" for p in problems):
        return problems
    problems.extend(_graph_problems(mode))
    return problems


def _graph_problems(mode: Mode) -> list[ModeProblem]:
    edges = {node_id: [t for _, t in node_targets(node)] for node_id, node in mode.nodes.items()}
    for switch in mode.switches:
        for repl in switch.replaces:
            if repl.next:
                edges[repl.node].append(repl.next)
    reachable: set[str] = set()
    stack = [mode.start]
    while stack:
        node_id = stack.pop()
        if node_id in reachable:
            continue
        reachable.add(node_id)
        stack.extend(edges[node_id])
    problems = [
        ModeProblem(path=f"nodes.{n}", message="node is not reachable from the start", node=n, severity="warning")
        for n in mode.nodes
        if n not in reachable
    ]

    # A node "can end" when some path from it leads out of the flow: a hangup,
    # a node without a next, a queue (an agent may take the call).
    def exits_directly(node_id: str) -> bool:
        node = mode.nodes[node_id]
        if isinstance(node, HangupNode | QueueNode | CallbackNode):
            return True  # a callback hangs up once the caller gave a number
        if isinstance(node, MenuNode):
            return node.on_failure is None
        return not edges[node_id]

    can_end = {n for n in mode.nodes if exits_directly(n)}
    changed = True
    while changed:
        changed = False
        for node_id, targets in edges.items():
            if node_id not in can_end and any(t in can_end for t in targets):
                can_end.add(node_id)
                changed = True
    problems.extend(
        ModeProblem(path=f"nodes.{n}", message="loop without an exit: the call can never end here", node=n)
        for n in mode.nodes
        if n in reachable and n not in can_end
    )
    return problems


NODE_TYPES = ("announcement", "menu", "queue", "voicemail", "hangup", "condition", "callback")


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    # pydantic puts the discriminator value after the node id (nodes.<id>.<type>.<field>); drop
    # it there only -- a node may well be called "menu"
    parts = [str(p) for p in loc]
    if len(parts) > 2 and parts[0] == "nodes" and parts[2] in NODE_TYPES:
        del parts[2]
    return ".".join(parts)


def node_of_path(path: str) -> str | None:
    """The node a dotted problem path belongs to (``nodes.<id>.…``), if any."""
    parts = path.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "nodes" else None


def schema_problems(data: Any) -> tuple[Mode | None, list[ModeProblem]]:
    """The mode, or every schema problem of the document (for the editor, which shows them all)."""
    if not isinstance(data, dict):
        return None, [ModeProblem(path="", message="a mode document must be a mapping (YAML or JSON object)")]
    try:
        return Mode.model_validate(data), []
    except ValidationError as err:
        found = []
        for error in err.errors():
            path = _loc_to_path(error["loc"])
            found.append(
                ModeProblem(path=path, message=error["msg"].removeprefix("Value error, "), node=node_of_path(path))
            )
        return None, found


def parse_mode_data(data: Any, source: str) -> Mode:
    """Validate an already-decoded document; raise ModeError on the first problems."""
    if not isinstance(data, dict):
        raise ModeError(source, "", "a mode document must be a mapping (YAML or JSON object)")
    try:
        mode = Mode.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        more = f" (and {err.error_count() - 1} more problems)" if err.error_count() > 1 else ""
        problem = first["msg"].removeprefix("Value error, ")
        raise ModeError(source, _loc_to_path(first["loc"]), problem + more) from err
    return mode


def parse_mode(text: str, source: str) -> Mode:
    """Parse YAML (a superset of JSON) and validate the schema and the graph."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ModeError(source, where, f"not valid YAML/JSON: {getattr(err, 'problem', err)}") from err
    mode = parse_mode_data(data, source)
    errors = [p for p in check_mode(mode) if p.severity == "error"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
        raise ModeError(source, first.path, first.message + more)
    return mode


def dump_mode(mode: Mode, fmt: Literal["yaml", "json"] = "yaml") -> str:
    data = mode.model_dump(mode="json", exclude_none=True)
    if fmt == "json":
        return json.dumps(data, indent=2, ensure_ascii=False)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
