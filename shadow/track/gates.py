"""Readiness verdicts: for each segment and each stage, every criterion of its gate, passed or not.

Published as `gates`: one row per (model_version, segment, segment_value, stage, criterion) with
as_of (the newest look), value (the evidence), threshold (what it must reach), setting (the policy
value behind it: the floor, the margin, the quiet weeks), passes, cases_needed and weeks_needed,
ready (every criterion of the stage passes), alpha (the segment's error rate), stage_order and
policy_version. Criteria: resolved, positives, weeks, accuracy, recall, people, cost, calibration,
drift, decline.

docs/statistics.md 9.2, judged at the newest look (the newest day an outcome matured) from the daily
states of sequences.py. What decides is anytime-valid, so looking every day cannot make a gate
pass by chance:
- accuracy (E2): the one-sided beta-mixture e-value for "accuracy <= floor", computed at every look
  from the counts; the criterion holds once it has reached 1/alpha at some look (always-valid p <=
  alpha). Recall on the positive label: the same test over the resolved positives;
- people (E3): the one-sided PrPl-EB lower bound on model minus person accuracy, at the gate's
  alpha, above -margin (above 0 for superiority);
- cost (E4, when the policy gives costs and a bound): the one-sided PrPl-EB upper bound on the mean
  cost per case of the model minus the person's, below the bound.
The rest are guards, shown in plain numbers: resolved cases and positives, weeks of track record,
calibration in the large, score drift (latest weekly PSI) and no decline alarm (CUSUM) lately.
alpha is the policy's family rate split across the segments judged (Policy.alpha). A criterion that
fails says how many more resolved cases it needs and, at the pace of the last PACE_DAYS days,
about how many weeks (inf: not at the current rates).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import polars as pl

from shadow.policy import Gate, Policy
from shadow.stats import sequential
from shadow.track.evidence import PACE_DAYS
from shadow.track.join import GROUP

Array = np.ndarray


def judged(sequences: pl.DataFrame) -> pl.DataFrame:
    """The daily states of the segments a gate judges: every segment value, or "all" if none."""
    segments = sequences.filter(pl.col("segment") != "all")
    return segments if not segments.is_empty() else sequences


def gates(
    policy: Policy,
    numbers: pl.DataFrame,
    sequences: pl.DataFrame,
    drift: pl.DataFrame,
    calibration: pl.DataFrame,
    *,
    alpha: float,
    binary: bool,
) -> pl.DataFrame:
    """One row per (version, segment, value, stage, criterion): evidence, threshold, verdict, need."""
    days = judged(sequences).sort(*GROUP, "as_of")
    if days.is_empty():
        return pl.DataFrame()
    group = days.select(pl.struct(GROUP).rank("dense")).to_series().to_numpy()
    latest = days.group_by(GROUP, maintain_order=True).last()
    first = days.group_by(GROUP, maintain_order=True).agg(pl.col("as_of").first().alias("since"))
    newest = days["as_of"].max()
    before = (
        days.filter(pl.col("as_of") <= newest - timedelta(days=PACE_DAYS))  # type: ignore[operator]
        .group_by(GROUP, maintain_order=True)
        .agg(pl.col("matured").last().alias("matured_before"))
    )
    latest = (
        latest.join(first, on=GROUP, how="left", validate="1:1")
        .join(before, on=GROUP, how="left", validate="1:1")
        .join(_guards(drift, calibration), on=GROUP, how="left", validate="1:1")
        .join(_discordant(numbers), on=GROUP, how="left", validate="1:1")
        .with_columns(pl.col("matured_before").fill_null(0))
        .sort(*GROUP)
    )
    col = _columns(latest)
    n, positives = col("matured"), col("positives")
    pace = (n - col("matured_before")) / (PACE_DAYS / 7)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy, recall = col("model_correct") / n, col("positives_caught") / positives
        prevalence = positives / n
        p10 = col("model_right_person_wrong") / col("resolved")
        p01 = col("person_right_model_wrong") / col("resolved")
    weeks = (latest["as_of"] - latest["since"]).dt.total_days().to_numpy() / 7

    def best_evalue(correct: str, total: str, floor: float) -> Array:
        return best_evalues(days[correct].to_numpy(), days[total].to_numpy(), floor, group)

    frames = []
    # a segment with no positives, or no cases arriving, needs inf more: say so without warnings
    with np.errstate(divide="ignore", invalid="ignore"):
        for stage_order, (stage, gate) in enumerate(policy.gates.items()):
            rows: list[dict[str, Array]] = []
            add = _adder(rows, len(n))
            target = 1 / alpha
            add("resolved", n, gate.min_resolved, n >= gate.min_resolved, gate.min_resolved - n)
            if binary:
                more = (gate.min_positives - positives) / prevalence
                add(
                    "positives",
                    positives,
                    gate.min_positives,
                    positives >= gate.min_positives,
                    more,
                )
            add("weeks", weeks, gate.min_weeks, weeks >= gate.min_weeks, np.full(len(n), np.nan))
            e = best_evalue("model_correct", "matured", gate.accuracy_floor)
            need = sequential.evidence_needed(accuracy, gate.accuracy_floor, alpha) - n
            add("accuracy", e, target, e >= target, need, gate.accuracy_floor)
            if gate.recall_floor is not None:
                e = best_evalue("positives_caught", "positives", gate.recall_floor)
                need = (
                    sequential.evidence_needed(recall, gate.recall_floor, alpha) - positives
                ) / prevalence
                add("recall", e, target, e >= target, need, gate.recall_floor)
            lower = col("gate_difference_lower")
            need = sequential.evidence_needed_paired(p10, p01, gate.margin, alpha) - n
            add("people", lower, 0.0 - gate.margin, lower > -gate.margin, need, gate.margin)
            if gate.max_cost_difference is not None:
                upper = col("gate_cost_difference_upper")
                bound = gate.max_cost_difference
                add("cost", upper, bound, upper < bound, np.full(len(n), np.nan))
            _add_guards(add, gate, col, latest, days, group)
            frames.append(
                _stage_frame(latest, rows, stage, pace, alpha).with_columns(
                    stage_order=pl.lit(stage_order)
                )
            )
    if not frames:  # a policy with no stage after shadow has no gate to judge
        return pl.DataFrame()
    return pl.concat(frames).sort(*GROUP, "stage_order", "criterion_order").drop("criterion_order")


def best_evalues(correct: Array, total: Array, floor: float, group: Array) -> Array:
    """Per group: the largest e-value for "rate <= floor" at any look (a row is one day's end).

    The rows of a group are its looks in order, with the counts so far. The criterion passes when
    this reaches 1/alpha: by Ville's inequality a rate at or below the floor does that with
    probability at most alpha, however many looks there are.
    """
    e = sequential.beta_mixture_evalue(correct, total, floor)
    best: Array = 1 / sequential.always_valid_p(e, group)[_last_rows(group)]
    return best


def _adder(rows: list[dict[str, Array]], size: int) -> Callable[..., None]:
    """A function that appends one criterion's arrays (one element per segment) to `rows`."""

    def add(
        criterion: str,
        value: Array,
        threshold: float,
        passes: Array,
        needed: Array,
        setting: float | None = None,
    ) -> None:
        rows.append(
            {
                "criterion": np.full(size, criterion),
                "setting": np.full(size, np.nan if setting is None else float(setting)),
                "value": value.astype(float),
                "threshold": np.full(size, float(threshold)),
                "passes": passes.astype(bool),
                "cases_needed": np.where(passes, 0.0, needed).astype(float),
            }
        )

    return add


def _add_guards(
    add: Callable[..., None],
    gate: Gate,
    col: Callable[[str], Array],
    latest: pl.DataFrame,
    days: pl.DataFrame,
    group: Array,
) -> None:
    n = len(latest)
    unknown = np.full(n, np.nan)
    if gate.max_calibration_gap is not None:
        gap = np.abs(col("calibration_in_the_large"))
        add(
            "calibration", gap, gate.max_calibration_gap, ~(gap > gate.max_calibration_gap), unknown
        )
    if gate.max_psi is not None:
        psi = col("psi")
        add("drift", psi, gate.max_psi, ~(psi >= gate.max_psi), unknown)
    # decline alarms on the days within the last quiet_weeks of each segment's newest look
    cutoff = days.join(
        latest.select(*GROUP, pl.col("as_of").alias("newest")), on=GROUP, how="left"
    ).select(pl.col("as_of") > pl.col("newest") - pl.duration(days=round(gate.quiet_weeks * 7)))
    recent = days["cusum_alarms"].to_numpy() * cutoff.to_series().to_numpy()
    alarms = np.bincount(group - 1, weights=recent, minlength=n)
    add("decline", alarms, 0, alarms == 0, unknown, gate.quiet_weeks)


def _stage_frame(
    latest: pl.DataFrame, rows: list[dict[str, Array]], stage: str, pace: Array, alpha: float
) -> pl.DataFrame:
    keys = latest.select(*GROUP, "as_of")
    parts = []
    for order, row in enumerate(rows):
        with np.errstate(divide="ignore", invalid="ignore"):
            cases = np.maximum(np.ceil(row["cases_needed"]), 0.0)
            weeks = np.where(cases == 0, 0.0, np.where(pace > 0, cases / pace, np.inf))
        parts.append(
            keys.with_columns(
                stage=pl.lit(stage),
                criterion=pl.Series(row["criterion"]),
                value=pl.Series(row["value"]).fill_nan(None),
                threshold=pl.Series(row["threshold"]),
                setting=pl.Series(row["setting"]).fill_nan(None),
                passes=pl.Series(row["passes"]),
                cases_needed=pl.Series(cases).fill_nan(None),
                weeks_needed=pl.Series(weeks).fill_nan(None),
                criterion_order=pl.lit(order),
            )
        )
    frame = pl.concat(parts)
    return frame.with_columns(
        ready=pl.col("passes").all().over(GROUP),
        alpha=pl.lit(alpha),
    )


def _guards(drift: pl.DataFrame, calibration: pl.DataFrame) -> pl.DataFrame:
    """Per (version, segment, value): the latest weekly PSI and the calibration in the large."""
    psi = (
        drift.filter(pl.col("psi").is_not_null())
        .sort(*GROUP, "week")
        .group_by(GROUP, maintain_order=True)
        .agg(pl.col("psi").last())
        if not drift.is_empty()
        else pl.DataFrame(schema={**dict.fromkeys(GROUP, pl.String), "psi": pl.Float64})
    )
    calib = (
        calibration.group_by(GROUP).agg(pl.col("calibration_in_the_large").first())
        if not calibration.is_empty()
        else pl.DataFrame(
            schema={**dict.fromkeys(GROUP, pl.String), "calibration_in_the_large": pl.Float64}
        )
    )
    return psi.join(calib, on=GROUP, how="full", coalesce=True)


def _discordant(numbers: pl.DataFrame) -> pl.DataFrame:
    """Per (version, segment, value): resolved cases and the two discordant cells, whole record."""
    return numbers.filter(period="all").select(
        *GROUP, "resolved", "model_right_person_wrong", "person_right_model_wrong"
    )


def _columns(frame: pl.DataFrame) -> Callable[[str], Array]:
    def col(name: str) -> Array:
        return frame[name].cast(pl.Float64).to_numpy()

    return col


def _last_rows(group: Array) -> Array:
    return np.flatnonzero(np.r_[group[1:] != group[:-1], True])
