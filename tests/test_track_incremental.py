"""A refresh after a daily load reads again only the cases that load changed."""

from __future__ import annotations

import errno
import shutil
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shadow.errors import StoreError
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import get_point
from shadow.refresh import refresh
from shadow.refresh.cache import MANIFEST, cache_path
from shadow.refresh.records import read_bucket, read_changed
from shadow.snapshot import open_published
from shadow.store import Store
from shadow.track.join import Records

POINT = "pump-inspection"


def _daily_load(store: Store, index: int = 0) -> set[str]:
    """A day's loads into the sample: outcomes for pending cases, corrections of known ones, and
    new cases decided and scored; from the second day on, also a pending case decided again a
    week later (its counts move to another week) and a new model version scoring cases after
    they were decided (late predictions). Returns every case id they name."""
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
    new = [f"NEW-{index}-{i:03d}" for i in range(15)]
    first = store.rows("SELECT min(decided_at) FROM decisions")[0][0]
    decisions = pl.DataFrame(
        {
            "case_id": new,
            "decided_at": [day + timedelta(minutes=i) for i in range(15)],
            "human_label": ["inspect", "no_inspect", "no_inspect"] * 5,
            "decided_by": "a.tester",
            # from the third day, a new site (new groups in every table)
            "site": "kiel" if index < 2 else "luebeck",
            "region": "north",
            "asset_class": "centrifugal",
        }
    )
    if index:  # a case from the first week, logged only now (the drift reference changes)
        decisions = pl.concat(
            [
                decisions,
                decisions.head(1).with_columns(
                    case_id=pl.lit(f"OLD-{index}"),
                    decided_at=pl.lit(first + timedelta(hours=index)),
                ),
            ]
        )
        new.append(f"OLD-{index}")
    predictions = decisions.select(
        "case_id",
        predicted_at=pl.col("decided_at") - timedelta(hours=1),
        model=pl.lit("pump-risk"),
        model_version=pl.lit("v2"),
        predicted_label=pl.lit("inspect"),
        score=pl.lit(0.7),
    )
    moved = store.frame(
        """
        SELECT case_id, max(decided_at) + INTERVAL 8 DAY AS decided_at, 'inspect' AS human_label,
            'a.tester' AS decided_by, 'kiel' AS site, 'north' AS region,
            'centrifugal' AS asset_class
        FROM decisions WHERE case_id NOT IN (SELECT case_id FROM outcomes)
            AND case_id NOT LIKE 'NEW-%'
        GROUP BY case_id ORDER BY case_id LIMIT $n OFFSET $skip
        """,
        {"n": 1 if index else 0, "skip": 30 * index},
    )
    later = pl.concat([decisions, moved], how="vertical_relaxed").select(
        "case_id",
        predicted_at=pl.col("decided_at") + timedelta(hours=2),
        model=pl.lit("pump-risk"),
        model_version=pl.lit("v3"),
        predicted_label=pl.lit("no_inspect"),
        score=pl.lit(0.2),
    )
    for log, frame in (
        ("outcomes", pl.concat([late, corrected])),
        ("decisions", pl.concat([decisions, moved], how="vertical_relaxed")),
        ("predictions", pl.concat([predictions, later]) if index else predictions),
    ):
        ingest_into(store, log, plan_sources(frame), point=POINT)
    return {*late["case_id"], *corrected["case_id"], *new, *moved["case_id"]}


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
        now, before, changed = read_changed(store, point, since)
        whole, then = read_bucket(store, point), read_bucket(store, point, upto=since)
    assert set(changed) == set(now.cases["case_id"]) == touched
    assert set(_named(now)["case_id"]) <= touched
    # as the logs stand now, and as they stood before the day's loads (the new cases had none)
    for got, full in (
        (now.cases, whole.cases),
        (_named(now), _named(whole)),
        (before.cases, then.cases),
        (_named(before), _named(then)),
    ):
        keys = [c for c in ("case_id", "model_version") if c in full.columns]
        expected = full.filter(pl.col("case_id").is_in(list(touched))).sort(keys)
        assert_frame_equal(got.sort(keys), expected, check_exact=True)
    assert not set(before.cases["case_id"]) & {c for c in touched if c.startswith("NEW-")}
    # and nothing changed since the last load reads nothing
    with Store.open(db, read_only=True) as store:
        last = store.rows("SELECT max(load_id) FROM loads")[0][0]
        nothing, _, none = read_changed(store, point, last)
    assert nothing.cases.is_empty() and nothing.predictions.is_empty() and none.is_empty()


def _named(records: Records) -> pl.DataFrame:
    """The predictions of record, each naming its case by id (a decided case's is that of its
    row among the records' cases)."""
    ids = records.cases["case_id"].gather(records.predictions["case_row"])
    return records.predictions.with_columns(case_id=pl.coalesce("case_id", ids)).drop("case_row")


