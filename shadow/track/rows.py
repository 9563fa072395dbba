"""What a refresh keeps of each case, for the numbers that are not sums of cells.

Four kinds of rows, each with the week it belongs to (week_of), so that a day's changes touch only
the weeks they fall in:
- streams: each resolved paired case, as the order-dependent statistics read it (streams.stream);
  kept by the week its outcome matured in, since the streams go on from a day;
- scores: each scored paired case's score (drift's reference quantiles are not sums);
- delays: each resolved case's days from decision to outcome (the medians are not sums);
- disagreements: each paired case where the model and the person disagree, as the case explorer
  shows it (published).
The last three are kept by the week of the decision.
"""

from __future__ import annotations

import polars as pl

from shadow.points import DecisionPoint
from shadow.track import health
from shadow.track.join import Joined
from shadow.track.streams import stream

KINDS = ("streams", "scores", "delays", "disagreements")
# The columns of a disagreement the case explorer shows (and the cell the filters use).
DISAGREEMENT_COLUMNS = (
    "case_id",
    "model_version",
    "model",
    "predicted_at",
    "predicted_label",
    "score",
    "explanation",
    "decided_at",
    "human_label",
    "decided_by",
    "actual_label",
    "observed_at",
    "cell",
)


def rows_of(
    joined: Joined, point: DecisionPoint, costs: dict[str, float] | None
) -> dict[str, pl.LazyFrame]:
    """The rows of each kind of these joined cases (the disagreements' segments as JSON)."""
    segments = list(point.segment_columns)
    return {
        "streams": stream(joined, point, costs),
        "scores": health.scores(joined, point),
        "delays": health.delay_days(joined, point),
        # the case explorer shows disagreements: publish those (a few percent of all cases), with
        # their explanations, and not every paired case
        "disagreements": joined.paired.filter(~pl.col("agree")).select(
            *DISAGREEMENT_COLUMNS,
            segments=pl.struct(segments).struct.json_encode() if segments else pl.lit("{}"),
        ),
    }


def week_of(kind: str, point: DecisionPoint) -> pl.Expr:
    """The week (its Monday) a row of `kind` belongs to: the week its outcome matured in for the
    streams, else the week of the decision (in the point's timezone)."""
    if kind == "streams":
        return pl.col("as_of").dt.truncate("1w")
    if kind == "disagreements":
        decided = pl.col("decided_at").dt.convert_time_zone(point.timezone)
        return decided.dt.date().dt.truncate("1w")
    return pl.col("week")
