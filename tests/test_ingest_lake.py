"""A lake as input: Hive-partitioned folders of Parquet (or CSV, JSON Lines) files, loaded whole
every day, real DuckDB store files, real Parquet lakes written here."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.errors import InvalidLog
from shadow.ingestion import ingest_into, plan_sources
from shadow.ingestion.sources import Partition, partitions_of
from shadow.store import Store

from .conftest import NOW

MAPPING = '[columns]\ndecided_at = "date"\n'  # the day folder is the decision time


def write_day(lake: Path, folder: str, cases: list[str], label: str = "inspect") -> Path:
    """One partition file: decisions without a decision time (it is in the folder name)."""
    path = lake / folder / "part-0.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(
        {
            "case_id": cases,
            "human_label": [label] * len(cases),
            "decided_by": ["dana"] * len(cases),
        }
    ).write_parquet(path)
    return path


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    """lake/decisions/site=<site>/date=<day>/part-0.parquet, three days at two sites."""
    root = tmp_path / "lake" / "decisions"
    for day in ("2026-03-02", "2026-03-03", "2026-03-04"):
        for site in ("hamburg", "kiel"):
            write_day(root, f"site={site}/date={day}", [f"{site}-{day}-{i}" for i in range(3)])
    return root


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "lake.toml"
    path.write_text(MAPPING)
    return path


def ingest(db: Path, source: str | Path, mapping: Path | None, **kw: object) -> list:  # type: ignore[type-arg]
    with Store.open(db) as store:
        return ingest_into(
            store,
            "decisions",
            plan_sources(source),
            point="pump-inspection",
            mapping=mapping,
            now=NOW,
            **kw,  # type: ignore[arg-type]
        )


def run(db: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [*args, "--db", str(db)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def ingest_lake(db: Path, lake: Path, mapping: Path) -> tuple[int, str, str]:
    """`shadow ingest decisions <lake>` with the test's mapping."""
    return run(
        db,
        "ingest",
        "decisions",
        str(lake),
        "--point",
        "pump-inspection",
        "--mapping",
        str(mapping),
    )


def test_partition_values_are_typed_from_the_folder_names() -> None:
    path = Path(
        "/data/env=prod/lake/predictions/site=007/date=2026-01-05/"
        "at=2026-01-05 07%3A30%3A00/region=__HIVE_DEFAULT_PARTITION__/part-0.parquet"
    )
    assert partitions_of(path) == (
        Partition("site", "007"),  # as written: not the number 7
        Partition("date", "2026-01-05", "DATE"),
        Partition("at", "2026-01-05 07:30:00", "TIMESTAMP"),  # URL-decoded
        Partition("region", None),  # Hive's and Spark's null
    )  # env=prod is above the lake, not a partition of its files
    bad = partitions_of(Path("lake/date=2026-02-30/part-0.parquet"))[0]
    assert (bad.value, bad.sql_type) == ("2026-02-30", "VARCHAR")
    assert bad.problem == (
        "the partition value date=2026-02-30 is not a valid date; it was read as text"
    )
    assert partitions_of(Path("lake/predictions/part-0.parquet")) == ()


