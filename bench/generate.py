"""Deterministic generator of benchmark logs: N rows of predictions, decisions and outcomes.

Every row follows the data contract and is clean (unique keys, parseable timestamps in 2025, labels
in the point's label set, scores in 0..1, explanations that are JSON objects), so a load through
Shadow must accept every row. Each log is written twice into bench/data/:

* CSV: every value as text; timestamps ISO 8601 with the Europe/Berlin offset
  ("2025-03-04T07:12:09+01:00"); the explanation a quoted JSON object string.
* Parquet (zstd, written by Polars): typed columns as a typical export has them: timestamps as
  TIMESTAMP WITH TIME ZONE (UTC), score as DOUBLE, everything else as strings.

Usage:
    python bench/generate.py --rows 1m,10m            # all three logs, both formats
    python bench/generate.py --rows 250000 --logs predictions --formats parquet
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

DATA = Path(__file__).resolve().parent / "data"
LOGS = ("predictions", "decisions", "outcomes")
FORMATS = ("csv", "parquet")
SEED = 20250101
WEEKS = 50  # weeks of 2025 the cases are spread over; with the lags below, all stays in 2025
START = datetime(2025, 1, 1, tzinfo=UTC)
SITES = {
    "HAM": "north",
    "BRE": "north",
    "KIE": "north",
    "HAN": "north",
    "ROS": "north",
    "BER": "east",
    "DRE": "east",
    "LEI": "east",
    "MAG": "east",
    "ERF": "east",
    "MUC": "south",
    "STU": "south",
    "NUE": "south",
    "AUG": "south",
    "FRE": "south",
    "CGN": "west",
    "DUS": "west",
    "FRA": "west",
    "DOR": "west",
    "ESS": "west",
}
CSV_TIME = "%Y-%m-%dT%H:%M:%S%:z"


def parse_rows(text: str) -> int:
    """'1m' -> 1_000_000, '250k' -> 250_000, '5000' -> 5000."""
    t = text.strip().lower().replace("_", "")
    factor = 1
    if t.endswith("m"):
        factor, t = 1_000_000, t[:-1]
    elif t.endswith("k"):
        factor, t = 1_000, t[:-1]
    n = int(float(t) * factor)
    if n <= 0:
        raise ValueError(f"row count must be positive: {text!r}")
    return n


def size_label(n: int) -> str:
    """The short name used in file names: 1000000 -> '1m', 250000 -> '250k'."""
    if n % 1_000_000 == 0:
        return f"{n // 1_000_000}m"
    if n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


def data_path(log: str, n: int, fmt: str) -> Path:
    """Where the generated file of `log` with `n` rows in `fmt` lives."""
    return DATA / f"{log}_{size_label(n)}.{fmt}"


def _micros(seconds: np.ndarray) -> pl.Series:
    """Offsets in seconds from START as a UTC datetime series (microseconds)."""
    base = int(START.timestamp()) * 1_000_000
    return pl.Series(base + seconds.astype(np.int64) * 1_000_000).cast(pl.Datetime("us", "UTC"))


def cases(n: int) -> pl.DataFrame:
    """The n cases shared by the three logs: case_id, site, region, and the base time (seconds)."""
    n_sites = len(SITES)
    n_assets = max(1, math.ceil(n / (n_sites * WEEKS)))
    if n_assets > 99_999:
        raise ValueError(f"{n} rows is more than this generator's {n_sites * WEEKS * 99_999} cases")
    i = np.arange(n, dtype=np.int64)
    site_idx = i % n_sites
    asset = (i // n_sites) % n_assets
    week = i // (n_sites * n_assets)
    codes = np.array(list(SITES), dtype=object)
    regions = np.array(list(SITES.values()), dtype=object)
    rng = np.random.default_rng(SEED)
    base = week * 7 * 86_400 + rng.integers(0, 7 * 86_400, n)
    frame = pl.DataFrame(
        {
            "site": pl.Series(codes[site_idx], dtype=pl.String),
            "region": pl.Series(regions[site_idx], dtype=pl.String),
            "asset": asset,
            "week": week + 1,
            "base": base,
        }
    )
    case_id = pl.concat_str(
        pl.col("site"),
        pl.lit("-"),
        pl.col("asset").cast(pl.String).str.zfill(5),
        pl.lit("-W"),
        pl.col("week").cast(pl.String).str.zfill(2),
    )
    return frame.select(case_id.alias("case_id"), "site", "region", "base")


def build(n: int) -> dict[str, pl.DataFrame]:
    """The three logs for n cases, with typed timestamps (UTC) and scores."""
    c = cases(n)
    rng = np.random.default_rng(SEED + 1)
    base = c["base"].to_numpy()
    score = np.round(rng.beta(2.0, 5.0, n), 3)
    predicted_inspect = score >= 0.5
    contrib = np.round(rng.normal(0.0, 0.1, (3, n)), 3) + 0.0  # + 0.0 turns -0.0 into 0.0
    version = rng.integers(1, 4, n)
    decided = base + rng.integers(3_600, 48 * 3_600, n)
    agrees = rng.random(n) < 0.8
    human_inspect = np.where(agrees, predicted_inspect, ~predicted_inspect)
    engineer = rng.integers(0, 200, n)
    observed = decided + rng.integers(86_400, 10 * 86_400, n)
    actual_inspect = rng.random(n) < np.clip(score * 1.2, 0.0, 1.0)

    def label(flags: np.ndarray) -> pl.Series:
        return pl.Series(np.where(flags, "inspect", "no_inspect"), dtype=pl.String)

    def num(values: np.ndarray) -> pl.Expr:
        return pl.lit(pl.Series(values)).cast(pl.String)

    predictions = (
        pl.DataFrame(
            {
                "case_id": c["case_id"],
                "predicted_at": _micros(base),
                "model_version": pl.Series(version).cast(pl.String),
                "predicted_label": label(predicted_inspect),
                "score": score,
            }
        )
        .with_columns(
            model=pl.lit("pump-risk"),
            model_version=pl.lit("v") + pl.col("model_version"),
            explanation=pl.concat_str(
                pl.lit('{"vibration": '),
                num(contrib[0]),
                pl.lit(', "age": '),
                num(contrib[1]),
                pl.lit(', "temperature": '),
                num(contrib[2]),
                pl.lit("}"),
            ),
            site=c["site"],
            region=c["region"],
        )
        .select(
            "case_id",
            "predicted_at",
            "model",
            "model_version",
            "predicted_label",
            "score",
            "explanation",
            "site",
            "region",
        )
    )
    decisions = pl.DataFrame(
        {
            "case_id": c["case_id"],
            "decided_at": _micros(decided),
            "human_label": label(human_inspect),
            "decided_by": pl.Series(engineer).cast(pl.String).str.zfill(3),
            "site": c["site"],
            "region": c["region"],
        }
    ).with_columns(decided_by=pl.lit("eng-") + pl.col("decided_by"))
    outcomes = pl.DataFrame(
        {
            "case_id": c["case_id"],
            "observed_at": _micros(observed),
            "actual_label": label(actual_inspect),
        }
    )
    return {"predictions": predictions, "decisions": decisions, "outcomes": outcomes}


def as_csv_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Timestamps as ISO 8601 text with the Europe/Berlin offset, as a CSV export writes them."""
    times = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.Datetime)]
    return frame.with_columns(
        pl.col(t).dt.convert_time_zone("Europe/Berlin").dt.strftime(CSV_TIME) for t in times
    )


