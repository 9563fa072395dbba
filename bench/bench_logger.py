"""Live logger benchmark: what one ShadowLogger call costs the caller's thread, against a plain baseline.

For each call (prediction, decision, outcome) the script times every single call with
perf_counter_ns, while the logger's background thread spools and loads into a real store file
(flush_every 0.2 s, so it runs many times during the measurement and competes for the GIL, as it
would in a service). The baseline, timed in the same run with the same loop, builds the same record
as a dict (with datetime.now(UTC)) and appends it to a list: the least any in-process logging
could do. Reported: median, p99, p99.9 and max in microseconds, the ratio to the baseline, how many
loads ran during the measurement, the time for the final flush, and memory: the process's peak
resident set, and (in a separate pass with tracemalloc, where timing is not measured) the Python
memory that 100k buffered records hold.

Usage:
    python bench/bench_logger.py --calls 100000 [--json bench/data/logger.json]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars

from shadow import ShadowLogger, __version__
from shadow.points import add_point, read_point
from shadow.store import Store

HERE = Path(__file__).resolve().parent
POINT = "bench-pump"
KINDS = ("prediction", "decision", "outcome")


def make_store(folder: Path) -> Path:
    db = folder / "bench.duckdb"
    point, text = read_point(HERE / "point.toml")
    with Store.open(db, create=True) as store:
        add_point(store, point, text)
    return db


def logger_call(logger: ShadowLogger, kind: str) -> Callable[[int], None]:
    if kind == "prediction":
        return lambda i: logger.prediction(
            f"case-{i}",
            "inspect",
            model_version="v1",
            score=0.73,
            explanation={"vibration": 0.21, "age": -0.05},
            site="hamburg",
        )
    if kind == "decision":
        return lambda i: logger.decision(f"case-{i}", "no_inspect", decided_by="dana", site="kiel")
    return lambda i: logger.outcome(f"case-{i}", "inspect")


def baseline_call(sink: list[dict[str, Any]], kind: str) -> Callable[[int], None]:
    append = sink.append
    if kind == "prediction":
        return lambda i: append(
            {
                "case_id": f"case-{i}",
                "predicted_at": datetime.now(UTC),
                "predicted_label": "inspect",
                "model_version": "v1",
                "score": 0.73,
                "explanation": {"vibration": 0.21, "age": -0.05},
                "site": "hamburg",
            }
        )
    if kind == "decision":
        return lambda i: append(
            {
                "case_id": f"case-{i}",
                "decided_at": datetime.now(UTC),
                "human_label": "no_inspect",
                "decided_by": "dana",
                "site": "kiel",
            }
        )
    return lambda i: append(
        {"case_id": f"case-{i}", "observed_at": datetime.now(UTC), "actual_label": "inspect"}
    )


def timed(call: Callable[[int], None], n: int, offset: int, rate: float = 0) -> list[int]:
    """Nanoseconds of each of `n` calls; with a `rate`, paced to that many calls per second.

    Pacing sleeps between batches of 100 calls (outside the timed calls), as a service that spends
    its time waiting on I/O leaves the background thread room to run.
    """
    clock = time.perf_counter_ns
    out = [0] * n
    begin = time.perf_counter()
    for i in range(n):
        started = clock()
        call(offset + i)
        out[i] = clock() - started
        if rate and i % 100 == 99:
            pause = begin + (i + 1) / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
    return out


def describe(ns: list[int]) -> dict[str, float]:
    ordered = sorted(ns)
    n = len(ordered)

    def at(q: float) -> float:
        return ordered[min(int(q * n), n - 1)] / 1000

    return {
        "median_us": at(0.5),
        "p99_us": at(0.99),
        "p999_us": at(0.999),
        "max_us": ordered[-1] / 1000,
        "mean_us": statistics.fmean(ordered) / 1000,
    }


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(calls: int, folder: Path, rate: float) -> dict[str, Any]:
    """Time `calls` calls of each kind (paced to `rate` per second, or as fast as possible if 0)."""
    folder.mkdir()
    db = make_store(folder)
    logger = ShadowLogger(POINT, db=db, flush_every=0.2, wait=2.0)
    results: dict[str, Any] = {"calls": calls, "rate": rate, "kinds": {}}
    rss_before = peak_rss_mb()
    for k, kind in enumerate(KINDS):
        offset = (k + 1) * 10_000_000
        timed(logger_call(logger, kind), 1000, offset - 1000)  # warm up
        timed(baseline_call([], kind), 1000, 0)
        loads_before = logger.status()["loads"]
        gc.collect()
        started = time.perf_counter()
        shadow_ns = timed(logger_call(logger, kind), calls, offset, rate)
        elapsed = time.perf_counter() - started
        loads_during = logger.status()["loads"] - loads_before
        sink: list[dict[str, Any]] = []
        gc.collect()
        base_ns = timed(baseline_call(sink, kind), calls, 0, rate)
        del sink
        shadow, base = describe(shadow_ns), describe(base_ns)
        results["kinds"][kind] = {
            "shadow": shadow,
            "baseline": base,
            "ratio_median": shadow["median_us"] / base["median_us"],
            "ratio_p99": shadow["p99_us"] / base["p99_us"],
            "calls_per_s": calls / elapsed,
            "loads_during": loads_during,
        }
        print(f"{kind}: {shadow} vs {base}; {loads_during} loads during", file=sys.stderr)
    started = time.perf_counter()
    assert logger.flush() is True, logger.errors[:5]
    results["final_flush_s"] = time.perf_counter() - started
    assert logger.close() is True
    status = logger.status()
    with Store.open(db) as store:
        stored = {
            log: store.rows(f"SELECT count(*) FROM {log}")[0][0]
            for log in ("predictions", "decisions", "outcomes")
        }
    expected = 3 * (calls + 1000)  # the warm-up calls are logged too
    results["stored"] = stored
    results["dropped"] = status["dropped"]
    # Every call is either in the store or counted as dropped (only when the buffer was full).
    accounted = sum(stored.values()) + status["dropped"] == expected
    results["check"] = "ok" if accounted and (rate == 0 or not status["dropped"]) else "FAILED"
    results["loads"] = status["loads"]
    results["problems"] = [p.what for p in logger.errors]
    results["peak_rss_mb"] = peak_rss_mb()
    results["peak_rss_growth_mb"] = peak_rss_mb() - rss_before
    return results


def buffered_memory(calls: int, folder: Path) -> dict[str, float]:
    """Python memory held by `calls` buffered predictions (no flush meanwhile), via tracemalloc."""
    logger = ShadowLogger(POINT, db=folder / "none.duckdb", flush_every=3600, max_buffer=calls * 4)
    call = logger_call(logger, "prediction")
    gc.collect()
    tracemalloc.start()
    for i in range(calls):
        call(i)
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    logger._buffer.clear()  # not a measurement of the spool: nothing to write
    logger.close(timeout=1)
    return {"buffered_mb": current / 2**20, "bytes_per_record": current / calls}


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=HERE,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "os": platform.platform(),
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "shadow": __version__,
        "commit": commit,
        "when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "switch_interval_ms": sys.getswitchinterval() * 1000,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| call | calls/s | shadow median µs | p99 µs | p99.9 µs | max µs | baseline median µs | p99 µs"
        " | max µs | ratio median | ratio p99 | loads during |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for kind, r in results["kinds"].items():
        s, b = r["shadow"], r["baseline"]
        lines.append(
            f"| {kind} | {r['calls_per_s']:,.0f} | {s['median_us']:.2f} | {s['p99_us']:.2f} | {s['p999_us']:.1f}"
            f" | {s['max_us']:,.0f} | {b['median_us']:.2f} | {b['p99_us']:.2f}"
            f" | {b['max_us']:,.0f} | {r['ratio_median']:.2f}x | {r['ratio_p99']:.2f}x"
            f" | {r['loads_during']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls of each kind")
    parser.add_argument(
        "--rate", type=float, default=20_000, help="calls per second in the paced run"
    )
    parser.add_argument(
        "--gc-off", action="store_true", help="disable the garbage collector (see its pauses)"
    )
    parser.add_argument("--runs", default="paced,burst", help="which runs: paced, burst")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.gc_off:
        gc.disable()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="shadow-bench-logger-") as tmp:
        for name, rate in (("paced", args.rate), ("burst", 0.0)):
            if name in args.runs.split(","):
                runs[name] = measure(args.calls, Path(tmp) / name, rate)
        memory = buffered_memory(args.calls, Path(tmp))
    results = {"runs": runs, "memory": memory, "machine": machine(), "gc_off": args.gc_off}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    for name, run in runs.items():
        print(f"## {name} ({run['rate']:,.0f} calls/s)" if run["rate"] else f"## {name}")
        print(markdown(run))
        print(json.dumps({k: v for k, v in run.items() if k != "kinds"}, indent=2, default=str))
    print(json.dumps({"memory": memory, "machine": results["machine"]}, indent=2))
    if any(run["check"] != "ok" for run in runs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
