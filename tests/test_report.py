"""`shadow report`: the briefing says what the published numbers say, in words, and escapes log values."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.errors import ShadowError
from shadow.ingestion import ingest_into, plan_sources
from shadow.refresh import refresh
from shadow.report import briefing, render
from shadow.snapshot import open_published
from shadow.store import Store


def whole(db: Path, segment: str = "all", value: str = "all") -> pl.DataFrame:
    with open_published(db) as published:
        return published.table("numbers").filter(period="all", segment=segment, segment_value=value)


def test_the_json_briefing_carries_the_published_numbers(demo_db: Path) -> None:
    data = json.loads(render(briefing(demo_db, "pump-inspection"), "json"))
    assert data["point"]["owner"] == "Dana Reyes, maintenance lead"
    published = {r["model_version"]: r for r in whole(demo_db).iter_rows(named=True)}
    assert [v["model_version"] for v in data["versions"]] == ["v2", "v1"]  # newest first
    for v in data["versions"]:
        row = published[v["model_version"]]
        assert (v["paired"], v["agree"], v["resolved"]) == (
            row["paired"],
            row["agree"],
            row["resolved"],
        )
        assert v["model_right_person_wrong"] == row["model_right_person_wrong"]
        assert v["model_accuracy"] == {
            "value": row["model_accuracy"],
            "low": row["model_accuracy_low"],
            "high": row["model_accuracy_high"],
        }


def test_the_markdown_says_it_in_words(demo_db: Path) -> None:
    row = whole(demo_db, "site", "kiel").filter(model_version="v1").row(0, named=True)
    text = render(briefing(demo_db, "pump-inspection", ("site", "kiel")), "md")
    assert text.startswith("# Should this pump be inspected this week? — site = kiel")
    agreement = f"agreed with your people {100 * row['agreement']:.0f}% of the time"
    assert agreement in text
    # binary: a disagreement with a known outcome has exactly one side right
    disagreements = row["model_right_person_wrong"] + row["person_right_model_wrong"]
    assert row["disagree_resolved"] == disagreements
    assert (
        f"Of the {disagreements:,} disagreements with a known outcome, the model was right"
        f" {row['model_right_person_wrong']:,} times and the people"
        f" {row['person_right_model_wrong']:,} times" in text
    )
    assert f"the people {100 * row['person_accuracy']:.0f}%" in text
    assert "Decline alarm" in text or "| v1 | site = kiel |" in text


def test_the_whole_point_warns_about_what_the_sample_hides(demo_db: Path) -> None:
    text = render(briefing(demo_db, "pump-inspection"), "md")
    assert "predictions of v2 were logged after the person had decided" in text
    assert "At site = dortmund outcomes arrive for" in text  # selective labels
    assert "Score drift at site = essen (v1)" in text  # the recalibration
    assert "decisions were changed after the outcome was known" in text


def test_unknown_point_and_segment_say_what_exists(demo_db: Path) -> None:
    with pytest.raises(ShadowError) as e:
        briefing(demo_db, "claims")
    assert "pump-inspection" in (e.value.hint or "")
    with pytest.raises(ShadowError) as e:
        briefing(demo_db, "pump-inspection", ("plant", "x"))
    assert "site" in (e.value.hint or "")
    with pytest.raises(ShadowError) as e:
        briefing(demo_db, "pump-inspection", ("site", "paris"))
    assert "kiel" in (e.value.hint or "")
    result = CliRunner().invoke(
        cli, ["report", "--db", str(demo_db), "--point", "pump-inspection", "--segment", "kiel"]
    )
    assert result.exit_code == 1
    assert "is not column=value" in result.output


def test_html_is_self_contained_and_escapes_log_values(tmp_path: Path) -> None:
    from tests.conftest import register

    db = tmp_path / "hostile.duckdb"
    evil = "<script>alert(1)</script>"
    with Store.open(db, create=True) as store:
        register(store)
        at = datetime(2026, 3, 2, 9, tzinfo=UTC)
        rows = {
            "predictions": pl.DataFrame(
                {
                    "case_id": [evil],
                    "predicted_at": [at],
                    "model_version": [evil],
                    "predicted_label": ["inspect"],
                    "score": [0.9],
                    "site": [evil],
                }
            ),
            "decisions": pl.DataFrame(
                {
                    "case_id": [evil],
                    "decided_at": [at],
                    "human_label": ["no_inspect"],
                    "site": [evil],
                }
            ),
            "outcomes": pl.DataFrame(
                {"case_id": [evil], "observed_at": [at.replace(day=9)], "actual_label": ["inspect"]}
            ),
        }
        for log, frame in rows.items():
            ingest_into(store, log, plan_sources(frame), point="pump-inspection")
    refresh(db)
    page = render(briefing(db, "pump-inspection", ("site", evil)), "html")
    assert evil not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script src" not in page  # Plotly is inlined: the file works offline
    assert page.count("<script") == page.count("</script>")


def test_numbers_published_in_an_older_format_ask_for_a_refresh(
    demo_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shadow import snapshot

    # a newer Shadow reads what this one published: one check at open, for every reader
    monkeypatch.setattr(snapshot, "SNAPSHOT_FORMAT", snapshot.SNAPSHOT_FORMAT + 1)
    with pytest.raises(ShadowError) as e:
        briefing(demo_db, "pump-inspection")
    assert f"in format {snapshot.SNAPSHOT_FORMAT - 1}; this Shadow" in str(e.value)
    assert e.value.hint is not None and "shadow refresh" in e.value.hint