def _published(db: Path) -> dict[str, pl.DataFrame]:
    with open_published(db) as snapshot:
        return {name: snapshot.table(name) for name in snapshot.tables()}


def _assert_same_published(db: Path, other: Path, *, but: tuple[str, ...] = ()) -> None:
    """The two stores publish the same tables, to the last bit (except the tables `but`)."""
    got, expected = _published(db), _published(other)
    assert sorted(got) == sorted(expected)
    for name in sorted(set(expected) - set(but)):
        if name == "disagreements":
            # in no published order: a daily publish keeps the weeks that stand where they are
            # (readers sort, sql/published/disagreement_cases.sql)
            keys = ["point_id", "decided_at", "case_id", "model_version"]
            got[name], expected[name] = got[name].sort(keys), expected[name].sort(keys)
        assert_frame_equal(got[name], expected[name], check_exact=True)


def _cache_as_it_is(db: Path) -> tuple[str, list[Path]]:
    """The cache beside `db`: what its manifest says, and every file in its folder."""
    folder = cache_path(db)
    return (folder / MANIFEST).read_text(), sorted(folder.rglob("*"))


def _full_disk_for(monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
    """From now on, writing a file whose name starts with `prefix` fails as on a full disk."""
    write = pl.DataFrame.write_ipc

    def full_disk(frame: pl.DataFrame, file: Path, *args: object, **kwargs: object) -> None:
        if Path(file).name.startswith(prefix):
            raise OSError(errno.ENOSPC, "No space left on device", str(file))
        write(frame, file, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pl.DataFrame, "write_ipc", full_disk)


def test_a_daily_refresh_publishes_what_a_refresh_of_every_case_does(
    db: Path, tmp_path: Path
) -> None:
    assert refresh(db).changed_cases is None  # no cache yet: every case is read
    for day in range(4):
        with Store.open(db) as store:
            since = store.rows("SELECT max(load_id) FROM loads")[0][0]
            touched = _daily_load(store, day)
            # the cases with a row the day's loads accepted (some repeat a row: skipped)
            (accepted,) = store.rows(
                """
                SELECT count(DISTINCT case_id) FROM (
                    SELECT case_id, load_id FROM decisions UNION ALL
                    SELECT case_id, load_id FROM predictions UNION ALL
                    SELECT case_id, load_id FROM outcomes
                ) WHERE load_id > $since
                """,
                {"since": since},
            )[0]
        daily = refresh(db)
        assert daily.changed_cases == accepted <= len(touched)
        # the same store without the cache beside it: a refresh reads every case
        whole = tmp_path / f"whole-{day}.duckdb"
        shutil.copy(db, whole)
        full = refresh(whole)
        assert full.changed_cases is None
        with open_published(db) as snapshot:
            snapshot.verify()  # every table, the disagreements a week at a time, as published
        _assert_same_published(db, whole)
        assert daily.published.content_hash == full.published.content_hash


def test_a_refresh_in_buckets_leaves_the_cache_a_refresh_in_one_bucket_does(
    db: Path, tmp_path: Path
) -> None:
    # the daily refresh that goes on from a cache written a bucket of cases at a time publishes
    # what one going on from a refresh in one bucket does
    parted = tmp_path / "parted.duckdb"
    shutil.copy(db, parted)
    whole, in_parts = refresh(db), refresh(parted, cases_per_bucket=700)
    assert in_parts.published.content_hash == whole.published.content_hash
    for each in (db, parted):
        with Store.open(each) as store:
            _daily_load(store)
    daily, daily_parted = refresh(db), refresh(parted)
    assert daily_parted.changed_cases == daily.changed_cases is not None
    # (the loads differ: the day's loads were made apart, at other moments)
    _assert_same_published(parted, db, but=("loads",))


@pytest.mark.parametrize(("cases_per_bucket", "kind"), [(10_000, "streams-"), (700, "scores-")])
def test_a_refresh_that_cannot_write_its_cache_says_the_disk_is_full_and_changes_nothing(
    db: Path, monkeypatch: pytest.MonkeyPatch, cases_per_bucket: int, kind: str
) -> None:
    first = refresh(db)
    before = _cache_as_it_is(db)
    _full_disk_for(monkeypatch, kind)
    with pytest.raises(StoreError, match="the disk is full"):
        refresh(db, force=True, cases_per_bucket=cases_per_bucket)
    with open_published(db) as snapshot:
        assert snapshot.meta["content_hash"] == first.published.content_hash
    # the cache is the one the first refresh left, and nothing the second wrote stays beside it
    assert _cache_as_it_is(db) == before
