"""Print the pytest node ids of the tests that read the project's recordings.

A test is one if its body (or its class) names `SPACEWALK` or `JFK` from `tests.speech`.
`.ci/run` runs these from a fresh clone with nothing beside it, proving the suite needs
no file outside the repository. Usage: python -m tests.recordings [tests]
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

RECORDINGS = {"SPACEWALK", "JFK"}


def names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def node_ids(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("test_*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if node.name.startswith("test") and names(node) & RECORDINGS:
                    found.append(f"{path.as_posix()}::{node.name}")
            elif isinstance(node, ast.ClassDef) and names(node) & RECORDINGS:
                found.append(f"{path.as_posix()}::{node.name}")
    return found


if __name__ == "__main__":
    ids = node_ids(Path(sys.argv[1] if len(sys.argv) > 1 else "tests"))
    if not ids:
        sys.exit("no test reads tests/data/speech: is the selection broken?")
    print("\n".join(ids))
