"""Evidence needed: how many more resolved cases a segment needs, and about when, at its current pace.

For each model version and segment, from the whole record so far and the peeking-safe state
(sequences.py) on the newest day:
- accuracy against the floor: the one-sided beta-mixture e-test (docs/statistics.md 4.3 ii) passes at
  E >= 1/alpha. If it has not yet, how many resolved cases it needs in all if accuracy stays where
  it is (docs/statistics.md 4.4, sequential.evidence_needed), minus those it has;
- non-inferiority to people: the one-sided PrPl-EB lower bound on the difference must exceed
  -margin (9.2 E3). If it does not yet, the paired cases needed at the current discordant rates
  (sequential.evidence_needed_paired), minus those it has;
- the pace: resolved cases that matured in the last PACE_DAYS days, per week; "about when" is the
  newest day plus the cases still needed at that pace.
"Never" (inf) means it cannot pass at the current rates (e.g. accuracy at or below the floor).
The floor and the margin are those of the gate into the first stage after shadow (refresh.py), at
alpha = DEFAULT_ALPHA for the segment alone: the briefing's description. The verdicts that decide a
stage (gates.py) share the policy's family error rate across segments and are stricter.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl

from shadow.stats import sequential
from shadow.track.join import GROUP

DEFAULT_FLOOR = 0.85
DEFAULT_MARGIN = 0.05
DEFAULT_ALPHA = 0.05
PACE_DAYS = 28


def evidence(
    numbers: pl.DataFrame, sequences: pl.DataFrame, *, floor: float, margin: float, alpha: float
) -> pl.DataFrame:
    """One row per (version, segment, value) with a resolved case: where it stands and what it needs."""
    if sequences.is_empty():
        return pl.DataFrame()
    latest = sequences.sort(*GROUP, "as_of").group_by(GROUP, maintain_order=True).last()
    newest_day = sequences["as_of"].max()
    since = newest_day - timedelta(days=PACE_DAYS)  # type: ignore[operator]
    before = (
        sequences.filter(pl.col("as_of") <= since)
        .sort(*GROUP, "as_of")
        .group_by(GROUP, maintain_order=True)
        .agg(matured_before=pl.col("matured").last())
    )
    whole = numbers.filter(period="all").select(
        *GROUP,
        "resolved",
        "model_accuracy",
        "person_accuracy",
        "model_right_person_wrong",
        "person_right_model_wrong",
    )
    frame = (
        latest.join(before, on=GROUP, how="left")
        .join(whole, on=GROUP, how="left")
        .with_columns(pl.col("matured_before").fill_null(0))
    )
    n = frame["matured"].to_numpy().astype(float)
    accuracy = frame["model_correct"].to_numpy() / n
    # the e-test passes once E has reached 1/alpha at any look: the always-valid p is then <= alpha
    passed_accuracy = frame["accuracy_always_valid_p"].to_numpy() <= alpha
    total_accuracy = sequential.evidence_needed(accuracy, floor, alpha)
    resolved = frame["resolved"].fill_null(0).to_numpy().astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p10 = frame["model_right_person_wrong"].fill_null(0).to_numpy() / resolved
        p01 = frame["person_right_model_wrong"].fill_null(0).to_numpy() / resolved
    passed_margin = frame["difference_lower"].to_numpy() > -margin
    total_margin = sequential.evidence_needed_paired(p10, p01, margin, alpha)
    pace = (frame["matured"] - frame["matured_before"]).to_numpy() / (PACE_DAYS / 7)
    more_accuracy = np.where(passed_accuracy, 0.0, np.maximum(total_accuracy - n, 0.0))
    more_margin = np.where(passed_margin, 0.0, np.maximum(total_margin - n, 0.0))
    return frame.select(
        *GROUP, "as_of", "matured", "accuracy_evalue", "difference_lower"
    ).with_columns(
        floor=pl.lit(floor),
        margin=pl.lit(margin),
        alpha=pl.lit(alpha),
        accuracy_passes=pl.Series(passed_accuracy),
        accuracy_cases_needed=pl.Series(more_accuracy),
        accuracy_weeks_needed=pl.Series(_weeks(more_accuracy, pace)),
        margin_passes=pl.Series(passed_margin),
        margin_cases_needed=pl.Series(more_margin),
        margin_weeks_needed=pl.Series(_weeks(more_margin, pace)),
        resolved_per_week=pl.Series(pace),
    )


def _weeks(more: np.ndarray, pace: np.ndarray) -> np.ndarray:
    """Weeks until `more` cases at `pace` a week: 0 if none needed, inf if none arrive or never."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(more == 0, 0.0, np.where(pace > 0, more / pace, np.inf))
