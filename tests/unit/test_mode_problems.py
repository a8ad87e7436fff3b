"""What the editor is told while a mode is edited: every schema problem at once, with the node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from zentrale.core.modes import check_mode, schema_problems

DEMO = Path(__file__).resolve().parents[2] / "firmware" / "zentrale" / "demo" / "hotline.yaml"


def demo() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return document


def test_every_schema_problem_is_reported_with_its_node_not_only_the_first() -> None:
    document = demo()
    del document["nodes"]["greeting"]["prompt"]
    document["nodes"]["queue_lvs"]["hold"][1] = {"music": "music_a"}  # music without seconds
    mode, found = schema_problems(document)
    assert mode is None
    assert {(p.node, p.path) for p in found} == {
        ("greeting", "nodes.greeting.prompt"),
        ("queue_lvs", "nodes.queue_lvs.hold.1"),
    }
    assert any(p.message == "a music step needs 'seconds'" for p in found)


def test_a_menu_digit_without_a_target_says_so() -> None:
    document = demo()
    document["nodes"]["main_menu"]["choices"]["4"] = ""
    _, found = schema_problems(document)
    assert [(p.node, p.message) for p in found] == [("main_menu", "digit 4 has no target node")]


def test_a_valid_document_has_no_schema_problems_and_the_checks_run_on_it() -> None:
    mode, found = schema_problems(demo())
    assert mode is not None and found == []
    assert check_mode(mode) == []


def test_a_node_named_like_a_node_type_keeps_its_name_in_the_problem() -> None:
    document = demo()
    document["nodes"]["menu"] = {"type": "menu", "choices": {"1": "goodbye"}}  # no prompt yet
    _, found = schema_problems(document)
    assert [(p.node, p.path) for p in found] == [("menu", "nodes.menu.prompt")]
