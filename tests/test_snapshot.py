"""The published snapshot: types survive, the hash means something, readers never block a load.

Real files and real processes: a reader process reads the snapshot over and over while this
process publishes new versions and loads rows into the store; and a publishing process is killed
with SIGKILL at moments spread over a whole publish.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from shadow import snapshot
from shadow.errors import NotPublished, StoreError
from shadow.hashing import content_hash, table_hash
from shadow.ingestion import ingest_into, plan_sources
from shadow.snapshot import (
    GRACE_SECONDS,
    SNAPSHOT_FORMAT,
    Published,
    Reuse,
    current,
    open_published,
    open_snapshot,
    publish,
    published_path,
    snapshots_folder,
)
from shadow.store import Store
from tests.conftest import NOW

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="uses SIGKILL and POSIX renames"
)


def numbers(version: int, rows: int = 1_000) -> dict[str, pl.DataFrame]:
    """Two tables that both carry the version, so a reader can tell if it ever mixed two."""
    return {
        "numbers": pl.DataFrame(
            {"version": [version] * rows, "i": range(rows), "x": [i / 7 for i in range(rows)]}
        ),
        "periods": pl.DataFrame(
            {
                "version": [version] * 3,
                "week": [date(2026, 1, 5), date(2026, 1, 12), date(2026, 1, 19)],
                "agreement": [0.8, None, 0.85],
            }
        ),
    }


def leftovers(db: Path) -> list[str]:
    """Anything in the store's or the snapshots' folder that a publish made and did not clean up."""
    folders = [db.parent, snapshots_folder(db)]
    return sorted(
        p.name for f in folders if f.is_dir() for p in f.iterdir() if p.name.startswith(".")
    )


# --- a big table published a week at a time ----------------------------------------------------


def _cases(values: dict[str, list[str]]) -> pl.DataFrame:
    """One row per case: week A's cases on 2026-01-05, week B's on 2026-01-12 (UTC)."""
    days = {"A": datetime(2026, 1, 5, 9, tzinfo=UTC), "B": datetime(2026, 1, 12, 9, tzinfo=UTC)}
    return pl.DataFrame(
        [
            (f"{week}{i}", days[week] + timedelta(hours=i), cell)
            for week, cells in values.items()
            for i, cell in enumerate(cells)
        ],
        schema={"case_id": pl.String, "decided_at": pl.Datetime("us", "UTC"), "cell": pl.String},
        orient="row",
    )


def test_a_publish_keeps_the_weeks_that_did_not_change_from_the_previous_file(
    tmp_path: Path,
) -> None:
    db, elsewhere = tmp_path / "a" / "shadow.duckdb", tmp_path / "b" / "shadow.duckdb"
    db.parent.mkdir()
    elsewhere.parent.mkdir()
    chunked = {"cases": "decided_at"}
    first = publish(
        db, {"cases": _cases({"A": ["pending", "right"], "B": ["pending"]})}, chunked=chunked
    )
    # week B changed (the same number of rows): only it is written and hashed again
    second = _cases({"A": ["pending", "right"], "B": ["wrong"]})
    reused = publish(
        db,
        {"cases": second},
        chunked=chunked,
        reuse=Reuse(first.content_hash, {"cases": ["2026-01-12"]}),
    )
    fresh = publish(elsewhere, {"cases": second}, chunked=chunked)
    assert reused.content_hash == fresh.content_hash != first.content_hash
    with open_published(db) as snapshot:
        snapshot.verify()
        assert_frame_equal(snapshot.table("cases").sort("case_id"), second)
        weeks = snapshot.query("SELECT week, rows FROM _chunks ORDER BY week").rows()
    assert weeks == [(date(2026, 1, 5), 2), (date(2026, 1, 12), 1)]
    # what stands is taken from the previous file, not from the new table: a caller that leaves
    # a changed week out keeps its old rows (this is what makes a daily publish cheap)
    lying = _cases({"A": ["wrong", "right"], "B": ["wrong"]})
    publish(db, {"cases": lying}, chunked=chunked, reuse=Reuse(reused.content_hash, {"cases": []}))
    with open_published(db) as snapshot:
        assert snapshot.table("cases").sort("case_id")["cell"].to_list() == [
            "pending",
            "right",
            "wrong",
        ]
    # a previous snapshot other than the one named, or a week said to stand that now has another
    # number of rows: everything is written again
    current = publish(db, {"cases": second}, chunked=chunked).content_hash
    for name, cells in (("not-this-one", ["wrong", "right"]), (None, ["wrong", "right", "right"])):
        grown = _cases({"A": cells, "B": ["wrong"]})
        reuse = Reuse(name or current, {"cases": []})
        current = publish(db, {"cases": grown}, chunked=chunked, reuse=reuse).content_hash
        with open_published(db) as snapshot:
            snapshot.verify()
            assert_frame_equal(snapshot.table("cases").sort("case_id"), grown)
        assert current == publish(elsewhere, {"cases": grown}, chunked=chunked).content_hash


# --- types and meta ----------------------------------------------------------------------------


def every_type() -> pl.DataFrame:
    berlin = pl.Datetime("us", "Europe/Berlin")
    return pl.DataFrame(
        {
            "int": pl.Series([1, None, -3], dtype=pl.Int64),
            "small": pl.Series([1, 2, 3], dtype=pl.UInt8),
            "float": [1.5, None, float("nan")],
            "text": ["a", None, "line\nbreak"],
            "flag": [True, False, None],
            "day": [date(2026, 1, 5), None, date(2026, 2, 1)],
            "utc": pl.Series([datetime(2026, 1, 5, 8, tzinfo=UTC), None, None]),
            "local": pl.Series([datetime(2026, 1, 5, 8), datetime(2026, 7, 5, 8), None])
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("Europe/Berlin")
            .cast(berlin),
            "naive": [datetime(2026, 1, 5, 8), None, datetime(2026, 1, 5, 9, 30, 0, 123)],
            "clock": [clock(8, 0), None, clock(23, 59, 59)],
            "money": pl.Series([Decimal("1.25"), None, Decimal("-2.50")]),
            "site": pl.Series(["kiel", "essen", "kiel"], dtype=pl.Categorical),
            "raw": [b"\x00\x01", None, b""],
            "labels": [["inspect"], [], None],
            "interval": [{"low": 0.1, "high": 0.9}, {"low": None, "high": 0.5}, None],
            "pair": pl.Series([[1, 2], [3, 4], None], dtype=pl.Array(pl.Int64, 2)),
        }
    )


def test_the_snapshot_is_published_beside_the_store(tmp_path: Path) -> None:
    assert published_path(tmp_path / "shadow.duckdb") == tmp_path / "shadow.published.duckdb"
    assert published_path("x/ops.db") == Path("x/ops.db.published.duckdb")
    assert snapshots_folder(tmp_path / "shadow.duckdb") == tmp_path / "shadow.snapshots"


def test_the_link_names_a_file_named_by_its_content(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    result = publish(db, numbers(1))
    link = published_path(db)
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()  # a moved folder works
    assert current(db) == result.path == snapshots_folder(db) / f"{result.content_hash}.duckdb"
    with open_published(db) as snap:
        snap.verify()
        assert snap.path == result.path and snap.meta["content_hash"] == result.content_hash
    # the folder moved elsewhere (a backup restored): the link still finds its file
    moved = tmp_path / "moved"
    moved.mkdir()
    for each in tmp_path.iterdir():
        if each != moved:
            each.rename(moved / each.name)
    with open_published(moved / "shadow.duckdb") as snap:
        assert snap.meta["content_hash"] == result.content_hash


def test_the_same_numbers_again_are_the_same_file(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    first = publish(db, numbers(1), {"version": 1})
    written = first.path.stat().st_ino
    publish(db, numbers(2), {"version": 2})
    again = publish(db, numbers(1), {"version": 1})
    # back to the first numbers: the link names the first file again, not a new copy of it
    assert again.path == first.path and again.path.stat().st_ino == written
    assert again.published_at == first.published_at  # when these numbers were first published
    assert current(db) == first.path
    assert sorted(p.name for p in snapshots_folder(db).iterdir()) == sorted(
        [first.path.name, f"{publish(db, numbers(2), {'version': 2}).content_hash}.duckdb"]
    )


def test_a_retired_snapshot_is_kept_for_the_grace_period_then_removed(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    one = publish(db, numbers(1), {"version": 1})
    reader = open_snapshot(one.path)  # a reader that resolved the link before the next publishes
    two = publish(db, numbers(2), {"version": 2})
    three = publish(db, numbers(3), {"version": 3})
    # within the grace period every retired file stays, and the reader reads its own numbers
    assert {one.path, two.path, three.path} <= set(snapshots_folder(db).iterdir())
    assert reader.table("numbers")["version"].unique().to_list() == [1]
    reader.close()
    # one was retired longer ago than the grace period, two just inside it
    past = time.time() - GRACE_SECONDS
    os.utime(one.path, (past - 1, past - 1))
    os.utime(two.path, (past + 60, past + 60))
    four = publish(db, numbers(4), {"version": 4})
    assert sorted(snapshots_folder(db).iterdir()) == sorted([two.path, three.path, four.path])
    assert current(db) == four.path


def test_a_snapshot_of_another_format_is_refused_with_what_to_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "shadow.duckdb"
    result = publish(db, numbers(1))
    monkeypatch.setattr(snapshot, "SNAPSHOT_FORMAT", SNAPSHOT_FORMAT + 1)  # a newer Shadow reads
    with pytest.raises(StoreError, match=f"in format {SNAPSHOT_FORMAT}; this Shadow") as e:
        open_published(db)
    assert e.value.hint is not None and "shadow refresh" in e.value.hint
    with open_snapshot(result.path, any_format=True) as snap:  # what recovery reads
        assert snap.table("numbers").height == 1_000


def test_a_snapshot_published_as_a_plain_file_is_replaced_by_the_link(tmp_path: Path) -> None:
    # what a Shadow before the link left beside the store
    db = tmp_path / "shadow.duckdb"
    old = publish(db, numbers(1))
    link = published_path(db)
    link.unlink()
    shutil.copyfile(old.path, link)
    shutil.rmtree(snapshots_folder(db))
    new = publish(db, numbers(2))
    assert link.is_symlink() and current(db) == new.path


def test_tables_and_meta_come_back_with_their_types(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    frame = every_type()
    cutoff = datetime(2026, 3, 1, tzinfo=UTC)
    result = publish(
        db, {"cases": frame, "empty": frame.clear()}, {"data_cutoff": cutoff, "points": ["a"]}
    )
    assert result.path == current(db)
    assert result.rows == {"cases": 3, "empty": 0}
    assert leftovers(db) == []
    assert not Path(f"{result.path}.wal").exists()

    with open_published(db) as snap:
        assert snap.tables() == ["cases", "empty"]
        assert_frame_equal(snap.table("cases"), frame)
        assert_frame_equal(snap.table("empty"), frame.clear())
        assert snap.meta == {
            "data_cutoff": cutoff,
            "points": ["a"],
            "published_at": result.published_at,
            "shadow_version": "0.1.0",
            "content_hash": result.content_hash,
            "snapshot_format": SNAPSHOT_FORMAT,
        }
        assert snap.meta["published_at"].utcoffset().total_seconds() == 0
        snap.verify()


def test_queries_take_parameters_and_cannot_write(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    publish(db, numbers(1), {})
    with open_published(db) as snap:
        found = snap.query("SELECT count(*) AS n FROM numbers WHERE i < $below", {"below": 10})
        assert found["n"].to_list() == [10]
        with pytest.raises(StoreError, match="read-only"):
            snap.query("DELETE FROM numbers")
        with pytest.raises(StoreError, match="nowhere"):
            snap.query("SELECT * FROM nowhere")


def test_nothing_published_says_what_to_run(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    with pytest.raises(NotPublished) as raised:
        open_published(db)
    assert str(raised.value) == f"Nothing is published beside {db} yet"
    assert raised.value.hint == "run `shadow refresh` to compute the track record and publish it"

    publish(db, numbers(1), {})
    with open_published(db) as snap, pytest.raises(NotPublished) as raised:
        snap.table("gates")
    assert str(raised.value) == (
        f"The published snapshot {current(db)} has no table 'gates' (it has numbers, periods)"
    )
    assert raised.value.hint == "run `shadow refresh` to compute the track record and publish it"


def test_what_cannot_be_published_is_refused_before_anything_changes(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    first = publish(db, numbers(1), {})
    with pytest.raises(TypeError, match=r"Cannot publish t\.d \(Duration"):
        publish(db, {"t": pl.DataFrame({"d": [timedelta(days=1)]})}, {})
    with pytest.raises(TypeError, match="Enum"):
        publish(db, {"t": pl.DataFrame({"e": pl.Series(["a"], dtype=pl.Enum(["a"]))})}, {})
    with pytest.raises(ValueError, match="named '_meta'"):
        publish(db, {"_meta": pl.DataFrame({"a": [1]})}, {})
    with pytest.raises(ValueError, match="'content_hash' is written by publish"):
        publish(db, numbers(2), {"content_hash": "mine"})
    # DuckDB itself refuses 128-bit integers: found while writing, so the temporary file goes.
    with pytest.raises(TypeError, match="DuckDB cannot store the table big"):
        publish(db, {**numbers(2), "big": pl.DataFrame({"n": pl.Series([1], dtype=pl.Int128)})})
    assert leftovers(db) == []
    with open_published(db) as snap:
        assert snap.meta["content_hash"] == first.content_hash


def test_a_reader_keeps_its_version_and_the_next_open_sees_the_new_one(tmp_path: Path) -> None:
    # In one process too: DuckDB hands a second connect() to the same path the database it
    # already has open, which after a swap would be the old snapshot.
    db = tmp_path / "shadow.duckdb"
    publish(db, numbers(1), {"version": 1})
    with open_published(db) as old:
        publish(db, numbers(2), {"version": 2})
        with open_published(db) as new:
            assert new.meta["version"] == 2
            assert new.table("numbers")["version"].unique().to_list() == [2]
        assert old.meta["version"] == 1
        assert old.table("numbers")["version"].unique().to_list() == [1]
        old.verify()


# --- the content hash --------------------------------------------------------------------------


def test_the_hash_ignores_row_order_and_is_stable(tmp_path: Path) -> None:
    frame = every_type()
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=3).reverse()
    assert table_hash(shuffled) == table_hash(frame)
    assert table_hash(frame) == table_hash(every_type())
    db = tmp_path / "shadow.duckdb"
    first = publish(db, {"a": frame, "b": frame.head(1)}, {}).content_hash
    again = publish(db, {"b": frame.head(1), "a": shuffled}, {"note": "other meta"}).content_hash
    assert first == again == content_hash({"a": table_hash(frame), "b": table_hash(frame[:1])})


def test_the_hash_is_the_documented_sha256_of_sorted_json_lines() -> None:
    # shadow.hashing's definition worked by hand with Python's json and hashlib: the column
    # names, then each row as a line of JSON followed by a newline, the lines sorted; with values
    # that start alike, hold control characters, quotes and non-ASCII text, and a repeated one
    frame = pl.DataFrame(
        {
            "label": ["a", "a b", "a\nb", "a\u0001", 'say "no"', "Zürich", "a"],
            "n": [3, 1, 2, 5, 4, 6, 0],
        }
    )
    lines = sorted(
        json.dumps({"label": label, "n": n}, separators=(",", ":"), ensure_ascii=False) + "\n"
        for label, n in frame.iter_rows()
    )
    expected = hashlib.sha256(("label\x1fn\n" + "".join(lines)).encode())
    assert table_hash(frame) == expected.hexdigest()


def test_the_hash_changes_when_any_value_changes() -> None:
    frame = every_type()
    base = table_hash(frame)
    changed = 0
    for column in frame.columns:
        for row in range(frame.height):
            take = [(j + 1) % frame.height if j == row else j for j in range(frame.height)]
            other = frame.with_columns(frame[column].gather(take))
            if other.equals(frame):  # the neighbour holds the same value
                continue
            assert table_hash(other) != base, (column, row)
            changed += 1
    assert changed > 30
    assert table_hash(frame.rename({"int": "count"})) != base
    assert table_hash(frame.head(2)) != base
    assert table_hash(pl.concat([frame, frame.head(1)])) != base  # a duplicated row counts
    nan_or_null = (
        pl.DataFrame({"x": [float("nan")]}),
        pl.DataFrame({"x": [None]}, {"x": pl.Float64}),
    )
    assert table_hash(nan_or_null[0]) != table_hash(nan_or_null[1])


# --- readers and loads at the same time --------------------------------------------------------

READER = r"""
import json, sys, time
from pathlib import Path
from shadow.hashing import content_hash, table_hash
from shadow.snapshot import open_published

