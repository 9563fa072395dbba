"""The peeking-safe numbers follow the stream of outcomes in the order they matured."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shadow.points import get_point
from shadow.stats import sequential
from shadow.store import Store
from shadow.track.streams import Bounds, stream, streams
from tests.records import RECORDS
from tests.support import joined, oracles, sequences

# The paired resolved cases of one site and version, in maturity order, in plain SQL.
STREAM = f"""
{RECORDS},
prediction AS (
    SELECT p.case_id, arg_max(p.predicted_label, p.predicted_at) AS model
    FROM predictions p JOIN decision d USING (case_id)
    WHERE p.predicted_at <= d.decided_at AND p.model_version = $version
    GROUP BY ALL
)
SELECT (model = actual)::INT AS model_right, (human = actual)::INT AS person_right
FROM decision JOIN prediction USING (case_id) JOIN outcome USING (case_id)
WHERE site = $site
ORDER BY observed_at, case_id
"""


@pytest.fixture(scope="module")
def table(demo: Store) -> pl.DataFrame:
    point = get_point(demo, "pump-inspection")
    assert point is not None
    return sequences(joined(demo, point), point, floor=0.85)


@pytest.mark.parametrize(("site", "version"), [("kiel", "v1"), ("essen", "v2")])
def test_the_last_state_equals_the_statistics_on_the_sql_stream(
    demo: Store, table: pl.DataFrame, site: str, version: str
) -> None:
    stream = demo.frame(STREAM, {"site": site, "version": version})
    model = stream["model_right"].to_numpy()
    person = stream["person_right"].to_numpy()
    last = (
        table.filter(segment="site", segment_value=site, model_version=version)
        .sort("as_of")
        .row(-1, named=True)
    )
    assert (last["matured"], last["model_correct"], last["person_correct"]) == (
        len(model),
        model.sum(),
        person.sum(),
    )
    # order-invariant: the e-value depends on the counts only
    assert last["accuracy_evalue"] == pytest.approx(
        float(sequential.beta_mixture_evalue(model.sum(), len(model), 0.85)), rel=1e-9
    )
    # order-dependent: PrPl-EB must have been fed exactly this order
    cs = sequential.prpl_eb_paired(model - person, 0.05)
    assert (last["difference_cs_low"], last["difference_cs_high"], last["difference_lower"]) == (
        pytest.approx((cs.low[-1], cs.high[-1], cs.lower[-1]), abs=1e-12)
    )
    evalues = oracles.beta_mixture_evalue_stream(model, 0.85)
    assert last["accuracy_always_valid_p"] == pytest.approx(min(1.0, 1 / np.nanmax(evalues)))


def test_one_row_per_day_and_the_counts_only_grow(table: pl.DataFrame) -> None:
    keys = ["model_version", "segment", "segment_value"]
    assert table.select(*keys, "as_of").is_unique().all()
    grows = table.sort(*keys, "as_of").with_columns(step=pl.col("matured").diff().over(keys))
    assert (grows["step"].drop_nulls() > 0).all()


def test_alarms_are_counted_on_the_day_they_fire(demo: Store, table: pl.DataFrame) -> None:
    from shadow.track.streams import StreamState, _chart

    point = get_point(demo, "pump-inspection")
    assert point is not None
    for site, version in (("kiel", "v1"), ("essen", "v1"), ("hamburg", "v2")):
        query = STREAM.replace(
            "SELECT (model = actual)::INT AS model_right,",
            "SELECT timezone('Europe/Berlin', observed_at)::DATE AS day,"
            " (model = actual)::INT AS model_right,",
        )
        stream = demo.frame(query, {"site": site, "version": version})
        model = stream["model_right"].to_numpy()
        _, alarm, _ = _chart(1 - model, StreamState.start())
        expected = sorted(set(stream["day"].to_numpy()[alarm].tolist()))
        rows = table.filter(segment="site", segment_value=site, model_version=version)
        fired = rows.filter(pl.col("cusum_alarms") > 0)["as_of"].to_list()
        assert fired == expected
        assert rows["cusum_alarms"].sum() == alarm.sum()


def test_a_few_groups_at_a_time_gives_the_same_streams(
    demo: Store, table: pl.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a large store's streams are worked out a run of whole groups at a time; here, with runs of
    # about 300 cases, the sample's 30-odd groups per segment column come in many runs
    from shadow.track import streams as module

    point = get_point(demo, "pump-inspection")
    assert point is not None
    monkeypatch.setattr(module, "CHUNK_CASES", 300)
    chunked = sequences(joined(demo, point), point, floor=0.85)
    keys = ["model_version", "segment", "segment_value", "as_of"]
    a, b = table.sort(keys), chunked.sort(keys)
    assert a.select(keys).equals(b.select(keys))
    for column in a.columns:
        if a[column].dtype == pl.Float64:
            # the running sums restart per run of groups instead of running over every group
            # before, so only their last bits differ
            np.testing.assert_allclose(b[column], a[column], rtol=1e-9, atol=1e-9)
        else:
            assert a[column].equals(b[column]), column


@pytest.mark.parametrize("cut", [0.3, 0.8])
def test_streams_resumed_from_a_days_states_are_the_streams_read_at_once(
    demo: Store, cut: float
) -> None:
    # a daily refresh goes on from yesterday's states with only the cases that matured since;
    # its rows for those days must be those of one run over every case, to the last bit
    point = get_point(demo, "pump-inspection")
    assert point is not None
    streamed = stream(joined(demo, point), point, {"false_negative": 50.0}).collect()
    at = Bounds.of(0.85, 0.05, 0.01, {"false_negative": 50.0})
    whole, states = streams(streamed, point, at)
    keys = ["model_version", "segment", "segment_value", "as_of"]
    days = whole["as_of"].unique().sort()

    def carries_a_chart(day: object) -> bool:
        before = states.filter(pl.col("as_of") < day).sort("as_of")
        return bool((before.group_by(*keys[:3]).last()["cusum"] > 0).any())

    # a cut where some group's CUSUM stands above 0 (most days every chart is back at 0)
    day = next(d for d in days[int(len(days) * cut) :] if carries_a_chart(d))
    resumed, _ = streams(
        streamed.filter(pl.col("as_of") >= day),
        point,
        at,
        resume=states.filter(pl.col("as_of") < day),
    )
    expected = whole.filter(pl.col("as_of") >= day).sort(keys)
    assert resumed.height == expected.height > 100
    assert_frame_equal(resumed.sort(keys), expected, check_exact=True)
    assert expected["gate_cost_difference_upper"].is_not_nan().all()
