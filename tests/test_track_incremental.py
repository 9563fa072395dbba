"""A refresh after a daily load reads again only the cases that load changed."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shadow.ingestion import ingest_into, plan_sources
from shadow.points import get_point
from shadow.store import Store
from shadow.track.join import read_records

POINT = "pump-inspection"


def _daily_load(store: Store) -> set[str]:
    """A day's loads into the sample: outcomes for pending cases, corrections of known ones, and
    new cases decided and scored. Returns every case id they name."""
    pending, known = (
        store.frame(
            """
            SELECT d.case_id, max(d.decided_at) AS decided_at, any_value(o.actual_label) AS actual
            FROM decisions AS d LEFT JOIN outcomes AS o USING (case_id)
            GROUP BY d.case_id HAVING (count(o.case_id) = 0) = $pending
            ORDER BY max(d.decided_at) DESC, d.case_id LIMIT 25  -- the latest, as a day brings
            """,
            {"pending": flag},
        )
        for flag in (True, False)
    )
    late = pending.select(
        "case_id",
        observed_at=pl.col("decided_at") + timedelta(days=9),
        actual_label=pl.lit("inspect"),
    )
    corrected = known.select(
        "case_id",
        observed_at=pl.col("decided_at") + timedelta(days=40),
        actual_label=pl.when(pl.col("actual") == "inspect")
        .then(pl.lit("no_inspect"))
        .otherwise(pl.lit("inspect")),
    )
    day = store.rows("SELECT max(decided_at) FROM decisions")[0][0] + timedelta(days=1)
    new = [f"NEW-{i:03d}" for i in range(15)]
    decisions = pl.DataFrame(
        {
            "case_id": new,
            "decided_at": [day + timedelta(minutes=i) for i in range(15)],
            "human_label": ["inspect", "no_inspect", "no_inspect"] * 5,
            "decided_by": "a.tester",
            "site": "kiel",
            "region": "north",
            "asset_class": "centrifugal",
        }
    )
    predictions = decisions.select(
        "case_id",
        predicted_at=pl.col("decided_at") - timedelta(hours=1),
        model=pl.lit("pump-risk"),
        model_version=pl.lit("v2"),
        predicted_label=pl.lit("inspect"),
        score=pl.lit(0.7),
    )
    for log, frame in (
        ("outcomes", pl.concat([late, corrected])),
        ("decisions", decisions),
        ("predictions", predictions),
    ):
        ingest_into(store, log, plan_sources(frame), point=POINT)
    return {*late["case_id"], *corrected["case_id"], *new}


@pytest.fixture
def db(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the sample deployment, for a day's loads."""
    copy = tmp_path / "daily.duckdb"
    shutil.copy(demo_db, copy)
    return copy


def test_the_records_of_the_changed_cases_are_theirs_in_a_full_read(db: Path) -> None:
    with Store.open(db) as store:
        since = store.rows("SELECT max(load_id) FROM loads")[0][0]
        touched = _daily_load(store)
        point = get_point(store, POINT)
        assert point is not None
        changed = read_records(store, point, changed_since=since)
        whole = read_records(store, point)
    assert set(changed.cases["case_id"]) == touched
    assert set(changed.predictions["case_id"]) <= touched
    for got, full in ((changed.cases, whole.cases), (changed.predictions, whole.predictions)):
        keys = [c for c in ("case_id", "model_version") if c in full.columns]
        expected = full.filter(pl.col("case_id").is_in(list(touched))).sort(keys)
        assert_frame_equal(got.sort(keys), expected, check_exact=True)
    # and nothing changed since the last load reads nothing
    with Store.open(db, read_only=True) as store:
        last = store.rows("SELECT max(load_id) FROM loads")[0][0]
        nothing = read_records(store, point, changed_since=last)
    assert nothing.cases.is_empty() and nothing.predictions.is_empty()
