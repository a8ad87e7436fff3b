"""How often the firmware names ``typing.Any`` (AST names and attributes, imports not counted).

python tools/count_any.py [folder]      default: firmware/zentrale
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def count(folder: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for path in sorted(folder.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[str(path.relative_to(folder))] = sum(
            1
            for node in ast.walk(tree)
            if (isinstance(node, ast.Name) and node.id == "Any")
            or (isinstance(node, ast.Attribute) and node.attr == "Any")
        )
    return found


def main() -> None:
    folder = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "firmware" / "zentrale"
    found = count(folder)
    print(f"Any: {sum(found.values())} in {sum(1 for n in found.values() if n)} of {len(found)} modules")
    for name, n in sorted(found.items(), key=lambda item: -item[1])[:10]:
        print(f"{n:4d}  {name}")


if __name__ == "__main__":
    main()
