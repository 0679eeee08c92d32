"""The layout's rules that import-linter cannot see: top-level modules' imports, module size."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CODE = ["app.py", "config.py", "logs.py", "handlers", "domain", "integrations", "jobs", "db"]
MAX_LINES = 400


def python_files() -> list[Path]:
    found: list[Path] = []
    for name in CODE:
        path = ROOT / name
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_config_and_logs_import_only_the_standard_library() -> None:
    for name in ("config.py", "logs.py"):
        outside = imported_roots(ROOT / name) - set(sys.stdlib_module_names) - {"__future__"}
        assert not outside, f"{name} imports {sorted(outside)}: it sits below every layer"


def test_no_module_is_over_400_lines() -> None:
    sizes = {str(p.relative_to(ROOT)): len(p.read_text().splitlines()) for p in python_files()}
    assert len(sizes) > 50, "the walk sees the code"
    over = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not over, f"split these: {over}"
