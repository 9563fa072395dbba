"""What would make a Shadow load faster? Time the load's own SQL against cheaper variants.

Nothing under shadow/ is edited or imported for its internals: the script records the statements a
real `shadow.ingest` runs (on a small file of the same shape, by wrapping Store.execute), replays the
staging statements on the big file in a fresh store, and then times, on the same staged tables:

* read:     the _raw copy of the file, as Shadow makes it;
* typed:    the _typed statement as Shadow writes it, and variants with one part removed or made
            cheaper (typed Parquet columns kept typed, the problems list, the ISO-regexp guards
            before the timestamp casts, the JSON checks of the explanation, the segments JSON): each
            variant's saving is roughly that part's cost; and the same typing in one pass straight
            from the file, without the materialised _raw copy;
* classify: Shadow's _classified + insert, against narrow variants (find the few keys seen more
            than once with a GROUP BY on the key or on its hash, then insert straight from _typed
            with anti-joins), and the floor (insert with no classification at all);
* hashing:  SHA-256 of the file against other digests and a plain read;
* memory:   the whole load in a subprocess under SHADOW_MEMORY_LIMIT (peak RSS and time).

Each experiment runs --repeat times; the table gives the minimum (the cost of the work, least
disturbed by other processes on a shared machine) and the median. The variants are measurements,
not patches: removing a check saves its cost but drops the check; they show where the seconds are.

Usage:
    python bench/experiments.py --rows 10m --formats csv,parquet --log predictions --repeat 3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_ingest  # noqa: E402
import generate  # noqa: E402

import shadow  # noqa: E402
from shadow.columns import KEY, STORED  # noqa: E402
from shadow.points import add_point, read_point  # noqa: E402
from shadow.store import Store  # noqa: E402

Statement = tuple[str, dict[str, Any]]
RESULTS: list[tuple[str, str, list[float], str]] = []  # (format, experiment, seconds, note)
REPEAT = 3


def capture(log: str, small: Path, workdir: Path) -> list[Statement]:
    """Every Store.execute statement (text, params) of a real load of `small`, in order."""
    db = workdir / "capture.duckdb"
    with Store.open(db, create=True) as store:
        add_point(store, *read_point(bench_ingest.POINT_TOML))
    seen: list[Statement] = []
    original = Store.execute

    def recording(self: Store, text: str, params: dict[str, Any] | None = None) -> None:
        seen.append((text, dict(params or {})))
        original(self, text, params)

    Store.execute = recording  # type: ignore[method-assign]
    try:
        shadow.ingest(log, small, point=bench_ingest.POINT_ID, db=db)
    finally:
        Store.execute = original  # type: ignore[method-assign]
    db.unlink()
    return seen


def retarget(params: dict[str, Any], small: Path, big: Path) -> dict[str, Any]:
    return {k: (str(big) if v == str(small) else v) for k, v in params.items()}


def find(statements: list[Statement], pattern: str) -> Statement:
    for text, params in statements:
        if re.search(pattern, text):
            return text, params
    raise LookupError(f"no captured statement matches {pattern!r}")


class Bench:
    """A fresh store holding the staged tables of one big file, and a timer."""

    def __init__(self, fmt: str, db: Path) -> None:
        self.fmt = fmt
        self.store = Store.open(db, create=True)
        add_point(self.store, *read_point(bench_ingest.POINT_TOML))
        self.con = self.store._con  # the bench runs its own variants of the load's SQL

    def time(
        self,
        name: str,
        steps: list[tuple[str, dict[str, Any] | None]],
        *,
        cleanup: tuple[str, ...] | list[str] = (),
        transaction: bool = False,
        repeat: int | None = None,
        note: str = "",
    ) -> None:
        """Run `steps` (timed together) `repeat` times, with `cleanup` (untimed) after each run.

        With `transaction`, each run is inside BEGIN ... ROLLBACK, so the store is left as it was.
        """
        runs = []
        for _ in range(repeat or REPEAT):
            if transaction:
                self.con.execute("BEGIN TRANSACTION")
            started = time.perf_counter()
            for sql, params in steps:
                used = {k: v for k, v in (params or {}).items() if re.search(rf"\${k}\b", sql)}
                self.con.execute(sql, used or None)
            runs.append(time.perf_counter() - started)
            if transaction:
                self.con.execute("ROLLBACK")
            for sql in cleanup:
                self.con.execute(sql)
        RESULTS.append((self.fmt, name, runs, note))
        print(
            f"  {self.fmt} {name}: " + ", ".join(f"{r:.2f}" for r in runs),
            file=sys.stderr,
            flush=True,
        )


def _no_problems(sql: str) -> str:
    return re.sub(
        r"CASE WHEN _blank THEN \[.*END AS _problems",
        "CAST([] AS STRUCT(code VARCHAR, text VARCHAR)[]) AS _problems",
        sql,
        flags=re.S,
    )


def _no_regexp(sql: str) -> str:
    # Every ISO-shape guard becomes `true`: the casts (and their fallbacks) remain.
    return re.sub(r"regexp_matches\(([^,]+), '(?:[^']|'')*'\)", "true", sql)


def _no_json_check(sql: str) -> str:
    valid = r"\(CASE WHEN json_valid\(([^)]+)\) THEN json_type\(\1\) = 'OBJECT' ELSE false END\)"
    sql = re.sub(valid, "true", sql)
    return re.sub(r"CASE WHEN true THEN json\(([^)]+)\) END", r"CAST(\1 AS JSON)", sql)


def _no_segments(sql: str) -> str:
    return re.sub(
        r"CAST\(json_object\([^)]*\) AS JSON\) AS segments", "CAST(NULL AS JSON) AS segments", sql
    )


def _keep_types(sql: str) -> str:
    # Typed (Parquet) columns stay typed instead of going to text and being cast back.
    return re.sub(r"NULLIF\(trim\(CAST\((\"[^\"]+\") AS VARCHAR\)\), ''\)", r"\1", sql)


def typed_variants(sql: str) -> dict[str, str]:
    """The _typed SELECT with one part removed at a time (and all of them at once)."""
    variants = {
        "keeping typed columns typed (no cast to text and back)": _keep_types(sql),
        "without the problems list": _no_problems(sql),
        "without ISO regexp guards (casts only)": _no_regexp(sql),
        "without JSON validation of explanation": _no_json_check(sql),
        "without building segments JSON": _no_segments(sql),
        "without all of these (floor: renaming, trim, joins)": _no_segments(
            _no_json_check(_no_regexp(_no_problems(_keep_types(sql))))
        ),
    }
    return {k: v for k, v in variants.items() if v != sql}


def run_format(log: str, fmt: str, rows: int, workdir: Path) -> None:
    small = generate.generate(10_000, [log], [fmt])[0]
    big = generate.data_path(log, rows, fmt)
    if not big.exists():
        generate.generate(rows, [log], [fmt])
    statements = capture(log, small, workdir)
    typed_text, typed_params = find(statements, r"^CREATE TEMP TABLE _typed AS")
    typed_at = statements.index((typed_text, typed_params))
    raw_text, raw_params = find(statements, r"CREATE TEMP TABLE _raw AS")
    classified_text, _ = find(statements, r"CREATE TEMP TABLE _classified")
    insert_text, insert_params = find(statements, rf"^INSERT INTO {log} ")

    bench = Bench(fmt, workdir / f"exp-{fmt}.duckdb")
    # Stage exactly as the load did (reading the big file instead of the small one).
    raw_p = retarget(raw_params, small, big)
    for text, params in statements[:typed_at]:
        if not text.startswith("CREATE TEMP TABLE _raw AS"):
            bench.con.execute(text, retarget(params, small, big) or None)
            continue
        cleanup = ["DROP TABLE IF EXISTS temp._rejects", "DROP TABLE IF EXISTS temp._rejects_scan"]
        bench.time(
            "read the file into _raw (as Shadow)",
            [(text, raw_p)],
            cleanup=["DROP TABLE _raw", *cleanup],
        )
        bench.con.execute(text, raw_p)
    typed_p = retarget(typed_params, small, big)
    drop_v = ["DROP TABLE _typed_v"]
    select = typed_text.removeprefix("CREATE TEMP TABLE _typed AS ")
    bench.time(
        "type + validate (as Shadow)",
        [(f"CREATE TEMP TABLE _typed_v AS {select}", typed_p)],
        cleanup=drop_v,
    )
    for name, variant in typed_variants(select).items():
        bench.time(
            f"type + validate {name}",
            [(f"CREATE TEMP TABLE _typed_v AS {variant}", typed_p)],
            cleanup=drop_v,
        )

    # One pass: type straight from the file (no _raw copy). The row number comes from the reader.
    reader = raw_text.removeprefix("CREATE TEMP TABLE _raw AS ")
    reader = re.sub(r",\s*store_rejects = true.*?rejects_scan = '_rejects_scan'", "", reader)
    if fmt == "parquet":
        reader = reader.replace(
            "read_parquet($path)", "read_parquet($path, file_row_number = true)"
        )
        source = f"(SELECT *, file_row_number AS rowid FROM ({reader}))"
    else:
        source = f"(SELECT *, row_number() OVER () - 1 AS rowid FROM ({reader}))"
    onepass = select.replace("FROM _raw)", f"FROM {source})")
    if onepass != select:
        bench.time(
            "one pass: read + type + validate straight from the file (no _raw)",
            [(f"CREATE TEMP TABLE _typed_v AS {onepass}", {**typed_p, **raw_p})],
            cleanup=drop_v,
        )
    bench.con.execute(typed_text, typed_p)  # the real _typed, for the classification variants

    # Classification and insert, each run rolled back.
    key = KEY[log]
    columns = ", ".join(STORED[log])
    keys = ", ".join(key)
    match_d = " AND ".join(f"d.{c} IS NOT DISTINCT FROM n.{c}" for c in key)
    match_s = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in key)
    insert = f"INSERT INTO {log} ({columns}, load_id, source_row) SELECT {columns}, 1, _row FROM _typed AS n"
    not_in_store = f"NOT EXISTS (SELECT 1 FROM {log} AS s WHERE {match_s})"
    bench.time("classify into _classified (as Shadow)", [(classified_text, None)], transaction=True)
    bench.time(
        "classify + insert accepted rows (as Shadow)",
        [(classified_text, None), (insert_text, insert_params)],
        transaction=True,
    )
    bench.time(
        "narrow: GROUP BY key HAVING count > 1, insert from _typed (anti-joins)",
        [
            (
                f"CREATE TEMP TABLE _dupkeys AS SELECT {keys} FROM _typed WHERE len(_problems) = 0"
                " GROUP BY ALL HAVING count(*) > 1",
                None,
            ),
            (
                f"{insert} WHERE len(_problems) = 0 AND NOT EXISTS (SELECT 1 FROM _dupkeys AS d WHERE"
                f" {match_d}) AND {not_in_store}",
                None,
            ),
        ],
        transaction=True,
    )
    bench.time(
        "narrow: GROUP BY hash(key) HAVING count > 1, insert from _typed (anti-joins)",
        [
            (
                f"CREATE TEMP TABLE _duphash AS SELECT hash({keys}) AS h FROM _typed"
                " WHERE len(_problems) = 0 GROUP BY h HAVING count(*) > 1",
                None,
            ),
            (
                f"{insert} WHERE len(_problems) = 0 AND hash({keys}) NOT IN (SELECT h FROM _duphash)"
                f" AND {not_in_store}",
                None,
            ),
        ],
        transaction=True,
    )
    bench.time(
        "floor: insert every good row from _typed, no classification",
        [(f"{insert} WHERE len(_problems) = 0", None)],
        transaction=True,
    )
    bench.store.close()

    # Hashing the file.
    digests: dict[str, Callable[[], Any]] = {
        "sha256": hashlib.sha256,
        "blake2b": hashlib.blake2b,
        "md5": hashlib.md5,
    }
    for name, factory in digests.items():
        runs = []
        for _ in range(REPEAT):
            started = time.perf_counter()
            with big.open("rb") as f:
                hashlib.file_digest(f, factory)
            runs.append(time.perf_counter() - started)
        RESULTS.append((fmt, f"hash the file: {name}", runs, ""))
    runs = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        with big.open("rb") as f:
            while f.read(1 << 20):
                pass
        runs.append(time.perf_counter() - started)
    RESULTS.append((fmt, "hash the file: plain read, no digest", runs, ""))


def run_memory(log: str, fmt: str, rows: int, limits: list[str]) -> None:
    big = generate.data_path(log, rows, fmt)
    for limit in limits:
        bench_ingest.CHILD_ENV.clear()
        bench_ingest.CHILD_ENV.update(os.environ)
        if limit != "default":
            bench_ingest.CHILD_ENV["SHADOW_MEMORY_LIMIT"] = limit
        result = bench_ingest.measure("shadow", log, big)
        note = f"peak {result['peak_mb']:,.0f} MB, accepted {result['accepted']:,}"
        note += f", other processes {result['other_cpu']:.0%} of CPU"
        RESULTS.append((fmt, f"whole load, SHADOW_MEMORY_LIMIT={limit}", [result["seconds"]], note))
        print(f"  {fmt} memory limit {limit}: {result['seconds']:.1f} s, {note}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10m")
    parser.add_argument("--formats", default="csv,parquet")
    parser.add_argument("--log", default="predictions", choices=generate.LOGS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per experiment (min, median)")
    parser.add_argument("--memory-limits", default="default,2GB", help="comma-separated; '' skips")
    args = parser.parse_args(argv)
    global REPEAT
    REPEAT = args.repeat
    rows = generate.parse_rows(args.rows)
    formats = [f for f in args.formats.split(",") if f]
    generate.DATA.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=generate.DATA, prefix="exp-") as tmp:
        for fmt in formats:
            print(f"{fmt}: staging and variants", file=sys.stderr)
            run_format(args.log, fmt, rows, Path(tmp))
    limits = [x for x in args.memory_limits.split(",") if x]
    for fmt in formats:
        run_memory(args.log, fmt, rows, limits)
    print(f"Experiments on {args.log}, {rows:,} rows\n")
    print("| format | experiment | min s | median s | runs | note |\n|---|---|---:|---:|---:|---|")
    for fmt, name, runs, note in RESULTS:
        print(
            f"| {fmt} | {name} | {min(runs):.2f} | {statistics.median(runs):.2f} | {len(runs)}"
            f" | {note} |"
        )


if __name__ == "__main__":
    main()
