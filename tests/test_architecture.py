"""Boundaries: one module owns each dependency (import-linter checks the layers in CI too)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SHADOW = Path(__file__).resolve().parents[1] / "shadow"
OWNERS = {
    "duckdb": {"store.py", "snapshot.py"},
    "click": {"cli.py"},
    "streamlit": set(),
    "rich": {"cli.py"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("package", sorted(OWNERS))
def test_each_dependency_has_one_owner(package: str) -> None:
    users = {
        str(p.relative_to(SHADOW)) for p in SHADOW.rglob("*.py") if package in imported_roots(p)
    }
    assert users <= OWNERS[package], f"{package} imported outside its owner: {users}"


def test_every_module_says_what_it_is_for() -> None:
    for path in SHADOW.rglob("*.py"):
        assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), path


APP = SHADOW.parent / "app"
APP_MAY_IMPORT = {
    "streamlit",
    "shadow",
    "ui",
    "polars",
    "math",
    "datetime",
    "os",
    "sys",
    "argparse",
    "dataclasses",
    "typing",
    "__future__",
    "threading",  # serve.py: the pages' imports done while the server starts
    "importlib",
}


def test_the_app_is_a_thin_shell() -> None:
    for path in APP.rglob("*.py"):
        extra = imported_roots(path) - APP_MAY_IMPORT
        assert not extra, f"{path.relative_to(APP)} imports {sorted(extra)}; move that into shadow/"
        assert "SELECT" not in path.read_text(encoding="utf-8"), f"{path} holds SQL"
