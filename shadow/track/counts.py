"""Counting the joined cases per model version, segment and period, and cumulatively.

One row per (model_version, segment, segment_value, period, period_start, scope):
- segment is "all" (segment_value "all") or one of the point's segment columns;
- period is "day", "week" (ISO, Monday start) or "month" of the decision time, in the point's
  timezone, or "all" (the whole record in one row, period_start null);
- scope "period" counts the cases decided in that period; "cumulative" counts every case decided
  from the first day up to the end of that period; "rolling" (weeks only) counts the cases decided
  in that week and the three before it (the recent track record, for decline alarms).
Every column here is a count (additive), so cumulative rows are running sums. Rates, intervals and
tests are computed from these counts afterwards (numbers.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from shadow.points import DecisionPoint
from shadow.track.join import Joined, segment_value

PERIODS = ("day", "week", "month", "all")
# Weekly rows also come as a rolling window: the cases decided in that week and the three before.
ROLLING_WINDOW = "28d"
BRIER_SCALE = 1e9
KEYS = ("model_version", "segment", "segment_value", "period", "period_start")


def count(joined: Joined, point: DecisionPoint) -> pl.LazyFrame:
    """Every count, per version x segment x period, with period and cumulative scopes."""
    versions = joined.versions.collect()["model_version"].to_list()
    return rollup(partial(joined, point), versions, point)


@dataclass(frozen=True)
class Partial:
    """The counts at their finest grain: per (version,) segment columns' values and day.

    Every count is additive, so the counts of parts of the cases add up to those of all of them
    (combine), and every segment x period is a sum over these rows (rollup): the cases themselves
    are read once, whatever the number of segment columns and periods.
    """

    decided: pl.DataFrame  # per (<segment columns>, _day)
    by_version: pl.DataFrame  # per (model_version, <segment columns>, _day)


def partial(joined: Joined, point: DecisionPoint) -> Partial:
    """The finest-grain counts of these joined cases."""
    keys = ["model_version", *point.segment_columns, "_day"]
    decided, paired, late, undecided = pl.collect_all(
        [
            joined.decided.group_by(*point.segment_columns, "_day").agg(_decided_counts(point)),
            joined.paired.group_by(keys).agg(_paired_counts(point)),
            joined.late.group_by(keys).agg(late_predictions=pl.len()),
            # a case scored but never decided counts on the day it was scored
            joined.undecided.with_columns(
                _day=pl.col("predicted_at").dt.convert_time_zone(point.timezone).dt.date()
            )
            .group_by(keys)
            .agg(scored_not_decided=pl.len()),
        ]
    )
    by_version = paired
    for other in (late, undecided):
        by_version = by_version.join(other, on=keys, how="full", coalesce=True, nulls_equal=True)
    return Partial(decided, by_version)


def combine(parts: list[Partial], point: DecisionPoint) -> Partial:
    """The counts of all the parts' cases together."""
    segments = list(point.segment_columns)
    return Partial(
        sum_parts([p.decided for p in parts], [*segments, "_day"]),
        sum_parts([p.by_version for p in parts], ["model_version", *segments, "_day"]),
    )


def sum_parts(parts: list[pl.DataFrame], keys: list[str]) -> pl.DataFrame:
    """Additive tables of parts of the cases (same keys), summed into one."""
    frame = pl.concat(parts, how="diagonal_relaxed")
    return frame if len(parts) == 1 else frame.group_by(keys).agg(pl.exclude(keys).sum())


def difference(
    kept: pl.DataFrame, added: pl.DataFrame, removed: pl.DataFrame, keys: list[str]
) -> pl.DataFrame:
    """An additive table `kept`, plus `added`, less `removed` (all with the same keys).

    A daily refresh's sums: what the changed cases give now, less what they gave before. Rows
    that come to nothing are dropped (a table summed from the cases never has one), and the
    columns keep `kept`'s types.
    """
    frames = [f for f in (kept, added, removed) if f.width]
    if not frames:
        return kept
    schema = frames[0].schema
    values = [c for c in schema if c not in keys]

    def signed(frame: pl.DataFrame, sign: int) -> pl.DataFrame:
        wide = [
            pl.col(c).cast(pl.Int64 if schema[c].is_integer() else pl.Float64) * sign
            for c in values
        ]
        return frame.with_columns(wide)

    parts = [signed(f, s) for f, s in ((kept, 1), (added, 1), (removed, -1)) if f.width]
    total = pl.concat(parts, how="diagonal_relaxed").group_by(keys).agg(pl.col(values).sum())
    total = total.filter(pl.any_horizontal(pl.col(values).fill_null(0) != 0))
    return total.select(list(schema)).cast({c: schema[c] for c in values})


