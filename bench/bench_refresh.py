"""Refresh benchmark: `shadow refresh` (every number of the track record, published) against a
plain DuckDB SQL query computing only the weekly counts and accuracies (per site; and per segment
column, as the issue words it), on the same store.

The data is the sample deployment (sample_data/generate.py --clean-parquet --top 0) at 1M and 10M
cases, all three logs, loaded once per size into a store that is kept
(bench/data/sample-<size>/store.duckdb; building it is not timed). Every measurement then runs in
a fresh Python subprocess over that store, copying nothing, and reports its own wall time and peak
resident memory (VmHWM, see _peak_mb).

* baseline: `duckdb.connect(store, read_only=True)` with DuckDB's defaults, then one SQL query
  (BASELINE_SQL): the outcome of record (latest), the decision of record (latest before the
  outcome), the prediction of record per model version (latest at or before the decision), and per
  model version x site x ISO week of the decision (Europe/Berlin): decided cases, paired cases,
  agreement, resolved, model accuracy and person accuracy. Timed from connect to fetched result.
* baseline-segments: the same plain query with its counts and accuracies per week for every
  segment column of the point (site, region and asset class, and all cases), as the refresh
  computes them and as the issue words the baseline ("weekly x segment"): GROUPING SETS
  (SEGMENTS_SQL). The ratio to it is reported beside the ratio to the site-only query.
* refresh:  `shadow.refresh.refresh(store)`, end to end: reading the logs, the join, every
  count, rate, interval and test, the anytime-valid sequences, and the atomic publish of the
  snapshot beside the store.
* phases:   the same refresh, with each step it calls timed (the records, the join, the cells,
  the kept rows and the cache, streams, drift, delays, numbers, gates, publish; "other" is the
  rest). The wrappers add a little.

Before each run the parent waits (up to --max-wait s) until other processes leave the CPUs mostly
idle, and records how busy they were during the run.

Usage:
    python bench/bench_refresh.py --sizes 1m,10m --repeat 3 --append-results

Missing data and stores are made first. Progress goes to stderr, the Markdown table to stdout,
every measurement to bench/data/refresh.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))

from bench_ingest import (  # noqa: E402  (bench/ is not a package)
    CHILD_ENV,
    _cpu_seconds,
    _peak_mb,
    machine,
    run_child,
    snapshot,
    wait_for_quiet,
)

POINT_TOML = ROOT / "sample_data" / "pump_inspection" / "point.toml"
POINT_ID = "pump-inspection"
LOGS = ("predictions", "decisions", "outcomes")
MODES = ("baseline", "baseline-segments", "refresh", "phases")
SIZES = {"1m": 1_000_000, "10m": 10_000_000}

# The plain query: only the weekly x site counts and accuracies, with the records of DESIGN.md
# (RECORDS_SQL: the outcome, decision and prediction of record, and each decided case's week).
RECORDS_SQL = """
WITH outcome AS (
    SELECT case_id, arg_max(actual_label, observed_at) AS actual, max(observed_at) AS observed_at
    FROM outcomes WHERE point_id = $point GROUP BY case_id
),
decision AS (
    SELECT d.case_id, arg_max(d.human_label, d.decided_at) AS human,
        max(d.decided_at) AS decided_at, arg_max(d.segments ->> 'site', d.decided_at) AS site
    FROM decisions AS d LEFT JOIN outcome AS o USING (case_id)
    WHERE d.point_id = $point AND (o.observed_at IS NULL OR d.decided_at < o.observed_at)
    GROUP BY d.case_id
),
prediction AS (
    SELECT p.case_id, p.model_version, arg_max(p.predicted_label, p.predicted_at) AS model
    FROM predictions AS p JOIN decision AS d USING (case_id)
    WHERE p.point_id = $point AND p.predicted_at <= d.decided_at
    GROUP BY p.case_id, p.model_version
),
weekly AS (
    SELECT d.*, o.actual,
        date_trunc('week', timezone('Europe/Berlin', d.decided_at))::DATE AS week
    FROM decision AS d LEFT JOIN outcome AS o USING (case_id)
)"""
BASELINE_SQL = (
    RECORDS_SQL
    + """,
