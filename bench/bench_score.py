"""Scoring benchmark: `shadow score` against plain `model.predict_proba` on the same frame.

A sample-like model (a scikit-learn Pipeline fit on a pandas DataFrame: five numeric features
scaled, `asset_class` one-hot encoded; LogisticRegression or HistGradientBoosting) scores N cases.
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


def pumps(n: int, seed: int) -> Any:
    """n synthetic pump-weeks (a pandas DataFrame) and whether each needed an inspection."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "vibration_mm_s": rng.gamma(2.0, 2.0, n),
            "temperature_c": rng.normal(60.0, 10.0, n),
            "pressure_bar": rng.normal(8.0, 1.0, n),
            "age_years": rng.uniform(0.0, 30.0, n),
            "days_since_service": rng.uniform(0.0, 400.0, n),
            "asset_class": rng.choice(["centrifugal", "reciprocating"], n),
        }
    )
    logit = (
        0.5 * frame["vibration_mm_s"]
        + 0.05 * (frame["temperature_c"] - 60)
        + 0.004 * frame["days_since_service"]
        + 0.8 * (frame["asset_class"] == "reciprocating")
        - 2.5
    )
    label = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "inspect", "no_inspect")
    return frame, label


def prepare(rows: int, kind: str) -> tuple[Path, Path]:
    """The model file (fit on 20k rows) and the cases Parquet file, made once and kept."""
    import joblib
    import polars as pl
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    DATA.mkdir(parents=True, exist_ok=True)
    model_path = DATA / f"score_model_{kind}.joblib"
    if not model_path.exists():
        train, label = pumps(20_000, seed=1)
        prep = ColumnTransformer(
            [
                ("num", StandardScaler(), NUMERIC),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["asset_class"]),
            ]
        )
        clf = LogisticRegression() if kind == "lr" else HistGradientBoostingClassifier()
        joblib.dump(Pipeline([("prep", prep), ("clf", clf)]).fit(train, label), model_path)
    cases_path = DATA / f"score_cases_{size_label(rows)}.parquet"
    if not cases_path.exists():
        frame, _ = pumps(rows, seed=2)
        cases = pl.from_pandas(frame).with_columns(
            case_id=pl.format("pump-{}", pl.int_range(pl.len())),
            site=pl.format("site-{}", pl.int_range(pl.len()) % 40),
        )
        cases.write_parquet(cases_path)
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
        for rep in range(args.repeat):
            for mode in MODES:  # interleaved, so drift hits every mode alike
                busy = wait_for_quiet(args.quiet, args.max_wait)
                result = measure(mode, model_path, cases_path)
                result["cpu_busy_before"] = round(busy, 3)
                runs.setdefault((kind, mode), []).append(result)
                if result["accepted"] != rows:
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
            s = statistics.median(r["seconds"] for r in results)
            peak = max(r["peak_mb"] for r in results)
            print(
                f"| {kind} | {mode} | {rows:,} | {s:.2f} | {rows / s:,.0f} | {s / base:.2f}x"
                f" | {peak:,.0f} | {len(results)} |"
            )
    print()
    print("\n".join(f"- {k}: {v}" for k, v in info.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
