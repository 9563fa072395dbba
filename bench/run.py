"""Every benchmark of the project at one size, each against its same-run baseline, into RESULTS.md.

    python bench/run.py --size 1m            # or 10m; --repeat N (default 3); --only refresh,report

Runs, in this order, each in its own process (which runs every measurement in a fresh one):

* loading   bench_ingest.py   `shadow ingest` of each log, CSV and Parquet, against DuckDB reading
                               the same file into a table;
* scoring   bench_score.py    `shadow score` (and score_frame) against the model's predict_proba;
* refresh   bench_refresh.py  `shadow refresh` (every number, published) against one plain DuckDB
                               query of the weekly x site counts and accuracies (it also makes the
                               kept store and snapshot the next two read);
* daily     bench_daily.py    a month of daily loads, each followed by `shadow refresh`, against a
                               full refresh of the same store (and the plain query); the last
                               daily refresh must publish what a full one does;
* lake      bench_lake.py     loading a Hive-partitioned Parquet lake and refreshing under a
                               memory limit, against DuckDB reading the same lake (same limit);
* report    bench_report.py   `shadow report` md/json/html against a plain read of the numbers;
* logger    bench_logger.py   one ShadowLogger call in a service's thread against appending a dict
                               to a list (the same at every size);
* app       bench_app.py      every page, AppTest and a real browser, cold and warm, and the app's
                               memory, against the issue's targets (a page has no plain baseline).

Each prints its own table (median of the repeats, ratio to its baseline, peak memory); this writes
them, with the machine and the versions, into bench/RESULTS.md between markers for the size,
replacing the previous run at that size. Progress goes to stderr. Data missing at a size is made
first (bench/generate.py, sample_data/generate.py), which is not timed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import machine  # noqa: E402

RESULTS = HERE / "RESULTS.md"
BENCHMARKS = ("loading", "scoring", "refresh", "daily", "lake", "report", "logger", "app")


def command(name: str, size: str, repeat: int) -> list[str]:
    """The command line of one benchmark at `size`."""
    r = ["--repeat", str(repeat)]
    return {
        "loading": ["bench_ingest.py", "--rows", size, *r],
        "scoring": ["bench_score.py", "--rows", size, "--models", "lr", *r],
        "refresh": ["bench_refresh.py", "--sizes", size, *r],
        "daily": ["bench_daily.py", "--size", size, "--days", "30"],
        "lake": ["bench_lake.py", "--sample", str(HERE / "data" / f"sample-{size}"), *r],
        "report": ["bench_report.py", "--size", size, *r],
        "logger": ["bench_logger.py", "--calls", "100000"],
        "app": [
            "bench_app.py",
            "--published",
            str(HERE / "data" / f"sample-{size}" / "store.published.duckdb"),
        ],
    }[name]


def app_table(printed: str) -> str:
    """bench_app.py's JSON as a table: each page's seconds, cold and warm, in each way."""
    result = json.loads(printed[printed.index("{") :])
    lines = ["| page | way | cold s | warm s |", "|---|---|---:|---:|"]
    for way in ("apptest_seconds", "browser_seconds"):
        for page, seconds in (result.get(way) or {}).items():
            if isinstance(seconds, dict):
                cold, warm = seconds.get("cold"), seconds.get("warm")
                lines.append(
                    f"| {page} | {way.removesuffix('_seconds')} | {_s(cold)} | {_s(warm)} |"
                )
    lines.append("")
    lines.append(f"App server peak memory: {result.get('app_peak_memory_mb', '?')} MB.")
    lines.append(
        "Targets (issue 6): a page cold under 5 s, warm under 2 s; app memory under 1.5 GB."
    )
    return "\n".join(lines)


def _s(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) else "-"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", required=True, choices=("1m", "10m"))
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="which, comma-separated")
    parser.add_argument("--no-write", action="store_true", help="print, leave RESULTS.md alone")
    args = parser.parse_args()
    chosen = [b for b in BENCHMARKS if b in args.only.split(",")]
    sections = []
    started = time.monotonic()
    for number, name in enumerate(chosen, 1):
        print(f"[{number}/{len(chosen)}] {name} at {args.size} ...", file=sys.stderr, flush=True)
        began = time.monotonic()
        done = subprocess.run(
            [sys.executable, *command(name, args.size, args.repeat)],
            cwd=HERE,
            stdout=subprocess.PIPE,
            text=True,
            check=False,
        )
        took = time.monotonic() - began
        if done.returncode != 0:
            table = f"**Failed** (exit {done.returncode}): see its messages above."
        elif name == "app":
            table = app_table(done.stdout)
        else:
            table = done.stdout.strip()
        line = " ".join(command(name, args.size, args.repeat))
        sections.append(f"### {name}\n\n`python bench/{line}` ({took / 60:.1f} min)\n\n{table}\n")
        print(f"[{number}/{len(chosen)}] {name}: done in {took:.0f} s", file=sys.stderr, flush=True)
    info = machine()
    header = (
        f"## bench/run.py --size {args.size}: "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {(time.monotonic() - started) / 60:.0f} min\n\n"
        + ", ".join(f"{k} {v}" for k, v in info.items())
        + "\n\nEvery measurement is the median of the repeats in fresh processes; each ratio is to "
        "the baseline measured in the same run.\n"
    )
    text = header + "\n" + "\n".join(sections)
    print(text)
    if not args.no_write:
        write(args.size, text)
        print(f"Written to {RESULTS}", file=sys.stderr)
    return 0


def write(size: str, text: str) -> None:
    """Put `text` into RESULTS.md between the markers of `size`, replacing what was there."""
    start, end = f"<!-- bench/run.py {size} -->", f"<!-- end bench/run.py {size} -->"
    old = RESULTS.read_text() if RESULTS.exists() else ""
    block = f"{start}\n{text}\n{end}"
    if start in old and end in old:
        new = old[: old.index(start)] + block + old[old.index(end) + len(end) :]
    else:
        new = block + "\n\n" + old
    RESULTS.write_text(new)


if __name__ == "__main__":
    sys.exit(main())
