"""Model health: calibration, score drift, and how long outcomes take to arrive.

- calibration (docs/statistics.md 5.4): per model version and segment, over every paired case with a
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

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.stats import monitoring
from shadow.track.cells import SCALE
from shadow.track.join import GROUP, Joined, segment_value

REFERENCE_WEEKS = 4
WINDOW_WEEKS = 4
MIN_SCORES = 50
PSI_BINS = 10
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
# What the drift table is computed from (drift_sums): each group's reference, and its weeks.
DRIFT_GROUPS: dict[str, Any] = {
    **_KEY,
    "edges": pl.List(pl.Float64),
    "expected": pl.List(pl.Float64),
    "reference_scores": pl.Int64,
    "reference_mean": pl.Float64,
}
DRIFT_WEEKS: dict[str, Any] = {
    **_KEY,
    "week": pl.Date,
    "histogram": pl.List(pl.Int64),
    "scores": pl.Int64,
    "sum": pl.Float64,
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


def calibration_of(finest: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """The calibration table from the calibration cells: every segment column's groups are sums
    of them.

    Floats are rounded to 12 decimals so that a sum's last bits, which depend on how the rows
    were split across threads and parts, never show.
    """
    if point.positive_label is None or finest.is_empty():
        return pl.DataFrame(schema=CALIBRATION_SCHEMA)
    sums = pl.exclude("model_version", "segment", "segment_value", "bin", *point.segment_columns)
    parts = []
    for segment in ("all", *point.segment_columns):
        part = finest.with_columns(segment=pl.lit(segment), segment_value=segment_value(segment))
        per_bin = (
            part.group_by(*GROUP, "bin")
            .agg(sums.sum())
            .select(
                *GROUP,
                "bin",
                bin_cases="n",
                observed_rate=pl.col("sum_y") / pl.col("n"),
                mean_score=pl.col("sum_p") / SCALE / pl.col("n"),
            )
        )
        per_group = (
            part.group_by(GROUP)
            .agg(sums.sum())
            .select(
                *GROUP,
                pl.col("_num", "_var") / SCALE,
                cases="n",
                brier=pl.col("sum_squares") / SCALE / pl.col("n"),
                calibration_in_the_large=(pl.col("sum_p") / SCALE - pl.col("sum_y")) / pl.col("n"),
            )
        )
        ece = (
            per_bin.join(per_group.select(*GROUP, "cases"), on=GROUP)
            .group_by(GROUP)
            .agg(
                ece=(
                    pl.col("bin_cases")
                    / pl.col("cases")
                    * (pl.col("observed_rate") - pl.col("mean_score")).abs()
                ).sum()
            )
        )
        parts.append(per_bin.join(per_group, on=GROUP).join(ece, on=GROUP))
    frame = pl.concat(parts)
    # every score 0 or 1 has no variance: z is infinite (or undefined where nothing is off)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = frame["_num"].to_numpy() / np.sqrt(frame["_var"].to_numpy())
    from scipy.special import ndtr

    frame = frame.with_columns(
        spiegelhalter_z=pl.Series(z), spiegelhalter_p=pl.Series(2 * ndtr(-np.abs(z)))
    )
    return (
        frame.select(list(CALIBRATION_SCHEMA))
        .with_columns(pl.col(pl.Float64).round(12), pl.col("cases", "bin_cases").cast(pl.Int64))
        .sort(*GROUP, "mean_score")
    )


def scores(joined: Joined, point: DecisionPoint) -> pl.LazyFrame:
    """What drift reads of each paired case with a score: its version, segments, week and score.

    Versions and segment values are categorical: a refresh keeps this for every case.
    """
    return joined.paired.filter(pl.col("score").is_not_null()).select(
        "case_id",  # for a daily refresh to replace a changed case's row
        *(pl.col(c).cast(pl.Categorical) for c in ("model_version", *point.segment_columns)),
        "score",
        week=pl.col("_day").dt.truncate("1w"),
    )


def _sums_of(scored: pl.DataFrame, point: DecisionPoint) -> tuple[pl.DataFrame, pl.DataFrame]:
    """drift_sums of every group in `scored` (all of their scores), from nothing.

    Each score is binned once, on its group's reference quantiles; a week's window is then a
    difference of cumulative histograms (drift_table), so the cost grows with the scores, not
    weeks x scores.
    """
    references: list[dict[str, object]] = []
    weeks: list[dict[str, object]] = []
    for key, frame in _score_groups(scored, point):
        present, week_index = _week_runs(frame)
        score = frame["score"].to_numpy()
        reference = _reference(score[week_index < REFERENCE_WEEKS])
        references.append({**key, **reference})
        weeks += _week_sums(key, present, week_index, score, reference)
    return (
        pl.DataFrame(references, schema=DRIFT_GROUPS),
        pl.DataFrame(weeks, schema=DRIFT_WEEKS),
    )


def drift_sums(
    previous: tuple[pl.DataFrame, pl.DataFrame] | None,
    changed: list[date],
    scores_of: Callable[[list[date] | None], pl.DataFrame],
    point: DecisionPoint,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What the drift table is computed from: per (version, segment, value), its reference (the
    bin edges, the shares of its scores in each bin, their count and mean); per group and week,
    the week's scores counted in those bins, and their count and sum (DRIFT_GROUPS, DRIFT_WEEKS).

    `previous` is what the last refresh computed (None: nothing), before the scores of the weeks
    `changed` changed; `scores_of(weeks)` gives the scores rows of those weeks (None: of every
    week), of every case. The changed weeks are counted again on each group's reference bins. A
    group whose reference weeks (its first REFERENCE_WEEKS) changed, or a new group, is computed
    again from all its scores. So the result is that of every score computed from nothing, to
    the last bit.
    """
    if previous is None:  # nothing to go on from: every group is new
        return _sums_of(scores_of(None), point)
    groups, weeks = previous
    changed_scores = scores_of(changed)
    known = {tuple(r[:3]): r for r in groups.iter_rows()}
    fresh: list[dict[str, object]] = []
    again: set[tuple[str, ...]] = set()
    for key, frame in _score_groups(changed_scores, point):
        name = tuple(key.values())
        if name not in known:
            again.add(name)
            continue
        reference = dict(zip(groups.columns[3:], known[name][3:], strict=True))
        present, week_index = _week_runs(frame)
        fresh += _week_sums(key, present, week_index, frame["score"].to_numpy(), reference)
    kept = weeks.filter(~pl.col("week").is_in(changed))
    updated = pl.concat([kept, pl.DataFrame(fresh, schema=DRIFT_WEEKS)]).sort(*GROUP, "week")
    # a group's reference is its first weeks: where they (or what they hold) changed, it changes
    for frame in (weeks, updated):
        first = frame.group_by(GROUP, maintain_order=True).head(REFERENCE_WEEKS)
        touched = first.filter(pl.col("week").is_in(changed)).select(GROUP).unique()
        again |= set(touched.iter_rows())
    # (a known group left with no score at all is simply gone, not computed again)
    left = set(updated.select(GROUP).unique().iter_rows())
    again = {k for k in again if k not in known or k in left}
    if again:
        wanted = pl.DataFrame(list(again), schema=dict.fromkeys(GROUP, pl.String), orient="row")
        redone_groups, redone_weeks = _sums_of(scores_of(None), point)
        redone_groups = redone_groups.join(wanted, on=GROUP, how="semi")
        redone_weeks = redone_weeks.join(wanted, on=GROUP, how="semi")
        groups = pl.concat([groups.join(wanted, on=GROUP, how="anti"), redone_groups])
        updated = pl.concat([updated.join(wanted, on=GROUP, how="anti"), redone_weeks])
    # a group left with no score at all is gone
    groups = groups.join(updated.select(GROUP).unique(), on=GROUP, how="semi")
    return groups.sort(GROUP), updated.sort(*GROUP, "week")


