"""Report benchmark: `shadow report` (the morning briefing) against a plain read of the same numbers.

Over the sample deployment's kept store at a size (bench/data/sample-<size>/store.duckdb and the
snapshot its last refresh published beside it; `bench_refresh.py` makes both), every measurement a
fresh Python subprocess:

* baseline: `duckdb.connect(<store>.published.duckdb, read_only=True)`, then one query: the point's
  numbers for the whole point and every site, every period (what the briefing reads most of),
  fetched whole.
* report_md, report_json, report_html: `shadow report --point pump-inspection --format F` run in
  process (click's runner), output written to a file: reading the snapshot, the words, the charts
  (html: Plotly, self-contained).

Usage:
    python bench/bench_report.py --size 1m --repeat 3

Progress goes to stderr, the Markdown table to stdout.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import _cpu_seconds, _peak_mb, run_child, wait_for_quiet  # noqa: E402

DATA = HERE / "data"
POINT_ID = "pump-inspection"
MODES = ("baseline", "report_md", "report_json", "report_html")
BASELINE_SQL = """
SELECT * FROM numbers
WHERE point_id = $point AND segment IN ('all', 'site')
ORDER BY model_version, segment, segment_value, period, period_start
"""


def child(mode: str, db: Path) -> dict[str, Any]:
    """One measurement in this (fresh) process; prints its JSON result."""
    started = time.perf_counter()
    if mode == "baseline":
        import duckdb

        con = duckdb.connect(str(db.with_suffix(".published.duckdb")), read_only=True)
        rows = len(con.execute(BASELINE_SQL, {"point": POINT_ID}).fetchall())
        con.close()
        size = rows
    else:
        from click.testing import CliRunner

        from shadow.cli import cli

        fmt = mode.removeprefix("report_")
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / f"briefing.{fmt}"
            args = ["report", "--db", str(db), "--point", POINT_ID, "--format", fmt]
            args += ["--output", str(out)]
            result = CliRunner().invoke(cli, args)
            if result.exit_code != 0:
                raise RuntimeError(result.output)
            size = out.stat().st_size
    return {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb(),
        "cpu_seconds": _cpu_seconds(),
        "size": size,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="1m", help="1m or 10m: the kept sample store")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.15, help="CPU busy share to wait below")
    parser.add_argument("--max-wait", type=float, default=60.0)
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("db", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.db)))
        return 0
    db = DATA / f"sample-{args.size}" / "store.duckdb"
    if not db.with_suffix(".published.duckdb").exists():
        print(f"No published snapshot beside {db}: run bench/bench_refresh.py --sizes {args.size}")
        return 1
    rows = []
    baseline = None
    for mode in MODES:
        runs = []
        for i in range(args.repeat):
            other = wait_for_quiet(args.quiet, args.max_wait)
            result = run_child([__file__, "--child", mode, str(db)], mode)
            runs.append(result)
            print(
                f"{args.size} {mode} {i + 1}/{args.repeat}: {result['seconds']:.2f} s, "
                f"peak {result['peak_mb']:,.0f} MB, other CPU {other:.0%}",
                file=sys.stderr,
                flush=True,
            )
        median = statistics.median(r["seconds"] for r in runs)
        baseline = baseline or median
        rows.append(
            f"| {args.size} | {mode} | {median:.2f} | {median / baseline:.2f}x | "
            f"{max(r['peak_mb'] for r in runs):,.0f} | {runs[0]['size']:,} | {len(runs)} |"
        )
    print(
        "| cases | measurement | median s | ratio to baseline | peak MB | rows or bytes | repeats |"
    )
    print("|---|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