db, done = Path(sys.argv[1]), Path(sys.argv[2])
reads, seen, final = 0, [], None
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if final is None and done.exists():
        final = int(done.read_text())
    with open_published(db) as snap:
        version = snap.meta["version"]
        hashes = {}
        for name in snap.tables():
            frame = snap.table(name)
            hashes[name] = table_hash(frame)
            assert hashes[name] == snap.table_hashes[name], (version, name)
            assert frame["version"].unique().to_list() == [version], (version, name)
        assert content_hash(hashes) == snap.meta["content_hash"], version
    reads += 1
    if not seen or seen[-1] != version:
        seen.append(version)
    if final is not None and version == final:
        break
print(json.dumps({"reads": reads, "seen": seen}))
"""


def decisions(start: int, rows: int = 200) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "case_id": [f"C{i:06d}" for i in range(start, start + rows)],
            "decided_at": [datetime(2026, 3, 2, 9)] * rows,
            "human_label": ["inspect", "no_inspect"] * (rows // 2),
            "site": ["kiel"] * rows,
            "region": ["north"] * rows,
        }
    )


@linux_only
def test_readers_never_see_a_mix_and_never_block_a_load(db: Path, tmp_path: Path) -> None:
    publish(db, numbers(0), {"version": 0})
    done = tmp_path / "done"
    script = tmp_path / "reader.py"
    script.write_text(READER, encoding="utf-8")
    with subprocess.Popen(
        [sys.executable, str(script), str(db), str(done)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as reader:
        version, accepted = 0, 0
        until = time.monotonic() + 2.0
        # for two seconds, and at least six versions however busy the machine is
        while time.monotonic() < until or version < 6:
            version += 1
            publish(db, numbers(version, rows=5_000), {"version": version})
            # wait=0: the load fails at once with StoreLocked if anyone holds the store.
            with Store.open(db, wait=0) as store:
                (summary,) = ingest_into(
                    store,
                    "decisions",
                    plan_sources(decisions(version * 1_000)),
                    point="pump-inspection",
                    now=NOW,
                )
            accepted += summary.accepted
        (tmp_path / "done.tmp").write_text(str(version))
        (tmp_path / "done.tmp").rename(done)
        out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    result = json.loads(out)
    assert result["seen"][-1] == version
    assert result["seen"] == sorted(result["seen"])
    assert len(result["seen"]) > 3 and result["reads"] >= len(result["seen"]), result
    assert accepted == version * 200
    assert leftovers(db) == []


# --- a publish killed at any moment ------------------------------------------------------------

PUBLISHER = r"""
import sys
import polars as pl
from shadow.snapshot import publish