def drift_table(groups: pl.DataFrame, weeks: pl.DataFrame) -> pl.DataFrame:
    """The drift table from drift_sums."""
    rows: list[dict[str, object]] = []
    by_group = {
        k: f
        for k, f in weeks.sort(*GROUP, "week")
        .partition_by(GROUP, as_dict=True, maintain_order=True)
        .items()
    }
    for reference in groups.iter_rows(named=True):
        key = {k: reference[k] for k in GROUP}
        frame = by_group[tuple(key.values())]
        histogram = np.array(frame["histogram"].to_list(), dtype=np.int64).reshape(frame.height, -1)
        rows += _drift_rows(
            key, frame["week"].to_list(), histogram, frame["sum"].to_numpy(), reference
        )
    return pl.DataFrame(rows, schema=DRIFT_SCHEMA).sort(*GROUP, "week")


def _score_groups(
    scored: pl.DataFrame, point: DecisionPoint
) -> Iterator[tuple[dict[str, str], pl.DataFrame]]:
    """Each (version, segment, value)'s scores, sorted by week and score.

    Sorted once by week and score: each group's rows keep that order (partition_by keeps the
    rows' order), so its weeks are runs and its float sums come out the same on every refresh.
    """
    # (not the case ids a daily refresh keeps: sorting and splitting 10M strings costs 0.6 s)
    scored = scored.select(pl.exclude("case_id")).sort("week", "score")
    for segment in ("all", *point.segment_columns):
        by = ["model_version", *([segment] if segment != "all" else [])]
        columns = scored.select(*by, "week", "score")  # (not the other segment columns)
        for key, frame in columns.partition_by(by, maintain_order=True, as_dict=True).items():
            value = "all" if segment == "all" else "(none)" if key[1] is None else str(key[1])
            yield {"model_version": str(key[0]), "segment": segment, "segment_value": value}, frame


