"""Model health on the sample: calibration, drift and delays equal their definitions on plain SQL data."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from shadow.points import DecisionPoint, get_point
from shadow.store import Store
from shadow.track import health
from shadow.track.cells import CALIBRATION_BINS
from shadow.track.join import Joined
from tests import support
from tests.records import RECORDS
from tests.support import oracles

# Paired cases of one version with their score, site, decision week (Berlin) and outcome, plain SQL.
PAIRED = f"""
{RECORDS},
prediction AS (
    SELECT p.case_id, arg_max(p.score, p.predicted_at) AS score
    FROM predictions p JOIN decision d USING (case_id)
    WHERE p.predicted_at <= d.decided_at AND p.model_version = $version
    GROUP BY ALL
)
SELECT case_id, site, score, actual, observed_at, decided_at,
    date_trunc('week', timezone('Europe/Berlin', decided_at))::DATE AS week
FROM decision JOIN prediction USING (case_id) LEFT JOIN outcome USING (case_id)
WHERE score IS NOT NULL
"""


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> Iterator[tuple[Store, DecisionPoint, Joined]]:
    with Store.open(demo_db, read_only=True) as store:
        point = get_point(store, "pump-inspection")
        assert point is not None
        yield store, point, support.joined(store, point).cached()


def test_calibration_equals_sklearn(demo: tuple[Store, DecisionPoint, Joined]) -> None:
    store, point, joined = demo
    table = support.calibration(joined, point).filter(segment="site", segment_value="kiel")
    cases = store.frame(PAIRED, {"version": "v1"}).filter(
        pl.col("site") == "kiel", pl.col("actual").is_not_null()
    )
    y = (cases["actual"] == "inspect").cast(pl.Int8).to_numpy()
    p = cases["score"].to_numpy()
    rows = table.filter(model_version="v1").sort("mean_score")
    assert rows["cases"][0] == len(y)
    assert rows["brier"][0] == pytest.approx(brier_score_loss(y, p))
    observed, predicted = calibration_curve(y, p, n_bins=CALIBRATION_BINS)
    np.testing.assert_allclose(rows["observed_rate"].to_numpy(), observed)
    np.testing.assert_allclose(rows["mean_score"].to_numpy(), predicted)
    assert rows["bin_cases"].sum() == len(y)
    assert rows["ece"][0] == pytest.approx(oracles.expected_calibration_error(y, p, 10))
    z, z_p = oracles.spiegelhalter(y, p)
    assert (rows["spiegelhalter_z"][0], rows["spiegelhalter_p"][0]) == pytest.approx((z, z_p))
    assert rows["calibration_in_the_large"][0] == pytest.approx(
        oracles.calibration_in_the_large(y, p)
    )


def test_drift_shows_the_recalibration_at_essen(demo: tuple[Store, DecisionPoint, Joined]) -> None:
    store, point, joined = demo
    table = support.drift(joined, point).filter(segment_value="essen", model_version="v1")
    scores = store.frame(PAIRED, {"version": "v1"}).filter(pl.col("site") == "essen")
    weeks = sorted(scores["week"].unique().to_list())
    reference = scores.filter(pl.col("week").is_in(weeks[:4]))["score"].to_numpy()
    for row in table.iter_rows(named=True):
        window = scores.filter(
            pl.col("week").is_between(row["week"] - timedelta(weeks=3), row["week"])
        )
        assert row["window_scores"] == window.height
        if window.height < health.MIN_SCORES:
            assert row["psi"] is None  # too few scores to say
        else:
            bins = max(2, min(10, len(reference) // 10))
            assert row["psi_bins"] == bins
            assert row["psi"] == pytest.approx(
                oracles.psi(reference, window["score"].to_numpy(), n_bins=bins)
            )
    # the sensors read half as much from week 20 (2026-05-25): once the four-week window is mostly
    # after it, PSI stands far above what chance gives at these volumes; before, it never does
    recalibrated = date(2026, 1, 5) + timedelta(weeks=20)
    before = table.filter(pl.col("week") < recalibrated)
    after = table.filter(pl.col("week") >= recalibrated + timedelta(weeks=2))
    assert (before["psi"].drop_nulls() < 2 * before["psi_noise"].drop_nulls()).all()
    assert (after["psi"] > 2 * after["psi_noise"]).all()
    assert (after["mean_score_shift"] < 0).all()  # the model now sees less vibration: lower risk


def test_delays_equal_sql_medians(demo: tuple[Store, DecisionPoint, Joined]) -> None:
    store, point, joined = demo
    got = support.delays(joined, point).filter(segment="site", segment_value="hamburg")
    expected = store.frame(
        """
        WITH outcome AS (SELECT case_id, max(observed_at) AS observed_at FROM outcomes GROUP BY 1),
        decision AS (
            SELECT d.case_id, max(d.decided_at) AS decided_at,
                arg_max(d.segments ->> 'site', d.decided_at) AS site
            FROM decisions d JOIN outcome o USING (case_id) WHERE d.decided_at < o.observed_at
            GROUP BY 1
        )
        SELECT date_trunc('week', timezone('Europe/Berlin', decided_at))::DATE AS week,
            count(*) AS resolved,
            median(epoch(observed_at) - epoch(decided_at)) / 86400 AS median_days
        FROM decision JOIN outcome USING (case_id) WHERE site = 'hamburg' GROUP BY 1 ORDER BY 1
        """
    )
    assert got["week"].to_list() == expected["week"].to_list()
    assert got["resolved"].to_list() == expected["resolved"].to_list()
    np.testing.assert_allclose(got["median_days"].to_numpy(), expected["median_days"].to_numpy())