def test_partition_columns_reach_the_mapping(db: Path, lake: Path, mapping: Path) -> None:
    summaries = ingest(db, lake, mapping)
    assert [s.accepted for s in summaries] == [3] * 6
    # date is used and site is a segment: neither is "ignored"
    assert summaries[0].warnings == [
        "segment columns not in the file, stored empty: region",
        "3 timestamps had no UTC offset and were read as Europe/Berlin time (pump-inspection's"
        " timezone); if they are in another zone, set [timestamps] timezone in the mapping",
    ]
    with Store.open(db, read_only=True) as store:
        rows = store.rows(
            "SELECT segments ->> 'site', decided_at, count(*) FROM decisions GROUP BY ALL"
            " ORDER BY ALL"
        )
    # a date is midnight in the mapping's (here the point's) timezone: Europe/Berlin, UTC+1
    assert rows[0] == ("hamburg", datetime(2026, 3, 1, 23, 0, tzinfo=UTC), 3)
    assert [r[0] for r in rows] == ["hamburg"] * 3 + ["kiel"] * 3
    assert [r[1].date() for r in rows[:3]] == [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def test_loading_the_lake_twice_loads_nothing_the_second_time(
    db: Path, lake: Path, mapping: Path
) -> None:
    code, out, _ = ingest_lake(db, lake, mapping)
    assert code == 0
    assert out.splitlines()[-1] == (
        "6 files loaded, 18 rows read: 18 accepted, 0 duplicates skipped, 0 quarantined."
    )
    with Store.open(db, read_only=True) as store:
        before = store.rows("SELECT load_id, source, content_hash FROM loads ORDER BY 1")
    code, out, _ = ingest_lake(db, lake, mapping)
    assert code == 0
    assert out == (
        "6 of 6 files already loaded (same content, same options): nothing changed"
        " (--force loads them again).\n"
    )
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT load_id, source, content_hash FROM loads ORDER BY 1") == before
        assert store.rows("SELECT count(*) FROM decisions") == [(18,)]


def test_a_new_days_partition_loads_only_that_day(db: Path, lake: Path, mapping: Path) -> None:
    ingest(db, lake, mapping)
    new = write_day(lake, "site=kiel/date=2026-03-05", ["kiel-new-1", "kiel-new-2"])
    summaries = ingest(db, lake, mapping)
    loaded = [s for s in summaries if s.already_loaded_as is None]
    assert [(s.source, s.accepted, s.rows_read) for s in loaded] == [(str(new), 2, 2)]
    assert sum(s.already_loaded_as is not None for s in summaries) == 6
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT count(*), max(decided_at) FROM decisions") == [
            (20, datetime(2026, 3, 4, 23, 0, tzinfo=UTC))
        ]


def test_the_same_file_in_another_partition_is_other_rows(
    db: Path, lake: Path, mapping: Path
) -> None:
    ingest(db, lake, mapping)
    moved = lake / "site=kiel" / "date=2026-03-09" / "part-0.parquet"
    moved.parent.mkdir()
    shutil.copy(lake / "site=kiel" / "date=2026-03-02" / "part-0.parquet", moved)
    (summary,) = ingest(db, moved, mapping)
    assert summary.already_loaded_as is None  # same bytes, another day: not "already loaded"
    assert (summary.accepted, summary.duplicates) == (3, 0)  # a later decision of each case


def test_a_partition_value_that_does_not_parse(db: Path, lake: Path, mapping: Path) -> None:
    bad = write_day(lake, "site=kiel/date=2026-02-30", ["kiel-x-1", "kiel-x-2"])
    (summary,) = ingest(db, bad, mapping)
    assert (summary.rows_read, summary.accepted, summary.quarantined) == (2, 0, 2)
    assert summary.by_reason == {"unparseable_timestamp": 2}
    assert "the partition value date=2026-02-30 is not a valid date; it was read as text" in (
        summary.warnings
    )
    with Store.open(db, read_only=True) as store:
        rows = store.rows(
            "SELECT source_row, reason, original ->> 'date', original ->> 'case_id'"
            " FROM quarantine ORDER BY 1"
        )
    assert rows == [
        (1, "unparseable timestamp '2026-02-30' (decided_at)", "2026-02-30", "kiel-x-1"),
        (2, "unparseable timestamp '2026-02-30' (decided_at)", "2026-02-30", "kiel-x-2"),
    ]
    # the whole lake, bad day included: every row is accepted or quarantined, none lost
    summaries = ingest(db, lake, mapping)
    assert sum(s.accepted for s in summaries) == 18
    assert sum(s.rows_read for s in summaries) == 20