def generate(n: int, logs: list[str], formats: list[str], *, force: bool = False) -> list[Path]:
    """Write the requested files (skipping ones that exist unless `force`); return their paths."""
    DATA.mkdir(parents=True, exist_ok=True)
    wanted = [(log, fmt) for log in logs for fmt in formats]
    todo = [(log, fmt) for log, fmt in wanted if force or not data_path(log, n, fmt).exists()]
    if todo:
        started = time.monotonic()
        frames = build(n)
        print(
            f"built {n:,} rows of each log in {time.monotonic() - started:.1f} s", file=sys.stderr
        )
        for log, fmt in todo:
            path = data_path(log, n, fmt)
            tmp = path.with_suffix(path.suffix + ".tmp")
            started = time.monotonic()
            if fmt == "csv":
                as_csv_text(frames[log]).write_csv(tmp)
            else:
                frames[log].write_parquet(tmp, compression="zstd")
            tmp.replace(path)
            size = path.stat().st_size / 1e6
            took = time.monotonic() - started
            print(f"wrote {path} ({size:,.0f} MB) in {took:.1f} s", file=sys.stderr)
    return [data_path(log, n, fmt) for log, fmt in wanted]


def main(argv: list[str] | None = None) -> None:
    """Command line: --rows 1m,10m --logs ... --formats ... [--force]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1m", help="comma-separated sizes: 1m, 10m, 250k, 5000")
    parser.add_argument("--logs", default=",".join(LOGS))
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--force", action="store_true", help="rewrite files that already exist")
    args = parser.parse_args(argv)
    logs = [s.strip() for s in args.logs.split(",") if s.strip()]
    formats = [s.strip() for s in args.formats.split(",") if s.strip()]
    for name in logs:
        if name not in LOGS:
            parser.error(f"unknown log {name!r}; the logs are {', '.join(LOGS)}")
    for name in formats:
        if name not in FORMATS:
            parser.error(f"unknown format {name!r}; the formats are {', '.join(FORMATS)}")
    for size in args.rows.split(","):
        for path in generate(parse_rows(size), logs, formats, force=args.force):
            print(path)


if __name__ == "__main__":
    main()
