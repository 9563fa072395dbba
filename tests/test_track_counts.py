"""The joined counts per version, segment and period equal a second implementation in plain DuckDB SQL.

The SQL below is written from DESIGN.md's joining rules, independently of the Polars job.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from shadow.points import get_point, parse_point
from shadow.store import Store
from tests.conftest import POINT_TOML
from tests.records import RECORDS
from tests.support import confusion, joined
from tests.support import counts as count

SQL = f"""
{RECORDS},
versions AS (SELECT DISTINCT model_version FROM predictions),
in_time AS (
    SELECT p.case_id, p.model_version, arg_max(p.predicted_label, p.predicted_at) AS model
    FROM predictions p JOIN decision d USING (case_id)
    WHERE p.predicted_at <= d.decided_at
    GROUP BY ALL
),
late AS (
    SELECT DISTINCT p.case_id, p.model_version FROM predictions p JOIN decision d USING (case_id)
    WHERE NOT EXISTS (
        SELECT 1 FROM in_time i WHERE i.case_id = p.case_id AND i.model_version = p.model_version
    )
),
cases AS (
    SELECT d.*, v.model_version, i.model, o.actual, l.case_id IS NOT NULL AS is_late,
        date_trunc('week', timezone('Europe/Berlin', d.decided_at))::DATE AS week
    FROM decision d CROSS JOIN versions v
    LEFT JOIN in_time i ON i.case_id = d.case_id AND i.model_version = v.model_version
    LEFT JOIN late l ON l.case_id = d.case_id AND l.model_version = v.model_version
    LEFT JOIN outcome o ON o.case_id = d.case_id
)
SELECT model_version, site AS segment_value, week AS period_start,
    count(*)::INT AS decided,
    count(model)::INT AS paired,
    count(*) FILTER (model = human)::INT AS agree,
    count(*) FILTER (model IS NOT NULL AND actual IS NOT NULL)::INT AS resolved,
    count(*) FILTER (model = actual AND human = actual)::INT AS both_right,
    count(*) FILTER (model = actual AND human <> actual)::INT AS model_right_person_wrong,
    count(*) FILTER (model <> actual AND human = actual)::INT AS person_right_model_wrong,
    count(*) FILTER (model <> actual AND human <> actual)::INT AS both_wrong,
    count(*) FILTER (model IS NOT NULL AND actual IS NULL AND model <> human)::INT AS disagree_pending,
    count(*) FILTER (actual IS NOT NULL AND model <> human)::INT AS disagree_resolved,
    count(*) FILTER (is_late)::INT AS late_predictions
