"""Scoring benchmark: `shadow score` against plain `model.predict_proba` on the same frame.

The sample deployment's model (sample_data/generate.py: v1 "lr", a Pipeline of scaled numbers and a
one-hot asset class into LogisticRegression; v2 "hgb", HistGradientBoosting) scores about N of the
sample operation's cases (made by the same generator at that size).
Every measurement runs in a fresh Python subprocess, so its peak resident memory (VmHWM) is its own.
The cases Parquet file is read and the model loaded before the clock starts, except in `score_cases`.

* predict_proba: `model.predict_proba(cases.select(features))`, the baseline.
* score_top3:    `score_frame(model, cases, top=3)`: labels, scores and 3-feature explanations
                 (one extra predict_proba per feature: 7 passes of the model in all).
* score_top0:    `score_frame(model, cases, top=0)`: labels and scores only.
* score_cases:   `score_cases(db, ...)` into a new store file (point registered untimed): loads
                 the model file, reads the Parquet file, checks, scores with top=3, loads
                 atomically, closes the store. scikit-learn is imported before the clock starts
                 (a fixed ~2 s that the `shadow score` command pays once per run).

Usage:
    python bench/bench_score.py --rows 1m --models lr,hgb --repeat 3

Progress goes to stderr; the Markdown table to stdout; every run to bench/data/score_results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_ingest import _cpu_seconds, _peak_mb, wait_for_quiet  # noqa: E402
from generate import DATA, parse_rows, size_label  # noqa: E402

POINT_TOML = HERE / "point.toml"
POINT_ID = "bench-pump"
MODES = ("predict_proba", "score_top3", "score_top0", "score_cases")
NUMERIC = ["vibration_mm_s", "temperature_c", "pressure_bar", "age_years", "days_since_service"]
FEATURES = [*NUMERIC, "asset_class"]


def sample_generator() -> Any:
    """sample_data/generate.py, the sample deployment's generator (its module name clashes here)."""
    import importlib.util

    path = HERE.parent / "sample_data" / "generate.py"
    spec = importlib.util.spec_from_file_location("sample_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def prepare(rows: int, kind: str) -> tuple[Path, Path]:
    """The sample's model (v1: logistic regression, v2: gradient boosting) and about `rows` of the
    sample operation's cases as Parquet, made once by the sample generator and kept."""
    import joblib

    DATA.mkdir(parents=True, exist_ok=True)
    label = size_label(rows)
    model_path = DATA / f"score_model_{kind}_{label}.joblib"
    cases_path = DATA / f"score_cases_{label}.parquet"
    if not model_path.exists() or not cases_path.exists():
        gen = sample_generator()
        print(f"making the sample operation's {label} cases and its models ...", file=sys.stderr)
        world = gen.simulate(seed=7, pumps_per_site=max(1, round(rows / (12 * gen.SHADOW_WEEKS))))
        models = gen.train_models(world)
        for name, version in (("lr", "v1"), ("hgb", "v2")):
            joblib.dump(models[version], DATA / f"score_model_{name}_{label}.joblib")
        world.cases.select("case_id", *gen.SEGMENTS, *gen.FEATURES[:-1]).write_parquet(cases_path)
    return model_path, cases_path


# --- the child: one measurement --------------------------------------------------------------------


def child(mode: str, model_path: Path, cases_path: Path) -> None:
    """Run one measurement in this (fresh) process and print it as one JSON line."""
    import polars as pl

    from shadow.points import add_point, read_point
    from shadow.runner import load_model, score_cases, score_frame

    point, text = read_point(POINT_TOML)
    result: dict[str, Any] = {}
    if mode == "score_cases":
        import sklearn.compose
        import sklearn.ensemble
        import sklearn.linear_model
        import sklearn.pipeline  # noqa: F401  (importing scikit-learn, ~2 s once, is not timed)

        from shadow.store import Store

        with tempfile.TemporaryDirectory(dir=DATA, prefix="store-") as tmp:
            db = Path(tmp) / "bench.duckdb"
            with Store.open(db, create=True) as store:
                add_point(store, point, text)
            started = time.perf_counter()
            summary = score_cases(db, POINT_ID, model_path, cases_path, model_version="bench-v1")
            result["seconds"] = time.perf_counter() - started
            result["rows"] = summary.rows_read
            result["accepted"] = summary.accepted
    else:
        model = load_model(model_path)
        cases = pl.read_parquet(cases_path)
        started = time.perf_counter()
        if mode == "predict_proba":
            proba = model.predict_proba(cases.select(FEATURES))
            rows = len(proba)
        else:
            top = 3 if mode == "score_top3" else 0
            out = score_frame(model, cases, point=point, model_version="bench-v1", top=top)
            rows = out.height
        result["seconds"] = time.perf_counter() - started
        result["rows"] = result["accepted"] = rows
    result["peak_mb"] = _peak_mb()
    result["cpu_seconds"] = _cpu_seconds()
    print(json.dumps(result))


# --- the parent --------------------------------------------------------------------------------------


def measure(mode: str, model_path: Path, cases_path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(model_path), str(cases_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{mode} failed:\n{done.stderr[-4000:]}")
    line = [x for x in done.stdout.splitlines() if x.startswith("{")][-1]
    result: dict[str, Any] = json.loads(line)
    return result


def machine() -> dict[str, str]:
    """Cores, memory, CPU model and library versions, for the report."""
    import duckdb
    import numpy
    import polars
    import sklearn

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown",
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE.parent, capture_output=True, text=True
    ).stdout.strip()
    return {
        "commit": commit,
        "nproc": str(os.cpu_count()),
        "memory": f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.1f} GiB",
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "scikit-learn": sklearn.__version__,
        "numpy": numpy.__version__,
        "polars": polars.__version__,
        "duckdb": duckdb.__version__,
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1m", help="cases to score: 1m, 250k, ...")
    parser.add_argument("--models", default="lr", help="comma-separated: lr, hgb")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quiet", type=float, default=0.15)
    parser.add_argument("--max-wait", type=float, default=120.0)
    parser.add_argument("--json", default=str(DATA / "score_results.json"))
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, Path(args.paths[0]), Path(args.paths[1]))
        return 0

    rows = parse_rows(args.rows)
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    failed = False
    for kind in args.models.split(","):
        model_path, cases_path = prepare(rows, kind)
        # the generator makes about `rows` cases: every mode must score each of them
        import polars as pl

        cases = pl.scan_parquet(cases_path).select(pl.len()).collect().item()
        for rep in range(args.repeat):
            for mode in MODES:  # interleaved, so drift hits every mode alike
                busy = wait_for_quiet(args.quiet, args.max_wait)
                result = measure(mode, model_path, cases_path)
                result["cpu_busy_before"] = round(busy, 3)
                runs.setdefault((kind, mode), []).append(result)
                if result["accepted"] != cases:
                    failed = True
                print(
                    f"{kind} {mode} {rep + 1}/{args.repeat}: {result['seconds']:.2f} s,"
                    f" peak {result['peak_mb']:,.0f} MB (CPU busy before {busy:.0%})",
                    file=sys.stderr,
                    flush=True,
                )
    info = machine()
    Path(args.json).write_text(
        json.dumps(
            {
                "machine": info,
                "argv": sys.argv,
                "runs": {f"{k} {m}": r for (k, m), r in runs.items()},
            },
            indent=1,
        )
    )
    print(
        "| model | mode | cases | median s | cases/s | ratio to predict_proba | peak MB | repeats |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for kind in args.models.split(","):
        base = statistics.median(r["seconds"] for r in runs[(kind, "predict_proba")])
        for mode in MODES:
            results = runs[(kind, mode)]
            scored = results[0]["accepted"]  # the cases made (about --rows)
            s = statistics.median(r["seconds"] for r in results)
            peak = max(r["peak_mb"] for r in results)
            print(
                f"| {kind} | {mode} | {scored:,} | {s:.2f} | {scored / s:,.0f} | {s / base:.2f}x"
                f" | {peak:,.0f} | {len(results)} |"
            )
    print()
    print("\n".join(f"- {k}: {v}" for k, v in info.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
