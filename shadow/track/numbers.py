"""Every count, rate, interval and test of DESIGN.md's "The numbers", summed from the cells.

The counts (rollup): one row per (model_version, segment, segment_value, period, period_start,
scope):
- segment is "all" (segment_value "all") or one of the point's segment columns;
- period is "day", "week" (ISO, Monday start) or "month" of the decision time, in the point's
  timezone, or "all" (the whole record in one row, period_start null);
- scope "period" counts the cases decided in that period; "cumulative" counts every case decided
  from the first day up to the end of that period; "rolling" (weeks only) counts the cases decided
  in that week and the three before it (the recent track record, for decline alarms).
Every count is additive, so cumulative rows are running sums.

The rates (numbers): each comes with the count it is a share of (its n) and, where
docs/statistics.md gives one, its 95% interval. A rate whose n is 0 is null ("no evidence yet"),
never 0. The intervals here are snapshot intervals: right for describing one period, not for
deciding after daily looks (the peeking-safe ones are the streams').
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from shadow.points import DecisionPoint
from shadow.stats import fixed
from shadow.track.cells import SCALE, Cells
from shadow.track.join import segment_value

# The share of people-positive cases with an outcome minus that of people-negative cases, above
# which outcomes look selected by the person's decision (docs/statistics.md 5.2), given enough cases.
SELECTIVE_GAP = 0.3
SELECTIVE_MIN_CASES = 20
PERIODS = ("day", "week", "month", "all")
# Weekly rows also come as a rolling window: the cases decided in that week and the three before.
ROLLING_WINDOW = "28d"
KEYS = ("model_version", "segment", "segment_value", "period", "period_start")


def numbers_of(cells: Cells, versions: list[str], point: DecisionPoint) -> pl.DataFrame:
    """The published numbers table: every count summed from the cells, with its rates."""
    return numbers(rollup(cells, versions, point).collect(), point)


def rollup(cells: Cells, versions: list[str], point: DecisionPoint) -> pl.LazyFrame:
    """Every count per version x segment x period (scopes period, cumulative, rolling), summed
    from the cells."""
    # every version that scored anything sees every decided case (its coverage may be 0)
    version_frame = pl.LazyFrame({"model_version": versions}, schema={"model_version": pl.String})
    decided_frame, version_counts = cells.decided.lazy(), cells.by_version.lazy()
    per_period = []
    on = ["model_version", "segment_value", "period_start"]
    for segment in ("all", *point.segment_columns):
        for period in PERIODS:
            # the keys as columns first: grouping an empty frame by a literal would give a row
            keys = _keys(segment, period)
            drop = [*point.segment_columns, "_day"]
            decided = (
                decided_frame.with_columns(keys)
                .drop(drop)
                .group_by("segment_value", "period_start")
                .agg(pl.all().sum())
            )
            by_version = (
                version_counts.with_columns(keys).drop(drop).group_by(on).agg(pl.all().sum())
            )
            frame = decided.join(version_frame, how="cross").join(
                by_version, on=on, how="full", coalesce=True, nulls_equal=True
            )
            per_period.append(frame.with_columns(segment=pl.lit(segment), period=pl.lit(period)))
    counts = pl.concat(per_period, how="diagonal_relaxed").with_columns(
        pl.exclude(KEYS).fill_null(0)
    )
    cumulative = counts.filter(pl.col("period") != "all").with_columns(
        pl.exclude(KEYS)
        .cum_sum()
        .over(["model_version", "segment", "segment_value", "period"], order_by="period_start")
    )
    rolling = counts.filter(period="week").with_columns(
        pl.exclude(KEYS)
        .rolling_sum_by("period_start", window_size=ROLLING_WINDOW)
        .over(["model_version", "segment", "segment_value"])
    )
    return pl.concat(
        [
            counts.with_columns(scope=pl.lit("period")),
            cumulative.with_columns(scope=pl.lit("cumulative")),
            rolling.with_columns(scope=pl.lit("rolling")),
        ]
    ).sort("model_version", "segment", "segment_value", "period", "scope", "period_start")


def _keys(segment: str, period: str) -> list[pl.Expr]:
    """segment_value and period_start of a finest-grain row (its _day)."""
    day = pl.col("_day")
    start = {
        "day": day,
        "week": day.dt.truncate("1w"),
        "month": day.dt.truncate("1mo"),
        "all": pl.lit(None, pl.Date),
    }[period]
    return [segment_value(segment).alias("segment_value"), start.alias("period_start")]


def numbers(counts: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """The counts with every rate, interval and test added as columns."""
    col = _columns(counts)
    out: dict[str, np.ndarray] = {}

    def share(name: str, k: np.ndarray, n: np.ndarray, interval: bool = True) -> None:
        with np.errstate(divide="ignore", invalid="ignore"):
            out[name] = np.where(n > 0, k / n, np.nan)
        if interval:
            low, high = fixed.wilson(k, n)
            out[f"{name}_low"], out[f"{name}_high"] = low, high

    share("model_coverage", col("paired"), col("decided"), interval=False)
    share("outcome_coverage", col("resolved_decided"), col("decided"), interval=False)
    share("agreement", col("agree"), col("paired"))

    a, b = col("both_right"), col("model_right_person_wrong")
    c, d = col("person_right_model_wrong"), col("both_wrong")
    resolved = col("resolved")  # the four cells' sum (tested as such)
    share("model_accuracy", a + b, resolved)
    share("person_accuracy", a + c, resolved)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["difference"] = np.where(resolved > 0, (b - c) / resolved, np.nan)
    out["difference_low"], out["difference_high"] = fixed.newcombe(a, b, c, d)
    test = fixed.mcnemar(b, c)
    out["mcnemar_exact_p"], out["mcnemar_mid_p"] = test.exact, test.mid_p
    cs = fixed.beta_binomial_cs(a + b, resolved)
    out["model_accuracy_cs_low"], out["model_accuracy_cs_high"] = cs.low, cs.high

    if point.positive_label is not None:
        _binary(counts, col, share, out)
        costs = point.policy.get("costs")
        if isinstance(costs, dict):
            _costs(col, costs, out)
    frame = counts.with_columns(
        pl.Series(name, values, dtype=pl.Float64).fill_nan(None) for name, values in out.items()
    )
    if point.positive_label is not None:
        frame = frame.with_columns(selective_labels=_selective_labels())
    return frame


def _binary(
    counts: pl.DataFrame,
    col: Callable[[str], np.ndarray],
    share: Callable[..., None],
    out: dict[str, np.ndarray],
) -> None:
    """Recall, precision, positive rate, Brier score and agreement coefficients (binary tasks)."""
    both, model_only = col("both_positive"), col("model_only_positive")
    person_only, neither = col("person_only_positive"), col("both_negative")
    tables = np.stack([np.stack([both, model_only], -1), np.stack([person_only, neither], -1)], -2)
    kappa = fixed.cohen_kappa(tables)
    out["kappa"], out["kappa_low"], out["kappa_high"] = kappa.estimate, kappa.low, kappa.high
    ac1 = fixed.gwet_ac1(tables)
    out["ac1"], out["ac1_low"], out["ac1_high"] = ac1.estimate, ac1.low, ac1.high
    paired = col("paired")
    share("model_positive_rate", both + model_only, paired, interval=False)
    share("person_positive_rate", both + person_only, paired, interval=False)
    share("model_recall", col("model_true_positive"), col("actual_positive"))
    share("person_recall", col("person_true_positive"), col("actual_positive"))
    share("model_precision", col("model_true_positive"), col("model_positive_resolved"))
    share("person_precision", col("person_true_positive"), col("person_positive_resolved"))
    # specificity: of the cases that turned out negative, the share each side left alone
    negative = col("resolved") - col("actual_positive")
    for side in ("model", "person"):
        false_positive = col(f"{side}_positive_resolved") - col(f"{side}_true_positive")
        share(f"{side}_specificity", negative - false_positive, negative)
    share("brier", col("brier_sum_e9") / SCALE, col("brier_n"), interval=False)
    decided_negative = col("decided") - col("decided_positive")
    share(
        "outcome_coverage_person_positive",
        col("resolved_decided_positive"),
        col("decided_positive"),
    )
    share("outcome_coverage_person_negative", col("resolved_decided_negative"), decided_negative)


def _costs(
    col: Callable[[str], np.ndarray], costs: dict[str, float], out: dict[str, np.ndarray]
) -> None:
    """Expected cost per resolved case for each side (docs/statistics.md 7), from the policy's costs.

    [policy.costs] false_negative (a missed positive), false_positive (acting without need), and
    optionally true_positive / true_negative (the cost of acting or not when right).
    """
    resolved = col("resolved")
    actual = col("actual_positive")
    for side in ("model", "person"):
        tp = col(f"{side}_true_positive")
        fp = col(f"{side}_positive_resolved") - tp
        fn = actual - tp
        tn = resolved - tp - fp - fn
        out[f"{side}_cost_per_case"] = fixed.expected_cost(
            tp,
            fp,
            fn,
            tn,
            float(costs.get("false_negative", 0.0)),
            float(costs.get("false_positive", 0.0)),
            float(costs.get("true_positive", 0.0)),
            float(costs.get("true_negative", 0.0)),
        )


def _selective_labels() -> pl.Expr:
    """True where outcomes arrive far more often for cases the person acted on (docs/statistics.md 5.2)."""
    negative = pl.col("decided") - pl.col("decided_positive")
    gap = pl.col("outcome_coverage_person_positive") - pl.col("outcome_coverage_person_negative")
    return (
        (pl.col("decided_positive") >= SELECTIVE_MIN_CASES)
        & (negative >= SELECTIVE_MIN_CASES)
        & (gap.abs() > SELECTIVE_GAP)
    ).fill_null(False)


def _columns(counts: pl.DataFrame) -> Callable[[str], np.ndarray]:
    def col(name: str) -> np.ndarray:
        return counts[name].cast(pl.Float64).to_numpy()

    return col
