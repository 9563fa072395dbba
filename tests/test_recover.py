"""A damaged store file: every command names it and the way back, and `shadow recover` is that way.

The store is the sample deployment (a point, its three logs, each with its mapping) plus a
sign-off, refreshed: its published tables are the numbers to get back. Copies of it are damaged
the ways a file gets damaged (its first block overwritten, its headers overwritten, cut short,
bytes overwritten all through it), then rebuilt from the log files with `shadow recover`, and
refreshed: every published table must hash as it did before the damage.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from shadow.browse import current as browse_current
from shadow.browse import snapshot as browse_snapshot
from shadow.cli import cli
from shadow.demo import SAMPLE
from shadow.errors import StoreError
from shadow.hashing import table_hash
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, read_point
from shadow.refresh import refresh
from shadow.signoffs import sign_off
from shadow.snapshot import open_published, published_path
from shadow.store import Store

pytestmark = pytest.mark.slow

POINT = "pump-inspection"
LOGS = {
    "predictions": ("predictions.jsonl", "predictions_mapping.toml"),
    "decisions": ("decisions.csv", "decisions_mapping.toml"),
    "outcomes": ("outcomes.csv", "outcomes_mapping.toml"),
}
# each log's mapping named for its log, as recovering from the snapshot needs
BY_LOG = [f"--mapping={log}={SAMPLE / m}" for log, (_, m) in LOGS.items()]
# the same files, not named: enough when the store's own record (with its hashes) is readable
PLAIN = [f"--mapping={SAMPLE / m}" for _, m in LOGS.values()]


def published_tables(db: Path) -> dict[str, str]:
    """Every published table's hash, recomputed from what a reader reads."""
    with open_published(db) as snap:
        snap.verify()
        return {name: table_hash(snap.table(name)) for name in snap.tables()}


