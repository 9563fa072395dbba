"""A long statement's progress: reported to the command's own labelled bar, never printed by DuckDB
as a bare percentage on stderr (which a refresh called from Python, or a load, would show)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

LONG = "SELECT count(*) AS n FROM range(600000000) AS r(i) WHERE i % 7 = 3"


def test_a_long_statement_reports_its_progress_and_prints_none_of_its_own(tmp_path: Path) -> None:
    # in a process of its own, as a command or a user's script runs it (DuckDB draws its bar
    # on the process's stderr; here after 50 ms instead of 2 s)
    script = textwrap.dedent(
        f"""
        from shadow.store import Store
        seen = []
        with Store.open({str(tmp_path / "s.duckdb")!r}, create=True) as store:
            store.execute("SET progress_bar_time = 50")
            store.execute("CREATE TABLE a AS {LONG}")
            store.execute_with_progress("CREATE TABLE b AS {LONG}", None, seen.append)
            print(store.rows("SELECT a.n, b.n FROM a, b")[0])
        print(seen[-1], any(0 < v < 1 for v in seen))
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert run.stdout.split("\n")[:2] == ["(85714286, 85714286)", "1.0 True"], run.stdout
    assert "%" not in run.stderr, run.stderr[:200]
