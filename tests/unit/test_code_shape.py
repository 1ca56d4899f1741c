"""The operator's code stays in small pieces: no function in operator/kto over 60 lines (ruff bounds the
cyclomatic complexity at 15, see pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "kto"
MAX_LINES = 60


def _functions(path: Path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node.name, node.lineno, node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_function_is_longer_than_60_lines(path: Path) -> None:
    long = [f"{path.relative_to(PACKAGE)}:{line} {name} ({n} lines)"
            for name, line, n in _functions(path) if n > MAX_LINES]
    assert not long, f"split these functions (at most {MAX_LINES} lines each): {long}"