def run(*args: object) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def ok(*args: object) -> str:
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str], str]:
    """The sample store, one extra outcomes file loaded from a copy, a sign-off; refreshed."""
    folder = tmp_path_factory.mktemp("recover")
    db = folder / "shadow.duckdb"
    point, text = read_point(SAMPLE / "point.toml")
    extra = folder / "logs" / "late_outcomes.csv"
    extra.parent.mkdir()
    # the first half of the sample's outcomes again: an export that overlaps the first one
    lines = (SAMPLE / "outcomes.csv").read_bytes().splitlines(keepends=True)
    extra.write_bytes(b"".join(lines[: len(lines) // 2]))
    with Store.open(db, create=True) as store:
        add_point(store, point, text)
        for log, (export, mapping) in LOGS.items():
            ingest_into(
                store, log, plan_sources(SAMPLE / export), point=POINT, mapping=SAMPLE / mapping
            )
        ingest_into(
            store,
            "outcomes",
            plan_sources(extra),
            point=POINT,
            mapping=SAMPLE / LOGS["outcomes"][1],
        )
    refresh(db)
    sign_off(
        db, POINT, ("site", "kiel"), "advisory", by="Dana Reyes", reason="test", override="test"
    )
    refresh(db)
    loads = ok("loads", "--db", db, "--json")
    assert len(json.loads(loads)) == 4
    return db, published_tables(db), loads


@pytest.fixture
def store(built: tuple[Path, dict[str, str], str], tmp_path: Path) -> Path:
    """A private copy of the built store, its published snapshot and the extra log file."""
    db = tmp_path / "shadow.duckdb"
    shutil.copyfile(built[0], db)
    shutil.copyfile(published_path(built[0]), published_path(db))
    return db


def damage(path: Path, how: str) -> None:
    data = bytearray(path.read_bytes())
    noise = random.Random(how).randbytes
    if how == "first block":
        data[:4096] = noise(4096)
    elif how == "headers":
        data[4096:12288] = noise(8192)
    elif how == "cut short":
        del data[len(data) // 2 :]
    elif how == "all through":
        for at in range(12288, len(data), 262144):
            data[at + 100 : at + 200] = noise(100)
    path.write_bytes(bytes(data))


HINT = "(the damaged file is kept beside it; see `shadow recover --help`)"


def assert_damaged(result: Result, db: Path, command: str) -> None:
    assert result.exit_code == 1, (command, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    first, _, rest = result.stderr.partition("\n")
    assert first.startswith(f"Error: The store file {db} is damaged: "), (command, result.stderr)
    assert (
        rest == f"\nHint: rebuild it from your log files with `shadow recover --db {db}` {HINT}\n"
    )


def commands(db: Path) -> dict[str, list[object]]:
    small = db.parent / "more.csv"
    small.write_text("case_id,decided_at,human_label\nX-1,2026-03-02 08:00,inspect\n")
    return {
        "loads": ["loads", "--db", db],
        "point list": ["point", "list", "--db", db],
        "point add": ["point", "add", SAMPLE / "point.toml", "--db", db],
        "rejects": ["rejects", "--db", db],
        "init": ["init", "--db", db],
        "ingest": ["ingest", "decisions", small, "--point", POINT, "--db", db],
        "refresh": ["refresh", "--db", db],
        "signoff verify": ["signoff", "verify", "--db", db],
    }


@pytest.mark.parametrize("how", ["first block", "headers"])
def test_every_command_names_a_damaged_store_and_the_way_back(store: Path, how: str) -> None:
    damage(store, how)
    for name, args in commands(store).items():
        assert_damaged(run(*args), store, name)


@pytest.mark.parametrize("how", ["cut short", "all through"])
def test_a_partly_readable_store_fails_plainly_where_it_is_damaged(store: Path, how: str) -> None:
    damage(store, how)
    failed = []
    for name, args in commands(store).items():
        result = run(*args)
        if result.exit_code != 0:
            assert_damaged(result, store, name)
            failed.append(name)
    assert "refresh" in failed  # the refresh reads every row: it always meets the damage


def test_recover_from_the_snapshot_gives_back_the_same_numbers(
    built: tuple[Path, dict[str, str], str], store: Path
) -> None:
    _, numbers, loads = built
    damage(store, "first block")
    damaged = store.read_bytes()

    out = ok("recover", "--db", store, *BY_LOG)
    with open_published(store) as snap:
        when = f"{snap.meta['published_at']:%Y-%m-%d %H:%M} UTC"
    assert out == (
        f"Read what went into {store} from the snapshot {published_path(store)} published"
        f" {when} (loads made since are not in it).\n"
        f"Rebuilt {store}: 1 decision point, 4 loads run again from their files.\n"
        f"The old store file is kept as {store}.damaged.\n"
        f"Next: publish the numbers again with `shadow refresh --db {store}`.\n"
    )
    assert Path(f"{store}.damaged").read_bytes() == damaged
    assert ok("loads", "--db", store, "--json") == loads  # same ids, files, times, users, counts
    assert ok("signoff", "verify", "--db", store) == "All 1 sign-offs match their hashes.\n"
    ok("refresh", "--db", store)
    assert published_tables(store) == numbers


def test_recover_rebuilds_a_store_that_is_gone(
    built: tuple[Path, dict[str, str], str], store: Path
) -> None:
    _, numbers, loads = built
    store.unlink()
    out = ok("recover", "--db", store, *BY_LOG)
    assert f"Rebuilt {store}: 1 decision point, 4 loads run again from their files.\n" in out
    assert "kept as" not in out
    assert ok("loads", "--db", store, "--json") == loads
    ok("refresh", "--db", store)
    assert published_tables(store) == numbers


def test_recover_from_a_readable_record_finds_each_mapping_by_its_hash(
    built: tuple[Path, dict[str, str], str], store: Path
) -> None:
    _, numbers, loads = built
    out = ok("recover", "--db", store, *PLAIN)
    assert out.splitlines()[0] == (
        f"Read what went into {store} from the store {store} (its record of points and loads"
        " is intact)."
    )
    assert ok("loads", "--db", store, "--json") == loads
    ok("refresh", "--db", store)
    assert published_tables(store) == numbers


def recover_fails(store: Path, *args: object) -> str:
    before = sorted(p.name for p in store.parent.iterdir())
    content = store.read_bytes()
    result = run("recover", "--db", store, *args)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert sorted(p.name for p in store.parent.iterdir()) == before  # nothing new, nothing moved
    assert store.read_bytes() == content
    return result.stderr


def test_a_changed_or_missing_log_stops_the_rebuild_before_anything_changes(
    built: tuple[Path, dict[str, str], str], store: Path
) -> None:
    extra = built[0].parent / "logs" / "late_outcomes.csv"
    original = extra.read_bytes()
    hint = (
        "\n\nHint: put the files back as they were loaded (or pass the mappings with --mapping),"
        " or rebuild without them with --partial; nothing was changed\n"
    )
    try:
        extra.write_bytes(original + b"WO-X,PUMP-X,2026-03-02 10:00,ok,\n")
        changed = (
            f"Error: Cannot rebuild {store} from its logs as they are now:\n"
            f"  load 4 (outcomes from {extra}): the file has changed since it was loaded"
            " (its sha256)" + hint
        )
        # the store's own record has each file's sha256
        assert recover_fails(store, *PLAIN) == changed
        damage(store, "first block")  # now only the snapshot's record is left: it has them too
        assert recover_fails(store, *BY_LOG) == changed

        extra.unlink()
        assert recover_fails(store, *BY_LOG) == (
            f"Error: Cannot rebuild {store} from its logs as they are now:\n"
            f"  load 4 (outcomes from {extra}): the file is missing" + hint
        )
        # --partial rebuilds the rest, and says what it left out
        out = ok("recover", "--db", store, *BY_LOG, "--partial")
        assert f"Rebuilt {store}: 1 decision point, 3 loads run again from their files.\n" in out
        assert f"  not rebuilt: load 4 (outcomes from {extra}): the file is missing\n" in out
        assert [load["load_id"] for load in json.loads(ok("loads", "--db", store, "--json"))] == [
            3,
            2,
            1,
        ]
    finally:
        extra.write_bytes(original)


@pytest.mark.parametrize("how", ["first block", "cut short", "all through"])
def test_a_damaged_snapshot_is_named_and_the_next_refresh_repairs_it(
    built: tuple[Path, dict[str, str], str], store: Path, how: str
) -> None:
    target = published_path(store)
    damage(target, how)
    message = f"The published snapshot {target} is damaged: "
    hint = "publish it again with `shadow refresh` (the store itself is not affected)"
    with pytest.raises(StoreError) as raised:
        published_tables(store)
    assert str(raised.value).startswith(message)
    assert raised.value.hint == hint
    if how == "first block":  # what the app shows (other damage may spare the tables it reads)
        with pytest.raises(StoreError, match="is damaged"):
            browse_snapshot(browse_current(store))
        result = run("report", "--point", POINT, "--db", store)
        assert result.exit_code == 1
        assert result.stderr.startswith(f"Error: {message}")
        assert result.stderr.endswith(f"\n\nHint: {hint}\n")

    ok("refresh", "--db", store)
    assert published_tables(store) == built[1]


def test_a_store_in_use_is_not_rebuilt_under_the_user(store: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, duckdb; con = duckdb.connect(sys.argv[1]); print('holding',"
            " flush=True); time.sleep(600)",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "holding\n"
        stderr = recover_fails(store, *BY_LOG, "--wait", "0.5")
    finally:
        holder.kill()
        holder.communicate(timeout=30)
    assert stderr == (
        f"Error: The store {store} is busy: another process is using it (waited 0.5 s)\n\n"
        "Hint: let the other load, refresh or command finish, then run this again\n"
    )