FROM cases GROUP BY ALL ORDER BY ALL
"""
COLUMNS = [
    "model_version",
    "segment_value",
    "period_start",
    "decided",
    "paired",
    "agree",
    "resolved",
    "both_right",
    "model_right_person_wrong",
    "person_right_model_wrong",
    "both_wrong",
    "disagree_pending",
    "disagree_resolved",
    "late_predictions",
]


@pytest.fixture(scope="module")
def counts(demo: Store) -> pl.DataFrame:
    point = get_point(demo, "pump-inspection")
    assert point is not None
    return count(joined(demo, point).cached(), point).collect()


def test_weekly_counts_per_site_equal_plain_sql(demo: Store, counts: pl.DataFrame) -> None:
    expected = demo.frame(SQL)
    got = (
        counts.filter(segment="site", period="week", scope="period")
        .select(COLUMNS)
        .with_columns(pl.exclude("model_version", "segment_value", "period_start").cast(pl.Int32))
        .sort("model_version", "segment_value", "period_start")
    )
    assert got.height == expected.height > 12 * 40
    assert got.equals(expected.select(COLUMNS))


def test_cumulative_rows_are_running_sums_and_the_last_one_is_the_whole_log(
    demo: Store, counts: pl.DataFrame
) -> None:
    whole = demo.frame(
        f"SELECT model_version, sum(paired) AS paired, sum(both_right) AS br FROM ({SQL}) GROUP BY 1 ORDER BY 1"
    )
    for period in ("day", "week", "month"):
        last = (
            counts.filter(segment="all", period=period, scope="cumulative")
            .sort("period_start")
            .group_by("model_version", maintain_order=True)
            .last()
            .sort("model_version")
        )
        assert last["paired"].to_list() == whole["paired"].to_list(), period
        assert last["both_right"].to_list() == whole["br"].to_list(), period


def test_every_cell_adds_up(counts: pl.DataFrame) -> None:
    cells = [
        "both_right",
        "model_right_person_wrong",
        "person_right_model_wrong",
        "both_wrong",
        "agree_pending",
        "disagree_pending",
    ]
    assert (counts.select(pl.sum_horizontal(cells)).to_series() == counts["paired"]).all()
    assert (counts["paired"] + counts["late_predictions"] <= counts["decided"]).all()


def test_a_hand_worked_case_set() -> None:
    """Four cases, every rule of DESIGN.md's joining once, counted by hand."""
    point = parse_point(POINT_TOML)
    t = lambda day, hour=9: datetime(2026, 3, day, hour, tzinfo=UTC)  # noqa: E731
    store = Store.memory()
    from tests.conftest import register

    register(store)
    rows = {
        "predictions": [
            ("c1", t(2, 7), "v1", "inspect"),  # in time
            ("c1", t(2, 8), "v1", "no_inspect"),  # later, still before the decision: counts
            ("c2", t(2, 10), "v1", "inspect"),  # after the decision: late
            ("c3", t(2, 7), "v1", "no_inspect"),
            ("c4", t(2, 7), "v1", "inspect"),  # never decided
        ],
        "decisions": [
            ("c1", t(2), "no_inspect"),
            ("c2", t(2), "inspect"),
            ("c3", t(2), "no_inspect"),
            ("c3", t(3), "inspect"),  # revised before the outcome: this one counts
            ("c3", t(9), "no_inspect"),  # changed after the outcome: ignored
        ],
        "outcomes": [
            ("c1", t(5), "inspect"),
            ("c1", t(6), "no_inspect"),  # a correction: the latest counts
            ("c3", t(8), "inspect"),
        ],
    }
    for log, values in rows.items():
        cols = {
            "predictions": ["case_id", "predicted_at", "model_version", "predicted_label"],
            "decisions": ["case_id", "decided_at", "human_label"],
            "outcomes": ["case_id", "observed_at", "actual_label"],
        }[log]
        from shadow.ingestion import ingest_into, plan_sources

        frame = pl.DataFrame(values, schema=cols, orient="row").with_columns(site=pl.lit("kiel"))
        if log == "outcomes":
            frame = frame.drop("site")
        ingest_into(store, log, plan_sources(frame), point="pump-inspection", now=t(20))
    got = count(joined(store, point), point).collect()
    row = got.filter(segment="all", period="month", scope="period").to_dicts()
    assert len(row) == 1
    r = row[0]
    # c1: model no_inspect (latest in time), person no_inspect, outcome no_inspect -> both right
    # c2: late; c3: model no_inspect, person inspect (revision), outcome inspect -> person right
    assert (r["decided"], r["paired"], r["late_predictions"], r["scored_not_decided"]) == (
        3,
        2,
        1,
        1,
    )
    assert (r["both_right"], r["person_right_model_wrong"], r["agree"]) == (1, 1, 1)
    assert (
        r["outcomes_corrected"],
        r["decisions_changed_after_outcome"],
        r["decisions_revised"],
    ) == (1, 1, 1)


