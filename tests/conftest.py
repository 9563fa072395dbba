"""Shared fixtures: a store with the sample decision point, and helpers to write and load logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shadow.ingestion import LoadSummary, ingest_into, plan_sources
from shadow.points import add_point, parse_point
from shadow.store import Store

POINT_TOML = """
id = "pump-inspection"
name = "Should this pump be inspected this week?"
owner = "Dana Reyes"
task = "binary"
labels = ["inspect", "no_inspect"]
positive_label = "inspect"
segments = ["site", "region"]
timezone = "Europe/Berlin"

[policy]
"""
# A fixed "now" for loads, so that "future" means the same thing on every run.
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def register(store: Store, text: str = POINT_TOML) -> None:
    add_point(store, parse_point(text), text)


@pytest.fixture
def store() -> Iterator[Store]:
    """A migrated in-memory store with the pump-inspection decision point registered."""
    s = Store.memory()
    register(s)
    yield s
    s.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store file on disk with the pump-inspection decision point registered."""
    path = tmp_path / "shadow.duckdb"
    with Store.open(path, create=True) as s:
        register(s)
    return path


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str | bytes], Path]:
    """Write a file into the test's folder and return its path."""

    def _write(name: str, content: str | bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return _write


@pytest.fixture
def load(store: Store) -> Callable[..., LoadSummary]:
    """Load one source into the `store` fixture and return its summary (point and clock fixed)."""

    def _load(log: str, source: Any, **kwargs: Any) -> LoadSummary:
        kwargs.setdefault("point", "pump-inspection")
        kwargs.setdefault("now", NOW)
        summaries = ingest_into(store, log, plan_sources(source), **kwargs)
        assert len(summaries) == 1
        return summaries[0]

    return _load


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample deployment, loaded and refreshed once per session. Read it; copy it to change it."""
    from shadow.demo import build_demo

    db = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    list(build_demo(db))
    return db


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> Iterator[Store]:
    """The sample deployment's store, open read-only for one test module."""
    with Store.open(demo_db, read_only=True) as store:
        yield store
