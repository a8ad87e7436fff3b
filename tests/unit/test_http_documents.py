"""Mode documents from requests are bounded while they are parsed: depth, number of
values, aliases; JSON bodies are measured for depth before anything parses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.harness.modes import demo_mode
from zentrale.app import App
from zentrale.config import DEMO_DIR, Config
from zentrale.core.callbacks import callback_prompts
from zentrale.errors import ModeError
from zentrale.web.documents import MAX_VALUES, count_values, load_document, parse_checked
from zentrale.web.limits import body_limit, json_depth, json_problem, marked_routes, route_marks

PROMPTS = {
    "greeting", "main_menu", "invalid_choice", "no_input", "goodbye", "hold_notice", "music_a", "music_b", "music_c",
    "caller_blocked", "offer_message", "message_saved", "outage_sap", "outage_network", "closed", "connecting",
    "hold_callback", *callback_prompts("de"),  # team C offers a callback on key 2
}  # fmt: skip
TEAMS = ["lvs", "sap", "pc"]


def test_the_demo_mode_reads_the_same_as_yaml_and_as_json() -> None:
    mode = demo_mode()
    as_yaml = load_document(yaml.safe_dump(mode, allow_unicode=True), "t")
    as_json = load_document(json.dumps(mode), "t")
    assert as_yaml == as_json == mode


def test_a_json_document_is_kept_as_yaml_text_after_the_checks() -> None:
    mode, text = parse_checked(json.dumps(demo_mode()), "upload:x", 32, PROMPTS, TEAMS, as_yaml=True)
    assert mode.start == "caller_rules"
    assert yaml.safe_load(text)["nodes"]["greeting"]["prompt"] == "greeting"


def test_a_document_naming_a_missing_prompt_is_refused_with_the_path() -> None:
    broken = demo_mode()
    broken["nodes"]["greeting"]["prompt"] = "no_such_prompt"
    with pytest.raises(ModeError) as err:
        parse_checked(yaml.safe_dump(broken), "upload:x", 32, PROMPTS, TEAMS, as_yaml=False)
    assert "no_such_prompt" in err.value.problem


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # flow style: PyYAML's composer would recurse until RecursionError
        "a:\n" + "".join(" " * i + "- \n" for i in range(1, 60)),  # block style, 59 levels
        '{"a": ' * 40 + "1" + "}" * 40,  # JSON
        "{" * 50_000,  # unclosed JSON, then unclosed YAML flow mapping
    ],
)
def test_deep_nesting_is_refused_as_a_mode_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ModeError) as err:
        load_document(text, "upload:deep", max_depth=32)
    assert "nested more than 32 levels deep" in err.value.problem


def test_nesting_up_to_the_limit_is_read() -> None:
    text = '{"a": ' * 31 + "1" + "}" * 31
    data = load_document(text, "t", max_depth=32)
    for _ in range(31):
        data = data["a"]
    assert data == 1


def test_a_billion_laughs_of_yaml_aliases_is_refused_by_its_expanded_size() -> None:
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]" for i in range(8)]
    with pytest.raises(ModeError) as err:
        load_document("\n".join(lines), "upload:bomb")
    assert f"more than {MAX_VALUES} values" in err.value.problem


def test_a_cyclic_yaml_alias_ends_at_the_value_limit() -> None:
    with pytest.raises(ModeError) as err:
        load_document("&a [*a, *a]", "upload:cycle")
    assert "values" in err.value.problem


def test_an_integer_of_thousands_of_digits_is_a_mode_error() -> None:
    for text in ("a: " + "9" * 5000, '{"a": ' + "9" * 5000 + "}"):
        with pytest.raises(ModeError):
            load_document(text, "upload:int")


def test_values_are_counted_keys_included_and_counting_stops_at_the_limit() -> None:
    assert count_values({"a": [1, 2], "b": None}, 100) == 7  # the dict, 2 keys, the list, 1, 2, None
    shared: list[object] = [1] * 100
    assert count_values([shared] * 1000, 500) == 501


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"{}", 1),
        (b'{"a": [1, {"b": [[]]}]}', 5),
        (b'{"a": "[[[[[[[[[[", "b": "\\"[[[["}', 1),  # brackets inside strings, escaped quotes
        (b"[" * 100 + b"]" * 100, 100),
        (b'"' + b"[" * 1000, 0),  # an unclosed string: nothing after it counts
        (b"", 0),
    ],
)
def test_json_depth_is_measured_without_parsing(body: bytes, depth: int) -> None:
    assert json_depth(body) == depth


def test_routes_marked_with_a_body_limit_are_found_in_the_spec() -> None:
    spec = {
        "paths": {
            "/api/modes/{name}": {"put": {"x-body-limit": "document"}, "get": {}},
            "/api/prompts/{name}": {"post": body_limit("stream")},
            "/api/teams/{team_id}": {"put": {}},
        }
    }
    marked = {(method, kind): pattern for method, pattern, kind in marked_routes(spec)}
    assert set(marked) == {("PUT", "document"), ("POST", "stream")}
    assert marked["PUT", "document"].match("/api/modes/hotline")
    assert not marked["PUT", "document"].match("/api/modes/hotline/activate")
    assert not marked["POST", "stream"].match("/api/prompts/x/speak")


def test_the_routes_marked_at_start_are_those_the_full_spec_marks(tmp_path: Path) -> None:
    # the daemon reads the marks from its routes (the full spec was a third of its start's
    # CPU); what it finds must be what /openapi.json says
    settings = yaml.safe_load((DEMO_DIR / "config.yaml").read_text(encoding="utf-8"))
    api = App(Config.model_validate({**settings, "data_dir": str(tmp_path)})).api
    from_routes = marked_routes(route_marks(api.routes))
    from_spec = marked_routes(api.openapi())
    assert sorted(from_routes, key=str) == sorted(from_spec, key=str)
    assert {kind for _, _, kind in from_routes} == {"document", "stream"}
    assert len(from_routes) >= 5


def test_nan_and_infinity_are_found_outside_strings_only() -> None:
    assert json_problem(b'{"a": NaN}', 32) == "NaN and Infinity are not numbers JSON can carry (RFC 8259 \u00a76)"
    assert json_problem(b'{"a": -Infinity}', 32) is not None
    assert json_problem(b'{"a": "NaN and Infinity as text"}', 32) is None
    assert json_problem(b"[" * 33 + b"]" * 33, 32) == "the JSON is nested 33 levels deep, at most 32 are allowed"


def test_a_mode_document_with_nan_as_json_is_read_as_yaml_where_it_is_text() -> None:
    assert load_document('{"name": NaN}', "t") == {"name": "NaN"}
