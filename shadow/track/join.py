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

from dataclasses import dataclass

import polars as pl

from shadow.points import DecisionPoint
from shadow.store import Store

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

    def cached(self) -> Joined:
        """The same frames computed once (every number reads them many times)."""
        frames = pl.collect_all(
            [self.decided, self.paired, self.late, self.undecided, self.after_outcome]
        )
        return Joined(*(f.lazy() for f in frames))


def read_logs(store: Store, point: DecisionPoint) -> Logs:
    """Read the point's three logs from the store (sql/track/*.sql)."""
    from shadow import sql

    params = {"point": point.point_id}
    segments = list(point.segment_columns)

    def decoded(frame: pl.DataFrame) -> pl.LazyFrame:
        lazy = frame.lazy()
        if not segments:
            return lazy.drop("segments")
        struct = pl.Struct(dict.fromkeys(segments, pl.String))
        return lazy.with_columns(pl.col("segments").str.json_decode(struct)).unnest("segments")

    return Logs(
        predictions=decoded(store.frame(sql.read("track", "predictions"), params)),
        decisions=decoded(store.frame(sql.read("track", "decisions"), params)),
        outcomes=store.frame(sql.read("track", "outcomes"), params).lazy(),
    )


def outcome_of_record(outcomes: pl.LazyFrame) -> pl.LazyFrame:
    """Per case: the latest outcome, and how many outcome rows there were (corrections + 1)."""
    return outcomes.group_by("case_id").agg(
        pl.col("actual_label").sort_by("observed_at").last(),
        pl.col("observed_at").max(),
        outcome_rows=pl.len(),
    )


def join(logs: Logs, segments: tuple[str, ...]) -> Joined:
    """Join the logs into decided cases, paired (case, version) rows, and what could not pair."""
    outcome = outcome_of_record(logs.outcomes)
    decisions = logs.decisions.join(
        outcome.select("case_id", "observed_at"), on="case_id", how="left"
    )
    in_time = pl.col("observed_at").is_null() | (pl.col("decided_at") < pl.col("observed_at"))
    counted = decisions.filter(in_time)
    ignored = decisions.filter(~in_time).group_by("case_id").agg(changed_after_outcome=pl.len())
    decision = counted.group_by("case_id").agg(
        pl.exclude("case_id", "observed_at").sort_by("decided_at").last(),
        decision_rows=pl.len(),
    )
    decided = (
        decision.join(outcome, on="case_id", how="left")
        .join(ignored, on="case_id", how="left")
        .with_columns(pl.col("changed_after_outcome").fill_null(0))
    )
    after_outcome = ignored.join(decision, on="case_id", how="anti")

    # Predictions of decided cases: in time (at or before the decision of record) or late.
    prediction_columns = ["predicted_at", "model", "predicted_label", "score", "explanation"]
    scored = logs.predictions.select("case_id", "model_version", *prediction_columns).join(
        decided.select("case_id", "decided_at"), on="case_id", how="inner"
    )
    on_time = pl.col("predicted_at") <= pl.col("decided_at")
    record = (
        scored.filter(on_time)
        .group_by("case_id", "model_version")
        .agg(pl.col(prediction_columns).sort_by("predicted_at").last())
    )
    late = (
        scored.group_by("case_id", "model_version")
        .agg(on_time.any().alias("_any_on_time"))
        .filter(~pl.col("_any_on_time"))
        .drop("_any_on_time")
        .join(decided.select("case_id", "decided_at", *segments), on="case_id")
    )
    paired = record.join(decided, on="case_id").with_columns(_cells())
    undecided = (
        logs.predictions.join(decided.select("case_id"), on="case_id", how="anti")
        .join(after_outcome.select("case_id"), on="case_id", how="anti")
        .group_by("case_id", "model_version")
        .agg(pl.col("predicted_at").max(), *(pl.col(s).drop_nulls().last() for s in segments))
    )
    return Joined(
        decided=decided, paired=paired, late=late, undecided=undecided, after_outcome=after_outcome
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
