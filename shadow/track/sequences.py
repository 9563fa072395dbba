"""The peeking-safe numbers: anytime-valid bounds over the stream of outcomes, in the order they matured.

STATISTICS.md section 4: a sponsor looks every day, so a number that decides must stay valid however
often it is looked at. For each model version and segment, the paired cases with a known outcome form
an append-only stream ordered by the time their outcome was observed (the outcome of record's
observed_at; ties by case id). Over that stream:
- the one-sided beta-mixture e-value for "model accuracy <= floor" and its always-valid p-value,
  judged at each day's end (the looks);
- the PrPl-EB confidence sequence for the paired difference (model accuracy minus person accuracy),
  two-sided, and its one-sided lower bound (the non-inferiority evidence).
- the Bernoulli CUSUM on the model's errors (section 6.2): in-control error rate p0 = the model's
  error rate over its first REFERENCE_CASES matured cases in that segment, alarm for a rise to
  p1 = p0 + max(p0, MIN_RISE) at threshold CUSUM_H (about 5,300 cases between false alarms at
  p0 = 0.10); after an alarm it restarts.
The table keeps the state at the end of each day (in the point's timezone): "as known on that day".

For the readiness gates (gates.py) it also keeps, per day: the positives resolved so far and how many
of them the model caught (the recall e-test works from those counts), the one-sided PrPl-EB lower
bound on the difference at the gate's error rate (gate_alpha), and, where the policy gives costs,
the one-sided PrPl-EB upper bound on the mean cost per case of the model minus the person's
(STATISTICS.md 7 and 9.2 E4: the per-case difference in [-C_max, C_max] rescaled to [0, 1]).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.track import stats
from shadow.track.join import GROUP, Joined, value_numbers

COSTS = ("false_negative", "false_positive", "true_positive", "true_negative")
REFERENCE_CASES = 200
MIN_RISE = 0.05
CUSUM_H = 5.0
THREADS = min(4, os.cpu_count() or 1)
# The streams are worked out a run of whole groups at a time, of about this many cases: each run
# holds a few dozen arrays as long as its cases, so the segment columns can run side by side.
CHUNK_CASES = 1_000_000


def sequences(
    joined: Joined,
    point: DecisionPoint,
    *,
    floor: float,
    alpha: float = 0.05,
    gate_alpha: float | None = None,
    costs: dict[str, float] | None = None,
) -> pl.DataFrame:
    """One row per (version, segment, segment value, day an outcome matured): the state that day."""
    return sequences_of(
        stream(joined, point, costs).collect(),
        point,
        floor=floor,
        alpha=alpha,
        gate_alpha=gate_alpha,
        costs=costs,
    )


def stream(
    joined: Joined, point: DecisionPoint, costs: dict[str, float] | None = None
) -> pl.LazyFrame:
    """What the sequences read of each resolved paired case (a refresh keeps it for every case)."""
    return joined.paired.filter(pl.col("resolved")).select(
        "case_id",
        *(pl.col(c).cast(pl.Categorical) for c in ("model_version", *point.segment_columns)),
        "observed_at",
        pl.col("model_right").cast(pl.Int8),
        pl.col("person_right").cast(pl.Int8),
        positive=(pl.col("actual_label") == pl.lit(point.positive_label))
        .fill_null(False)
        .cast(pl.Int8),
        model_cost=_cost("predicted_label", point, costs),
        person_cost=_cost("human_label", point, costs),
        as_of=pl.col("observed_at").dt.convert_time_zone(point.timezone).dt.date(),
    )


def sequences_of(
    streamed: pl.DataFrame,
    point: DecisionPoint,
    *,
    floor: float,
    alpha: float = 0.05,
    gate_alpha: float | None = None,
    costs: dict[str, float] | None = None,
) -> pl.DataFrame:
    """The sequences table from `stream` (of all the cases).

    The resolved cases are put in order of maturity once (observed_at, then case id); each segment
    column's streams are then a stable reordering of that by group, so no string sort repeats.
    """
    if streamed.is_empty():
        return _empty()
    # (a sort of the rows with their index is twice as fast as arg_sort_by on a string tie-break)
    matured = (
        streamed.select("observed_at", "case_id")
        .with_row_index()
        .sort("observed_at", "case_id")["index"]
        .to_numpy()
    )
    resolved = streamed.drop("case_id")
    gate = Gate(alpha if gate_alpha is None else gate_alpha, _max_cost(costs))
    # each segment column's streams on their own thread: numpy and Polars do the work outside
    # Python's lock, so the segment columns run side by side on a machine's cores
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        parts = list(
            pool.map(
                lambda segment: _segment_sequences(
                    resolved, matured, segment, point, floor=floor, alpha=alpha, gate=gate
                ),
                ("all", *point.segment_columns),
            )
        )
    return pl.concat(parts).sort(*GROUP, "as_of")


class Gate(NamedTuple):
    """What the gate columns are computed at: its error rate and the largest cost of one case."""

    alpha: float
    max_cost: float | None


def _segment_sequences(
    resolved: pl.DataFrame,
    matured: np.ndarray,
    segment: str,
    point: DecisionPoint,
    *,
    floor: float,
    alpha: float,
    gate: Gate,
) -> pl.DataFrame:
    """The streams of one segment column (or "all"): every version x value, in maturity order.

    `matured` lists the rows of `resolved` in the order their outcomes matured.
    """
    # a number per (version, value), in the order of their names: the groups' streams then sit
    # in one order on every run (their running sums share one array, so even the last bits of
    # each group's numbers depend on which groups come before it)
    version, versions = value_numbers(resolved["model_version"])
    if segment == "all":
        value, values = np.zeros(resolved.height, dtype=np.int64), np.array(["all"], dtype=object)
    else:
        value, values = value_numbers(resolved[segment])
    group_id = (version * len(values) + value)[matured]
    by_group = np.argsort(group_id, kind="stable")  # by group, maturity order kept
    order, groups = matured[by_group], group_id[by_group]
    # a few groups at a time: each step holds a few dozen arrays as long as its cases
    return pl.concat(
        _chunk_sequences(
            resolved, (versions, values), chunk, segment, floor=floor, alpha=alpha, gate=gate
        )
        for chunk in _chunks(order, groups)
    )


def _chunks(order: np.ndarray, groups: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`order` and `groups` cut at group boundaries into runs of about CHUNK_CASES cases."""
    ends = np.r_[np.flatnonzero(groups[1:] != groups[:-1]) + 1, len(groups)]
    start = 0
    for end in ends:
        if end - start >= CHUNK_CASES or end == len(groups):
            yield order[start:end], groups[start:end]
            start = end


