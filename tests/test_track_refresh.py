"""`shadow refresh` publishes the track record; readers in other processes never block loads or refreshes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.refresh import refresh
from shadow.refresh.cache import cache_path
from shadow.snapshot import open_published
from shadow.store import Store
from shadow.track.tables import TABLES


def test_the_published_snapshot_holds_every_table_and_its_point(demo_db: Path) -> None:
    with open_published(demo_db) as published:
        published.verify()
        assert published.meta["points"] == 1
        assert set(TABLES) <= set(published.tables())
        points = published.table("points")
        assert points["owner"].to_list() == ["Dana Reyes, maintenance lead"]


def test_reading_a_bucket_of_cases_at_a_time_publishes_the_same_numbers(
    demo_db: Path, tmp_path: Path
) -> None:
    # a store too large for memory is read a bucket of cases at a time (by a hash of the case
    # id): with the sample split into a dozen buckets, every published value is the same
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_db, db)
    whole = refresh(db, force=True)
    steps: list[str] = []
    parted = refresh(db, force=True, cases_per_bucket=700, step=steps.append)
    assert "reading the cases of pump-inspection, bucket 12 of 12" in steps
    assert parted.published.content_hash == whole.published.content_hash
    assert parted.published.rows == whole.published.rows
    assert all(n > 0 for name, n in whole.published.rows.items() if name != "signoffs")
    result = CliRunner().invoke(
        cli, ["refresh", "--db", str(db), "--json", "--cases-per-bucket", "1000", "--force"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["content_hash"] == whole.published.content_hash
    bad = CliRunner().invoke(cli, ["refresh", "--db", str(db), "--cases-per-bucket", "10"])
    assert bad.exit_code == 2 and "10 is not in the range x>=1000" in bad.output


def test_a_refresh_with_nothing_new_leaves_the_published_numbers_standing(
    demo_db: Path, tmp_path: Path
) -> None:
    from shadow.ingestion import ingest_into, plan_sources

    db = tmp_path / "daily.duckdb"
    shutil.copyfile(demo_db, db)

    def run(*options: str) -> dict[str, object]:
        result = CliRunner().invoke(cli, ["refresh", "--db", str(db), "--json", *options])
        assert result.exit_code == 0, result.output
        return dict(json.loads(result.stdout))

    def published_at() -> object:
        with open_published(db) as p:
            return p.meta["published_at"]

    first = run()
    assert first["unchanged"] is False
    at = published_at()
    again = run()
    assert again["unchanged"] is True
    assert (again["content_hash"], again["points"]) == (first["content_hash"], first["points"])
    assert published_at() == at  # not published again
    words = CliRunner().invoke(cli, ["refresh", "--db", str(db)]).stdout
    assert "Nothing has changed since the last refresh" in words and "--force" in words
    # --force computes everything again: the same numbers, so the same file (checked whole)
    forced = run("--force")
    assert forced["unchanged"] is False and forced["content_hash"] == first["content_hash"]
    assert forced["snapshot"] == first["snapshot"] and published_at() == at
    # a load, even of one row, is a change
    extra = pl.DataFrame(
        {"case_id": ["NEW-1"], "observed_at": [first_day(db)], "actual_label": ["inspect"]}
    )
    with Store.open(db) as store:
        ingest_into(store, "outcomes", plan_sources(extra), point="pump-inspection")
    after = run()
    assert after["unchanged"] is False and after["content_hash"] != first["content_hash"]


def first_day(db: Path) -> object:
    with Store.open(db, read_only=True) as store:
        return store.rows("SELECT min(decided_at) FROM decisions")[0][0]


def test_what_a_killed_refresh_left_in_the_cache_is_removed_by_the_next(
    demo_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_db, db)
    refresh(db)
    folder = cache_path(db)
    named = sorted(folder.rglob("*"))
    # what a refresh killed mid-way leaves: files the manifest does not name
    point = next(p for p in folder.iterdir() if p.is_dir())
    stray = [point / "streams-2026-01-05-0-dead.arrow", folder / "manifest.json.dead.tmp"]
    for path in stray:
        path.write_bytes(b"partial")
    result = CliRunner().invoke(cli, ["refresh", "--db", str(db), "--force"])
    assert result.exit_code == 0, result.output
    assert not any(path.exists() for path in stray)
    assert len(sorted(folder.rglob("*"))) == len(named)


def test_refresh_says_what_it_computed(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(demo_db, db)
    result = CliRunner().invoke(cli, ["refresh", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    with Store.open(db, read_only=True) as store:
        decided, late = store.rows(
            """
            WITH o AS (SELECT case_id, max(observed_at) AS seen FROM outcomes GROUP BY 1),
            d AS (SELECT DISTINCT case_id FROM decisions LEFT JOIN o USING (case_id)
                  WHERE seen IS NULL OR decided_at < seen)
            SELECT (SELECT count(*) FROM d),
                (SELECT count(DISTINCT (case_id, model_version)) FROM predictions p
                 WHERE NOT EXISTS (SELECT 1 FROM decisions x WHERE x.case_id = p.case_id
                                   AND p.predicted_at <= x.decided_at)
                   AND EXISTS (SELECT 1 FROM d WHERE d.case_id = p.case_id))
            """
        )[0]
    (point,) = summary["points"]
    assert (point["decided"], point["late_predictions"]) == (decided, late)
    assert Path(summary["published"]).name == "copy.published.duckdb"
    assert summary["changed_cases"] is None  # the first refresh reads every case
    text = CliRunner().invoke(cli, ["refresh", "--db", str(db), "--force"]).stdout
    assert f"pump-inspection: {decided:,} cases decided by people" in text
    assert "Published to" in text and "(every case was read)" in text
    # after a load, the next refresh reads again only the cases it touched, and says so
    more = tmp_path / "more.csv"
    more.write_text(
        "case_id,decided_at,human_label,site\nNEW-1,2026-10-09 09:00,inspect,kiel\n"
        "NEW-2,2026-10-09 10:00,no_inspect,kiel\n"
    )
    loaded = CliRunner().invoke(
        cli, ["ingest", "decisions", str(more), "--point", "pump-inspection", "--db", str(db)]
    )
    assert loaded.exit_code == 0, loaded.output
    daily = CliRunner().invoke(cli, ["refresh", "--db", str(db)])
    assert daily.exit_code == 0, daily.output
    assert "2 cases changed since the last refresh were read again" in daily.stdout


def test_nothing_published_yet_says_how_to_publish(tmp_path: Path) -> None:
    from shadow.errors import NotPublished

    with pytest.raises(NotPublished) as e:
        open_published(tmp_path / "none.duckdb")
    assert "shadow refresh" in (e.value.hint or "")


READER = """
import sys, time
from shadow.snapshot import open_published
db, seconds = sys.argv[1], float(sys.argv[2])
seen, reads, end = set(), 0, time.monotonic() + seconds
while time.monotonic() < end and len(seen) < 2:  # until it sees the new numbers
    with open_published(db) as p:
        p.table("numbers").height
        seen.add(p.meta["content_hash"])
        reads += 1
