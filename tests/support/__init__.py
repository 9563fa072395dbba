"""Helpers the tests share: the product's own steps put together for one layer's tests.

A unit test of a step of the refresh needs its input as the refresh makes it: every case of a
store joined (`joined`), the counts of some joined cases (`counts`), their sequences, calibration,
drift, delays and confusion tables. Each helper only chains the product's functions; none computes
a number itself.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from shadow.points import DecisionPoint
from shadow.refresh.records import buckets_and_versions, read_bucket
from shadow.store import Store
from shadow.track import health
from shadow.track.cells import cells_of
from shadow.track.confusion import confusion_of
from shadow.track.join import Joined, join_records
from shadow.track.numbers import rollup
from shadow.track.streams import Bounds, stream, streams


def joined(store: Store, point: DecisionPoint, bucket: tuple[int, int] = (0, 1)) -> Joined:
    """Every case of the point (or one bucket of them), joined as a refresh joins them."""
    versions = buckets_and_versions(store, point)[1]
    return join_records(read_bucket(store, point, bucket), versions, point)


def versions_of(j: Joined) -> list[str]:
    return j.versions.collect()["model_version"].to_list()


def counts(j: Joined, point: DecisionPoint) -> pl.LazyFrame:
    """Every count per version x segment x period of these cases (the rollup of their cells)."""
    return rollup(cells_of(j, point), versions_of(j), point)


def sequences(
    j: Joined,
    point: DecisionPoint,
    *,
    floor: float,
    alpha: float = 0.05,
    gate_alpha: float | None = None,
    costs: dict[str, float] | None = None,
) -> pl.DataFrame:
    """The sequences table of these cases, computed from nothing."""
    at = Bounds.of(floor, alpha, alpha if gate_alpha is None else gate_alpha, costs)
    return streams(stream(j, point, costs).collect(), point, at)[0]


def calibration(j: Joined, point: DecisionPoint) -> pl.DataFrame:
    return health.calibration_of(cells_of(j, point).calibration, point)


def confusion(j: Joined, point: DecisionPoint) -> pl.DataFrame:
    return confusion_of(cells_of(j, point).confusion, point)


def drift(j: Joined, point: DecisionPoint) -> pl.DataFrame:
    scores = health.scores(j, point).collect()
    return health.drift_table(*health.drift_sums(None, [], lambda _: scores, point))


def delays(j: Joined, point: DecisionPoint) -> pl.DataFrame:
    days = health.delay_days(j, point).collect()
    weeks: list[date] = days["week"].unique().to_list()
    return health.delays(None, weeks, days, point)
