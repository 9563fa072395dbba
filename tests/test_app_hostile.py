"""Hostile addresses and filters: the app falls back to its defaults, SQL never takes user text.

The sidebar's choices live in the page address, so anyone can hand-edit them (or be sent a crafted
link). An unknown point, version, segment, period or date must show the default view, never a
traceback; a value made of SQL must match nothing rather than everything; and the app serves on
localhost unless told otherwise.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from shadow import browse
from shadow.cli import cli
from shadow.snapshot import open_published

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app" / "main.py"
POINT = "pump-inspection"
HOSTILE = [
    "x' OR 1=1 --",
    "kiel' OR '1'='1",
    "'; DROP TABLE numbers; --",
    "x" * 5000,
    "Zürich 日本 🙂 \u202e",
    "<script>alert(1)</script>",
]


def open_app(db: Path, page: str | None = None, **params: Any) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    return at


def shown(at: AppTest) -> tuple[str, str | None]:
    """The view the page shows: its header line after the owner, and the cases shadowed."""
    header = next(c.value for c in at.caption if "owner:" in c.value)
    metrics = {m.label: m.value for m in at.metric}
    return header.split("owner:", 1)[1], metrics.get("Cases shadowed")


@pytest.fixture(scope="module")
def default_view(demo_db: Path) -> tuple[str, str | None]:
    with pytest.MonkeyPatch.context() as m:
        m.setenv("SHADOW_DB", str(demo_db))
        return shown(open_app(demo_db))


@pytest.mark.slow
@pytest.mark.parametrize("value", [HOSTILE[0], HOSTILE[3], HOSTILE[4]])  # SQL, long, unicode
@pytest.mark.parametrize("param", ["point", "version", "segment", "period", "dates"])
def test_a_hostile_address_shows_the_default_view(
    demo_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    default_view: tuple[str, str | None],
    param: str,
    value: str,
) -> None:
    monkeypatch.setenv("SHADOW_DB", str(demo_db))
    at = open_app(demo_db, **{param: f"site = {value}" if param == "segment" else value})
    assert not at.exception, at.exception
    assert not at.error
    assert shown(at) == default_view


@pytest.mark.slow
def test_a_hostile_address_on_the_case_explorer_shows_the_default_cases(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHADOW_DB", str(demo_db))
    plain = open_app(demo_db, "disagreements")
    hostile = open_app(demo_db, "disagreements", segment="site = kiel' OR '1'='1", version="v2'--")
    assert not hostile.exception and not hostile.error
    assert [c.value for c in hostile.caption] == [c.value for c in plain.caption]


@pytest.mark.slow
def test_a_date_range_given_backwards_is_read_forwards(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # found by hand-editing the address: 2026-08-01 to 2026-07-01 showed 0 cases and no message
    monkeypatch.setenv("SHADOW_DB", str(demo_db))
    forwards = open_app(demo_db, dates=["2026-07-01", "2026-08-01"])
    backwards = open_app(demo_db, dates=["2026-08-01", "2026-07-01"])
    assert not backwards.exception
    assert "decided 2026-07-01 to 2026-08-01" in shown(backwards)[0]
    assert shown(backwards) == shown(forwards)
    assert shown(forwards)[1] not in (None, "0")


# --- SQL never takes user text -------------------------------------------------------------------


def test_a_hostile_filter_value_matches_nothing_rather_than_everything(demo_db: Path) -> None:
    everything = browse.Choice(POINT, "v2", "all", "all", "week", None, None)
    kiel = browse.Choice(POINT, "v2", "site", "kiel", "week", None, None)
    assert (
        browse.cases(browse.current(demo_db), everything, limit=1).total
        > browse.cases(browse.current(demo_db), kiel).total
        > 0
    )
    for value in HOSTILE:
        hostile = browse.Choice(POINT, "v2", "site", value, "week", None, None)
        assert browse.cases(browse.current(demo_db), hostile).total == 0, value
        assert browse.selection(browse.current(demo_db), hostile).periods.is_empty(), value
        version = browse.Choice(POINT, value, "all", "all", "week", None, None)
        assert browse.cases(browse.current(demo_db), version).total == 0, value
    with open_published(demo_db) as published:  # and nothing was dropped along the way
        assert "numbers" in published.tables()


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|WHERE|FROM|JOIN)\b")


def sql_built_from_text(path: Path) -> list[str]:
    """f-strings, .format() and % on text that looks like SQL, in one Python file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.JoinedStr) and any(
            isinstance(v, ast.FormattedValue) for v in node.values
        ):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "format"
            and isinstance(node.func.value, ast.Constant)
        ):
            text = str(node.func.value.value)
        elif (
            isinstance(node, ast.BinOp)
            and isinstance(node.op, ast.Mod | ast.Add)
            and isinstance(node.left, ast.Constant)
        ):
            text = str(node.left.value)
        else:
            continue
        if SQL.search(text):
            found.append(f"{path.name}:{node.lineno}: {text[:60]!r}")
    return found


def test_the_app_and_its_readers_build_no_sql_from_text() -> None:
    # the app's readers take their SQL from sql/published/ and pass every value as a $parameter
    files = [
        ROOT / "shadow" / "browse.py",
        ROOT / "shadow" / "report.py",
        *ROOT.glob("app/**/*.py"),
    ]
    assert [hit for f in files for hit in sql_built_from_text(f)] == []
    for query in sorted((ROOT / "sql" / "published").glob("*.sql")):
        text = query.read_text(encoding="utf-8")
        assert "{" not in text and "%s" not in text, query.name  # no template holes
        assert "$" in text or "WHERE" not in text, query.name  # filters are $parameters


def test_the_sql_check_catches_sql_built_from_text(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "def q(v):\n"
        "    a = f\"SELECT * FROM numbers WHERE segment_value = '{v}'\"\n"
        "    b = \"SELECT * FROM numbers WHERE x = '{}'\".format(v)\n"
        '    c = "DELETE FROM t WHERE id = " + v\n'
        "    return a, b, c, f'{v} rows'\n",
        encoding="utf-8",
    )
    assert len(sql_built_from_text(bad)) == 3


# --- localhost ---------------------------------------------------------------------------------------


def served_on(monkeypatch: pytest.MonkeyPatch, *args: str) -> list[str]:
    """The command `shadow app`/`shadow demo` would hand over to (os.execv), without running it."""
    handed: list[list[str]] = []

    def execv(_: str, command: list[str]) -> None:
        handed.append(command)

    monkeypatch.setattr("shadow.cli.os.execv", execv)
    monkeypatch.setattr("shadow.demo.build_demo", lambda db: iter(["(demo built)"]))
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    (command,) = handed
    return command


def address(command: list[str]) -> str:
    return command[command.index("--server.address") + 1]


@pytest.mark.parametrize("command", ["app", "demo"])
def test_the_app_serves_on_localhost_by_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    handed = served_on(monkeypatch, command, "--db", str(tmp_path / "s.duckdb"))
    assert Path(handed[1]).name == "serve.py" and handed[2] == "run"
    assert address(handed) == "127.0.0.1"


def test_the_app_serves_on_another_address_only_when_told(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    handed = served_on(
        monkeypatch, "app", "--db", str(tmp_path / "s.duckdb"), "--address", "0.0.0.0"
    )
    assert address(handed) == "0.0.0.0"
