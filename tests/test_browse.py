"""What the app reads (shadow.browse) and draws (shadow.charts), checked against the published tables."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from shadow import browse, charts
from shadow.errors import NotPublished, ShadowError
from shadow.snapshot import open_published

POINT = "pump-inspection"


def published(db: Path, name: str) -> pl.DataFrame:
    with open_published(db) as p:
        return p.table(name)


@pytest.mark.parametrize("segment", [("all", "all"), ("site", "kiel"), ("region", "west")])
@pytest.mark.parametrize("version", ["v1", "v2"])
def test_the_numbers_over_every_day_are_the_published_whole_record(
    demo_db: Path, version: str, segment: tuple[str, str]
) -> None:
    choice = browse.Choice(POINT, version, *segment)
    window = browse.selection(browse.current(demo_db), choice).window
    (whole,) = (
        published(demo_db, "numbers")
        .filter(model_version=version, segment=segment[0], segment_value=segment[1], period="all")
        .to_dicts()
    )
    keys = {
        "point_id",
        "period_start",
        "model_version",
        "segment",
        "segment_value",
        "period",
        "scope",
    }
    assert whole.keys() - window.keys() == keys
    for name, value in window.items():
        if name in whole and isinstance(value, float):
            assert value == pytest.approx(whole[name], nan_ok=True), name
        elif name in whole and name not in {"period", "scope", "segment", "segment_value"}:
            assert value == whole[name], name


def test_a_date_range_sums_the_days_in_it(demo_db: Path) -> None:
    choice = browse.Choice(POINT, "v1", start=date(2026, 3, 2), end=date(2026, 3, 8))
    window = browse.selection(browse.current(demo_db), choice).window
    days = published(demo_db, "numbers").filter(
        model_version="v1", segment="all", period="day", scope="period"
    )
    days = days.filter(pl.col("period_start").is_between(date(2026, 3, 2), date(2026, 3, 8)))
    assert window["paired"] == days["paired"].sum()
    right = days["both_right"].sum() + days["model_right_person_wrong"].sum()
    assert window["model_accuracy"] == pytest.approx(right / days["resolved"].sum())
    # one week chosen: the same counts as that week's published row
    (week,) = (
        published(demo_db, "numbers")
        .filter(model_version="v1", segment="all", period="week", scope="period")
        .filter(period_start=date(2026, 3, 2))
        .to_dicts()
    )
    assert (window["resolved"], window["agree"]) == (week["resolved"], week["agree"])
    assert window["agreement_low"] == pytest.approx(week["agreement_low"])


def test_a_range_with_no_case_has_no_evidence_not_zero(demo_db: Path) -> None:
    choice = browse.Choice(POINT, "v2", start=date(2026, 1, 5), end=date(2026, 1, 11))
    window = browse.selection(browse.current(demo_db), choice).window
    assert window["paired"] == 0
    assert window["model_accuracy"] is None and window["agreement"] is None


def test_the_case_explorer_pages_through_every_disagreement(demo_db: Path) -> None:
    choice = browse.Choice(POINT, "v1", "site", "essen")
    everything = published(demo_db, "disagreements").filter(model_version="v1")
    essen = everything.filter(pl.col("segments").str.contains('"site":"essen"'))
    first = browse.cases(browse.current(demo_db), choice, limit=10)
    assert first.total == essen.height
    seen = []
    for offset in range(0, first.total, 10):
        seen += [
            r["case_id"]
            for r in browse.cases(browse.current(demo_db), choice, limit=10, offset=offset).rows
        ]
    assert sorted(seen) == sorted(essen["case_id"].to_list())
    pending = browse.cases(browse.current(demo_db), choice, who=("disagree_pending",), limit=1000)
    assert pending.total == essen.filter(cell="disagree_pending").height
    assert {r["actual_label"] for r in pending.rows} == {None}
    with pytest.raises(ShadowError, match="Unknown kind"):
        browse.cases(browse.current(demo_db), choice, who=("maybe",))


def test_reasons_are_the_largest_contributions_first() -> None:
    assert browse.reasons('{"a": 0.01, "b": -0.3, "c": 0.2, "d": 0}') == [
        ("b", -0.3),
        ("c", 0.2),
        ("a", 0.01),
    ]
    assert browse.reasons(None) == [] and browse.reasons("not json") == []


def test_who_won_the_disagreements_has_its_range(demo_db: Path) -> None:
    periods = browse.selection(browse.current(demo_db), browse.Choice(POINT, "v2")).periods
    won = browse.disagreements_over_time(periods)
    assert won["model_right"].sum() + won["person_right"].sum() + won["neither_right"].sum() == (
        won["resolved"].sum()
    )
    for r in won.iter_rows(named=True):
        if r["resolved"]:
            assert r["model_share_low"] <= r["model_right"] / r["resolved"] <= r["model_share_high"]
        else:
            assert r["model_share"] is None


def test_nothing_published_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NotPublished, match="There is no store at"):
        browse.current(tmp_path / "none.duckdb")


def test_the_snapshot_lists_versions_newest_first_and_the_days(demo_db: Path) -> None:
    snap = browse.snapshot(browse.current(demo_db))
    assert [v["model_version"] for v in snap.versions[POINT]] == ["v2", "v1"]
    assert ("site", "kiel") in snap.segments[POINT]
    first, last = snap.days[POINT]
    decided = published(demo_db, "numbers").filter(segment="all", period="day", decided=0).height
    assert first <= last and decided >= 0


def test_charts_carry_the_published_values_and_bands(demo_db: Path) -> None:
    sel = browse.selection(browse.current(demo_db), browse.Choice(POINT, "v2"))
    fig = charts.accuracy_figure(sel.cumulative)
    lines = [t for t in fig.data if t.name in ("model", "people")]
    assert list(lines[0].y) == sel.cumulative["model_accuracy"].to_list()
    assert list(lines[1].y) == sel.cumulative["person_accuracy"].to_list()
    assert sum(1 for t in fig.data if t.fill == "tonexty") == 2  # one band each
    assert fig.layout.paper_bgcolor == fig.layout.plot_bgcolor == "rgba(0,0,0,0)"  # any theme
    seg = browse.segments(browse.current(demo_db), browse.Choice(POINT, "v2"), "site")
    heat = charts.heatmap_figure(seg.periods, browse.THIN)
    thin, strong = heat.data
    for row_thin, row_strong in zip(thin.z, strong.z, strict=True):
        for a, b in zip(row_thin, row_strong, strict=True):
            assert a is None or b is None  # a cell is muted or coloured, never both
    assert any(v is not None for row in thin.z for v in row)
    assert not math.isnan(sum(v for row in strong.z for v in row if v is not None))


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_readiness_judges_the_chosen_version_in_the_published_criterion_order(
    demo_db: Path, version: str
) -> None:
    choice = browse.Choice(POINT, version, "site", "essen")
    found = browse.readiness(browse.current(demo_db), choice)
    assert found.judged and found.order[:2] == ("shadow", "advisory")
    (verdict,) = found.verdicts
    gates = published(demo_db, "gates").filter(
        point_id=POINT, model_version=version, segment="site", segment_value="essen"
    )
    advisory = gates.filter(stage="advisory")  # in the order published, as `shadow gates` prints
    assert verdict["model_version"] == version
    assert [c["criterion"] for c in verdict["criteria"]] == advisory["criterion"].to_list()
    assert [c["value"] for c in verdict["criteria"]] == advisory["value"].to_list()
    assert verdict["ready"] == all(advisory["passes"])
    assert found.history.is_empty()
    stages = browse.stages(browse.current(demo_db), choice)
    assert stages is not None
    assert stages.height == published(demo_db, "stages").filter(point_id=POINT).height