def _chunk_sequences(
    resolved: pl.DataFrame,
    names: tuple[np.ndarray, np.ndarray],
    chunk: tuple[np.ndarray, np.ndarray],
    segment: str,
    *,
    floor: float,
    alpha: float,
    gate: Gate,
) -> pl.DataFrame:
    """The sequences of the whole groups in `chunk` (the cases' rows, and their group numbers).

    `names`: the versions' and the segment values' names, by their numbers in the group numbers.

    The sums run over every case, but each number is read only at the end of each day (`pick`).
    """
    order, groups = chunk
    day = resolved["as_of"].to_physical().to_numpy()[order]
    # the state at the end of each day: the last case of each (group, day)
    last = np.r_[(groups[1:] != groups[:-1]) | (day[1:] != day[:-1]), True]
    pick = np.flatnonzero(last)
    del day
    starts = np.r_[True, groups[1:] != groups[:-1]]
    index = np.arange(len(groups))
    first = np.maximum.accumulate(np.where(starts, index, 0))
    at_first = first[pick]  # each picked case's group's first case

    def running(values: np.ndarray) -> np.ndarray:
        """The group's running sum of `values`, after each picked case."""
        return stats.running_sums_at(values, pick, at_first)

    model = resolved["model_right"].to_numpy()[order].astype(np.int64)
    person = resolved["person_right"].to_numpy()[order].astype(np.int64)
    positive = resolved["positive"].to_numpy()[order].astype(np.int64)
    cs, gate_lower = stats.prpl_eb_paired_lowers(model - person, alpha, gate.alpha, groups, pick)
    cost_upper = np.full(len(pick), np.nan)
    if gate.max_cost:
        diff = (resolved["model_cost"] - resolved["person_cost"]).to_numpy()[order]
        # the upper bound on the mean difference is the mirror of a lower bound on its negative
        flipped = (gate.max_cost - diff) / (2 * gate.max_cost)
        lower = stats.prpl_eb_lower(flipped, gate.alpha, groups, pick)
        cost_upper = gate.max_cost - 2 * gate.max_cost * lower
        del diff, flipped
    cusum, alarm = _cusum(1 - model, groups)
    run = np.cumsum(np.r_[True, last[:-1]]) - 1  # which (group, day) each case belongs to
    alarms_that_day = np.bincount(run, weights=alarm, minlength=len(pick))
    # The e-value is judged at the looks, which are the days: at each day's end, from the counts
    # (it depends on them only). The always-valid p takes the best e-value at any look so far;
    # looking only at day ends can only make it larger (more cautious), never smaller.
    matured = (index - first + 1)[pick]
    correct = running(model)
    evalue = stats.beta_mixture_evalue(correct, matured, floor)
    versions, values = names
    picked_groups = groups[pick]
    return pl.DataFrame(
        {
            "model_version": pl.Series(versions[picked_groups // len(values)], dtype=pl.String),
            "segment": np.full(len(pick), segment),
            "segment_value": pl.Series(values[picked_groups % len(values)], dtype=pl.String),
            "as_of": resolved["as_of"].gather(order[pick]),
            "cusum": cusum[pick],
            "matured": matured,
            "model_correct": correct,
            "person_correct": running(person),
            "accuracy_evalue": evalue,
            "accuracy_always_valid_p": stats.always_valid_p(evalue, picked_groups),
            "difference_cs_low": cs.low,
            "difference_cs_high": cs.high,
            "difference_lower": cs.lower,
            "cusum_alarms": alarms_that_day.astype(np.uint32),
            "positives": running(positive),
            "positives_caught": running(positive * model),
            "gate_difference_lower": gate_lower,
            "gate_cost_difference_upper": cost_upper,
        }
    ).with_columns(floor=pl.lit(floor), alpha=pl.lit(alpha), gate_alpha=pl.lit(gate.alpha))


def _cost(label: str, point: DecisionPoint, costs: dict[str, float] | None) -> pl.Expr:
    """The cost of one resolved case for the side whose label is `label` (0 without costs)."""
    if not costs or point.positive_label is None:
        return pl.lit(0.0)
    said = pl.col(label) == pl.lit(point.positive_label)
    was = pl.col("actual_label") == pl.lit(point.positive_label)
    return (
        pl.when(said & was)
        .then(pl.lit(costs.get("true_positive", 0.0)))
        .when(said)
        .then(pl.lit(costs.get("false_positive", 0.0)))
        .when(was)
        .then(pl.lit(costs.get("false_negative", 0.0)))
        .otherwise(pl.lit(costs.get("true_negative", 0.0)))
        .cast(pl.Float64)
    )


def _max_cost(costs: dict[str, float] | None) -> float | None:
    """C_max: the largest difference one case can make between the two sides' costs."""
    if not costs:
        return None
    values = [costs.get(k, 0.0) for k in COSTS]
    return (max(values) - min(values)) or None


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
            "positives": pl.Int64,
            "positives_caught": pl.Int64,
            "gate_difference_lower": pl.Float64,
            "gate_cost_difference_upper": pl.Float64,
            "floor": pl.Float64,
            "alpha": pl.Float64,
            "gate_alpha": pl.Float64,
        }
    )
