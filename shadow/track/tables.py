"""Every published table of one decision point, from its cells, its streams and its kept rows.

Pure: frames in, frames out. The refresh (shadow.refresh) reads the cases, keeps their cells and
rows, runs the streams, and hands the results here; what comes out is what it publishes.
"""

from __future__ import annotations

import polars as pl

from shadow.points import DecisionPoint
from shadow.policy import Policy
from shadow.track import health
from shadow.track.cells import Cells
from shadow.track.confusion import confusion_of
from shadow.track.evidence import DEFAULT_ALPHA, DEFAULT_FLOOR, DEFAULT_MARGIN, evidence
from shadow.track.gates import gates
from shadow.track.streams import Bounds
from shadow.track.watch import stages

# The tables computed per decision point (each gets a point_id column when published).
TABLES = (
    "numbers",
    "sequences",
    "evidence",
    "disagreements",
    "confusion",
    "calibration",
    "drift",
    "delays",
    "gates",
    "stages",
)


def gate_alpha(policy: Policy, numbers: pl.DataFrame) -> float:
    """The error rate each segment's gate is judged at: the policy's family rate shared by the
    segments judged (segment values with a resolved case)."""
    values = numbers.filter(pl.col("segment") != "all", period="all").filter(pl.col("resolved") > 0)
    return policy.alpha(max(values.select("segment", "segment_value").n_unique(), 1))


def bounds(point: DecisionPoint, alpha: float) -> Bounds:
    """What the point's streams are computed at, with the gates judged at `alpha`."""
    policy = point.readiness()
    # the accuracy bound the sequences publish is the first gate's floor (the briefing's)
    first = policy.gates[policy.stages[1]] if len(policy.stages) > 1 else None
    floor = first.accuracy_floor if first else DEFAULT_FLOOR
    return Bounds.of(floor, DEFAULT_ALPHA, alpha, policy.costs)


def point_tables(
    point: DecisionPoint,
    *,
    cells: Cells,
    numbers: pl.DataFrame,
    sequences: pl.DataFrame,
    drift: pl.DataFrame,
    delays: pl.DataFrame,
    disagreements: pl.DataFrame,
    signoffs: pl.DataFrame,
    policy_version: int,
    alpha: float,
) -> dict[str, pl.DataFrame]:
    """The point's published tables (TABLES), its readiness verdicts and its stages."""
    policy = point.readiness()
    first = policy.gates[policy.stages[1]] if len(policy.stages) > 1 else None
    floor = first.accuracy_floor if first else DEFAULT_FLOOR
    margin = first.margin if first else DEFAULT_MARGIN
    calibration = health.calibration_of(cells.calibration, point)
    verdicts = gates(
        policy,
        numbers,
        sequences,
        drift,
        calibration,
        alpha=alpha,
        binary=point.positive_label is not None,
    )
    if verdicts.width:
        verdicts = verdicts.with_columns(policy_version=pl.lit(policy_version))
    stage_table = stages(policy, sequences, signoffs, alpha=alpha, timezone=point.timezone)
    return {
        "numbers": numbers,
        "sequences": sequences,
        "evidence": evidence(numbers, sequences, floor=floor, margin=margin, alpha=DEFAULT_ALPHA),
        "disagreements": disagreements,
        "confusion": confusion_of(cells.confusion, point),
        "calibration": calibration,
        "drift": drift,
        "delays": delays,
        "gates": verdicts,
        "stages": stage_table.with_columns(policy_version=pl.lit(policy_version)),
    }
