"""The peeking-safe numbers: anytime-valid bounds over the stream of outcomes, in the order they matured.

STATISTICS.md section 4: a sponsor looks every day, so a number that decides must stay valid however
often it is looked at. For each model version and segment, the paired cases with a known outcome form
an append-only stream ordered by the time their outcome was observed (the outcome of record's
observed_at; ties by case id). Over that stream:
- the one-sided beta-mixture e-value for "model accuracy <= floor" and its always-valid p-value;
- the PrPl-EB confidence sequence for the paired difference (model accuracy minus person accuracy),
  two-sided, and its one-sided lower bound (the non-inferiority evidence).
- the Bernoulli CUSUM on the model's errors (section 6.2): in-control error rate p0 = the model's
  error rate over its first REFERENCE_CASES matured cases in that segment, alarm for a rise to
  p1 = p0 + max(p0, MIN_RISE) at threshold CUSUM_H (about 5,300 cases between false alarms at
  p0 = 0.10); after an alarm it restarts.
The table keeps the state at the end of each day (in the point's timezone): "as known on that day".
"""

from __future__ import annotations

import itertools

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.track import stats
from shadow.track.join import Joined

GROUP = ("model_version", "segment", "segment_value")
REFERENCE_CASES = 200
MIN_RISE = 0.05
CUSUM_H = 5.0


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
    cusum, alarm = _cusum(1 - model, groups)
    stream = stream.with_columns(
        cusum=pl.Series(cusum),
        cusum_alarm=pl.Series(alarm),
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
        .agg(pl.all().last(), cusum_alarms=pl.col("cusum_alarm").sum())
        .drop("case_id", "observed_at", "model_right", "person_right", "cusum_alarm")
        .with_columns(floor=pl.lit(floor), alpha=pl.lit(alpha))
        .sort(*GROUP, "as_of")
    )


def _cusum(errors: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The CUSUM value and whether it alarmed, at every element, each group its own chart.

    The first REFERENCE_CASES of a group set its in-control error rate and are not charted.
    """
    value = np.zeros(errors.size)
    alarm = np.zeros(errors.size, dtype=bool)
    ids = groups.astype(np.int64)
    bounds = np.flatnonzero(np.diff(ids, prepend=ids[0] - 1, append=ids[-1] + 1))
    for start, stop in itertools.pairwise(bounds):
        charted = start + REFERENCE_CASES
        if charted >= stop:
            continue
        p0 = float(errors[start:charted].mean())
        p0 = min(max(p0, 0.01), 0.9)  # a reference with no (or only) errors still gives a chart
        chart = stats.bernoulli_cusum(
            errors[charted:stop], p0, min(p0 + max(p0, MIN_RISE), 0.99), CUSUM_H
        )
        value[charted:stop] = chart.s
        alarm[charted + chart.alarms] = True
    return value, alarm


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
            "cusum": pl.Float64,
            "cusum_alarms": pl.UInt32,
            "floor": pl.Float64,
            "alpha": pl.Float64,
        }
    )
