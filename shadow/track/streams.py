"""The peeking-safe numbers: anytime-valid bounds over the stream of outcomes, in the order they matured.

docs/statistics.md section 4: a sponsor looks every day, so a number that decides must stay valid however
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
(docs/statistics.md 7 and 9.2 E4: the per-case difference in [-C_max, C_max] rescaled to [0, 1]).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.stats import monitoring, sequential
from shadow.track.join import GROUP, Joined, by_group, value_numbers

COSTS = ("false_negative", "false_positive", "true_positive", "true_negative")
REFERENCE_CASES = 200
MIN_RISE = 0.05
CUSUM_H = 5.0
# The streams are worked out a run of whole groups at a time, of about this many cases: each run
# holds a few dozen arrays as long as its cases.
CHUNK_CASES = 1_000_000


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


class Bounds(NamedTuple):
    """What the streams are computed at: the accuracy floor, the error rate of the published
    bounds, the gate's error rate, and the largest cost difference one case can make (None
    without costs). Streams computed at other bounds cannot be gone on from."""

    floor: float
    alpha: float
    gate_alpha: float
    max_cost: float | None

    @classmethod
    def of(
        cls, floor: float, alpha: float, gate_alpha: float, costs: dict[str, float] | None
    ) -> Bounds:
        """The bounds for a policy's floor, error rates and costs."""
        return cls(floor, alpha, gate_alpha, _max_cost(costs))


