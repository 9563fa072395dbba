"""The app (AppTest): every page renders, and its numbers are the published ones, read here by plain SQL.

The sidebar's choices are set through the page address (query parameters), as a bookmark would:
AppTest drops the sidebar from its element tree after the first run under st.navigation, so the
choice is made before it.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from streamlit.testing.v1 import AppTest

from shadow.cli import cli
from shadow.snapshot import open_published, published_path

APP = Path(__file__).resolve().parents[1] / "app" / "main.py"
POINT = "pump-inspection"
PAGES = ["track_record", "disagreements", "segments", "readiness", "health", "data_quality"]
WHOLE = "period = 'all' AND point_id = 'pump-inspection'"


def open_app(db: Path, page: str | None = None, **params: str | list[str]) -> AppTest:
    """The app over `db` (via SHADOW_DB, set by the caller), on `page`, with these URL parameters."""
    at = AppTest.from_file(str(APP), default_timeout=60)
    for key, value in params.items():
        at.query_params[key] = value
    at.run()
    if page is not None:
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, at.exception
    return at


def sql(db: Path, text: str, **params: Any) -> list[dict[str, Any]]:
    """Plain SQL over the published snapshot: the tests' own reading of the numbers."""
    with open_published(db) as published:
        return published.query(text, params).to_dicts()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def captions(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def texts(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def pct(x: float) -> str:
    return f"{100 * x:.0f}%"


@pytest.fixture
def demo_app(demo_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHADOW_DB", str(demo_db))
    return demo_db


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_without_an_error(demo_app: Path, page: str) -> None:
    at = open_app(demo_app, page)
    assert not at.error
    assert at.title[0].value
    assert "owner: Dana Reyes, maintenance lead" in captions(at)


def test_the_track_record_cards_are_the_published_numbers(demo_app: Path) -> None:
    at = open_app(demo_app)
    (row,) = sql(
        demo_app,
        f"SELECT * FROM numbers WHERE {WHOLE} AND segment = 'all' AND model_version = 'v2'",
    )
    shown = metrics(at)
    assert shown["Cases shadowed"] == f"{row['paired']:,}"  # v2: the newest version by default
    assert shown["Outcome known"] == f"{row['resolved']:,}"
    assert shown["Agreement"] == pct(row["agree"] / row["paired"])
    model = (row["both_right"] + row["model_right_person_wrong"]) / row["resolved"]
    people = (row["both_right"] + row["person_right_model_wrong"]) / row["resolved"]
    assert shown["Model right"] == pct(model)
    assert shown["People right"] == pct(people)
    low, high = row["model_accuracy_low"], row["model_accuracy_high"]
    assert f"95% range {100 * low:.0f}–{100 * high:.0f}%, n = {row['resolved']:,}" in captions(at)
    assert (
        f"the model was right {row['model_right_person_wrong']:,} times and the people"
        f" {row['person_right_model_wrong']:,} times" in texts(at)
    )
    assert len(at.get("plotly_chart")) == 2


def test_a_bookmarked_site_month_and_date_range_shows_those_cases(demo_app: Path) -> None:
    start, end = date(2026, 7, 6), date(2026, 8, 30)
    at = open_app(
        demo_app,
        segment="site = kiel",
        period="month",
        version="v2",
        dates=[start.isoformat(), end.isoformat()],
    )
    (row,) = sql(
        demo_app,
        "SELECT sum(paired) AS paired, sum(resolved) AS resolved, sum(agree) AS agree,"
        " sum(both_right + model_right_person_wrong) AS model_right FROM numbers"
        " WHERE point_id = $point AND model_version = 'v2' AND segment = 'site'"
        " AND segment_value = 'kiel' AND period = 'day' AND scope = 'period'"
        " AND period_start BETWEEN $start AND $end",
        point=POINT,
        start=start,
        end=end,
    )
    shown = metrics(at)
    assert shown["Cases shadowed"] == f"{row['paired']:,}"
    assert shown["Outcome known"] == f"{row['resolved']:,}"
    assert shown["Model right"] == pct(row["model_right"] / row["resolved"])
    assert "site = kiel · decided 2026-07-06 to 2026-08-30" in captions(at)
    assert at.subheader[1].value == "Agreement each month"


def test_the_disagreements_page_counts_and_lists_the_published_disagreements(
    demo_app: Path,
) -> None:
    at = open_app(demo_app, "disagreements", segment="site = kiel")
    counts = sql(
        demo_app,
        "SELECT cell, count(*) AS n, max(decided_at) AS newest FROM disagreements"
        " WHERE point_id = $point AND model_version = 'v2'"
        " AND json_extract_string(segments, '$.site') = 'kiel' GROUP BY cell",
        point=POINT,
    )
    by_cell = {r["cell"]: r["n"] for r in counts}
    shown = metrics(at)
    assert shown["Disagreements"] == f"{sum(by_cell.values()):,}"
    assert shown["Model right"] == f"{by_cell.get('model_right', 0):,}"
    assert shown["People right"] == f"{by_cell.get('person_right', 0):,}"
    assert shown["Outcome pending"] == f"{by_cell.get('disagree_pending', 0):,}"
    assert f"{sum(by_cell.values()):,} disagreements match (site = kiel" in captions(at)
    table = at.dataframe[0].value
    (newest,) = sql(
        demo_app,
        "SELECT case_id, decided_by, score FROM disagreements WHERE point_id = $point"
        " AND model_version = 'v2' AND json_extract_string(segments, '$.site') = 'kiel'"
        " ORDER BY decided_at DESC, case_id LIMIT 1",
        point=POINT,
    )
    assert table["case"][0] == newest["case_id"]
    assert table["decided by"][0] == newest["decided_by"]
    assert table["probability"][0] == pytest.approx(newest["score"])
    assert set(table["segment"].str.contains("site = kiel")) == {True}


def test_the_case_filter_keeps_only_the_chosen_outcome(demo_app: Path) -> None:
    at = open_app(demo_app, "disagreements")
    at.multiselect(key="who").set_value(["person_right"]).run()
    (row,) = sql(
        demo_app,
        "SELECT count(*) AS n FROM disagreements WHERE point_id = $point"
        " AND model_version = 'v2' AND cell = 'person_right'",
        point=POINT,
    )
    assert f"{row['n']:,} disagreements match" in captions(at)
    assert set(at.dataframe[0].value["who was right"]) == {"the person was right"}


def test_the_segments_table_has_each_site_with_its_published_numbers(demo_app: Path) -> None:
    at = open_app(demo_app, "segments", segment="site = kiel")
    rows = sql(
        demo_app,
        f"SELECT segment_value, paired, resolved FROM numbers WHERE {WHOLE}"
        " AND segment = 'site' AND model_version = 'v2' ORDER BY segment_value",
    )
    table = at.dataframe[0].value
    assert table["site"].to_list() == [r["segment_value"] for r in rows]
    assert table["shadowed"].to_list() == [r["paired"] for r in rows]
    assert table["outcome known"].to_list() == [r["resolved"] for r in rows]
    assert len(at.get("plotly_chart")) == 1  # the heatmap


def test_readiness_before_any_sign_off_says_so_and_gives_the_command(demo_app: Path) -> None:
    at = open_app(demo_app, "readiness", segment="site = kiel")
    (stage,) = sql(
        demo_app,
        "SELECT stage FROM stages WHERE point_id = $point AND segment = 'site'"
        " AND segment_value = 'kiel'",
        point=POINT,
    )
    assert stage["stage"] == "shadow"
    assert "Now **shadow** (no sign-off yet). Owner: **Dana Reyes, maintenance lead**." in texts(at)
    assert "No sign-off yet (site = kiel)" in at.info[0].value
    assert [c.value for c in at.code] == [
        f'shadow signoff --point {POINT} --segment site=kiel --to advisory --by "<your name>"'
        f' --reason "..." --db {demo_app}'
    ]


# --- a store with sign-offs: a copy of the demo, two segments signed into advisory ---------------

SIGNER = "Sam Ortiz"
OVERRIDE = "The Kiel crew asked for suggestions; watched weekly"


@pytest.fixture(scope="module")
def signed_db(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo with munich signed up by someone other than the owner, and kiel by override."""
    from shadow.signoffs import sign_off

    db = tmp_path_factory.mktemp("signed") / "signed.duckdb"
    shutil.copy(demo_db, db)
    shutil.copy(published_path(demo_db), published_path(db))
    segment = ("site", "munich")
    sign_off(db, POINT, segment, "advisory", by=SIGNER, reason="Gate passed; engineers briefed")
    owner = "Dana Reyes, maintenance lead"
    sign_off(db, POINT, ("site", "kiel"), "advisory", by=owner, reason="Pilot", override=OVERRIDE)
    return db


@pytest.fixture
def signed_app(signed_db: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHADOW_DB", str(signed_db))
    return signed_db


def stage_order(db: Path) -> list[str]:
    (row,) = sql(db, "SELECT policy FROM points WHERE point_id = $point", point=POINT)
    order: list[str] = json.loads(row["policy"])["stages"]
    return order


def test_readiness_of_a_signed_segment_is_its_published_gate_and_history(signed_app: Path) -> None:
    at = open_app(signed_app, "readiness", segment="site = munich")
    (stage,) = sql(
        signed_app,
        "SELECT stage, since, signed_by, policy_version FROM stages WHERE point_id = $point"
        " AND segment = 'site' AND segment_value = 'munich' AND model_version = 'v2'",
        point=POINT,
    )
    assert (stage["stage"], stage["signed_by"]) == ("advisory", SIGNER)
    order = stage_order(signed_app)
    following = order[order.index(stage["stage"]) + 1]
    gate = sql(
        signed_app,
        "SELECT criterion, value, threshold, passes, cases_needed FROM gates"
        " WHERE point_id = $point AND model_version = 'v2' AND segment = 'site'"
        " AND segment_value = 'munich' AND stage = $stage",
        point=POINT,
        stage=following,
    )
    shown = texts(at)
    assert (
        f"Now **advisory** since {stage['since']:%Y-%m-%d}, signed by {SIGNER}."
        " Owner: **Dana Reyes, maintenance lead**." in shown
    )
    ready = all(g["passes"] for g in gate)
    verdict = "READY" if ready else "not ready"
    assert f"Next stage **{following}**: **{verdict}** (model v2" in shown
    assert f"policy version {stage['policy_version']})" in shown
    checklist = at.table[0].value
    assert len(checklist) == len(gate)
    assert (checklist["result"] == "pass").sum() == sum(g["passes"] for g in gate)
    assert (checklist["result"] == "FAIL").sum() == sum(not g["passes"] for g in gate)
    resolved = next(g for g in gate if g["criterion"] == "resolved")
    row = checklist.loc[checklist["criterion"] == "resolved cases"].iloc[0]
    assert row["evidence"] == f"{resolved['value']:,.0f}"
    assert row["gate"] == f"at least {resolved['threshold']:,.0f}"
    assert row["result"] == ("pass" if resolved["passes"] else "FAIL")
    if not resolved["passes"]:  # how many more, at the current volume
        assert row["evidence needed"].startswith(
            f"about {resolved['cases_needed']:,.0f} more resolved cases ("
        )
    commands = [c.value for c in at.code]
    assert commands[0] == (
        f"shadow signoff --point {POINT} --segment site=munich --to {following}"
        f' --by "<your name>" --reason "..." --db {signed_app}'
    )
    assert "--segment site=munich --to shadow " in commands[1]  # moving back: always allowed

    (signed,) = sql(
        signed_app,
        "SELECT signoff_id, signed_by, owner, reason, override_reason, policy_version, snapshot,"
        " snapshot_hash FROM signoffs WHERE point_id = $point AND segment_value = 'munich'",
        point=POINT,
    )
    history = at.dataframe[0].value
    assert history["#"].to_list() == [signed["signoff_id"]]
    assert history["signed by"][0] == f"{SIGNER} (owner: {signed['owner']})"
    assert history["reason"][0] == signed["reason"]
    assert history["override"][0] == ""
    assert history["policy version"][0] == signed["policy_version"]
    (snapshot,) = at.expander
    assert snapshot.label.startswith(f"Sign-off {signed['signoff_id']}: evidence snapshot")
    assert commands[2] == signed["snapshot"]  # exactly as stored
    assert f"hash {signed['snapshot_hash']}" in captions(at)


def test_an_override_is_shown_with_its_reason(signed_app: Path) -> None:
    at = open_app(signed_app, "readiness", segment="site = kiel")
    (signed,) = sql(
        signed_app,
        "SELECT override_reason, signed_by, owner FROM signoffs WHERE point_id = $point"
        " AND segment_value = 'kiel'",
        point=POINT,
    )
    history = at.dataframe[0].value
    assert history["override"][0] == signed["override_reason"] == OVERRIDE
    assert history["signed by"][0] == signed["signed_by"] == signed["owner"]  # no "(owner: ...)"


def test_readiness_of_every_segment_has_each_published_stage_and_verdict(signed_app: Path) -> None:
    at = open_app(signed_app, "readiness")
    order = stage_order(signed_app)
    stages = sql(
        signed_app,
        "SELECT segment, segment_value, stage, signed_by, review FROM stages"
        " WHERE point_id = $point ORDER BY segment, segment_value",
        point=POINT,
    )
    ready = {
        (r["segment"], r["segment_value"], r["stage"]): r["ready"]
        for r in sql(
            signed_app,
            "SELECT segment, segment_value, stage, bool_and(passes) AS ready FROM gates"
            " WHERE point_id = $point AND model_version = 'v2' GROUP BY ALL",
            point=POINT,
        )
    }
    table = at.dataframe[0].value
    assert table["segment"].to_list() == [f"{s['segment']} = {s['segment_value']}" for s in stages]
    assert table["stage"].to_list() == [
        s["stage"] + (" (REVIEW: demotion alarm)" if s["review"] else "") for s in stages
    ]
    assert table["signed by"].to_list() == [s["signed_by"] or "" for s in stages]
    expected = []
    for s in stages:
        following = order[order.index(s["stage"]) + 1]
        expected.append(
            "READY" if ready[(s["segment"], s["segment_value"], following)] else "not ready"
        )
    assert table["verdict"].to_list() == expected
    assert "Owner of every verdict here: Dana Reyes, maintenance lead." in captions(at)
    history = sql(signed_app, "SELECT signoff_id FROM signoffs ORDER BY signoff_id")
    assert len(at.expander) == len(stages) + len(history)


def test_track_record_and_segments_show_the_published_stage_per_segment(
    signed_app: Path,
) -> None:
    stages = sql(
        signed_app,
        "SELECT segment, segment_value, stage, signed_by FROM stages WHERE point_id = $point"
        " ORDER BY segment, segment_value",
        point=POINT,
    )
    assert {s["stage"] for s in stages} == {"shadow", "advisory"}
    at = open_app(signed_app)
    table = at.dataframe[0].value
    assert table["segment"].to_list() == [f"{s['segment']} = {s['segment_value']}" for s in stages]
    assert table["stage"].to_list() == [s["stage"] for s in stages]
    assert table["signed by"].to_list() == [s["signed_by"] or "" for s in stages]

    at = open_app(signed_app, "segments", segment="site = kiel")
    table = at.dataframe[0].value
    sites = {s["segment_value"]: s["stage"] for s in stages if s["segment"] == "site"}
    assert dict(zip(table["site"], table["stage"], strict=True)) == sites


def doctored(demo_db: Path, tmp_path: Path, *statements: str) -> Path:
    """A copy of the demo whose published snapshot had `statements` run on it (as published)."""
    import duckdb  # the test writes a snapshot as an older Shadow, or another policy, would have

    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    shutil.copy(published_path(demo_db), published_path(db))
    con = duckdb.connect(str(published_path(db)))
    for statement in statements:
        con.execute(statement)
    con.close()
    return db


def test_a_snapshot_of_an_older_format_says_to_refresh(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = doctored(demo_db, tmp_path, "UPDATE _meta SET snapshot_format = snapshot_format - 1")
    monkeypatch.setenv("SHADOW_DB", str(db))
    at = open_app(db)  # the sidebar reads the snapshot first, on every page
    assert f"{published_path(db)} was written by Shadow" in at.error[0].value
    assert "in format" in at.error[0].value and "this Shadow" in at.error[0].value
    assert "run `shadow refresh`" in captions(at)
    assert not at.metric  # no number of a snapshot this Shadow cannot read


def test_a_policy_with_no_stage_after_shadow_has_nothing_to_judge(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = doctored(demo_db, tmp_path, """UPDATE points SET policy = '{"stages": ["shadow"]}'""")
    monkeypatch.setenv("SHADOW_DB", str(db))
    at = open_app(db, "readiness")
    assert "names no stage after shadow" in at.info[0].value
    assert not at.code


def test_model_health_shows_the_published_calibration_and_every_version(demo_app: Path) -> None:
    at = open_app(demo_app, "health")
    (cal,) = sql(
        demo_app,
        "SELECT DISTINCT brier, cases FROM calibration WHERE point_id = $point"
        " AND model_version = 'v2' AND segment = 'all'",
        point=POINT,
    )
    assert metrics(at)["Brier score"] == f"{cal['brier']:.3f}"
    assert f"n = {cal['cases']:,} scored cases" in captions(at)
    versions = at.dataframe[0].value
    assert sorted(versions["version"].to_list()) == ["v1", "v2"]
    assert len(at.get("plotly_chart")) == 3  # calibration, drift, rolling accuracy


def test_data_quality_shows_the_quarantine_and_the_briefings_warnings(demo_app: Path) -> None:
    at = open_app(demo_app, "data_quality")
    (row,) = sql(
        demo_app,
        "SELECT sum(rows_with_reason) AS n FROM loads WHERE point_id = $point"
        " AND reason_code IS NOT NULL",
        point=POINT,
    )
    reasons = at.dataframe[0].value
    assert reasons["rows quarantined"].sum() == row["n"]
    warnings = "\n".join(w.value for w in at.warning)
    assert "At site = dortmund outcomes arrive for" in warnings  # selective labels
    assert "predictions of v2 were logged after the person had decided" in warnings


def test_a_missing_store_says_how_to_build_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHADOW_DB", str(tmp_path / "none.duckdb"))
    at = open_app(tmp_path)
    assert "There is no store at" in at.info[0].value
    assert "`shadow demo`" in at.info[0].value


def test_an_empty_store_says_what_to_run_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "ops.duckdb"
    monkeypatch.setenv("SHADOW_DB", str(db))
    assert CliRunner().invoke(cli, ["init", "--db", str(db)]).exit_code == 0
    at = open_app(db)
    assert "has no published track record yet" in at.info[0].value
    assert f"shadow refresh --db {db}" in at.info[0].value
    assert CliRunner().invoke(cli, ["refresh", "--db", str(db)]).exit_code == 0
    at = open_app(db)
    assert "has no decision point yet" in at.info[0].value


def test_a_point_with_no_outcomes_yet_shows_no_evidence_yet(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    db = tmp_path / "ops.duckdb"
    monkeypatch.setenv("SHADOW_DB", str(db))
    from tests.conftest import POINT_TOML

    point = write("point.toml", POINT_TOML)
    predictions = write(
        "p.csv",
        "case_id,predicted_at,model_version,predicted_label,score,site\n"
        "c1,2026-03-02T08:00:00Z,v1,inspect,0.9,kiel\nc2,2026-03-02T08:00:00Z,v1,no_inspect,0.1,kiel\n",
    )
    decisions = write(
        "d.csv",
        "case_id,decided_at,human_label,decided_by,site\n"
        "c1,2026-03-02T09:00:00Z,inspect,ana,kiel\nc2,2026-03-02T09:00:00Z,inspect,ana,kiel\n",
    )
    runner = CliRunner()
    for args in (
        ["point", "add", str(point)],
        ["ingest", "predictions", str(predictions), "--point", POINT],
        ["ingest", "decisions", str(decisions), "--point", POINT],
        ["refresh"],
    ):
        result = runner.invoke(cli, [*args, "--db", str(db)])
        assert result.exit_code == 0, result.output
    at = open_app(db)
    shown = metrics(at)
    assert shown["Cases shadowed"] == "2"
    assert shown["Agreement"] == "50%"
    assert shown["Model right"] == "no evidence yet"
    assert "No outcome is known yet" in at.info[0].value
    for page in PAGES[1:]:
        at = open_app(db, page)
        assert not at.error, page


def test_a_refresh_shows_new_numbers_without_a_restart(
    demo_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, write: Any
) -> None:
    db = tmp_path / "demo.duckdb"
    shutil.copy(demo_db, db)
    shutil.copy(published_path(demo_db), published_path(db))
    monkeypatch.setenv("SHADOW_DB", str(db))
    at = open_app(db)
    before = metrics(at)["Cases shadowed"]
    more = write(
        "more.csv",
        "case_id,predicted_at,model_version,predicted_label,score,site,region,asset_class\n"
        + "".join(
            f"NEW-{i},2026-10-05T06:00:00Z,v2,inspect,0.8,kiel,north,centrifugal\n"
            for i in range(7)
        ),
    )
    decided = write(
        "more-d.csv",
        "case_id,decided_at,human_label,decided_by,site,region,asset_class\n"
        + "".join(
            f"NEW-{i},2026-10-05T09:00:00Z,inspect,ana,kiel,north,centrifugal\n" for i in range(7)
        ),
    )
    runner = CliRunner()
    for args in (
        ["ingest", "--db", str(db), "predictions", str(more), "--point", POINT],
        ["ingest", "--db", str(db), "decisions", str(decided), "--point", POINT],
        ["refresh", "--db", str(db)],
    ):
        assert runner.invoke(cli, args).exit_code == 0
    at.run()  # the same session, as a reader's next click
    after = metrics(at)["Cases shadowed"]
    assert int(after.replace(",", "")) == int(before.replace(",", "")) + 7


def test_a_promoted_segment_whose_demotion_alarm_fires_is_flagged_for_review(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import UTC, datetime, timedelta

    from shadow.refresh import refresh
    from shadow.signoffs import sign_off
    from tests.test_gates import MATURED, START, build, load, logs

    db = build(tmp_path, "[policy.gates.advisory]\nmin_weeks = 0\n")
    signed_at = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    sign_off(db, "pumps", ("site", "a"), "advisory", by="Dana Reyes", reason="ok", now=signed_at)
    kinds = ["both_right"] * 180 + ["person_right"] * 120  # 60% right after the promotion
    load(db, logs(kinds, 400, START + timedelta(days=14), MATURED + timedelta(days=10)))
    refresh(db)
    (row,) = sql(db, "SELECT stage, review, cases_since FROM stages WHERE point_id = 'pumps'")
    assert (row["stage"], row["review"]) == ("advisory", True)
    monkeypatch.setenv("SHADOW_DB", str(db))
    at = open_app(db, "readiness", segment="site = a")
    (warning,) = at.warning
    assert warning.value.startswith(
        f"REVIEW: since the promotion, {row['cases_since']:,} resolved cases at 60%"
    )
    assert "--segment site=a --to shadow " in at.code[-2].value  # the way back, always allowed
    at = open_app(db)
    assert at.dataframe[0].value["stage"].to_list() == ["advisory (REVIEW: demotion alarm)"]
