"""The join: for each case, the decision, the prediction (per model version) and the outcome of record.

DESIGN.md, "Joining: which rows count":
- the outcome of record is the latest outcome (a correction supersedes what it corrects);
- the decision of record is the latest decision made before the outcome was observed; a decision
  made (or changed) after the outcome was known is ignored and counted as such;
- the prediction of record, per model version, is the latest prediction made at or before the
  decision of record; a version whose every prediction came after the decision was not shadowing
  it: the case is counted as a late prediction for that version, not as paired.

The records of record come from the store (shadow.refresh.records: DuckDB picks them, as
DESIGN.md words them); here each case's predictions of record are joined to its decision and
outcome, and each paired case gets its cell. Frames in, frames out; nothing is collected here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from shadow.points import DecisionPoint

# The key of every per-segment table: the model version, the segment column ("all" for the whole
# point) and its value ("all", a value, or "(none)" for cases without one).
GROUP = ("model_version", "segment", "segment_value")


def segment_value(segment: str) -> pl.Expr:
    """A case's value of the segment column `segment` ("all" for the whole point)."""
    if segment == "all":
        return pl.lit("all")
    return pl.col(segment).cast(pl.String).fill_null("(none)")


def value_numbers(column: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each row's number for its value as segment_value names it (numbered in the order of the
    names), and the names: worked out on the categorical codes, without a string per row."""
    if column.dtype != pl.Categorical:
        column = column.cast(pl.String).cast(pl.Categorical)
    present = column.unique()
    codes = present.to_physical()
    names = present.cast(pl.String).fill_null("(none)").to_numpy().astype(object)
    sorted_names, rank = np.unique(names, return_inverse=True)
    # the rank of each code; null (no value) gets the last slot of the table
    null_slot = int(codes.max() or 0) + 1  # type: ignore[arg-type]
    table = np.zeros(null_slot + 1, dtype=np.int64)
    table[codes.fill_null(null_slot).to_numpy()] = rank
    rows = column.to_physical().fill_null(null_slot).to_numpy()
    return table[rows], sorted_names


def by_group(group: np.ndarray) -> np.ndarray:
    """The rows' positions ordered by their group number, each group's rows in their order (a
    stable sort; on 16-bit numbers, which a point's groups fit, numpy sorts by radix, 7x faster)."""
    if group.size and group.min() >= 0 and group.max() < 2**15:
        group = group.astype(np.int16)
    return np.argsort(group, kind="stable")


# Where a paired case falls (DESIGN.md): known outcome or pending, agreeing or not, who was right.
CELLS = (
    "both_right",
    "model_right",  # the model right, the person wrong
    "person_right",  # the person right, the model wrong
    "both_wrong",
    "agree_pending",
    "disagree_pending",
)


@dataclass(frozen=True)
class Joined:
    """The joined logs: what the numbers are computed from."""

    decided: pl.LazyFrame  # one row per case with a decision of record (and its outcome, if any)
    paired: pl.LazyFrame  # one row per (case, model version) with a prediction of record
    late: pl.LazyFrame  # one row per (case, model version) whose predictions all came too late
    undecided: pl.LazyFrame  # one row per (case, model version) scored but never decided
    after_outcome: pl.LazyFrame  # one row per case decided only after its outcome was known
    versions: pl.LazyFrame  # every model version that logged a prediction of the point

    def frames(self) -> tuple[pl.LazyFrame, ...]:
        """The six frames, in field order."""
        return (
            self.decided,
            self.paired,
            self.late,
            self.undecided,
            self.after_outcome,
            self.versions,
        )

    def cached(self) -> Joined:
        """The same frames computed once (every number reads them many times)."""
        return Joined(*(f.lazy() for f in pl.collect_all(self.frames())))


@dataclass(frozen=True)
class Records:
    """A bucket of a point's cases as DuckDB picked their records (shadow.refresh.records)."""

    cases: pl.DataFrame  # one row per decided case: its decision and outcome of record
    # one row per (case, version): its prediction of record; a decided case named by its row in
    # `cases` (case_row), a case never decided by its id
    predictions: pl.DataFrame


def join_records(records: Records, versions: list[str], point: DecisionPoint) -> Joined:
    """Each case's predictions of record joined to its decision and outcome (see `join`)."""
    predictions = records.predictions
    undecided = _decoded(
        predictions.filter(~pl.col("decided")).select(
            "case_id", "model_version", "predicted_at", "segments"
        ),
        point,
    )
    return join(
        _decoded(records.cases, point),
        predictions.filter("decided").drop("decided", "case_id", "segments"),
        undecided.lazy(),
        versions,
        point,
    )


def _decoded(frame: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """`frame` with its segments struct as the point's segment columns."""
    if not point.segment_columns:
        return frame.drop("segments")
    # categorical: joined, grouped and kept as small codes, not a string per case
    segments = [pl.col(c).cast(pl.Categorical) for c in point.segment_columns]
    return frame.unnest("segments").with_columns(segments)


def join(
    cases: pl.DataFrame,
    predictions: pl.DataFrame,
    undecided: pl.LazyFrame,
    versions: list[str],
    point: DecisionPoint,
) -> Joined:
    """Each case's predictions of record with its decision and outcome of record, and the cells.

    `predictions` name their case by its row in `cases` (case_row: DuckDB matched them by id, see
    prediction_of_record.sql); each takes its case's columns from that row, in place of a second
    join on the ids. Every decided case also gets `_day`, the day of its decision in the point's
    timezone, worked out once here for the counts and the health tables (converting time zones
    is slow).
    """
    cases = cases.with_columns(
        _day=pl.col("decided_at").dt.convert_time_zone(point.timezone).dt.date()
    )
    # the paired and late rows need each case's decision and outcome, not how many rows were
    # behind them (counted once per case, on `decided`)
    behind = ("outcome_rows", "decision_rows", "changed_after_outcome")
    case = cases.drop(behind).select(pl.all().gather(predictions["case_row"]))
    joined = pl.concat(
        [case.select("case_id"), predictions.drop("case_row"), case.drop("case_id")],
        how="horizontal",
    ).lazy()
    paired = joined.filter(pl.col("on_time")).drop("on_time").with_columns(_cells())
    late = joined.filter(~pl.col("on_time")).select(
        "case_id", "model_version", "decided_at", "_day", *point.segment_columns
    )
    return Joined(
        decided=cases.lazy().filter(pl.col("decision_rows") > 0),
        paired=paired,
        late=late,
        undecided=undecided,
        after_outcome=cases.lazy()
        .filter(pl.col("decision_rows") == 0)
        .select("case_id", "changed_after_outcome"),
        versions=pl.LazyFrame({"model_version": versions}, schema={"model_version": pl.String}),
    )


def _cells() -> list[pl.Expr]:
    """The paired case's agreement, who was right, and its cell of the outcome table."""
    agree = pl.col("predicted_label") == pl.col("human_label")
    resolved = pl.col("actual_label").is_not_null()
    model_right = pl.col("predicted_label") == pl.col("actual_label")
    person_right = pl.col("human_label") == pl.col("actual_label")
    cell = (
        pl.when(~resolved & agree)
        .then(pl.lit("agree_pending"))
        .when(~resolved)
        .then(pl.lit("disagree_pending"))
        .when(model_right & person_right)
        .then(pl.lit("both_right"))
        .when(model_right)
        .then(pl.lit("model_right"))
        .when(person_right)
        .then(pl.lit("person_right"))
        .otherwise(pl.lit("both_wrong"))
    )
    return [
        agree.alias("agree"),
        resolved.alias("resolved"),
        pl.when(resolved).then(model_right).alias("model_right"),
        pl.when(resolved).then(person_right).alias("person_right"),
        cell.alias("cell"),
    ]
