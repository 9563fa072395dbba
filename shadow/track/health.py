"""Model health: calibration, score drift, and how long outcomes take to arrive.

- calibration (STATISTICS.md 5.4): per model version and segment, over every paired case with a
  known outcome and a score: reliability bins (equal width, sklearn's right-closed convention) with
  their counts, the Brier score, the expected calibration error over the same bins, Spiegelhalter's
  z and calibration-in-the-large (mean score minus the observed rate);
- drift (6.1): per model version, segment and ISO week, the PSI of the scores of that week and the
  WINDOW_WEEKS - 1 before it against the scores of the version's first REFERENCE_WEEKS weeks in that
  segment (on the deciles of the reference, or fewer quantile bins when there are fewer than about
  ten scores a bin), with the level PSI reaches by chance alone at those volumes, and the shift of
  the mean score; a window or reference with fewer than MIN_SCORES scores gets no PSI;
- delays (5.1): per segment and week of decision, the median and 90th percentile of the days from the
  decision to the outcome of record.
Drift needs no outcome, so it warns first; calibration and accuracy confirm.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.track import stats
from shadow.track.join import Joined

CALIBRATION_BINS = 10
REFERENCE_WEEKS = 4
WINDOW_WEEKS = 4
MIN_SCORES = 50
PSI_BINS = 10
GROUP = ["model_version", "segment", "segment_value"]
_KEY = dict.fromkeys(GROUP, pl.String)
CALIBRATION_SCHEMA = {
    **_KEY,
    "cases": pl.Int64,
    "brier": pl.Float64,
    "ece": pl.Float64,
    "spiegelhalter_z": pl.Float64,
    "spiegelhalter_p": pl.Float64,
    "calibration_in_the_large": pl.Float64,
    "mean_score": pl.Float64,
    "observed_rate": pl.Float64,
    "bin_cases": pl.Int64,
}
DRIFT_SCHEMA = {
    **_KEY,
    "week": pl.Date,
    "scores": pl.Int64,
    "window_scores": pl.Int64,
    "reference_scores": pl.Int64,
    "reference_until": pl.Date,
    "in_reference": pl.Boolean,
    "psi": pl.Float64,
    "psi_bins": pl.Int64,
    "psi_noise": pl.Float64,
    "mean_score": pl.Float64,
    "mean_score_shift": pl.Float64,
}


def calibration(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """One row per (version, segment, value, bin) with the group's summary repeated on each row."""
    if point.positive_label is None:
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    scored = joined.paired.filter(pl.col("resolved") & pl.col("score").is_not_null()).select(
        "case_id",
        *_segments(point),
        "model_version",
        "score",
        (pl.col("actual_label") == point.positive_label).cast(pl.Int8).alias("y"),
    )
    rows = []
    for key, frame in _groups(scored, point):
        y, p = frame["y"].to_numpy(), frame["score"].to_numpy()
        bins = stats.reliability_bins(y, p, CALIBRATION_BINS)
        z, z_p = stats.spiegelhalter(y, p)
        summary = {
            **key,
            "cases": len(y),
            "brier": float(stats.brier(y, p)),
            "ece": float(stats.expected_calibration_error(y, p, CALIBRATION_BINS)),
            "spiegelhalter_z": float(z),
            "spiegelhalter_p": float(z_p),
            "calibration_in_the_large": float(stats.calibration_in_the_large(y, p)),
        }
        for observed, predicted, count in zip(
            bins.prob_true, bins.prob_pred, bins.cases, strict=True
        ):
            rows.append(
                {
                    **summary,
                    "mean_score": float(predicted),
                    "observed_rate": float(observed),
                    "bin_cases": int(count),
                }
            )
    return pl.DataFrame(rows, schema=CALIBRATION_SCHEMA)


