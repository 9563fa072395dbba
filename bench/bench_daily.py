"""Daily-operation benchmark: a big store, then a month of daily loads, each followed by a refresh.

Issue 7 part 2: the daily refresh must cost in proportion to what changed, not to all history
(target: under 10% of a full refresh), with the numbers of a full refresh.

The store is the 10M (or 1M) sample of bench_refresh.py generated over a year of shadow (--weeks,
default 52: 10M cases over 52 weeks, logs running a few weeks past the last), copied afresh into
bench/data/daily-<size>/. Then, in the same run:

* baseline: the plain DuckDB query of bench_refresh.py (weekly x site counts and accuracies);
* full:     `refresh(force=True)`: every case read, the state for the next refresh written;
* each day (--days, default 30), after the previous day: the day's logs written as Parquet and
  loaded with `shadow ingest` (three loads, timed together as "load"), then `refresh()` timed as
  "daily", then the baseline again. This machine's speed drifts by 20-50% over an hour, so each
  day's refresh is also set against that day's baseline: "daily / full at the same speed" is
  (daily / that day's baseline) / (full / its baseline). A day brings about 30k cases across the three logs (--new, --late, --fixes):
  new cases decided and scored that day, outcomes for pending cases decided in the last 60 days
  (late outcomes), and corrections of known outcomes observed in the last 30 days (--fix-days;
  the sequences are computed again from the day the oldest corrected outcome had matured);
* at the end, `refresh(force=True)` again: its content hash must equal the last daily refresh's
  (the same numbers, to the last bit, in every published table).

Every refresh and the baseline run in a fresh Python subprocess (bench_ingest.run_child), which
reports its wall time and peak resident memory.

Usage:
    python bench/bench_daily.py --size 10m --days 30

Progress goes to stderr, the Markdown table to stdout, every measurement to
bench/data/daily-<size>.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
sys.path.insert(0, str(HERE))

from bench_ingest import _cpu_seconds, _peak_mb, machine, run_child  # noqa: E402
from bench_refresh import BASELINE_SQL, POINT_ID, ensure_store  # noqa: E402

LOGS = ("outcomes", "decisions", "predictions")


# --- the child: one refresh or the baseline ---------------------------------------------------


def child(mode: str, db: Path) -> None:
    started = time.perf_counter()
    if mode == "baseline":
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        rows = con.execute(BASELINE_SQL, {"point": POINT_ID}).fetchall()
        con.close()
        result: dict[str, Any] = {"rows": len(rows)}
    else:
        from shadow.refresh import refresh

        summary = refresh(db, force=mode == "full")
        result = {
            "changed_cases": summary.changed_cases,
            "content_hash": summary.published.content_hash,
            "rows": summary.published.rows,
        }
    result |= {
        "seconds": time.perf_counter() - started,
        "peak_mb": _peak_mb(),
        "cpu_seconds": _cpu_seconds(),
    }
    print(json.dumps(result))


# --- the day's logs ---------------------------------------------------------------------------


def day_logs(db: Path, day: int, folder: Path, args: argparse.Namespace) -> dict[str, Path]:
    """Write one day's three logs as Parquet files in `folder`: new cases decided and scored,
    late outcomes of pending cases, corrections of known outcomes (seeded by the day)."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'UTC'")
    (last,) = con.execute("SELECT max(decided_at) FROM decisions").fetchone()  # type: ignore[misc]
    start = (last + timedelta(days=1)).replace(hour=6, minute=0, second=0, microsecond=0)
    con.execute(f"SELECT setseed({(day % 97) / 100})")
    files = {log: folder / f"{log}-day{day:02d}.parquet" for log in LOGS}
    params = {"start": start, "day": day}
    outcome_params = {**params, "fix_days": args.fix_days}
    # new cases: the segments of as many existing cases, decided during the day, scored an hour
    # before; the person and the model each say "inspect" for about a fifth of them
    con.execute(
        f"""
        CREATE TEMP TABLE new_cases AS
        SELECT
            printf('DAY%02d-%06d', $day, row_number() OVER ()) AS case_id,
            $start + to_seconds(CAST(random() * 12 * 3600 AS BIGINT)) AS decided_at,
            segments ->> 'site' AS site, segments ->> 'region' AS region,
            segments ->> 'asset_class' AS asset_class,
            CASE WHEN random() < 0.2 THEN 'inspect' ELSE 'no_inspect' END AS human_label,
            random() AS score
        FROM (SELECT segments FROM decisions USING SAMPLE {args.new} ROWS)
        """,
        params,
    )
    con.execute(
        f"""COPY (SELECT case_id, decided_at, human_label, 'day.shift' AS decided_by, site,
            region, asset_class FROM new_cases) TO '{files["decisions"]}' (FORMAT parquet)"""
    )
    con.execute(
        f"""COPY (SELECT case_id, decided_at - INTERVAL 1 HOUR AS predicted_at,
            'pump-risk' AS model, 'v2' AS model_version,
            CASE WHEN score > 0.8 THEN 'inspect' ELSE 'no_inspect' END AS predicted_label,
            score FROM new_cases) TO '{files["predictions"]}' (FORMAT parquet)"""
    )
    # late outcomes of pending cases decided in the last 60 days, and corrections of known
    # outcomes observed in the last --fix-days days, all observed during the day
    con.execute(
        f"""COPY (
        WITH pending AS (
            SELECT case_id FROM decisions AS d
            WHERE decided_at >= $start - INTERVAL 60 DAY
                AND NOT EXISTS (SELECT 1 FROM outcomes AS o WHERE o.case_id = d.case_id)
            GROUP BY case_id ORDER BY hash(case_id, $day) LIMIT {args.late}
        ),
        known AS (
            SELECT case_id, arg_max(actual_label, observed_at) AS actual FROM outcomes
            WHERE observed_at >= $start - to_days($fix_days)
            GROUP BY case_id ORDER BY hash(case_id, $day) LIMIT {args.fixes}
        )
        SELECT case_id, $start + INTERVAL 13 HOUR AS observed_at,
            CASE WHEN random() < 0.2 THEN 'inspect' ELSE 'no_inspect' END AS actual_label
        FROM pending
        UNION ALL
        SELECT case_id, $start + INTERVAL 14 HOUR AS observed_at,
            CASE actual WHEN 'inspect' THEN 'no_inspect' ELSE 'inspect' END AS actual_label
        FROM known
        ) TO '{files["outcomes"]}' (FORMAT parquet)""",
        outcome_params,
    )
    con.close()
    return files