decided AS (SELECT site, week, count(*) AS decided FROM weekly GROUP BY ALL)
SELECT p.model_version, w.site, w.week, any_value(n.decided) AS decided,
    count(*) AS paired,
    avg((p.model = w.human)::INT) AS agreement,
    count(w.actual) AS resolved,
    avg((p.model = w.actual)::INT) AS model_accuracy,
    avg((w.human = w.actual)::INT) AS person_accuracy
FROM prediction AS p JOIN weekly AS w USING (case_id) JOIN decided AS n USING (site, week)
GROUP BY ALL
ORDER BY ALL
"""
)


# The same records, counted per week for every segment column (and all cases): the grain of the
# refresh's weekly numbers. GROUPING(...) tells the segment column of each row.
SEGMENTS_SQL = (
    RECORDS_SQL.replace(
        "arg_max(d.segments ->> 'site', d.decided_at) AS site",
        "arg_max(d.segments ->> 'site', d.decided_at) AS site,"
        " arg_max(d.segments ->> 'region', d.decided_at) AS region,"
        " arg_max(d.segments ->> 'asset_class', d.decided_at) AS asset_class",
    )
    + """,
decided AS (
    SELECT site, region, asset_class, week, GROUPING(site, region, asset_class) AS g,
        count(*) AS decided
    FROM weekly
    GROUP BY GROUPING SETS ((week), (site, week), (region, week), (asset_class, week))
),
paired AS (
    SELECT p.model_version, w.site, w.region, w.asset_class, w.week,
        GROUPING(w.site, w.region, w.asset_class) AS g,
        count(*) AS paired,
        avg((p.model = w.human)::INT) AS agreement,
        count(w.actual) AS resolved,
        avg((p.model = w.actual)::INT) AS model_accuracy,
        avg((w.human = w.actual)::INT) AS person_accuracy
    FROM prediction AS p JOIN weekly AS w USING (case_id)
    GROUP BY GROUPING SETS ((p.model_version, w.week), (p.model_version, w.site, w.week),
        (p.model_version, w.region, w.week), (p.model_version, w.asset_class, w.week))
)
SELECT p.*, n.decided
FROM paired AS p JOIN decided AS n ON p.g = n.g AND p.week = n.week
    AND p.site IS NOT DISTINCT FROM n.site AND p.region IS NOT DISTINCT FROM n.region
    AND p.asset_class IS NOT DISTINCT FROM n.asset_class
