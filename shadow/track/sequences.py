"""The peeking-safe numbers: anytime-valid bounds over the stream of outcomes, in the order they matured.

STATISTICS.md section 4: a sponsor looks every day, so a number that decides must stay valid however
often it is looked at. For each model version and segment, the paired cases with a known outcome form
an append-only stream ordered by the time their outcome was observed (the outcome of record's
observed_at; ties by case id). Over that stream:
- the one-sided beta-mixture e-value for "model accuracy <= floor" and its always-valid p-value;
- the PrPl-EB confidence sequence for the paired difference (model accuracy minus person accuracy),
  two-sided, and its one-sided lower bound (the non-inferiority evidence).
The table keeps the state at the end of each day (in the point's timezone): "as known on that day".
"""

from __future__ import annotations

import polars as pl

from shadow.points import DecisionPoint
from shadow.track import stats
from shadow.track.join import Joined

GROUP = ("model_version", "segment", "segment_value")


def sequences(
    joined: Joined, point: DecisionPoint, *, floor: float, alpha: float = 0.05
) -> pl.DataFrame:
    """One row per (version, segment, segment value, day an outcome matured): the state that day."""
    resolved = joined.paired.filter(pl.col("resolved")).select(
        "case_id",
        "model_version",
        "observed_at",
        pl.col("model_right").cast(pl.Int8),
        pl.col("person_right").cast(pl.Int8),
        *point.segment_columns,
    )
    parts = [
        resolved.with_columns(
            segment=pl.lit(segment),
            segment_value=pl.lit("all")
            if segment == "all"
            else pl.col(segment).fill_null("(none)"),
        ).select(*GROUP, "case_id", "observed_at", "model_right", "person_right")
        for segment in ("all", *point.segment_columns)
    ]
    stream = pl.concat(parts).collect().sort(*GROUP, "observed_at", "case_id")
    if stream.is_empty():
        return _empty()
    groups = stream.select(pl.struct(GROUP).rle_id()).to_series().to_numpy()
    model = stream["model_right"].to_numpy()
    person = stream["person_right"].to_numpy()
    evalue = stats.beta_mixture_evalue_stream(model, floor, groups)
    cs = stats.prpl_eb_paired(model - person, alpha, groups)
    stream = stream.with_columns(
        matured=pl.int_range(1, pl.len() + 1).over(GROUP),
        model_correct=pl.col("model_right").cum_sum().over(GROUP),
        person_correct=pl.col("person_right").cum_sum().over(GROUP),
        accuracy_evalue=pl.Series(evalue),
        accuracy_always_valid_p=pl.Series(stats.always_valid_p(evalue, groups)),
        difference_cs_low=pl.Series(cs.low),
        difference_cs_high=pl.Series(cs.high),
        difference_lower=pl.Series(cs.lower),
        as_of=pl.col("observed_at").dt.convert_time_zone(point.timezone).dt.date(),
    )
    return (
        stream.group_by(*GROUP, "as_of", maintain_order=True)
        .last()
        .drop("case_id", "observed_at", "model_right", "person_right")
        .with_columns(floor=pl.lit(floor), alpha=pl.lit(alpha))
        .sort(*GROUP, "as_of")
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "model_version": pl.String,
            "segment": pl.String,
            "segment_value": pl.String,
            "as_of": pl.Date,
            "matured": pl.Int64,
            "model_correct": pl.Int64,
            "person_correct": pl.Int64,
            "accuracy_evalue": pl.Float64,
            "accuracy_always_valid_p": pl.Float64,
            "difference_cs_low": pl.Float64,
            "difference_cs_high": pl.Float64,
            "difference_lower": pl.Float64,
            "floor": pl.Float64,
            "alpha": pl.Float64,
        }
    )