def test_the_rates_and_tests_equal_statsmodels_on_the_sql_counts(
    demo: Store, counts: pl.DataFrame
) -> None:
    """Kiel, v1, all weeks: every rate recomputed from the SQL counts with statsmodels and scipy."""
    import numpy as np
    from statsmodels.stats.contingency_tables import mcnemar
    from statsmodels.stats.inter_rater import cohens_kappa
    from statsmodels.stats.proportion import proportion_confint

    from shadow.track.numbers import numbers

    point = get_point(demo, "pump-inspection")
    assert point is not None
    sql = demo.frame(
        f"SELECT sum(paired) AS paired, sum(agree) AS agree, sum(both_right) AS a,"
        f" sum(model_right_person_wrong) AS b, sum(person_right_model_wrong) AS c,"
        f" sum(both_wrong) AS d FROM ({SQL}) WHERE model_version = 'v1' AND segment_value = 'kiel'"
    ).row(0, named=True)
    row = (
        numbers(counts, point)
        .filter(segment="site", segment_value="kiel", model_version="v1", period="month")
        .filter(scope="cumulative")
        .sort("period_start")
        .row(-1, named=True)
    )
    a, b, c, d = (int(sql[k]) for k in "abcd")
    n = a + b + c + d
    assert row["resolved"] == n and row["paired"] == sql["paired"]
    assert row["model_accuracy"] == pytest.approx((a + b) / n)
    low, high = proportion_confint(a + b, n, method="wilson")
    assert (row["model_accuracy_low"], row["model_accuracy_high"]) == pytest.approx((low, high))
    low, high = proportion_confint(a + c, n, method="wilson")
    assert (row["person_accuracy_low"], row["person_accuracy_high"]) == pytest.approx((low, high))
    low, high = proportion_confint(sql["agree"], sql["paired"], method="wilson")
    assert (row["agreement_low"], row["agreement_high"]) == pytest.approx((low, high))
    assert row["mcnemar_exact_p"] == pytest.approx(mcnemar([[a, b], [c, d]], exact=True).pvalue)
    assert row["difference"] == pytest.approx((b - c) / n)
    assert row["difference_low"] < row["difference"] < row["difference_high"]
    table = np.array(
        [
            [row["both_positive"], row["model_only_positive"]],
            [row["person_only_positive"], row["both_negative"]],
        ]
    )
    brier = demo.frame(
        SQL.replace("i.model, o.actual", "i.model, i.score, o.actual")
        .replace(
            "arg_max(p.predicted_label, p.predicted_at) AS model",
            "arg_max(p.predicted_label, p.predicted_at) AS model, arg_max(p.score, p.predicted_at) AS score",
        )
        .split("SELECT model_version, site AS segment_value")[0]
        + " SELECT avg(power(score - (actual = 'inspect')::INT, 2)) AS brier FROM cases"
        " WHERE model_version = 'v1' AND site = 'kiel' AND model IS NOT NULL AND actual IS NOT NULL"
    )["brier"][0]
    assert row["brier"] == pytest.approx(brier, abs=1e-8)
    kappa = cohens_kappa(table)
    assert (row["kappa"], row["kappa_low"], row["kappa_high"]) == pytest.approx(
        (kappa.kappa, kappa.kappa_low, kappa.kappa_upp)
    )


def test_no_evidence_is_null_never_zero(demo: Store, counts: pl.DataFrame) -> None:
    from shadow.track.numbers import numbers

    point = get_point(demo, "pump-inspection")
    assert point is not None
    table = numbers(counts, point)
    empty = table.filter(pl.col("resolved") == 0)
    assert empty.height > 0  # e.g. v2 before it ran, and the newest days
    for name in ("model_accuracy", "person_accuracy", "difference", "model_accuracy_low"):
        assert empty[name].null_count() == empty.height, name
    unpaired = table.filter(pl.col("paired") == 0)
    assert unpaired["agreement"].null_count() == unpaired.height


def test_rolling_rows_sum_the_week_and_the_three_before(counts: pl.DataFrame) -> None:
    keys = ["model_version", "segment", "segment_value", "period_start"]
    weekly = counts.filter(period="week", scope="period").sort(keys)
    rolling = counts.filter(scope="rolling").sort(keys)
    by_week = {
        (r["model_version"], r["segment"], r["segment_value"], r["period_start"]): r["resolved"]
        for r in weekly.iter_rows(named=True)
    }
    from datetime import timedelta

    for r in rolling.iter_rows(named=True):
        group = (r["model_version"], r["segment"], r["segment_value"])
        expected = sum(
            by_week.get((*group, r["period_start"] - timedelta(weeks=k)), 0) for k in range(4)
        )
        assert r["resolved"] == expected


def test_confusion_tables_agree_with_the_counts(demo: Store, counts: pl.DataFrame) -> None:
    point = get_point(demo, "pump-inspection")
    assert point is not None
    table = confusion(joined(demo, point), point)
    whole = counts.filter(period="all")
    for row in whole.iter_rows(named=True):
        cells = table.filter(
            model_version=row["model_version"],
            segment=row["segment"],
            segment_value=row["segment_value"],
        )
        if cells.is_empty():
            assert row["paired"] == 0
            continue
        diagonal = cells.filter(pl.col("row_label") == pl.col("column_label"))
        by_table = dict(diagonal.group_by("table").agg(pl.col("cases").sum()).iter_rows())
        totals = dict(cells.group_by("table").agg(pl.col("cases").sum()).iter_rows())
        a, b, c = (
            row["both_right"],
            row["model_right_person_wrong"],
            row["person_right_model_wrong"],
        )
        assert by_table["model"] == a + b and by_table["person"] == a + c
        assert by_table["agreement"] == row["agree"]
        assert totals["model"] == totals["person"] == row["resolved"]
        assert totals["agreement"] == row["paired"]
        assert cells.height == 3 * len(point.labels) ** 2
