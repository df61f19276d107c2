"""The house keeps each room to one job: every module is at most 400 lines, and every function at
most 60, or it says in one line why not (a comment on its `def` line or just above it and its
decorators), so a long function is a decision someone wrote down, not an accident."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "sealsearch"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def _modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_module_is_at_most_400_lines():
    long = {str(p.relative_to(SRC)): n for p in _modules() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"split these modules by job: {long}"


def _says_why(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return "#" in lines[node.lineno - 1] or lines[first - 2].lstrip().startswith("#")


def test_every_long_function_says_why():
    unexplained = []
    for path in _modules():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES and not _says_why(lines, node):
                    unexplained.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({length} lines)")
    assert not unexplained, f"split these, or say in one line beside the def why not: {unexplained}"
