"""Lake benchmark: loading a Hive-partitioned Parquet lake (one folder per day) into a new store,
against a plain DuckDB read of the same lake into tables, both under the same memory limit; then
`shadow refresh` on the loaded store under the limit, against one plain DuckDB query.

The lake is written once (not timed) from the sample deployment's clean Parquet exports
(sample_data/generate.py --clean-parquet --top 0, e.g. bench/data/sample-10m/*.parquet, which are
only read): each log goes to <work>/lake-<size>/<log>/date=YYYY-MM-DD/part-0.parquet, one folder
per UTC day of the log's time column (the `date` column lives in the folder name only, as Hive
and Spark write it).

Every measurement runs in a fresh Python subprocess (bench_ingest's run_child) with a new store
file, and reports its wall time and peak resident memory (VmHWM, bench_ingest._peak_mb):

* baseline:  `duckdb.connect(new file)`, `SET memory_limit`, then per log
  `CREATE TABLE <log> AS SELECT * FROM read_parquet('<lake>/<log>/**/*.parquet',
  hive_partitioning = true)`; close. Timed from connect to close.
* shadow:    a new store with the sample's point registered (not timed), then
  `shadow.ingest(log, <lake>/<log>, point=...)` for the three logs: every file its own atomic
  load (hashing, typing, validation, classification, the write). SHADOW_MEMORY_LIMIT is set in
  the child (1GB, and the default 2GB). Every row must be accepted.
* again:     the same three ingests on the store just loaded: every file is recognised by its
  content hash and skipped (what the daily routine pays for pointing at the whole lake).
* refresh:   `shadow refresh --db <store>` (the command, in a grandchild; its peak is the
  child's RUSAGE_CHILDREN maxrss, which the tiny child cannot raise) with the limit set.
* refresh-baseline: bench_refresh.BASELINE_SQL (weekly x site counts and accuracies with the
  records of DESIGN.md) on the same store, read-only, with the same memory limit.

Usage:
    python bench/bench_lake.py --sample bench/data/sample-10m --work bench/data --repeat 3 --snapshot

Progress goes to stderr, the Markdown table to stdout, every measurement to <work>/lake.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
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
from bench_refresh import POINT_ID, POINT_TOML  # noqa: E402  (the sample's point, as there)

LOGS = {"predictions": "predicted_at", "decisions": "decided_at", "outcomes": "observed_at"}


# --- the lake (written once, not timed) ------------------------------------------------------------


def ensure_lake(sample: Path, lake: Path) -> dict[str, dict[str, int]]:
    """Write the sample's three logs as a Hive-partitioned lake (one folder per day), unless done."""
    import duckdb

    done = lake / "written.json"
    if done.exists():
        return dict(json.loads(done.read_text()))
    shutil.rmtree(lake, ignore_errors=True)
    lake.mkdir(parents=True)
    con = duckdb.connect()
    con.execute("SET memory_limit = '1GB'")
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")
    info = {}
    for log, time_column in LOGS.items():
        source = sample / f"{log}.parquet"
        print(f"writing the lake: {log} ...", file=sys.stderr, flush=True)
        # ordered by time, as a daily export would be; the date lives in the folder name only
        con.execute(
            f"COPY (SELECT *, CAST({time_column} AS DATE) AS date FROM read_parquet($src)"
            f" ORDER BY {time_column}) TO '{lake / log}'"
            " (FORMAT parquet, PARTITION_BY (date), FILENAME_PATTERN 'part-{i}')",
            {"src": str(source)},
        )
        files = list((lake / log).rglob("*.parquet"))
        rows = con.execute("SELECT count(*) FROM read_parquet($src)", {"src": str(source)})
        info[log] = {
            "rows": int(rows.fetchone()[0]),  # type: ignore[index]
            "files": len(files),
            "bytes": sum(f.stat().st_size for f in files),
        }
    con.close()
    done.write_text(json.dumps(info))
    return info


# --- the child: one measurement ----------------------------------------------------------------


def run_baseline(lake: Path, db: Path, limit: str) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute("SET memory_limit = $limit", {"limit": limit})
    for log in LOGS:
        con.execute(
            f"CREATE TABLE {log} AS SELECT * FROM read_parquet($glob, hive_partitioning = true)",
            {"glob": str(lake / log / "**" / "*.parquet")},
        )
    con.close()
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    con = duckdb.connect(str(db), read_only=True)
    rows = {log: con.execute(f"SELECT count(*) FROM {log}").fetchone()[0] for log in LOGS}  # type: ignore[index]
    con.close()
    return {"seconds": seconds, "peak_mb": peak, "rows": rows}


