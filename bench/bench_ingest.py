"""Loading benchmark: Shadow's full load (hashing, typing, validation, classification) against a
plain DuckDB read of the same file into a table.

Every measurement runs in a fresh Python subprocess with a new DuckDB file, so the peak resident
memory (the child's own VmHWM, read after its work; see _peak_mb) belongs to that one run. Per (log, format,
size) and repeat, the baseline and the Shadow load run back to back; the report gives the median of
the repeats, the ratio shadow / baseline, and both peaks.

* baseline: `CREATE TABLE t AS SELECT * FROM read_csv(file)` (or `read_parquet`), in a new store
  file; timed from connect to close (close checkpoints the table to disk).
* shadow:   a new store with bench/point.toml registered (not timed), then
  `shadow.ingest(log, file, point=..., db=...)`, timed: open, hashing, reading, typing, checks,
  classification, the atomic write, close.

Before each run the parent waits (up to --max-wait s) until other processes leave the CPUs mostly
idle (--quiet), and records how busy they were, since on a shared 2-core machine a neighbour's job
would otherwise land in the numbers.

The generated data is clean, so every Shadow load must accept every row; a run that quarantines or
skips anything is reported as FAILED (and the exit status is 1) instead of being timed as a success.

Usage:
    python bench/bench_ingest.py --rows 1m,10m --formats csv,parquet \
        --logs predictions,decisions,outcomes --repeat 3

Missing data files are generated first (bench/generate.py). Progress goes to stderr; the Markdown
table to stdout; every single measurement to bench/data/results.json (or --json PATH).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# Polars' allocator set up as the `shadow` command sets it, before anything imports Polars
# (generate, below): Polars reads the setting only when it is first imported
from shadow.cli import keep_freed_memory

keep_freed_memory()

import shadow  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402  (bench/ is not a package)

POINT_TOML = HERE / "point.toml"
POINT_ID = "bench-pump"
MODES = ("baseline", "shadow")


# --- the child: one measurement --------------------------------------------------------------------


def _peak_mb() -> float:
    """This process's peak resident set size in MB: VmHWM from /proc/self/status.

    Not getrusage(RUSAGE_SELF).ru_maxrss: on Linux that value survives fork + exec, so a child
    reports at least its parent's peak (a 2 GB parent makes every child "use" 2 GB). VmHWM belongs
    to this process image only. ru_maxrss (KiB) is the fallback where /proc is missing.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """CPU time (user + system, all threads) this process has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_baseline(path: Path, db: Path) -> dict[str, Any]:
    """Plain DuckDB: read the file into a new table of a new store file."""
    import duckdb

    reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
    started = time.perf_counter()
    con = duckdb.connect(str(db))
    con.execute(f"CREATE TABLE t AS SELECT * FROM {reader}($path)", {"path": str(path)})
    con.close()
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT count(*) FROM t").fetchone()
    con.close()
    return {"seconds": seconds, "peak_mb": peak, "rows": rows[0] if rows else 0}


def run_shadow(log: str, path: Path, db: Path) -> dict[str, Any]:
    """Shadow: register the point in a new store (untimed), then time `shadow.ingest`."""
    from shadow.points import add_point, read_point
    from shadow.store import Store

    with Store.open(db, create=True) as store:
        point, text = read_point(POINT_TOML)
        add_point(store, point, text)
    started = time.perf_counter()
    summaries = shadow.ingest(log, path, point=POINT_ID, db=db)
    seconds = time.perf_counter() - started
    peak = _peak_mb()
    s = summaries[0]
    return {
        "seconds": seconds,
        "peak_mb": peak,
        "rows": s.rows_read,
        "accepted": s.accepted,
        "duplicates": s.duplicates,
        "quarantined": s.quarantined,
        "by_reason": s.by_reason,
        "shadow_from": str(Path(shadow.__file__).parent),
    }


def child(mode: str, log: str, path: Path) -> None:
    """Run one measurement in this (fresh) process and print it as one JSON line on stdout."""
    with tempfile.TemporaryDirectory(dir=generate.DATA, prefix="store-") as tmp:
        db = Path(tmp) / "bench.duckdb"
        result = run_baseline(path, db) if mode == "baseline" else run_shadow(log, path, db)
    result["cpu_seconds"] = _cpu_seconds()
    print(json.dumps(result))


# --- the parent: plan, spawn, summarise ---------------------------------------------------------------


@dataclass
class Case:
    """One (log, format, size) and its measurements."""

    log: str
    fmt: str
    rows: int
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {m: [] for m in MODES})
    problems: list[str] = field(default_factory=list)

    def median(self, mode: str, key: str) -> float:
        return float(statistics.median(r[key] for r in self.runs[mode]))

    def peak(self, mode: str) -> float:
        return float(max(r["peak_mb"] for r in self.runs[mode]))

    def interference(self) -> float:
        """The largest share of CPU that other processes took during any of these runs."""
        return float(max(r.get("other_cpu", 0.0) for m in MODES for r in self.runs[m]))


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def snapshot() -> tuple[Path, str]:
    """Export shadow/ and sql/ as committed at HEAD into bench/data/snapshot-<sha>/ (read-only use
    of git), so a benchmark measures one fixed version even while the working tree is being edited.
    """
    sha = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=HERE.parent,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    target = generate.DATA / f"snapshot-{sha}"
    if not (target / "shadow" / "__init__.py").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", "HEAD", "shadow", "sql"],
            cwd=HERE.parent,
            capture_output=True,
            check=True,
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target, sha


# (with the allocator setting made above: each measurement runs as the `shadow` command would)
CHILD_ENV: dict[str, str] = dict(os.environ)


def run_child(args: list[str], what: str) -> dict[str, Any]:
    """Run `python ARGS` in a fresh interpreter; return the JSON it printed last, plus other_cpu.

    other_cpu: the share of the machine's CPU time that other processes used while the child ran
    (machine busy time minus the child's own CPU time), to show interference.
    """
    busy0, total0 = _busy_jiffies()
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, env=CHILD_ENV
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{done.stderr[-4000:]}")
    # DuckDB may draw its progress bar on stdout too; the result is the last JSON line.
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    busy1, total1 = _busy_jiffies()
    tick = os.sysconf("SC_CLK_TCK")
    other = (busy1 - busy0) / tick - result["cpu_seconds"]
    result["other_cpu"] = round(max(other, 0.0) / max((total1 - total0) / tick, 1e-9), 3)
    return result


def measure(mode: str, log: str, path: Path) -> dict[str, Any]:
    """Spawn a fresh interpreter for one measurement and return what it reported.

    Also `other_cpu`: the share of the machine's CPU time that other processes used while the
    child ran (machine busy time minus the child's own CPU time), to show interference.
    """
    return run_child(
        [str(Path(__file__).resolve()), "--child", mode, "--log", log, str(path)],
        f"{mode} run on {path}",
    )


def cpu_busy(seconds: float = 0.5) -> float:
    """Fraction of all CPU time (0..1) that was busy over the next `seconds` (from /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(limit: float, max_wait: float) -> float:
    """Wait (up to max_wait s) until other processes leave the CPUs mostly idle; return busy share."""
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > limit and time.monotonic() < deadline:
        print(f"  waiting: CPUs {busy:.0%} busy with other work", file=sys.stderr, flush=True)
        time.sleep(2.0)
        busy = cpu_busy()
    return busy


def check(case: Case, mode: str, result: dict[str, Any]) -> None:
    """The data is clean: the baseline must hold every row and Shadow must accept every row."""
    if result["rows"] != case.rows:
        case.problems.append(f"{mode}: read {result['rows']} rows, expected {case.rows}")
    if mode == "shadow" and result["accepted"] != case.rows:
        case.problems.append(
            f"shadow accepted {result['accepted']} of {case.rows} rows"
            f" (duplicates {result['duplicates']}, quarantined {result['by_reason']})"
        )


def machine() -> dict[str, str]:
    """Cores, memory, CPU model and library versions, for the report."""
    import duckdb
    import polars
    import pyarrow

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=HERE.parent, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "shadow", "sql", "pyproject.toml")
    return {
        "commit": git("rev-parse", "--short", "HEAD")
        + (f" (plus uncommitted changes to {len(changed.splitlines())} files)" if changed else ""),
        "nproc": str(os.cpu_count()),
        "memory": f"{mem_gb:.1f} GiB",
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def table(cases: list[Case]) -> str:
    """The Markdown results table."""
    lines = [
        "| log | format | rows | baseline s | shadow s | ratio | baseline peak MB"
        " | shadow peak MB | rows/s (shadow) | repeats | other CPU | check |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in cases:
        base, shad = c.median("baseline", "seconds"), c.median("shadow", "seconds")
        lines.append(
            f"| {c.log} | {c.fmt} | {c.rows:,} | {base:.2f} | {shad:.2f} | {shad / base:.2f}x"
            f" | {c.peak('baseline'):,.0f} | {c.peak('shadow'):,.0f} | {c.rows / shad:,.0f}"
            f" | {len(c.runs['shadow'])} | {c.interference():.0%}"
            f" | {'ok' if not c.problems else 'FAILED'} |"
        )
    return "\n".join(lines)


def targets(cases: list[Case]) -> list[str]:
    """Each target of the issue, and whether this run meets it (for the cases it measured)."""
    out = []
    for fmt, limit in (("parquet", 2.0), ("csv", 2.5)):
        ratios = [
            (c, c.median("shadow", "seconds") / c.median("baseline", "seconds"))
            for c in cases
            if c.fmt == fmt
        ]
        if ratios:
            worst = max(ratios, key=lambda x: x[1])
            met = all(r <= limit for _, r in ratios)
            out.append(
                f"- {fmt.upper()} within {limit}x of baseline: {'MET' if met else 'NOT MET'}"
                f" (worst {worst[1]:.2f}x, {worst[0].log} {generate.size_label(worst[0].rows)})"
            )
    ten = [c for c in cases if c.log == "predictions" and c.rows >= 10_000_000]
    for c in ten:
        s = c.median("shadow", "seconds")
        out.append(
            f"- 10M predictions ({c.fmt}) under 60 s: {'MET' if s < 60 else 'NOT MET'} ({s:.1f} s)"
        )
    big = [c for c in cases if c.rows >= 10_000_000]
    if big:
        worst_peak = max(big, key=lambda c: c.peak("shadow"))
        met = all(c.peak("shadow") < 3 * 1024 for c in big)
        out.append(
            f"- peak memory under 3 GB at 10M: {'MET' if met else 'NOT MET'}"
            f" (highest {worst_peak.peak('shadow'):,.0f} MB, {worst_peak.log} {worst_peak.fmt})"
        )
    return out


def parent(args: argparse.Namespace) -> int:
    sizes = [generate.parse_rows(s) for s in args.rows.split(",")]
    logs = [s.strip() for s in args.logs.split(",") if s.strip()]
    formats = [s.strip() for s in args.formats.split(",") if s.strip()]
    code = "working tree"
    if args.snapshot:
        folder, sha = snapshot()
        CHILD_ENV["PYTHONPATH"] = str(folder)
        code = f"snapshot of commit {sha} ({folder})"
    print(f"measuring Shadow from the {code}", file=sys.stderr)
    cases: list[Case] = []
    for n in sizes:
        generate.generate(n, logs, formats)
        cases += [Case(log, fmt, n) for log in logs for fmt in formats]
    total = len(cases) * args.repeat * len(MODES)
    done = 0
    for case in cases:
        path = generate.data_path(case.log, case.rows, case.fmt)
        for rep in range(args.repeat):
            for mode in MODES:  # interleaved, so drift hits both sides alike
                done += 1
                busy = wait_for_quiet(args.quiet, args.max_wait)
                result = measure(mode, case.log, path)
                result["cpu_busy_before"] = round(busy, 3)
                check(case, mode, result)
                case.runs[mode].append(result)
                print(
                    f"[{done}/{total}] {case.log} {case.fmt} {generate.size_label(case.rows)}"
                    f" {mode} {rep + 1}/{args.repeat}: {result['seconds']:.2f} s,"
                    f" peak {result['peak_mb']:,.0f} MB (CPU busy before: {busy:.0%},"
                    f" other processes during: {result['other_cpu']:.0%})",
                    file=sys.stderr,
                    flush=True,
                )
        if case.problems:
            print(f"  FAILED: {'; '.join(sorted(set(case.problems)))}", file=sys.stderr)
    info = machine()
    if args.snapshot:
        info["commit"] = code
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {"machine": info, "argv": sys.argv, "cases": [asdict(c) for c in cases]}, indent=1
        )
    )
    print(table(cases))
    print()
    print("\n".join(targets(cases)))
    print()
    print("\n".join(f"- {k}: {v}" for k, v in info.items()))
    return 1 if any(c.problems for c in cases) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1m", help="comma-separated sizes: 1m, 10m, 250k")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--logs", default="predictions,decisions,outcomes")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--quiet",
        type=float,
        default=0.15,
        help="before each run, wait while other processes keep more than this share of CPU busy",
    )
    parser.add_argument("--max-wait", type=float, default=120.0, help="seconds to wait for quiet")
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="measure shadow/ as committed at HEAD (exported to bench/data/), not the working tree",
    )
    parser.add_argument("--json", default=str(generate.DATA / "results.json"))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.add_argument("file", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.log, Path(args.file))
        return 0
    return parent(args)


if __name__ == "__main__":
    sys.exit(main())
