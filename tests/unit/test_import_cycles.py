"""No import circles: neither between two modules nor between two parts of the firmware.

The import graph is read from the source (``tests/harness/import_graph.py``):
every ``import`` counts, also one inside a function. Imports under ``if
TYPE_CHECKING:`` never run, so they cannot make a circle at run time; between
the parts of the firmware (a package such as ``web`` or a top-level module
such as ``app``) they count all the same, because a type named across a
circle ties the parts together as much as a call does.
"""

from __future__ import annotations

from tests.harness.import_graph import all_imports, cycles, module_graph, unit_graph


def test_no_module_imports_itself_round_a_circle_at_run_time() -> None:
    assert cycles(module_graph(with_type_checking=False)) == []


def test_no_part_of_the_firmware_depends_on_itself_round_a_circle_not_even_for_types() -> None:
    assert cycles(unit_graph(with_type_checking=True)) == []


def test_the_firmware_imports_absolutely() -> None:
    relative = [f"{i.rel}:{i.line}" for i in all_imports() if i.name.startswith(".")]
    assert relative == []


def test_a_circle_is_found_where_there_is_one() -> None:
    # the finder itself: web -> app -> web (the circle this test was written against), and a longer one
    graph = {"web": {"app", "core"}, "app": {"web"}, "core": set(), "a": {"b"}, "b": {"c"}, "c": {"a"}}
    assert cycles(graph) == [["a", "b", "c"], ["app", "web"]]
