"""The join: for each case, the decision, the prediction (per model version) and the outcome of record.

DESIGN.md, "Joining: which rows count":
- the outcome of record is the latest outcome (a correction supersedes what it corrects);
- the decision of record is the latest decision made before the outcome was observed; a decision
  made (or changed) after the outcome was known is ignored and counted as such;
- the prediction of record, per model version, is the latest prediction made at or before the
  decision of record; a version whose every prediction came after the decision was not shadowing
  it: the case is counted as a late prediction for that version, not as paired.

Every function here takes and returns LazyFrames; nothing is collected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from shadow.points import DecisionPoint
from shadow.store import Store

# The key of every per-segment table: the model version, the segment column ("all" for the whole
# point) and its value ("all", a value, or "(none)" for cases without one).
GROUP = ("model_version", "segment", "segment_value")


def segment_value(segment: str) -> pl.Expr:
    """A case's value of the segment column `segment` ("all" for the whole point)."""
    return pl.lit("all") if segment == "all" else pl.col(segment).fill_null("(none)")


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
class Logs:
    """The three logs of one decision point, segment columns decoded from JSON."""

    predictions: pl.LazyFrame  # case_id, predicted_at, model, model_version, predicted_label,
    # score, explanation, <segment columns>
    decisions: pl.LazyFrame  # case_id, decided_at, human_label, decided_by, <segment columns>
    outcomes: pl.LazyFrame  # case_id, observed_at, actual_label


@dataclass(frozen=True)
class Joined:
    """The joined logs: what the numbers are computed from."""

    decided: pl.LazyFrame  # one row per case with a decision of record (and its outcome, if any)
    paired: pl.LazyFrame  # one row per (case, model version) with a prediction of record
    late: pl.LazyFrame  # one row per (case, model version) whose predictions all came too late
    undecided: pl.LazyFrame  # one row per (case, model version) scored but never decided
    after_outcome: pl.LazyFrame  # one row per case decided only after its outcome was known
    versions: pl.LazyFrame  # every model version that logged a prediction of the point

    def cached(self) -> Joined:
        """The same frames computed once (every number reads them many times)."""
        # The in-memory engine keeps each group's rows in input order, which "sort, then take a
        # group's last row" relies on (the streaming engine does not promise it), and it is the
        # faster of the two here (2.8 s against 8.2 s for 1M cases).
        frames = pl.collect_all(
            [
                self.decided,
                self.paired,
                self.late,
                self.undecided,
                self.after_outcome,
                self.versions,
            ],
            engine="in-memory",
        )
        return Joined(*(f.lazy() for f in frames))


def read_logs(store: Store, point: DecisionPoint) -> Logs:
    """Read the point's three logs from the store (sql/track/*.sql).

    DuckDB decodes the segments JSON into one text column per segment column of the point
    (json_transform), so Polars never parses JSON text.
    """
    from shadow import sql

    segments = list(point.segment_columns)
    # the segments' shape for json_transform; {"_": ...} when the point has none (dropped below)
    shape = json.dumps(dict.fromkeys(segments or ["_"], "VARCHAR"))
    params = {"point": point.point_id}

    def decoded(log: str) -> pl.LazyFrame:
        frame = store.frame(sql.read("track", log), {**params, "segments": shape}).lazy()
        return frame.unnest("segments") if segments else frame.drop("segments")

    return Logs(
        predictions=decoded("predictions"),
        decisions=decoded("decisions"),
        outcomes=store.frame(sql.read("track", "outcomes"), params).lazy(),
    )


def _latest(frame: pl.LazyFrame, by: str | list[str], time: str) -> pl.LazyFrame:
    """Per `by`: every other column from the row with the latest `time`, and how many rows.

    Sorting once by time and taking each group's last row keeps Polars on its fast aggregations
    (a sort_by inside the aggregation sorts every group on its own, millions of times).
    """
    keys = [by] if isinstance(by, str) else by
    return (
        frame.sort(time, maintain_order=True)
        .group_by(keys)
        .agg(pl.exclude(keys).last(), _rows=pl.len())
    )


def outcome_of_record(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Per case: the latest outcome, and how many outcome rows there were (corrections + 1)."""
    return _latest(
        outcomes.select("case_id", "actual_label", "observed_at"), "case_id", "observed_at"
    ).rename({"_rows": "outcome_rows"})


def join(logs: Logs, segments: tuple[str, ...]) -> Joined:
    """Join the logs into decided cases, paired (case, version) rows, and what could not pair."""
    outcome = outcome_of_record(logs.outcomes)
    decisions = logs.decisions.join(
        outcome.select("case_id", "observed_at"), on="case_id", how="left"
    )
    in_time = pl.col("observed_at").is_null() | (pl.col("decided_at") < pl.col("observed_at"))
    counted = decisions.filter(in_time).drop("observed_at")
    ignored = decisions.filter(~in_time).group_by("case_id").agg(changed_after_outcome=pl.len())
    decision = _latest(counted, "case_id", "decided_at").rename({"_rows": "decision_rows"})
    decided = (
        decision.join(outcome, on="case_id", how="left")
        .join(ignored, on="case_id", how="left")
        .with_columns(pl.col("changed_after_outcome").fill_null(0))
    )
    after_outcome = ignored.join(decision, on="case_id", how="anti")

    # Predictions of decided cases, each with its case's decision (one join). Per (case, version),
    # sorted so that the last row is the latest prediction in time (at or before the decision of
    # record) if there is one, else the latest late one: one aggregation gives both.
    prediction_columns = ["predicted_at", "model", "predicted_label", "score", "explanation"]
    on_time = pl.col("predicted_at") <= pl.col("decided_at")
    latest = (
        logs.predictions.select("case_id", "model_version", *prediction_columns)
        .join(decided, on="case_id", how="inner")
        .with_columns(_on_time=on_time)
        # ties in time (two models logging one version label at the same instant) go to the
        # model whose name sorts last, whatever the order the rows were loaded in
        .sort("_on_time", "predicted_at", "model", nulls_last=False, maintain_order=True)
        .group_by("case_id", "model_version")
        .agg(pl.all().last())
    )
    decided_columns = decided.collect_schema().names()
    paired = (
        latest.filter(pl.col("_on_time"))
        .select("case_id", "model_version", *prediction_columns, *decided_columns[1:])
        .with_columns(_cells())
    )
    late = latest.filter(~pl.col("_on_time")).select(
        "case_id", "model_version", "decided_at", *segments
    )
    # Scored but never decided: cases without any decision row (neither decided nor decided only
    # after the outcome); the segment of the latest prediction that names one.
    undecided = (
        logs.predictions.join(logs.decisions.select("case_id"), on="case_id", how="anti")
        .sort("predicted_at", maintain_order=True)
        .group_by("case_id", "model_version")
        .agg(pl.col("predicted_at").last(), *(pl.col(s).drop_nulls().last() for s in segments))
    )
    return Joined(
        decided=decided,
        paired=paired,
        late=late,
        undecided=undecided,
        after_outcome=after_outcome,
        versions=logs.predictions.select("model_version").unique(),
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