def run_shadow(lake: Path, db: Path, fresh: bool) -> dict[str, Any]:
    import shadow
    from shadow.points import add_point, read_point
    from shadow.store import Store

    if fresh:
        db.unlink(missing_ok=True)
        with Store.open(db, create=True) as store:
            point, text = read_point(POINT_TOML)
            add_point(store, point, text)
    started = time.perf_counter()
    out: dict[str, Any] = {"rows": {}, "accepted": {}, "skipped_files": {}, "files": {}}
    for log in LOGS:
        summaries = shadow.ingest(log, lake / log, point=POINT_ID, db=db)
        out["files"][log] = len(summaries)
        out["rows"][log] = sum(s.rows_read for s in summaries)
        out["accepted"][log] = sum(s.accepted for s in summaries)
        out["skipped_files"][log] = sum(s.already_loaded_as is not None for s in summaries)
        out.setdefault("quarantined", {})[log] = sum(s.quarantined for s in summaries)
    out["seconds"] = time.perf_counter() - started
    out["peak_mb"] = _peak_mb()
    out["store_mb"] = db.stat().st_size / 2**20
    return out


def run_refresh(db: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "shadow"), "refresh", "--db", str(db), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"shadow refresh failed:\n{done.stderr[-4000:]}")
    # the grandchild's peak: RUSAGE_CHILDREN keeps the largest maxrss of the waited-for children
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak, "summary": json.loads(done.stdout)}


def run_refresh_baseline(db: Path, limit: str) -> dict[str, Any]:
    import duckdb
    from bench_refresh import BASELINE_SQL

    started = time.perf_counter()
    con = duckdb.connect(str(db), read_only=True, config={"memory_limit": limit})
    rows = con.execute(BASELINE_SQL, {"point": POINT_ID}).fetchall()
    con.close()
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "rows": len(rows)}


def child(mode: str, lake: Path, db: Path, limit: str) -> None:
    if mode == "baseline":
        result = run_baseline(lake, db, limit)
    elif mode == "shadow":
        result = run_shadow(lake, db, fresh=True)
    elif mode == "again":
        result = run_shadow(lake, db, fresh=False)
    elif mode == "refresh":
        result = run_refresh(db)
    else:
        result = run_refresh_baseline(db, limit)
    # the refresh child's own CPU is tiny; count the command's too
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_seconds"] = _cpu_seconds() + children.ru_utime + children.ru_stime
    print(json.dumps(result))


# --- the parent ----------------------------------------------------------------------------------

MODES = ("baseline", "shadow", "again", "refresh", "refresh-baseline")


def measure(mode: str, lake: Path, db: Path, limit: str | None) -> dict[str, Any]:
    env = dict(os.environ)
    env.pop("SHADOW_MEMORY_LIMIT", None)
    if limit is not None:
        env["SHADOW_MEMORY_LIMIT"] = limit
    CHILD_ENV.clear()
    CHILD_ENV.update(env)
    return run_child(
        [str(Path(__file__).resolve()), "--child", mode, str(lake), str(db), limit or "2GB"],
        f"{mode} ({limit or 'default limit'})",
    )


def med(runs: list[dict[str, Any]], key: str = "seconds") -> float:
    return float(statistics.median(r[key] for r in runs))


