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
    "pathlib",
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


# What reads or writes files, or reaches a database, by name: none of it belongs in the pure layers.
IO_NAMES = {
    "open",
    "read_text",
    "write_text",
    "read_bytes",
    "write_bytes",
    "read_parquet",
    "scan_parquet",
    "write_parquet",
    "read_ipc",
    "scan_ipc",
    "write_ipc",
    "read_csv",
    "scan_csv",
    "write_csv",
    "read_json",
    "write_json",
    "mkdir",
    "unlink",
    "connect",
}
IO_MODULES = {"os", "io", "shutil", "pathlib", "tempfile", "duckdb", "sqlite3", "glob", "fcntl"}


@pytest.mark.parametrize("layer", ["track", "stats"])
def test_the_computation_does_no_file_io(layer: str) -> None:
    for path in (SHADOW / layer).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not imported_roots(path) & IO_MODULES, (
            f"{path} imports {imported_roots(path) & IO_MODULES}"
        )
        for node in ast.walk(tree):
            name = (
                node.func.attr
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                else node.func.id
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                else None
            )
            assert name not in IO_NAMES, f"{path}:{node.lineno} calls {name}()"  # type: ignore[attr-defined]