def _week_runs(frame: pl.DataFrame) -> tuple[list[object], np.ndarray]:
    """A group's weeks (its rows sorted by week) and each row's index into them."""
    week = frame["week"].to_physical().to_numpy()
    starts = np.r_[True, week[1:] != week[:-1]]
    return frame["week"].filter(pl.Series(starts)).to_list(), np.cumsum(starts) - 1


def _reference(reference: np.ndarray) -> dict[str, object]:
    """A group's reference: the bin edges (its quantiles), its share of scores in each bin, and
    the count and mean of its scores (`reference`: sorted by week and score)."""
    # deciles need volume: about ten reference scores a bin, else fewer bins (an empty bin alone
    # adds about 0.6 to PSI, which would be noise, not drift)
    bins = max(2, min(PSI_BINS, len(reference) // 10))
    edges = (
        np.quantile(reference, np.arange(1, bins) / bins) if len(reference) else np.zeros(bins - 1)
    )
    expected = np.bincount(np.searchsorted(edges, reference), minlength=bins) / max(
        len(reference), 1
    )
    return {
        "edges": edges.tolist(),
        "expected": expected.tolist(),
        "reference_scores": len(reference),
        "reference_mean": float(reference.mean()) if len(reference) else float("nan"),
    }


def _week_sums(
    key: dict[str, str],
    weeks: list[object],
    week_index: np.ndarray,
    score: np.ndarray,
    reference: dict[str, object],
) -> list[dict[str, object]]:
    """One group's weeks: its scores counted in the reference bins, their count and their sum
    (`score` sorted by week and score, `week_index` into `weeks`)."""
    edges = np.asarray(reference["edges"], dtype=np.float64)
    bins = len(edges) + 1
    cell = week_index * bins + np.searchsorted(edges, score)  # right-closed, as stats.psi
    histogram = np.bincount(cell, minlength=len(weeks) * bins).reshape(len(weeks), bins)
    sums = np.bincount(week_index, weights=score, minlength=len(weeks))
    return [
        {
            **key,
            "week": start,
            "histogram": histogram[i].tolist(),
            "scores": int(histogram[i].sum()),
            "sum": float(sums[i]),
        }
        for i, start in enumerate(weeks)
    ]


def _drift_rows(
    key: dict[str, str],
    weeks: list[object],
    histogram: np.ndarray,
    sums: np.ndarray,
    reference: dict[str, Any],
) -> list[dict[str, object]]:
    """The drift rows of one (version, segment value), from its weeks' sums (weeks sorted)."""
    bins = histogram.shape[1]
    expected = np.asarray(reference["expected"], dtype=np.float64)
    references = int(reference["reference_scores"])
    cumulative = np.vstack([np.zeros(bins), np.cumsum(histogram, axis=0)])
    cumulative_sums = np.concatenate([[0.0], np.cumsum(sums)])
    reference_mean = float(reference["reference_mean"])
    rows = []
    for i, start in enumerate(weeks):
        first = max(0, i - WINDOW_WEEKS + 1)
        window = cumulative[i + 1] - cumulative[first]
        n = int(window.sum())
        enough = n >= MIN_SCORES and references >= MIN_SCORES
        this = int(histogram[i].sum())
        rows.append(
            {
                **key,
                "week": start,
                "scores": this,
                "window_scores": n,
                "reference_scores": references,
                "reference_until": weeks[min(REFERENCE_WEEKS, len(weeks)) - 1],
                "in_reference": i < REFERENCE_WEEKS,
                "psi": float(monitoring.psi_from_shares(expected, window / n)) if enough else None,
                "psi_bins": bins if enough else None,
                # what PSI reaches by chance alone at these volumes (its expectation under no
                # drift, (bins - 1)(1/n_ref + 1/n_cur)): PSI means little until well above it
                "psi_noise": (bins - 1) * (1 / references + 1 / n) if enough else None,
                "mean_score": round(float(sums[i] / this), 12),
                "mean_score_shift": round(
                    float((cumulative_sums[i + 1] - cumulative_sums[first]) / n - reference_mean),
                    12,
                ),
            }
        )
    return rows


def delay_days(joined: Joined, point: DecisionPoint) -> pl.LazyFrame:
    """What delays reads of each resolved case: its segments, week of decision and days waited."""
    days = (pl.col("observed_at") - pl.col("decided_at")).dt.total_seconds() / 86400
    return joined.decided.filter(pl.col("observed_at").is_not_null()).select(
        "case_id",  # for a daily refresh to replace a changed case's row
        *(pl.col(c).cast(pl.Categorical) for c in point.segment_columns),
        days=days,
        week=pl.col("_day").dt.truncate("1w"),
    )


def delays(
    previous: pl.DataFrame | None, changed: list[date], days: pl.DataFrame, point: DecisionPoint
) -> pl.DataFrame:
    """The delays table: `previous` (what the last refresh computed; None: nothing) with the weeks
    `changed` computed again from `days`, the delay_days of those weeks (of every case)."""
    fresh = _delays_of(days, point)
    if previous is None:
        return fresh
    kept = previous.filter(~pl.col("week").is_in(changed))
    return pl.concat([kept, fresh]).sort("segment", "segment_value", "week")


def _delays_of(days: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """The delays table of the cases in `days`."""
    resolved = days.lazy()
    # grouped by the (categorical) segment column itself; its values become text only in the
    # few grouped rows
    parts = [
        resolved.group_by(*([segment] if segment != "all" else []), "week")
        .agg(
            resolved=pl.len(),
            median_days=pl.col("days").median(),
            p90_days=pl.col("days").quantile(0.9, interpolation="linear"),
        )
        .select(
            segment=pl.lit(segment),
            segment_value=segment_value(segment),
            week="week",
            resolved="resolved",
            median_days="median_days",
            p90_days="p90_days",
        )
        for segment in ("all", *point.segment_columns)
    ]
    return pl.concat(parts).collect().sort("segment", "segment_value", "week")