def test_a_lake_mixing_partition_layouts_is_refused(db: Path, lake: Path, mapping: Path) -> None:
    write_day(lake, "site=kiel/day=2026-03-05", ["kiel-new-1"])
    code, _, err = ingest_lake(db, lake, mapping)
    assert code == 1
    assert "Traceback" not in err
    assert (
        f"Error: The files given mix partition layouts: {lake}/site=hamburg/date=2026-03-02/"
        f"part-0.parquet is under site=.../date=..., {lake}/site=kiel/day=2026-03-05/"
        "part-0.parquet under site=.../day=..." in err
    )
    assert "give each partition layout its own load" in err
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT count(*) FROM loads") == [(0,)]


def test_a_partition_with_other_columns(db: Path, lake: Path, mapping: Path) -> None:
    """Mixed schemas: each file is its own load, so one with a column missing is named, the
    files before it are loaded, and once it is fixed the same command loads the rest."""
    broken = lake / "site=hamburg" / "date=2026-03-03" / "part-0.parquet"
    pl.DataFrame({"case_id": ["h-1"], "decision": ["inspect"]}).write_parquet(broken)
    code, _, err = ingest_lake(db, lake, mapping)
    assert code == 1
    assert f"Error: {broken} is missing required columns for decisions: human_label\n" in err
    assert "1 earlier file was loaded (see above)" in err
    write_day(lake, "site=hamburg/date=2026-03-03", ["h-1"])  # fixed
    summaries = ingest(db, lake, mapping)
    assert [s.already_loaded_as is not None for s in summaries] == [True] + [False] * 5
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT count(*) FROM decisions") == [(16,)]


def test_the_files_own_column_wins_over_the_folder(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "lake" / "site=kiel" / "part-0.parquet"
    path.parent.mkdir(parents=True)
    pl.DataFrame(
        {
            "case_id": ["c1"],
            "decided_at": ["2026-03-02 09:00"],
            "human_label": ["inspect"],
            "site": ["hamburg"],
        }
    ).write_parquet(path)
    (summary,) = ingest(db, path, None)
    assert summary.accepted == 1
    assert (
        "the file has its own column 'site': its values are used, not the partition folder's"
        " site=kiel" in summary.warnings
    )
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT segments ->> 'site' FROM decisions") == [("hamburg",)]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_csv_and_json_lines_lakes(db: Path, tmp_path: Path, mapping: Path, fmt: str) -> None:
    folder = tmp_path / "lake" / "site=kiel" / "date=2026-03-02"
    folder.mkdir(parents=True)
    if fmt == "csv":
        (folder / "part-0.csv").write_text("case_id,human_label\nc1,inspect\nc2,no_inspect\n")
    else:
        (folder / "part-0.jsonl").write_text(
            '{"case_id": "c1", "human_label": "inspect"}\n'
            '{"case_id": "c2", "human_label": "no_inspect"}\n'
        )
    (summary,) = ingest(db, tmp_path / "lake", mapping)
    assert summary.accepted == 2
    assert not [w for w in summary.warnings if "ignored" in w]
    with Store.open(db, read_only=True) as store:
        assert store.rows("SELECT DISTINCT segments ->> 'site', decided_at FROM decisions") == [
            ("kiel", datetime(2026, 3, 1, 23, 0, tzinfo=UTC))
        ]


def test_a_partition_key_twice_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidLog, match="the partition key 'date' appears twice"):
        partitions_of(tmp_path / "date=2026-01-01" / "date=2026-01-02" / "part-0.parquet")


def test_recover_reads_the_partitions_again(db: Path, lake: Path, mapping: Path) -> None:
    """`shadow recover` runs each load again from its file: the folders give the same columns."""
    from shadow.recover import recover

    ingest(db, lake, mapping)
    query = "SELECT load_id, case_id, decided_at, segments FROM decisions ORDER BY ALL"
    with Store.open(db, read_only=True) as store:
        before = store.rows(query)
    done = recover(db, mappings=[f"decisions={mapping}"])  # from the store's own record
    assert len(done.loads) == 6 and not done.problems
    with Store.open(db, read_only=True) as store:
        assert store.rows(query) == before