def drift(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """One row per (version, segment, value, week) with its PSI against the reference weeks."""
    scored = joined.paired.filter(pl.col("score").is_not_null()).select(
        "case_id",
        *_segments(point),
        "model_version",
        "score",
        week=pl.col("decided_at").dt.convert_time_zone(point.timezone).dt.truncate("1w").dt.date(),
    )
    rows = []
    for key, frame in _groups(scored, point):
        weeks = sorted(frame["week"].unique().to_list())
        reference_weeks = weeks[:REFERENCE_WEEKS]
        reference = frame.filter(pl.col("week").is_in(reference_weeks))["score"].to_numpy()
        by_week = {
            w[0]: g["score"].to_numpy() for w, g in frame.group_by("week", maintain_order=True)
        }
        for i, week in enumerate(weeks):
            window = np.concatenate(
                [by_week[w] for w in weeks[max(0, i - WINDOW_WEEKS + 1) : i + 1]]
            )
            enough = len(window) >= MIN_SCORES and len(reference) >= MIN_SCORES
            # deciles need volume: at least ~10 scores a bin on each side, else fewer bins (an
            # empty bin alone adds about 0.6 to PSI, which would be noise, not drift)
            bins = max(2, min(PSI_BINS, min(len(window), len(reference)) // 10))
            rows.append(
                {
                    **key,
                    "week": week,
                    "scores": len(by_week[week]),
                    "window_scores": len(window),
                    "reference_scores": len(reference),
                    "reference_until": reference_weeks[-1],
                    "in_reference": week in reference_weeks,
                    "psi": stats.psi(reference, window, n_bins=bins) if enough else None,
                    "psi_bins": bins if enough else None,
                    # what PSI reaches by chance alone at these volumes (its expectation under no
                    # drift, (bins - 1)(1/n_ref + 1/n_cur)): PSI means little until well above it
                    "psi_noise": (bins - 1) * (1 / len(reference) + 1 / len(window))
                    if enough
                    else None,
                    "mean_score": float(by_week[week].mean()),
                    "mean_score_shift": float(window.mean() - reference.mean()),
                }
            )
    return pl.DataFrame(rows, schema=DRIFT_SCHEMA).sort(*GROUP, "week")


def delays(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """Days from decision to outcome of record, per segment and week of decision (resolved cases)."""
    days = (pl.col("observed_at") - pl.col("decided_at")).dt.total_seconds() / 86400
    resolved = joined.decided.filter(pl.col("observed_at").is_not_null()).with_columns(
        days=days,
        week=pl.col("decided_at").dt.convert_time_zone(point.timezone).dt.truncate("1w").dt.date(),
    )
    parts = [
        resolved.with_columns(segment=pl.lit(segment), segment_value=_value(segment))
        .group_by("segment", "segment_value", "week")
        .agg(
            resolved=pl.len(),
            median_days=pl.col("days").median(),
            p90_days=pl.col("days").quantile(0.9, interpolation="linear"),
        )
        for segment in ("all", *point.segment_columns)
    ]
    return pl.concat(parts).collect().sort("segment", "segment_value", "week")


def _segments(point: DecisionPoint) -> list[str]:
    return list(point.segment_columns)


def _value(segment: str) -> pl.Expr:
    return pl.lit("all") if segment == "all" else pl.col(segment).fill_null("(none)")


def _groups(
    frame: pl.LazyFrame, point: DecisionPoint
) -> Iterator[tuple[dict[str, str], pl.DataFrame]]:
    """Each (version, segment, segment value) group of the frame, in a stable order."""
    collected = frame.collect()
    for segment in ("all", *point.segment_columns):
        part = collected.with_columns(segment=pl.lit(segment), segment_value=_value(segment))
        # sorted to the case, so that every float sum runs in the same order on every refresh
        for key, group in part.sort(*GROUP, "case_id").group_by(GROUP, maintain_order=True):
            yield dict(zip(GROUP, (str(k) for k in key), strict=True)), group


__all__ = ["calibration", "delays", "drift"]