def table(results: dict[str, list[dict[str, Any]]], base_of: dict[str, str]) -> str:
    lines = [
        "| measurement | median s | ratio to its baseline | peak MB (max) | CPU s | repeats"
        " | other CPU (max) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in results.items():
        if not runs:
            continue
        s = med(runs)
        base = base_of.get(name)
        ratio = f"{s / med(results[base]):.2f}x" if base and results.get(base) else "-"
        lines.append(
            f"| {name} | {s:.2f} | {ratio} | {max(r['peak_mb'] for r in runs):,.0f}"
            f" | {med(runs, 'cpu_seconds'):.1f} | {len(runs)}"
            f" | {max(r['other_cpu'] for r in runs):.0%} |"
        )
    return "\n".join(lines)


def parent(args: argparse.Namespace) -> int:
    code = "working tree"
    if args.snapshot:  # the children import shadow/ and sql/ as committed at HEAD
        folder, sha = snapshot()
        os.environ["PYTHONPATH"] = str(folder)
        code = f"snapshot of commit {sha}"
    print(f"measuring Shadow from the {code}", file=sys.stderr, flush=True)
    sample, work = Path(args.sample).resolve(), Path(args.work).resolve()
    size = sample.name.removeprefix("sample-")
    lake = work / f"lake-{size}"
    info = ensure_lake(sample, lake)
    expected = {log: v["rows"] for log, v in info.items()}
    print(f"lake: {info}", file=sys.stderr, flush=True)
    stores = work / f"lake-{size}-stores"
    stores.mkdir(parents=True, exist_ok=True)
    limits = [x.strip() for x in args.limits.split(",") if x.strip()]
    cap = limits[0]
    results: dict[str, list[dict[str, Any]]] = {}
    base_of: dict[str, str] = {}
    problems: list[str] = []

    def record(name: str, result: dict[str, Any], busy: float) -> None:
        result["cpu_busy_before"] = round(busy, 3)
        results.setdefault(name, []).append(result)
        print(
            f"{name} {len(results[name])}/{args.repeat}: {result['seconds']:.2f} s,"
            f" peak {result['peak_mb']:,.0f} MB, other CPU {result['other_cpu']:.0%}",
            file=sys.stderr,
            flush=True,
        )

    for _ in range(args.repeat):
        for limit in limits:
            db = stores / f"baseline-{limit}.duckdb"
            db.unlink(missing_ok=True)
            busy = wait_for_quiet(args.quiet, args.max_wait)
            result = measure("baseline", lake, db, limit)
            db.unlink(missing_ok=True)
            if result["rows"] != expected:
                problems.append(f"baseline read {result['rows']}, expected {expected}")
            record(f"baseline load, limit {limit}", result, busy)
            db = stores / f"shadow-{limit}.duckdb"
            for suffix in ("", ".wal"):
                Path(str(db) + suffix).unlink(missing_ok=True)
            busy = wait_for_quiet(args.quiet, args.max_wait)
            result = measure("shadow", lake, db, limit)
            if result["accepted"] != expected:
                problems.append(
                    f"shadow ({limit}) accepted {result['accepted']}, expected {expected}"
                    f" (quarantined {result['quarantined']})"
                )
            name = f"shadow load, SHADOW_MEMORY_LIMIT={limit}"
            record(name, result, busy)
            base_of[name] = f"baseline load, limit {limit}"
        db = stores / f"shadow-{cap}.duckdb"
        busy = wait_for_quiet(args.quiet, args.max_wait)
        result = measure("again", lake, db, cap)
        if result["accepted"] != dict.fromkeys(LOGS, 0) or result["skipped_files"] != {
            log: v["files"] for log, v in info.items()
        }:
            problems.append(f"the second load did something: {result}")
        record(f"shadow load again (all {sum(result['files'].values())} files known)", result, busy)
        busy = wait_for_quiet(args.quiet, args.max_wait)
        record(f"refresh baseline, limit {cap}", measure("refresh-baseline", lake, db, cap), busy)
        busy = wait_for_quiet(args.quiet, args.max_wait)
        name = f"shadow refresh, SHADOW_MEMORY_LIMIT={cap}"
        record(name, measure("refresh", lake, db, cap), busy)
        base_of[name] = f"refresh baseline, limit {cap}"
    details = machine()
    if args.snapshot:
        details["commit"] = code
    files = sum(v["files"] for v in info.values())
    lake_mb = sum(v["bytes"] for v in info.values()) / 2**20
    report = "\n".join(
        [
            f"Lake: {lake} ({files} files, {lake_mb:,.0f} MB; rows "
            + ", ".join(f"{log} {n:,}" for log, n in expected.items())
            + ")",
            "",
            table(results, base_of),
            "",
            "Check: "
            + (
                "every row accepted, second load skipped every file"
                if not problems
                else "FAILED: " + "; ".join(problems)
            ),
            "",
            "Machine: " + ", ".join(f"{k} {v}" for k, v in details.items()),
        ]
    )
    print(report)
    out = work / "lake.json"
    out.write_text(json.dumps({"machine": details, "lake": info, "results": results}, indent=1))
    return 1 if problems else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", default=str(HERE / "data" / "sample-10m"))
    parser.add_argument("--work", default=str(HERE / "data"), help="where the lake and stores go")
    parser.add_argument(
        "--limits", default="1GB,2GB", help="memory limits; the first is the cap for refresh"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.15, help="CPU busy share to wait below")
    parser.add_argument("--max-wait", type=float, default=30.0)
    parser.add_argument(
        "--snapshot", action="store_true", help="measure shadow/ and sql/ as committed at HEAD"
    )
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("child_args", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lake, db, limit = args.child_args
        child(args.child, Path(lake), Path(db), limit)
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
