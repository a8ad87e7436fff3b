"""The firmware's imports as a graph, read from the source with ``ast`` (nothing is imported).

Used by the layer and import-cycle tests. Every ``import`` counts, also one
inside a function (it runs when the function does); imports under ``if
TYPE_CHECKING:`` are marked, since they never run (tests decide whether
they count).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "firmware" / "zentrale"


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted: zentrale.calls.dialer
    rel: str  # its file, relative to the package: calls/dialer.py
    name: str  # what it imports, dotted: zentrale.core.agents (or a library: asyncio)
    line: int
    type_checking: bool  # only under ``if TYPE_CHECKING:``


def module_name(rel: str) -> str:
    parts = rel.removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(["zentrale", *parts])


def modules(package: Path = PACKAGE) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package."""
    return {module_name(str(p.relative_to(package))): p for p in sorted(package.rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def imports_of(path: Path, package: Path = PACKAGE) -> Iterator[Import]:
    rel = str(path.relative_to(package))
    module = module_name(rel)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    checking = _type_checking_nodes(tree)
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # the package imports absolutely (STYLE.md); a relative one is named as such
                names = ["." * node.level + (node.module or "")]
            else:
                # "from package import submodule" loads the submodule; "from module import name" the module
                names = [f"{node.module}.{alias.name}" for alias in node.names] + [str(node.module)]
        for name in names:
            yield Import(module, rel, name, node.lineno, id(node) in checking)


def all_imports(package: Path = PACKAGE) -> list[Import]:
    return [imp for path in modules(package).values() for imp in imports_of(path, package)]


def resolve(name: str, known: Iterable[str]) -> str | None:
    """The package module ``name`` loads (the longest known prefix), or None for a library."""
    found = set(known)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in found:
            return candidate
    return None


def module_graph(*, with_type_checking: bool, package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package modules it loads, including the packages (``__init__``) above them,
    which Python runs first -- except the importer's own packages, which are loading already."""
    known = modules(package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for imp in all_imports(package):
        if imp.type_checking and not with_type_checking:
            continue
        target = resolve(imp.name, known)
        if target is None or not target.startswith("zentrale"):
            continue
        parts = target.split(".")
        for end in range(1, len(parts) + 1):
            loaded = ".".join(parts[:end])
            own_package = imp.module.startswith(loaded + ".")
            if loaded in known and loaded != imp.module and (end == len(parts) or not own_package):
                graph[imp.module].add(loaded)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one member (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def unit_of(module: str) -> str:
    """The layer unit of a module: its top-level package (``calls``) or top-level module (``app``)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "zentrale"


def unit_graph(*, with_type_checking: bool, package: Path = PACKAGE) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, targets in module_graph(with_type_checking=with_type_checking, package=package).items():
        unit = unit_of(module)
        graph.setdefault(unit, set())
        graph[unit] |= {unit_of(t) for t in targets if unit_of(t) != unit}
    return graph
