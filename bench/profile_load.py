"""Where does a Shadow load spend its time? Time every SQL statement of one `shadow.ingest`.

Nothing under shadow/ is edited: this script wraps Store.execute, Store.rows, Store.transaction,
Store.open, Store.close and Source.content_hash at runtime (monkeypatching), runs one load of the
given file into a fresh store, and prints each step's wall time, its share of the load, the
process's resident memory after the step and the peak so far (VmRSS / VmHWM from /proc).

With --operators, DuckDB's JSON profiler also runs for every statement that takes longer than
--operator-threshold seconds, and the costliest operators of each are listed (operator timings are
summed over DuckDB's threads, so read them as shares, not wall time; profiling adds some overhead).

Usage:
    python bench/profile_load.py bench/data/predictions_10m.csv --log predictions
    python bench/profile_load.py bench/data/predictions_10m.parquet --log predictions --operators
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shadow
from shadow.ingestion.sources import Source
from shadow.points import add_point, read_point
from shadow.store import Store

HERE = Path(__file__).resolve().parent
POINT_TOML = HERE / "point.toml"
POINT_ID = "bench-pump"

# (pattern on the SQL text, step name); the first match names the statement.
STEPS: list[tuple[str, str]] = [
    (r"FROM loads WHERE log", "look up an earlier load of the same bytes"),
    (r"CREATE TEMP TABLE _raw", "read the file into _raw (all columns, as read)"),
    (
        r"CREATE TEMP TABLE _typed",
        "type + validate into _typed (timestamps, labels, JSON, problems)",
    ),
    (r"CREATE TEMP TABLE _classified", "classify into _classified (window by key, store join)"),
    (r"INSERT INTO (predictions|decisions|outcomes)\b", "insert accepted rows into the log table"),
    (r"INSERT INTO quarantine", "insert quarantined rows (join back to _raw)"),
    (r"GROUP BY _status", "count rows per status"),
    (r"FROM quarantine WHERE load_id", "count quarantine per reason"),
    (r"INSERT INTO loads", "record the load"),
    (r"^DESCRIBE", "describe _raw"),
    (r"count\(\*\) FROM _raw", "count _raw"),
    (r"duckdb_tables\(\)", "look for a rejects table"),
    (r"_points|_labels", "point and label tables"),
    (r"nextval", "next load id"),
    (r"^DROP TABLE", "drop temporary tables"),
    (r"decision_points", "read decision points"),
]


@dataclass
class Record:
    """One timed call."""

    step: str
    seconds: float
    rss_mb: float
    hwm_mb: float
    sql: str


RECORDS: list[Record] = []
OPERATORS: dict[str, list[tuple[float, str]]] = {}


def _memory() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    values = {"VmRSS": 0.0, "VmHWM": 0.0}
    for line in Path("/proc/self/status").read_text().splitlines():
        key = line.split(":", 1)[0]
        if key in values:
            values[key] = int(line.split()[1]) / 1024
    return values["VmRSS"], values["VmHWM"]


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU time of the whole machine so far, in clock ticks (from /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _name(sql: str) -> str:
    text = " ".join(sql.split())
    for pattern, step in STEPS:
        if re.search(pattern, text):
            return step
    return "other: " + text[:60]


def _record(step: str, seconds: float, sql: str = "") -> None:
    rss, hwm = _memory()
    RECORDS.append(Record(step, seconds, rss, hwm, " ".join(sql.split())[:200]))


def _operators(profile: Path) -> list[tuple[float, str]]:
    """(seconds, operator name + detail) of every operator in a DuckDB JSON profile."""
    found: list[tuple[float, str]] = []

    def walk(node: dict[str, Any]) -> None:
        info = node.get("extra_info") or {}
        detail = ""
        for key in ("Function", "Join Type", "Table", "Text"):
            if key in info:
                detail = f" {info[key]}"
                break
        if node.get("name") == "WINDOW" and "Projections" in info:
            detail = " " + str(info["Projections"])[:80]
        found.append((float(node.get("timing", 0.0)), f"{node.get('name')}{detail}"))
        for c in node.get("children", []):
            walk(c)

    data = json.loads(profile.read_text())
    for node in data.get("operator", data.get("children", [])):
        walk(node)
    return sorted(found, reverse=True)


def install(operators: bool, threshold: float, workdir: Path) -> None:
    """Wrap the store and the hashing so every call is timed (and optionally profiled)."""
    execute: Callable[..., None] = Store.execute
    rows: Callable[..., list[tuple[Any, ...]]] = Store.rows
    open_: Callable[..., Store] = Store.open.__func__  # type: ignore[attr-defined]
    close: Callable[[Store], None] = Store.close
    content_hash: Callable[[Source], str] = Source.content_hash

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Store, text: str, params: dict[str, Any] | None = None) -> Any:
            step = _name(text)
            profile = workdir / f"profile-{len(RECORDS)}.json"
            big = operators and step.startswith(("read", "type", "classify", "insert"))
            if big:
                self._con.execute("SET enable_profiling = 'json'")
                self._con.execute(f"SET profiling_output = '{profile}'")
            started = time.perf_counter()
            try:
                return fn(self, text, params)
            finally:
                seconds = time.perf_counter() - started
                if big:
                    self._con.execute("SET enable_profiling = 'no_output'")
                    self._con.execute("RESET profiling_output")
                    if seconds >= threshold and profile.exists():
                        OPERATORS[step] = _operators(profile)
                _record(step, seconds, text)

        return wrapper

    @contextmanager
    def transaction(self: Store) -> Iterator[None]:
        started = time.perf_counter()
        self._con.execute("BEGIN TRANSACTION")
        _record("begin transaction", time.perf_counter() - started)
        try:
            yield
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        started = time.perf_counter()
        self._con.execute("COMMIT")
        _record("commit", time.perf_counter() - started)

    def timed_open(cls: type[Store], *args: Any, **kwargs: Any) -> Store:
        started = time.perf_counter()
        store = open_(cls, *args, **kwargs)
        _record("open store (+ migrate check)", time.perf_counter() - started)
        return store

    def timed_close(self: Store) -> None:
        started = time.perf_counter()
        close(self)
        _record("close store (checkpoint to disk)", time.perf_counter() - started)

    def timed_hash(self: Source) -> str:
        started = time.perf_counter()
        digest = content_hash(self)
        _record("hash the file (sha256)", time.perf_counter() - started)
        return digest

    Store.execute = timed(execute)  # type: ignore[method-assign]
    Store.rows = timed(rows)  # type: ignore[method-assign]
    Store.transaction = transaction  # type: ignore[method-assign]
    Store.open = classmethod(timed_open)  # type: ignore[method-assign, assignment]
    Store.close = timed_close  # type: ignore[method-assign]
    Source.content_hash = timed_hash  # type: ignore[method-assign]


def report(total: float, rows: int, path: Path, top: int) -> str:
    """Markdown: steps by time (summed over calls), then the costliest operators."""
    by_step: dict[str, list[Record]] = {}
    for r in RECORDS:
        by_step.setdefault(r.step, []).append(r)
    lines = [
        f"Profile of one load of {path.name} ({rows:,} rows): {total:.2f} s in shadow.ingest",
        "",
        "| step | calls | seconds | share | RSS after MB | peak so far MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    accounted = 0.0
    for step, recs in sorted(by_step.items(), key=lambda kv: -sum(r.seconds for r in kv[1])):
        seconds = sum(r.seconds for r in recs)
        accounted += seconds
        last = max(recs, key=lambda r: r.hwm_mb)
        lines.append(
            f"| {step} | {len(recs)} | {seconds:.2f} | {seconds / total:.0%}"
            f" | {recs[-1].rss_mb:,.0f} | {last.hwm_mb:,.0f} |"
        )
    lines.append(
        f"| (Python between statements) | | {total - accounted:.2f} |"
        f" {(total - accounted) / total:.0%} | | |"
    )
    for step, ops in OPERATORS.items():
        summed = sum(s for s, _ in ops) or 1.0
        lines += ["", f"Costliest operators of '{step}' (thread-summed seconds, share):", ""]
        lines += [f"- {s:.2f} s ({s / summed:.0%}) {name[:140]}" for s, name in ops[:top]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--log", required=True, choices=("predictions", "decisions", "outcomes"))
    parser.add_argument("--operators", action="store_true", help="also profile DuckDB operators")
    parser.add_argument("--operator-threshold", type=float, default=0.5)
    parser.add_argument("--top", type=int, default=8, help="operators listed per statement")
    args = parser.parse_args(argv)
    data = HERE / "data"
    data.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=data, prefix="profile-") as tmp:
        workdir = Path(tmp)
        db = workdir / "profile.duckdb"
        with Store.open(db, create=True) as store:
            point, text = read_point(POINT_TOML)
            add_point(store, point, text)
        install(args.operators, args.operator_threshold, workdir)
        busy0, all0, cpu0 = *_busy_jiffies(), _cpu_seconds()
        started = time.perf_counter()
        summary = shadow.ingest(args.log, args.file, point=POINT_ID, db=db)[0]
        total = time.perf_counter() - started
        busy1, all1, cpu1 = *_busy_jiffies(), _cpu_seconds()
    if summary.accepted != summary.rows_read:
        print(f"warning: accepted {summary.accepted} of {summary.rows_read}", file=sys.stderr)
    tick = os.sysconf("SC_CLK_TCK")
    other = max((busy1 - busy0) / tick - (cpu1 - cpu0), 0.0) / max((all1 - all0) / tick, 1e-9)
    print(report(total, summary.rows_read, args.file, args.top))
    print(
        f"\nThis process used {cpu1 - cpu0:.1f} CPU s in {total:.1f} s wall"
        f" ({(cpu1 - cpu0) / total:.2f} cores busy on average);"
        f" other processes took {other:.0%} of the machine's CPU meanwhile."
    )


if __name__ == "__main__":
    main()
