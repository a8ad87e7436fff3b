"""Every route's answer is documented in /openapi.json by a response model: no 2xx JSON answer
is an untyped object (``dict[str, Any]`` shows as an object with no properties)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from zentrale.app import App
from zentrale.config import Config

# answers that are not JSON (files, text, a redirect, an event stream, a 204)
NOT_JSON = {
    ("GET", "/api/messages/{message_id}/audio"), ("GET", "/api/backup"), ("GET", "/api/prompts/{name}/audio"),
    ("GET", "/api/editor/modes/{name}/versions/{version}"), ("GET", "/api/editor/modes/{name}/diff"),
    ("GET", "/api/editor/modes/{name}/export"), ("GET", "/api/messages/{message_id}/audio.mp3"),
    ("GET", "/api/events"), ("DELETE", "/api/teams/{team_id}"), ("GET", "/zentrale-ca.crt"),
    ("GET", "/api/switches/{switch_id}/audio"), ("GET", "/api/statistics.csv"),
}  # fmt: skip


@pytest.fixture
def spec(tmp_path: Path) -> dict[str, Any]:
    config = Config.model_validate({"data_dir": str(tmp_path), "teams": [{"id": "lvs", "name": "LVS"}]})
    spec: dict[str, Any] = App(config).api.openapi()  # built, not started: no port is opened
    return spec


def untyped(schema: dict[str, Any], components: dict[str, Any]) -> str | None:
    """Why ``schema`` says nothing about the answer (None: it is typed)."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        return None if target.get("properties") else f"{schema['$ref']} has no properties"
    if schema.get("type") == "array":
        return untyped(schema.get("items", {}), components)
    if schema.get("type") in ("string", "integer", "number", "boolean"):
        return None
    return f"untyped: {schema}"


def test_no_route_answers_an_untyped_object(spec: dict[str, Any]) -> None:
    components = spec["components"]["schemas"]
    wrong, typed = [], 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if (method.upper(), path) in NOT_JSON:
                continue
            answers = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
            assert answers, f"{method.upper()} {path} documents no success answer"
            for code, answer in answers.items():
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                why = "no JSON schema" if schema is None else untyped(schema, components)
                if why is None:
                    typed += 1
                else:
                    wrong.append(f"{method.upper()} {path} {code}: {why}")
    assert wrong == []
    assert typed >= 69  # every JSON route of the API (69 today)


def test_the_check_finds_an_untyped_answer() -> None:
    components = {"Agent": {"properties": {"id": {"type": "string"}}}, "Loose": {"type": "object"}}
    assert untyped({"type": "array", "items": {"$ref": "#/components/schemas/Agent"}}, components) is None
    assert untyped({"type": "object", "additionalProperties": True}, components) is not None
    assert untyped({"$ref": "#/components/schemas/Loose"}, components) is not None
    assert untyped({}, components) is not None


def test_the_spec_names_what_an_agent_looks_like(spec: dict[str, Any]) -> None:
    agent = spec["components"]["schemas"]["Agent"]
    assert {"id", "state", "logged_in_teams", "current_call"} <= set(agent["properties"])
    answer = spec["paths"]["/api/agents"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"type": "array", "items": {"$ref": "#/components/schemas/Agent"}, "title": answer.get("title")}