def rollup(finest: Partial, versions: list[str], point: DecisionPoint) -> pl.LazyFrame:
    """Every count per version x segment x period (scopes period, cumulative, rolling)."""
    # every version that scored anything sees every decided case (its coverage may be 0)
    version_frame = pl.LazyFrame({"model_version": versions}, schema={"model_version": pl.String})
    decided_frame, version_counts = finest.decided.lazy(), finest.by_version.lazy()
    per_period = []
    on = ["model_version", "segment_value", "period_start"]
    for segment in ("all", *point.segment_columns):
        for period in PERIODS:
            # the keys as columns first: grouping an empty frame by a literal would give a row
            keys = _keys(segment, period)
            drop = [*point.segment_columns, "_day"]
            decided = (
                decided_frame.with_columns(keys)
                .drop(drop)
                .group_by("segment_value", "period_start")
                .agg(pl.all().sum())
            )
            by_version = (
                version_counts.with_columns(keys).drop(drop).group_by(on).agg(pl.all().sum())
            )
            frame = decided.join(version_frame, how="cross").join(
                by_version, on=on, how="full", coalesce=True, nulls_equal=True
            )
            per_period.append(frame.with_columns(segment=pl.lit(segment), period=pl.lit(period)))
    counts = pl.concat(per_period, how="diagonal_relaxed").with_columns(
        pl.exclude(KEYS).fill_null(0)
    )
    cumulative = counts.filter(pl.col("period") != "all").with_columns(
        pl.exclude(KEYS)
        .cum_sum()
        .over(["model_version", "segment", "segment_value", "period"], order_by="period_start")
    )
    rolling = counts.filter(period="week").with_columns(
        pl.exclude(KEYS)
        .rolling_sum_by("period_start", window_size=ROLLING_WINDOW)
        .over(["model_version", "segment", "segment_value"])
    )
    return pl.concat(
        [
            counts.with_columns(scope=pl.lit("period")),
            cumulative.with_columns(scope=pl.lit("cumulative")),
            rolling.with_columns(scope=pl.lit("rolling")),
        ]
    ).sort("model_version", "segment", "segment_value", "period", "scope", "period_start")


def _keys(segment: str, period: str) -> list[pl.Expr]:
    """segment_value and period_start of a finest-grain row (its _day)."""
    day = pl.col("_day")
    start = {
        "day": day,
        "week": day.dt.truncate("1w"),
        "month": day.dt.truncate("1mo"),
        "all": pl.lit(None, pl.Date),
    }[period]
    return [segment_value(segment).alias("segment_value"), start.alias("period_start")]


def _decided_counts(point: DecisionPoint) -> list[pl.Expr]:
    """Counts over the decided cases (whatever the model did)."""
    resolved = pl.col("actual_label").is_not_null()
    exprs = [
        pl.len().alias("decided"),
        resolved.sum().alias("resolved_decided"),
        (pl.col("outcome_rows") > 1).sum().alias("outcomes_corrected"),
        (pl.col("changed_after_outcome") > 0).sum().alias("decisions_changed_after_outcome"),
        (pl.col("decision_rows") > 1).sum().alias("decisions_revised"),
    ]
    if point.positive_label is not None:  # outcome coverage by the person's decision
        acted = pl.col("human_label") == point.positive_label
        exprs += [
            acted.sum().alias("decided_positive"),
            (acted & resolved).sum().alias("resolved_decided_positive"),
            (~acted & resolved).sum().alias("resolved_decided_negative"),
        ]
    return exprs


def _paired_counts(point: DecisionPoint) -> list[pl.Expr]:
    """Counts over the paired (case, version) rows: agreement, the outcome cells, binary rates."""
    cell = pl.col("cell")
    exprs = [
        pl.len().alias("paired"),
        pl.col("agree").sum().alias("agree"),
        pl.col("resolved").sum().alias("resolved"),
        (cell == "both_right").sum().alias("both_right"),
        (cell == "model_right").sum().alias("model_right_person_wrong"),
        (cell == "person_right").sum().alias("person_right_model_wrong"),
        (cell == "both_wrong").sum().alias("both_wrong"),
        (pl.col("resolved") & ~pl.col("agree")).sum().alias("disagree_resolved"),
        (cell == "agree_pending").sum().alias("agree_pending"),
        (cell == "disagree_pending").sum().alias("disagree_pending"),
    ]
    if point.positive_label is None:
        return exprs
    pos = point.positive_label
    model, human, actual = (
        pl.col(c) == pos for c in ("predicted_label", "human_label", "actual_label")
    )
    resolved = pl.col("resolved")
    scored = resolved & pl.col("score").is_not_null()
    y = actual.cast(pl.Float64)
    return [
        *exprs,
        # the agreement table between the model's and the person's labels
        (model & human).sum().alias("both_positive"),
        (model & ~human).sum().alias("model_only_positive"),
        (~model & human).sum().alias("person_only_positive"),
        (~model & ~human).sum().alias("both_negative"),
        # on resolved cases: what was really positive, and each side's hits
        (resolved & actual).sum().alias("actual_positive"),
        (resolved & model).sum().alias("model_positive_resolved"),
        (resolved & human).sum().alias("person_positive_resolved"),
        (resolved & model & actual).sum().alias("model_true_positive"),
        (resolved & human & actual).sum().alias("person_true_positive"),
        # the model's Brier score, as a sum and its count; the sum is kept in billionths as an
        # integer, so that it adds up exactly in any order (float sums differ run to run)
        scored.sum().alias("brier_n"),
        pl.when(scored)
        .then(((pl.col("score") - y) ** 2 * BRIER_SCALE).round().cast(pl.Int64))
        .sum()
        .alias("brier_sum_e9"),
    ]