def load(db: Path, files: dict[str, Path]) -> float:
    """The day's routine: `shadow ingest` each log (the store is free while it runs)."""
    shadow = str(Path(sys.executable).parent / "shadow")
    started = time.perf_counter()
    for log, path in files.items():
        subprocess.run(
            [shadow, "ingest", log, str(path), "--point", POINT_ID, "--db", str(db)],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - started


# --- the parent -------------------------------------------------------------------------------


def measure(mode: str, db: Path) -> dict[str, Any]:
    return run_child([str(Path(__file__).resolve()), "--child", mode, str(db)], f"{mode} on {db}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", choices=("1m", "10m"), default="10m")
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--weeks", type=int, default=52, help="weeks of shadow in the store")
    parser.add_argument("--new", type=int, default=12_000, help="new cases a day")
    parser.add_argument("--late", type=int, default=15_000, help="late outcomes a day")
    parser.add_argument("--fixes", type=int, default=300, help="corrected outcomes a day")
    parser.add_argument(
        "--fix-days",
        type=int,
        default=30,
        help="how far back the corrected outcomes were observed (the sequences go on from there)",
    )
    parser.add_argument("--child", nargs=2, metavar=("MODE", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    folder = DATA / f"daily-{args.size}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "store.duckdb"
    shutil.copy(ensure_store(args.size, args.weeks), db)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"{args.size} store ({args.weeks} weeks) copied to {db}; baseline and a full refresh ...")
    baseline = measure("baseline", db)
    full = measure("full", db)
    say(f"  baseline {baseline['seconds']:.1f} s, full refresh {full['seconds']:.1f} s")
    full_per_baseline = full["seconds"] / baseline["seconds"]
    days = []
    for day in range(1, args.days + 1):
        files = day_logs(db, day, folder, args)
        seconds_load = load(db, files)
        daily = measure("daily", db)
        daily["load_seconds"] = seconds_load
        daily["baseline_seconds"] = measure("baseline", db)["seconds"]
        daily["share_same_speed"] = daily["seconds"] / daily["baseline_seconds"] / full_per_baseline
        days.append(daily)
        say(
            f"  day {day}/{args.days}: loaded in {seconds_load:.1f} s; refresh read again "
            f"{daily['changed_cases']:,} changed cases in {daily['seconds']:.1f} s "
            f"({daily['seconds'] / full['seconds']:.1%} of the first full refresh, "
            f"{daily['share_same_speed']:.1%} at the same machine speed), "
            f"peak {daily['peak_mb']:,.0f} MB"
        )
    say("a full refresh of the final store, to compare ...")
    final = measure("full", db)
    final["baseline_seconds"] = measure("baseline", db)["seconds"]
    same = final["content_hash"] == days[-1]["content_hash"] if days else True
    record = {
        "machine": machine(),
        "size": args.size,
        "args": {k: v for k, v in vars(args).items() if k != "child"},
        "baseline": baseline,
        "full": full,
        "days": days,
        "final_full": final,
        "identical": same,
    }
    (DATA / f"daily-{args.size}.json").write_text(json.dumps(record, indent=1, default=str))
    print(report(record))
    return 0 if same else 1


def report(r: dict[str, Any]) -> str:
    days = r["days"]
    med = lambda key: statistics.median(d[key] for d in days)  # noqa: E731
    full = r["full"]["seconds"]
    lines = [
        f"| {r['size']} store, {r['args']['weeks']} weeks, then {len(days)} days | median | max "
        "| of the first full refresh |",
        "|---|---:|---:|---:|",
        f"| cases changed a day | {med('changed_cases'):,.0f} | "
        f"{max(d['changed_cases'] for d in days):,} | |",
        f"| load (3 x `shadow ingest`) | {med('load_seconds'):.1f} s | "
        f"{max(d['load_seconds'] for d in days):.1f} s | |",
        f"| daily refresh | {med('seconds'):.2f} s | {max(d['seconds'] for d in days):.2f} s | "
        f"{med('seconds') / full:.1%} (max {max(d['seconds'] for d in days) / full:.1%}) |",
        f"| daily refresh peak memory | {med('peak_mb'):,.0f} MB | "
        f"{max(d['peak_mb'] for d in days):,.0f} MB | |",
        "| daily refresh / a full refresh at the same machine speed | "
        f"{med('share_same_speed'):.1%} | {max(d['share_same_speed'] for d in days):.1%} | |",
        f"| full refresh (first / after the {len(days)} days) | {full:.1f} s | "
        f"{r['final_full']['seconds']:.1f} s | |",
        f"| full refresh peak memory | {r['full']['peak_mb']:,.0f} MB | "
        f"{r['final_full']['peak_mb']:,.0f} MB | |",
        f"| baseline (plain DuckDB weekly query): first / median of the days / last | "
        f"{r['baseline']['seconds']:.1f} s | {med('baseline_seconds'):.1f} s | "
        f"{r['final_full']['baseline_seconds']:.1f} s |",
        "",
        "Last daily refresh and a full refresh of the same store publish the same numbers "
        f"(content hash): **{'yes' if r['identical'] else 'NO'}**.",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