ORDER BY ALL
"""
)


# --- the data and the store (made once per size, not timed) ------------------------------------


SAMPLE_WEEKS = 40  # the sample's weeks of shadow (sample_data/generate.py's default)
SAMPLE_END = date(2026, 10, 12)  # the Monday after its last week; a longer sample starts earlier


def data_dir(size: str, weeks: int = SAMPLE_WEEKS) -> Path:
    return DATA / (f"sample-{size}" if weeks == SAMPLE_WEEKS else f"sample-{size}-{weeks}w")


def store_path(size: str, weeks: int = SAMPLE_WEEKS) -> Path:
    return data_dir(size, weeks) / "store.duckdb"


def ensure_store(size: str, weeks: int = SAMPLE_WEEKS) -> Path:
    """Generate the sample at this size (its cases spread over `weeks` weeks of shadow) and load
    it into a kept store, unless already done."""
    folder, db = data_dir(size, weeks), store_path(size, weeks)
    python = sys.executable
    shadow = [str(Path(python).parent / "shadow")]  # the command of this interpreter's venv
    if db.exists():  # kept from an earlier run: bring its schema up to date
        subprocess.run([*shadow, "init", "--db", str(db)], check=True, capture_output=True)
        return db
    if not all((folder / f"{log}.parquet").exists() for log in LOGS):
        print(f"generating the sample at {size}, {weeks} weeks ...", file=sys.stderr, flush=True)
        subprocess.run(
            [
                python,
                str(ROOT / "sample_data" / "generate.py"),
                "--cases",
                str(SIZES[size]),
                "--weeks",
                str(weeks),
                "--start",
                str(SAMPLE_END - timedelta(weeks=weeks)),
                "--out",
                str(folder),
                "--clean-parquet",
                "--top",
                "0",
            ],
            check=True,
        )
    partial = db.with_name("store.building.duckdb")
    partial.unlink(missing_ok=True)
    run = lambda *args: subprocess.run([*shadow, *args, "--db", str(partial)], check=True)  # noqa: E731
    print(f"building the {size} store ...", file=sys.stderr, flush=True)
    run("init")
    run("point", "add", str(POINT_TOML))
    for log in LOGS:
        run("ingest", log, str(folder / f"{log}.parquet"), "--point", POINT_ID)
    partial.rename(db)
    return db


# --- the child: one measurement ----------------------------------------------------------------


def run_baseline(db: Path, query: str = BASELINE_SQL) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(query, {"point": POINT_ID}).fetchall()
    con.close()
    return {"seconds": time.perf_counter() - started, "rows": len(rows)}


def run_baseline_segments(db: Path) -> dict[str, Any]:
    return run_baseline(db, SEGMENTS_SQL)


def run_refresh(db: Path) -> dict[str, Any]:
    from shadow.refresh import refresh

    started = time.perf_counter()
    summary = refresh(db, force=True)  # every run computes everything
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": summary.published.rows,
        "paired": sum(p.paired for p in summary.points),
        "published_mb": summary.published.path.stat().st_size / 2**20,
    }


def run_phases(db: Path) -> dict[str, Any]:
    """The refresh itself, with its steps timed: each function the refresh calls is wrapped.

    Wraps the records in DuckDB (read_bucket), the join in Polars (join_records, Joined.cached),
    the cells (cells_of, total), the kept rows (rows_of, collected) and writing them into the
    cache (PointCache.replace), the streams, drift, delays, the numbers (numbers_of), the gates
    and stages, the publish and the cache's commit; "other" is the rest.
    """
    import functools

    import polars as pl

    from shadow import refresh as r
    from shadow.refresh import cache, point
    from shadow.track import health, tables
    from shadow.track.join import Joined

    times: dict[str, float] = {}
    peaks: dict[str, float] = {}

    def timed(name: str, fn: Any) -> Any:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            times[name] = times.get(name, 0.0) + time.perf_counter() - t0
            peaks[name] = _peak_mb()
            return out

        return wrapper

    r.read_bucket = timed("records (DuckDB)", r.read_bucket)
    r.read_changed = timed("records (DuckDB)", r.read_changed)
    point.join_records = timed("join (Polars)", point.join_records)
    Joined.cached = timed("join (Polars)", Joined.cached)  # type: ignore[method-assign]
    point.cells_of = timed("cells", point.cells_of)
    point.total = timed("cells", point.total)
    point._rows = timed("kept rows", point._rows)
    cache.PointCache.replace = timed("cache (rows written)", cache.PointCache.replace)  # type: ignore[method-assign]
    cache.PointCache.put = timed("cache (tables written)", cache.PointCache.put)  # type: ignore[method-assign]
    point.streams = timed("streams", point.streams)
    health.drift_sums = timed("drift", health.drift_sums)
    health.drift_table = timed("drift", health.drift_table)
    health.delays = timed("delays", health.delays)
    point.numbers_of = timed("numbers", point.numbers_of)
    tables.gates = timed("gates and stages", tables.gates)
    tables.stages = timed("gates and stages", tables.stages)
    tables.evidence = timed("evidence", tables.evidence)
    r.publish = timed("publish", r.publish)
    cache.Cache.commit = timed("cache (commit)", cache.Cache.commit)  # type: ignore[method-assign]
    del pl
    started = time.perf_counter()
    summary = r.refresh(db, force=True)
    seconds = time.perf_counter() - started
    times["other"] = seconds - sum(times.values())
    peaks["other"] = _peak_mb()
    return {
        "seconds": seconds,
        "phases": times,
        "phase_peaks": peaks,
        "rows": summary.published.rows,
    }


def child(mode: str, db: Path) -> None:
    runner = {
        "baseline": run_baseline,
        "baseline-segments": run_baseline_segments,
        "refresh": run_refresh,
        "phases": run_phases,
    }[mode]
    result = runner(db)
    result["peak_mb"] = _peak_mb()
    result["cpu_seconds"] = _cpu_seconds()
    print(json.dumps(result))


# --- the parent ----------------------------------------------------------------------------------


def measure(mode: str, db: Path) -> dict[str, Any]:
    return run_child([str(Path(__file__).resolve()), "--child", mode, str(db)], f"{mode} on {db}")


def med(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def table(results: dict[str, dict[str, list[dict[str, Any]]]]) -> str:
    lines = [
        "| cases | measurement | median s | ratio to baseline | peak MB | CPU s | repeats"
        " | other CPU |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size, by_mode in results.items():
        base = med(by_mode["baseline"], "seconds") if by_mode.get("baseline") else None
        for mode, runs in by_mode.items():
            if not runs:
                continue
            s = med(runs, "seconds")
            ratio = f"{s / base:.2f}x" if base else "-"
            lines.append(
                f"| {size} | {mode} | {s:.2f} | {ratio} | {max(r['peak_mb'] for r in runs):,.0f}"
                f" | {med(runs, 'cpu_seconds'):.1f} | {len(runs)}"
                f" | {max(r['other_cpu'] for r in runs):.0%} |"
            )
            if mode == "phases":
                for phase in runs[0]["phases"]:
                    ps = statistics.median(r["phases"][phase] for r in runs)
                    peak = max(r["phase_peaks"][phase] for r in runs)
                    lines.append(
                        f"| {size} | - {phase} | {ps:.2f} | {ps / base:.2f}x | {peak:,.0f} (so far)"
                        " | | | |"
                        if base
                        else f"| {size} | - {phase} | {ps:.2f} | - | {peak:,.0f} | | | |"
                    )
    return "\n".join(lines)


def targets(results: dict[str, dict[str, list[dict[str, Any]]]]) -> list[str]:
    out = []
    for size, by_mode in results.items():
        if not (by_mode.get("refresh") and by_mode.get("baseline")):
            continue
        s, base = med(by_mode["refresh"], "seconds"), med(by_mode["baseline"], "seconds")
        peak = max(r["peak_mb"] for r in by_mode["refresh"])
        ok = lambda met: "MET" if met else "NOT MET"  # noqa: E731
        out.append(f"- {size}: at most 3x the baseline: {ok(s <= 3 * base)} ({s / base:.2f}x)")
        if by_mode.get("baseline-segments"):
            wide = med(by_mode["baseline-segments"], "seconds")
            out.append(
                f"- {size}: at most 3x the baseline over every segment column:"
                f" {ok(s <= 3 * wide)} ({s / wide:.2f}x)"
            )
        if size == "10m":
            out.append(f"- 10m: under 60 s: {ok(s < 60)} ({s:.1f} s)")
        out.append(f"- {size}: peak under 4 GB: {ok(peak < 4096)} ({peak:,.0f} MB)")
    return out


def parent(args: argparse.Namespace) -> int:
    sizes = [s.strip().lower() for s in args.sizes.split(",") if s.strip()]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    code = "working tree"
    if args.snapshot:
        folder, sha = snapshot()
        CHILD_ENV["PYTHONPATH"] = str(folder)
        code = f"snapshot of commit {sha}"
    print(f"measuring Shadow from the {code}", file=sys.stderr)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for size in sizes:
        db = ensure_store(size)
        results[size] = {m: [] for m in modes}
        for rep in range(args.repeat):
            for mode in modes:  # interleaved, so drift hits every mode alike
                busy = wait_for_quiet(args.quiet, args.max_wait)
                result = measure(mode, db)
                result["cpu_busy_before"] = round(busy, 3)
                results[size][mode].append(result)
                print(
                    f"{size} {mode} {rep + 1}/{args.repeat}: {result['seconds']:.2f} s,"
                    f" peak {result['peak_mb']:,.0f} MB, other CPU {result['other_cpu']:.0%}"
                    + (f" {result['phases']}" if "phases" in result else ""),
                    file=sys.stderr,
                    flush=True,
                )
    info = machine()
    report = "\n".join(
        [
            table(results),
            "",
            *targets(results),
            "",
            f"Code: {code}",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in info.items()),
            f"SHADOW_MEMORY_LIMIT: {os.environ.get('SHADOW_MEMORY_LIMIT') or 'default (2GB)'}",
        ]
    )
    print(report)
    Path(args.json).write_text(json.dumps({"machine": info, "results": results}, indent=1))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("db", nargs="?", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--sizes", default="1m,10m", help="1m, 10m or both (default)")
    parser.add_argument("--modes", default=",".join(MODES), help=",".join(MODES))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.15, help="CPU busy share to wait below")
    parser.add_argument("--max-wait", type=float, default=60.0)
    parser.add_argument(
        "--snapshot", action="store_true", help="measure shadow/ and sql/ as committed at HEAD"
    )
    parser.add_argument("--json", default=str(DATA / "refresh.json"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.db)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