db, version, rows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
frame = pl.DataFrame({"version": [version] * rows, "i": range(rows)}).with_columns(
    x=pl.col("i") / 7, label=pl.format("case {}", pl.col("i"))
)
sys.stdout.write("ready\n")
sys.stdout.flush()
publish(db, {"numbers": frame, "periods": frame.head(3)}, {"version": version})
"""
ROWS = 400_000  # a publish of this takes a fraction of a second


def start_publisher(script: Path, db: Path, version: int) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, str(script), str(db), str(version), str(ROWS)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    assert process.stdout.readline() == "ready\n"
    return process


@pytest.mark.slow
@linux_only
def test_a_publish_killed_at_any_moment_leaves_a_whole_snapshot(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER, encoding="utf-8")
    publish(db, numbers(0), {"version": 0})

    # How long a whole publish takes after the process is ready: the kills are spread over it.
    with start_publisher(script, db, 1) as timing:
        began = time.monotonic()
        assert timing.wait(timeout=60) == 0
        duration = time.monotonic() - began

    rng = random.Random(20260601)
    previous, outcomes, stale = 1, set(), 0
    runs = 20
    for run in range(runs):
        version = 100 + run
        with start_publisher(script, db, version) as process:
            time.sleep(duration * (run + rng.random()) / runs * 1.1)
            os.kill(process.pid, signal.SIGKILL)

        with open_published(db) as snap:
            snap.verify()
            found = snap.meta["version"]
            assert found in (previous, version), (run, found)
            assert snap.table("numbers")["version"].unique().to_list() == [found]
        outcomes.add("new" if found == version else "old")
        stale += bool(leftovers(db))

        publish(db, numbers(version + 1000), {"version": version + 1000})
        assert leftovers(db) == []
        previous = version + 1000

    assert outcomes == {"old", "new"}, outcomes
    assert stale > 0, "no kill landed while the temporary file existed"


@linux_only
def test_the_next_publish_removes_what_a_killed_one_left(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    first = publish(db, numbers(1), {"version": 1})
    target = published_path(db)
    for name in (".x.1-ab.tmp", ".x.1-ab.tmp.wal"):
        (tmp_path / name.replace("x", target.name)).write_bytes(b"half a file")
        (first.path.parent / name.replace("x", first.path.name)).write_bytes(b"half a file")
    (tmp_path / f".{target.name}.1-ab.tmp.tmp").mkdir()
    (tmp_path / "notes.txt").write_text("not ours")
    assert len(leftovers(db)) == 5
    publish(db, numbers(2), {"version": 2})
    assert leftovers(db) == []
    assert (tmp_path / "notes.txt").exists()
    with open_published(db) as snap:
        assert isinstance(snap, Published) and snap.meta["version"] == 2


def test_the_same_numbers_over_a_damaged_file_write_it_again(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    first = publish(db, numbers(1), {"version": 1})
    data = first.path.read_bytes()
    first.path.write_bytes(data[: len(data) // 2])  # damaged after it was published
    again = publish(db, numbers(1), {"version": 1})
    assert again.path == first.path and again.published_at > first.published_at
    with open_published(db) as snap:
        snap.verify()