print(reads, len(seen))
"""


@pytest.mark.slow
def test_loads_and_refreshes_never_wait_for_readers(demo_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "live.duckdb"
    shutil.copyfile(demo_db, db)
    shutil.copyfile(demo_db.with_name("demo.published.duckdb"), tmp_path / "live.published.duckdb")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(db), "120"], stdout=subprocess.PIPE, text=True
    )
    time.sleep(1.0)
    more = tmp_path / "more.csv"
    more.write_text("case_id,decided_at,human_label,site\nNEW-1,2026-10-09 09:00,inspect,kiel\n")
    shadow = [sys.executable, "-m", "shadow"]
    for args in (
        ["ingest", "decisions", str(more), "--point", "pump-inspection", "--wait", "0"],
        ["refresh", "--wait", "0"],
    ):
        done = subprocess.run([*shadow, *args, "--db", str(db)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    out, _ = reader.communicate(timeout=60)
    assert reader.returncode == 0
    reads, versions = map(int, out.split())
    assert reads > 3 and versions == 2  # it kept reading, and saw the new numbers

    def decided(path: Path) -> int:
        with open_published(path) as published:
            months = published.table("numbers").filter(
                pl.col("segment") == "all", period="month", scope="period", model_version="v2"
            )
            return int(months["decided"].sum())

    assert decided(db) == decided(demo_db) + 1