def streams(
    streamed: pl.DataFrame,
    point: DecisionPoint,
    bounds: Bounds,
    *,
    resume: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sequences table from `stream`, and where each stream stood at the end of each day.

    The states (one row per row of the table: STATE_SCHEMA) let a later run go on from a day's
    end: with `resume` (for each group, its state at the end of the last day before the cases in
    `streamed`), the table's rows for the days of `streamed` are those one run over every case
    would give, to the last bit.

    The resolved cases are put in order of maturity once (observed_at, then case id); each segment
    column's streams are then a stable reordering of that by group, so no string sort repeats.
    """
    if streamed.is_empty():
        return _empty(), pl.DataFrame(schema=STATE_SCHEMA)
    # (a sort of the rows with their index is twice as fast as arg_sort_by on a string tie-break)
    matured = (
        streamed.select("observed_at", "case_id")
        .with_row_index()
        .sort("observed_at", "case_id")["index"]
        .to_numpy()
    )
    resolved = streamed.drop("case_id")
    states = _states_of(resume)
    columns = _Columns.of(resolved, bounds)
    parts = [
        _segment_sequences(resolved, columns, matured, segment, bounds, states)
        for segment in ("all", *point.segment_columns)
    ]
    table = pl.concat(p[0] for p in parts).sort(*GROUP, "as_of")
    return table, pl.concat(p[1] for p in parts).sort(*GROUP, "as_of")


class _Columns(NamedTuple):
    """What the sums read of the resolved cases, as arrays made once for every segment column,
    and the versions numbered (value_numbers)."""

    day: np.ndarray  # as_of, as days
    model: np.ndarray
    person: np.ndarray
    positive: np.ndarray
    diff: np.ndarray | None  # the model's cost minus the person's (with costs)
    as_of: pl.Series
    versions: tuple[np.ndarray, np.ndarray]

    @classmethod
    def of(cls, resolved: pl.DataFrame, bounds: Bounds) -> _Columns:
        return cls(
            resolved["as_of"].to_physical().to_numpy(),
            resolved["model_right"].to_numpy(),
            resolved["person_right"].to_numpy(),
            resolved["positive"].to_numpy(),
            (resolved["model_cost"] - resolved["person_cost"]).to_numpy()
            if bounds.max_cost
            else None,
            resolved["as_of"],
            value_numbers(resolved["model_version"]),
        )


class StreamState(NamedTuple):
    """Where one group's stream stood at the end of a day: enough to go on from its next case."""

    matured: int
    model_correct: int
    person_correct: int
    positives: int
    positives_caught: int
    best_log_evalue: float  # the largest ln E at any look so far (the always-valid p)
    reference_errors: int  # the model's errors among its first REFERENCE_CASES (the CUSUM's p0)
    cusum: float
    paired: sequential.PrplSums | None
    cost: sequential.PrplSums | None

    @classmethod
    def start(cls) -> StreamState:
        """A stream with no case yet."""
        return cls(0, 0, 0, 0, 0, 0.0, 0, 0.0, None, None)


# The states as a table: the PrPl-EB sums flattened, one column per log term (paired: the two-
# sided CS, the one-sided lower bound, the gate's lower bound; cost: the gate's cost bound).
_PRPL_FIELDS = ("t", "x", "squares", "lam", "lam_x", "v_psi")
_SIDES = {"paired": 3, "cost": 1}


def _prpl_columns(name: str) -> dict[str, pl.DataType]:
    columns: dict[str, pl.DataType] = {f"{name}_t": pl.Int64()}
    columns |= {f"{name}_{f}": pl.Float64() for f in ("x", "squares")}
    for f in ("lam", "lam_x", "v_psi"):
        columns |= {f"{name}_{f}_{i}": pl.Float64() for i in range(_SIDES[name])}
    return columns


STATE_SCHEMA: dict[str, pl.DataType] = {
    "model_version": pl.String(),
    "segment": pl.String(),
    "segment_value": pl.String(),
    "as_of": pl.Date(),
    "matured": pl.Int64(),
    "model_correct": pl.Int64(),
    "person_correct": pl.Int64(),
    "positives": pl.Int64(),
    "positives_caught": pl.Int64(),
    "best_log_evalue": pl.Float64(),
    "reference_errors": pl.Int64(),
    "cusum": pl.Float64(),
    **_prpl_columns("paired"),
    **_prpl_columns("cost"),
}


def _sums_of(row: dict[str, object], name: str) -> sequential.PrplSums | None:
    if row[f"{name}_t"] is None:
        return None
    sides = range(_SIDES[name])
    return sequential.PrplSums(
        int(row[f"{name}_t"]),  # type: ignore[call-overload]
        float(row[f"{name}_x"]),  # type: ignore[arg-type]
        float(row[f"{name}_squares"]),  # type: ignore[arg-type]
        *(tuple(float(row[f"{name}_{f}_{i}"]) for i in sides) for f in ("lam", "lam_x", "v_psi")),  # type: ignore[arg-type]
    )


def _states_of(resume: pl.DataFrame | None) -> dict[tuple[str, str, str], StreamState]:
    """Each group's state to go on from, by (version, segment, value): its latest row."""
    if resume is None or resume.is_empty():
        return {}
    latest = resume.sort("as_of").group_by(*GROUP, maintain_order=True).last()
    return {
        (row["model_version"], row["segment"], row["segment_value"]): StreamState._make(
            [
                *(row[f] for f in StreamState._fields[:8]),
                _sums_of(row, "paired"),
                _sums_of(row, "cost"),
            ]
        )
        for row in latest.iter_rows(named=True)
    }


def _segment_sequences(
    resolved: pl.DataFrame,
    columns: _Columns,
    matured: np.ndarray,
    segment: str,
    bounds: Bounds,
    states: dict[tuple[str, str, str], StreamState],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The streams of one segment column (or "all"): every version x value, in maturity order;
    the table's rows and the states.

    `matured` lists the rows of `resolved` in the order their outcomes matured.
    """
    # a number per (version, value), in the order of their names: the groups' streams then sit
    # in one order on every run (their running sums share one array, so even the last bits of
    # each group's numbers depend on which groups come before it)
    version, versions = columns.versions
    if segment == "all":
        value, values = np.zeros(resolved.height, dtype=np.int64), np.array(["all"], dtype=object)
    else:
        value, values = value_numbers(resolved[segment])
    group_id = (version * len(values) + value)[matured]
    grouped = by_group(group_id)  # by group, maturity order kept
    order, groups = matured[grouped], group_id[grouped]
    # a few groups at a time: each step holds a few dozen arrays as long as its cases
    chunks = [
        _chunk_sequences(
            columns,
            (versions, values),
            chunk,
            segment,
            bounds,
            states,
        )
        for chunk in _chunks(order, groups)
    ]
    return pl.concat(c[0] for c in chunks), pl.concat(c[1] for c in chunks)


def _chunks(order: np.ndarray, groups: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`order` and `groups` cut at group boundaries into runs of about CHUNK_CASES cases."""
    ends = np.r_[np.flatnonzero(groups[1:] != groups[:-1]) + 1, len(groups)]
    start = 0
    for end in ends:
        if end - start >= CHUNK_CASES or end == len(groups):
            yield order[start:end], groups[start:end]
            start = end


def _chunk_sequences(
    columns: _Columns,
    names: tuple[np.ndarray, np.ndarray],
    chunk: tuple[np.ndarray, np.ndarray],
    segment: str,
    bounds: Bounds,
    states: dict[tuple[str, str, str], StreamState],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sequences of the whole groups in `chunk` (the cases' rows, and their group numbers),
    each group going on from its state in `states` if it has one; and the states.

    `names`: the versions' and the segment values' names, by their numbers in the group numbers.
    The sums run over every case, but each number is read only at the end of each day (`pick`).
    """
    order, groups = chunk
    day = columns.day[order]
    # the state at the end of each day: the last case of each (group, day)
    last = np.r_[(groups[1:] != groups[:-1]) | (day[1:] != day[:-1]), True]
    pick = np.flatnonzero(last)
    del day
    model = columns.model[order].astype(np.int64)
    person = columns.person[order].astype(np.int64)
    positive = columns.positive[order].astype(np.int64)
    diff = columns.diff[order] if columns.diff is not None else None
    versions, values = names
    starts: np.ndarray = np.r_[np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]]), len(groups)]
    cut: np.ndarray = np.searchsorted(pick, starts)
    rows, kept = [], []
    for g in range(len(starts) - 1):
        first, stop = starts[g], starts[g + 1]
        number = int(groups[first])
        key = (str(versions[number // len(values)]), segment, str(values[number % len(values)]))
        at = pick[cut[g] : cut[g + 1]] - first
        cases = slice(first, stop)
        numbers, state = _group_sequences(
            model[cases],
            person[cases],
            positive[cases],
            None if diff is None else diff[cases],
            at,
            states.get(key),
            bounds,
        )
        rows.append(numbers)
        kept.append(state)
    head = {
        "model_version": pl.Series(versions[groups[pick] // len(values)], dtype=pl.String),
        "segment": np.full(len(pick), segment),
        "segment_value": pl.Series(values[groups[pick] % len(values)], dtype=pl.String),
        "as_of": columns.as_of.gather(order[pick]),
    }
    table = pl.DataFrame(
        {**head, **{k: np.concatenate([r[k] for r in rows]) for k in rows[0]}}
    ).with_columns(
        floor=pl.lit(bounds.floor), alpha=pl.lit(bounds.alpha), gate_alpha=pl.lit(bounds.gate_alpha)
    )
    state_frame = pl.DataFrame(
        {**head, **{k: np.concatenate([r[k] for r in kept]) for k in kept[0]}},
        schema=STATE_SCHEMA,
    )
    return table, state_frame


def _group_sequences(
    model: np.ndarray,
    person: np.ndarray,
    positive: np.ndarray,
    diff: np.ndarray | None,
    at: np.ndarray,
    state: StreamState | None,
    bounds: Bounds,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray | None]]:
    """One group's numbers after its cases `at` (each day's last), going on from `state`, and its
    states there (as STATE_SCHEMA's columns)."""
    s = state or StreamState.start()
    floor, alpha, gate_alpha, max_cost = bounds

    def running(values: np.ndarray, initial: int) -> np.ndarray:
        return np.asarray(initial + np.cumsum(values)[at])

    logs = (float(np.log(2 / alpha)), float(np.log(1 / alpha)), float(np.log(1 / gate_alpha)))
    (two, one, other), paired = sequential.prpl_eb_run((model - person + 1) / 2, logs, at, s.paired)
    cost_upper = np.full(len(at), np.nan)
    cost: sequential.PrplTrail | None = None
    if diff is not None and max_cost:
        # the upper bound on the mean difference is the mirror of a lower bound on its negative
        flipped = (max_cost - diff) / (2 * max_cost)
        log_term = (float(np.log(1 / gate_alpha)),)
        (side,), cost = sequential.prpl_eb_run(flipped, log_term, at, s.cost)
        cost_upper = max_cost - 2 * max_cost * np.maximum(side[0] - side[1], 0.0)
    cusum, alarm, reference_errors = _chart(1 - model, s)
    # which day (of the picked days) each case belongs to: the alarms each day
    day_of_case = np.searchsorted(at, np.arange(len(model)))
    alarms_that_day = np.bincount(day_of_case, weights=alarm, minlength=len(at))
    # The e-value is judged at the looks, which are the days: at each day's end, from the counts
    # (it depends on them only). The always-valid p takes the best e-value at any look so far;
    # looking only at day ends can only make it larger (more cautious), never smaller.
    matured = s.matured + 1 + at
    correct = running(model, s.model_correct)
    evalue = sequential.beta_mixture_evalue(correct, matured, floor)
    log_e = np.clip(
        np.log(np.maximum(np.nan_to_num(evalue, nan=1.0, posinf=np.inf), 1.0)), 0.0, 1000.0
    )
    best = np.maximum.accumulate(np.r_[s.best_log_evalue, log_e])[1:]

    def lower(side: np.ndarray) -> np.ndarray:  # on the Δ scale
        return np.asarray(2 * np.maximum(side[0] - side[1], 0.0) - 1)

    numbers = {
        "cusum": cusum[at],
        "matured": matured,
        "model_correct": correct,
        "person_correct": running(person, s.person_correct),
        "accuracy_evalue": evalue,
        "accuracy_always_valid_p": np.minimum(1.0, np.exp(-best)),
        "difference_cs_low": 2 * np.maximum(two[0] - two[1], 0.0) - 1,
        "difference_cs_high": 2 * np.minimum(two[0] + two[1], 1.0) - 1,
        "difference_lower": lower(one),
        "cusum_alarms": alarms_that_day.astype(np.uint32),
        "positives": running(positive, s.positives),
        "positives_caught": running(positive * model, s.positives_caught),
        "gate_difference_lower": lower(other),
        "gate_cost_difference_upper": cost_upper,
    }
    states: dict[str, np.ndarray | None] = {
        "matured": matured,
        "model_correct": correct,
        "person_correct": numbers["person_correct"],
        "positives": numbers["positives"],
        "positives_caught": numbers["positives_caught"],
        "best_log_evalue": best,
        "reference_errors": reference_errors[at],
        "cusum": cusum[at],
    }
    for name, trail in (("paired", paired), ("cost", cost)):
        states |= _trail_columns(name, trail, len(at))
    return numbers, states


def _trail_columns(
    name: str, trail: sequential.PrplTrail | None, rows: int
) -> dict[str, np.ndarray | None]:
    """A PrPl-EB trail as STATE_SCHEMA's columns for `name` (nulls without one)."""
    columns: dict[str, np.ndarray | None] = {}
    for field in _PRPL_FIELDS:
        value = None if trail is None else getattr(trail, field)
        if field in ("t", "x", "squares"):
            columns[f"{name}_{field}"] = value if value is not None else np.full(rows, None)
        else:
            for i in range(_SIDES[name]):
                columns[f"{name}_{field}_{i}"] = (
                    value[i] if value is not None else np.full(rows, None)
                )
    return columns


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


def _chart(errors: np.ndarray, state: StreamState) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One group's CUSUM value and whether it alarmed at each of its cases (going on from
    `state`), and its reference errors so far after each.

    The first REFERENCE_CASES of a group set its in-control error rate and are not charted.
    """
    value = np.zeros(errors.size)
    alarm = np.zeros(errors.size, dtype=bool)
    still = max(0, REFERENCE_CASES - state.matured)  # cases of the reference still to come
    reference_errors = state.reference_errors + np.cumsum(
        np.where(np.arange(errors.size) < still, errors, 0)
    )
    if errors.size > still:
        p0 = int(reference_errors[still - 1] if still else state.reference_errors) / REFERENCE_CASES
        p0 = min(max(p0, 0.01), 0.9)  # a reference with no (or only) errors still gives a chart
        start = state.cusum if still == 0 else 0.0
        chart = monitoring.bernoulli_cusum(
            errors[still:], p0, min(p0 + max(p0, MIN_RISE), 0.99), CUSUM_H, start
        )
        value[still:] = chart.s
        alarm[still + chart.alarms] = True
    return value, alarm, reference_errors


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
