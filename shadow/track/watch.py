"""Stages and the watch after a promotion: each segment's current stage and whether it needs review.

A segment's stage is the one its latest sign-off moved it to (shadow before any). A segment above
shadow is watched on the cases whose outcome matured after the day it was promoted
(docs/statistics.md 9.4), for the model version with the newest evidence:
- the mirror-image e-process for "accuracy >= the floor of its stage", judged at each day's end;
  reaching 1/alpha is strong evidence that accuracy fell below the floor;
- the decline alarm (Bernoulli CUSUM, sequences.py) on any day since the promotion.
Either flags the segment for review; neither demotes it (a person signs that).

Published as `stages`: one row per segment judged (or ever signed off) with segment, segment_value,
stage, since / signed_by / signoff_id (of its latest sign-off; null before any), model_version (the
version watched), cases_since and accuracy_since (outcomes matured after the promotion day),
demotion_evalue (the largest mirror-image e-value so far), decline_alarms_since, review, alpha,
policy_version.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from shadow.policy import Policy
from shadow.stats import sequential
from shadow.track.gates import judged

SEGMENT = ["segment", "segment_value"]


def current_version(sequences: pl.DataFrame) -> str | None:
    """The model version with the newest matured outcome (ties: the greatest name), or None."""
    if sequences.is_empty():
        return None
    last = sequences.group_by("model_version").agg(pl.col("as_of").max())
    return str(last.sort("as_of", "model_version").row(-1)[0])


def stages(
    policy: Policy,
    sequences: pl.DataFrame,
    signoffs: pl.DataFrame,
    *,
    alpha: float,
    timezone: str = "UTC",
) -> pl.DataFrame:
    """One row per segment judged (or signed off): its stage, since when, and the watch on it."""
    days = judged(sequences)
    version = current_version(sequences)
    latest = (
        signoffs.sort("signoff_id")
        .group_by(SEGMENT, maintain_order=True)
        .last()
        .select(
            *SEGMENT,
            stage=pl.col("to_stage"),
            since=pl.col("signed_at"),
            signed_by="signed_by",
            signoff_id="signoff_id",
        )
        if not signoffs.is_empty()
        else pl.DataFrame(
            schema={
                "segment": pl.String,
                "segment_value": pl.String,
                "stage": pl.String,
                "since": pl.Datetime("us", "UTC"),
                "signed_by": pl.String,
                "signoff_id": pl.Int64,
            }
        )
    )
    segments = days.select(SEGMENT).unique()
    frame = (
        segments.join(latest, on=SEGMENT, how="full", coalesce=True)
        .with_columns(pl.col("stage").fill_null(policy.stages[0]), model_version=pl.lit(version))
        .sort(SEGMENT)
    )
    zone = ZoneInfo(timezone)
    watch = [_watch(row, policy, days, alpha, zone) for row in frame.iter_rows(named=True)]
    return frame.with_columns(
        pl.DataFrame(
            watch,
            schema={
                "cases_since": pl.Int64,
                "accuracy_since": pl.Float64,
                "demotion_evalue": pl.Float64,
                "decline_alarms_since": pl.Int64,
                "review": pl.Boolean,
            },
            orient="row",
        )
    ).with_columns(alpha=pl.lit(alpha))


def _watch(
    row: dict[str, Any], policy: Policy, days: pl.DataFrame, alpha: float, zone: ZoneInfo
) -> tuple[int, float | None, float | None, int, bool]:
    stage = str(row["stage"])
    if stage == policy.stages[0] or row["since"] is None or row["model_version"] is None:
        return 0, None, None, 0, False
    floor = policy.gates[stage].accuracy_floor
    mine = days.filter(
        model_version=row["model_version"],
        segment=row["segment"],
        segment_value=row["segment_value"],
    ).sort("as_of")
    # outcomes that matured on the day of the promotion may have come before it: start the day after
    promoted = row["since"].astimezone(zone).date()
    at_promotion = mine.filter(pl.col("as_of") <= promoted)
    base_n = int(at_promotion["matured"].max() or 0)  # type: ignore[arg-type]
    base_correct = int(at_promotion["model_correct"].max() or 0)  # type: ignore[arg-type]
    after = mine.filter(pl.col("as_of") > promoted)
    if after.is_empty():
        return 0, None, None, 0, False
    n = after["matured"].to_numpy() - base_n
    correct = after["model_correct"].to_numpy() - base_correct
    e = float(np.max(sequential.beta_mixture_evalue_below(correct, n, floor)))
    alarms = int(after["cusum_alarms"].sum())
    review = e >= 1 / alpha or alarms > 0
    return int(n[-1]), float(correct[-1] / n[-1]), e, alarms, review
