"""Cells: the additive sums every count, rate and calibration number is computed from.

A cell is one row of sums at the finest grain a number needs:
- `decided`: per (segment columns' values, day of decision), counts over the decided cases;
- `by_version`: per (model version, segment columns' values, day), counts over the paired cases
  (agreement, the outcome table, the binary rates and the Brier score's sum), the late
  predictions and the cases scored but never decided;
- `calibration`: per (model version, segment columns' values, score bin), the calibration sums
  (binary tasks);
- `confusion`: per (model version, segment columns' values, model label, person label, outcome
  label), how many paired cases.
Every segment x period x scope is then a sum of these rows (numbers.rollup), so the cases are read
once whatever the number of segments and periods.

The exactness rule: every value in a cell is an integer. A count is one; a sum of scores is kept
in billionths, each case's term rounded to a whole billionth before it is added (exact_sum).
Integer sums are the same in any order and in any split, so the cells of two buckets of cases
add up to those of all their cases, and a daily refresh's cells (what it had, plus what the
changed cases give now, less what they gave before: total) equal a full refresh's to the last
bit. A new number that needs a sum of fractions goes through exact_sum, never a float sum.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.track.join import Joined

# Sums of fractions are kept in billionths (see exact_sum).
SCALE = 1e9
CALIBRATION_BINS = 10
# the keys of the confusion cells, besides the segment columns
LABELS = ("model_version", "predicted_label", "human_label", "actual_label", "resolved")


def exact_sum(x: pl.Expr) -> pl.Expr:
    """The sum of `x` in billionths, as an integer: each term rounded to a whole billionth first,
    so the sum is the same in any order and splits exactly across buckets of cases."""
    return (x * SCALE).round().cast(pl.Int64).sum()


@dataclass(frozen=True)
class Cells:
    """The cells of some cases (see the module's docstring); a frame without columns: none."""

    decided: pl.DataFrame
    by_version: pl.DataFrame
    calibration: pl.DataFrame
    confusion: pl.DataFrame

    @classmethod
    def empty(cls) -> Cells:
        """The cells of no case."""
        return cls(pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), pl.DataFrame())


def keys(point: DecisionPoint) -> dict[str, list[str]]:
    """The key columns of each kind of cell."""
    segments = list(point.segment_columns)
    return {
        "decided": [*segments, "_day"],
        "by_version": ["model_version", *segments, "_day"],
        "calibration": ["model_version", *segments, "bin"],
        "confusion": [*LABELS, *segments],
    }


def cells_of(joined: Joined, point: DecisionPoint) -> Cells:
    """The cells of these joined cases."""
    k = keys(point)
    segments = list(point.segment_columns)
    version_keys = k["by_version"]
    decided, paired, late, undecided, confusion = pl.collect_all(
        [
            joined.decided.group_by(*segments, "_day").agg(_decided_counts(point)),
            joined.paired.group_by(version_keys).agg(_paired_counts(point)),
            joined.late.group_by(version_keys).agg(late_predictions=pl.len()),
            # a case scored but never decided counts on the day it was scored
            joined.undecided.with_columns(
                _day=pl.col("predicted_at").dt.convert_time_zone(point.timezone).dt.date()
            )
            .group_by(version_keys)
            .agg(scored_not_decided=pl.len()),
            joined.paired.group_by(k["confusion"]).agg(cases=pl.len()),
        ]
    )
    by_version = paired
    for other in (late, undecided):
        by_version = by_version.join(
            other, on=version_keys, how="full", coalesce=True, nulls_equal=True
        )
    return Cells(decided, by_version, _calibration(joined, point), confusion)


def total(parts: Sequence[tuple[Cells, int]], point: DecisionPoint) -> Cells:
    """The signed sum of cells: each (cells, +1 or -1). Cells that come to nothing are dropped
    (the cells of cases never hold one), and the columns keep the first part's types."""
    k = keys(point)
    return Cells(
        *(
            signed_sum([(getattr(c, name), sign) for c, sign in parts], k[name])
            for name in ("decided", "by_version", "calibration", "confusion")
        )
    )


def signed_sum(parts: Sequence[tuple[pl.DataFrame, int]], keys: list[str]) -> pl.DataFrame:
    """Frames of integer sums with the same keys, each added (+1) or taken away (-1)."""
    present = [(f, s) for f, s in parts if f.width]
    if not present:
        return pl.DataFrame()
    if len(present) == 1 and present[0][1] == 1:
        return present[0][0]
    schema = present[0][0].schema
    values = [c for c in schema if c not in keys]
    signed = [frame.with_columns(pl.col(values).cast(pl.Int64) * sign) for frame, sign in present]
    summed = pl.concat(signed, how="diagonal_relaxed").group_by(keys).agg(pl.col(values).sum())
    summed = summed.filter(pl.any_horizontal(pl.col(values).fill_null(0) != 0))
    return summed.select(list(schema)).cast({c: schema[c] for c in values})


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
        # the model's Brier score, as an exact sum and its count
        scored.sum().alias("brier_n"),
        exact_sum(pl.when(scored).then((pl.col("score") - y) ** 2)).alias("brier_sum_e9"),
    ]


def _calibration(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """The calibration cells: per (version, segment columns' values, bin) of the paired cases with
    a known outcome and a score (equal-width bins, sklearn's right-closed convention: a score on
    an inner edge goes to the lower bin)."""
    if point.positive_label is None:
        return pl.DataFrame()
    scored = (
        joined.paired.filter(pl.col("resolved") & pl.col("score").is_not_null())
        .select(
            *point.segment_columns,
            "model_version",
            p="score",
            y=(pl.col("actual_label") == point.positive_label).cast(pl.Float64),
        )
        .collect()
    )
    edges = np.linspace(0.0, 1.0, CALIBRATION_BINS + 1)[1:-1]
    scored = scored.with_columns(bin=pl.Series(np.searchsorted(edges, scored["p"].to_numpy())))
    p, y = pl.col("p"), pl.col("y")
    return scored.group_by("model_version", *point.segment_columns, "bin").agg(
        n=pl.len(),
        sum_y=y.sum(),
        sum_p=exact_sum(p),
        sum_squares=exact_sum((p - y) ** 2),
        _num=exact_sum((y - p) * (1 - 2 * p)),
        _var=exact_sum((1 - 2 * p) ** 2 * p * (1 - p)),
    )
