"""Faults with real processes and real store files: a load killed with SIGKILL, a second writer.

A load is one transaction, so a process killed at any moment leaves the store exactly as it was
(or, once COMMIT has returned, with the whole load in it); and a second process that wants the store
while another holds it waits up to --wait seconds, then says so plainly and changes nothing.

The kills are aimed two ways. Most runs use a small runner that starts the real CLI after wrapping
Store.execute / Store.transaction / Store.close so they print a marker on stderr before each step
(and, when asked, hold before or after COMMIT); the test kills the process while a chosen step is
under way. One test kills the plain `python -m shadow ingest` at moments calibrated from a full run.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc and SIGKILL"),
]

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_data" / "pump_inspection"
POINT = "pump-inspection"
TABLES = (
    "schema_migrations",
    "decision_points",
    "loads",
    "predictions",
    "decisions",
    "outcomes",
    "quarantine",
)

ROWS = 1_500_000  # the big file's distinct rows: a load of it takes a few seconds
EARLIER = 1_000  # its first rows, loaded before (an earlier, accepted load)
TAIL = 500  # its first rows again at its end: exact duplicates within the file
BAD_EVERY = 997  # every row whose number is a multiple of this has an unknown label


def _bad(start: int, stop: int) -> int:
    """How many of the row numbers start..stop-1 are bad (multiples of BAD_EVERY)."""
    return len(range((start + BAD_EVERY - 1) // BAD_EVERY * BAD_EVERY, stop, BAD_EVERY))


# What loading the big file into the base store must do, row by row.
EXPECTED = {
    "rows_read": ROWS + TAIL,
    "accepted": (ROWS - EARLIER) - _bad(EARLIER, ROWS),
    "duplicates": (EARLIER - _bad(0, EARLIER)) + (TAIL - _bad(0, TAIL)),
    "quarantined": _bad(0, ROWS) + _bad(0, TAIL),
}

RUNNER = r'''
"""The real `shadow` CLI, with markers on stderr before and after each step of a load."""
import os
import re
import sys
import time
from contextlib import contextmanager

from shadow.store import Store

HOLD = os.environ.get("SHADOW_TEST_HOLD", "")
STEPS = [
    ("reading", r"CREATE TEMP TABLE _raw\b"),
    ("checking", r"CREATE TEMP TABLE _typed\b"),
    ("classifying", r"CREATE TEMP TABLE _repeats\b"),
    ("inserting", r"INSERT INTO (decisions|predictions|outcomes)\b"),
    ("quarantining", r"INSERT INTO quarantine\b"),
    ("recording", r"INSERT INTO loads\b"),
]


def mark(text):
    sys.stderr.write("@@" + text + "\n")
    sys.stderr.flush()


def hold(point):
    if HOLD == point:
        mark("holding " + point)
        time.sleep(600)


_execute = Store.execute


def execute(self, text, params=None):
    step = next((name for name, pattern in STEPS if re.match(pattern, text.strip())), None)
    if step:
        mark("start " + step)
    _execute(self, text, params)
    if step:
        mark("done " + step)


_transaction = Store.transaction


@contextmanager
def transaction(self):
    with _transaction(self):
        mark("begin")
        yield
        mark("commit")
        hold("commit")
    mark("committed")
    hold("committed")


_close = Store.close


def close(self):
    mark("closing")
    _close(self)
    mark("closed")


Store.execute = execute
Store.transaction = transaction
Store.close = close

from shadow.cli import main

sys.argv = ["shadow", *sys.argv[1:]]
main()
'''


# --- files and stores --------------------------------------------------------------------------


def write_decisions(path: Path, start: int, stop: int, tail: int = 0) -> None:
    """Decision rows numbered start..stop-1 (then 0..tail-1 again), written fast with Polars."""
    numbers = pl.int_range(start, stop, eager=True, dtype=pl.Int64)
    if tail:
        numbers = pl.concat([numbers, pl.int_range(0, tail, eager=True, dtype=pl.Int64)])
    i = pl.col("i")
    frame = pl.DataFrame({"i": numbers}).select(
        case_id=pl.format("P{}", i.cast(pl.String).str.zfill(8)),
        decided_at=pl.lit("2025-06-02 08:00:00"),
        human_label=pl.when(i % BAD_EVERY == 0)
        .then(pl.lit("maybe"))
        .when(i % 2 == 0)
        .then(pl.lit("inspect"))
        .otherwise(pl.lit("no_inspect")),
        decided_by=pl.lit("ana"),
        site=pl.lit("hamburg"),
        region=pl.lit("north"),
    )
    frame.write_csv(path)


@dataclass(frozen=True)
class Files:
    big: Path
    small: Path
    runner: Path
    base_db: Path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    """The big file, a small one, the runner, and a base store holding a point and earlier loads."""
    folder = tmp_path_factory.mktemp("faults")
    big = folder / "big.csv"
    write_decisions(big, 0, ROWS, tail=TAIL)
    earlier = folder / "earlier.csv"
    write_decisions(earlier, 0, EARLIER)
    small = folder / "small.csv"
    write_decisions(small, 10 * ROWS, 10 * ROWS + 50)
    runner = folder / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")

    base_db = folder / "base.duckdb"
    invoke("init", "--db", base_db)
    invoke("point", "add", SAMPLE / "point.toml", "--db", base_db)
    for log, path, mapping in (
        ("decisions", earlier, ()),
        (
            "predictions",
            SAMPLE / "predictions.jsonl",
            ("--mapping", SAMPLE / "predictions_mapping.toml"),
        ),
        ("outcomes", SAMPLE / "outcomes.csv", ("--mapping", SAMPLE / "outcomes_mapping.toml")),
    ):
        summary = json.loads(
            invoke("ingest", log, path, *mapping, "--point", POINT, "--db", base_db, "--json")
        )[0]
        assert summary["accepted"] > 0 and summary["quarantined"] > 0, summary
    assert not Path(f"{base_db}.wal").exists()
    return Files(big, small, runner, base_db)


def invoke(*args: object) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture
def db(files: Files, tmp_path: Path) -> Path:
    """A private copy of the base store (this module's own `db`: a point and earlier loads)."""
    path = tmp_path / "shadow.duckdb"
    shutil.copyfile(files.base_db, path)
    return path


Snapshot = dict[str, tuple[int, str]]


def snapshot(db: Path) -> Snapshot:
    """Row count and an order-free checksum of every row of every table of the store.

    The store is opened for writing, as the next command would: a left-over WAL is replayed.
    """
    with Store.open(db, wait=30) as store:
        return {
            table: (
                int(n),
                str(checksum),
            )
            for table in TABLES
            for n, checksum in store.rows(
                f"SELECT count(*), CAST(COALESCE(sum(CAST(hash(t) AS HUGEINT)), 0) AS VARCHAR)"
                f" FROM {table} AS t"
            )
        }


def loads_of(db: Path) -> list[dict[str, Any]]:
    with Store.open(db, wait=30) as store:
        return store.frame("SELECT * FROM loads ORDER BY load_id").to_dicts()


# --- processes ---------------------------------------------------------------------------------


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SHADOW_DB", "SHADOW_DEBUG")}
    env["PYTHONPATH"] = str(REPO)
    return env


def ingest_args(path: Path, db: Path, *extra: str) -> list[str]:
    return ["ingest", "decisions", str(path), "--point", POINT, "--db", str(db), *extra]


class Process:
    """A child process whose stderr lines are collected as they come (markers start with @@)."""

    def __init__(self, args: list[str], hold: str = "") -> None:
        env = environment()
        if hold:
            env["SHADOW_TEST_HOLD"] = hold
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            args,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.stdout = ""
        self._out = threading.Thread(target=self._read_stdout, daemon=True)
        self._err = threading.Thread(target=self._read_stderr, daemon=True)
        self._out.start()
        self._err.start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_for(self, marker: str, timeout: float = 180) -> None:
        """Block until the child prints `@@marker`; fail if it ends or takes too long first."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                pytest.fail(f"no @@{marker} within {timeout} s; stderr so far:\n{self.err}")
            if line is None:
                pytest.fail(f"the process ended before @@{marker}:\n{self.err}")
            if line == "@@" + marker:
                return

    def holds(self, path: Path) -> bool:
        """Whether the child has `path` open (DuckDB takes its file lock when it opens it)."""
        target = str(path.resolve())
        try:
            fds = os.listdir(f"/proc/{self.pid}/fd")
        except FileNotFoundError:
            return False
        for fd in fds:
            try:
                if os.readlink(f"/proc/{self.pid}/fd/{fd}") == target:
                    return True
            except OSError:
                continue
        return False

    def wait_until_it_holds(self, path: Path, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self.holds(path):
            if self.proc.poll() is not None:
                pytest.fail(f"the process ended before opening {path}:\n{self.err}")
            if time.monotonic() > deadline:
                pytest.fail(f"the process did not open {path} within {timeout} s")
            time.sleep(0.01)

    def kill(self) -> int:
        """SIGKILL the child; return its exit status (-9 if the kill is what ended it)."""
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        return self.finish()

    def finish(self, timeout: float = 300) -> int:
        code = self.proc.wait(timeout=timeout)
        self._out.join(timeout=30)
        self._err.join(timeout=30)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()
        return code

    @property
    def err(self) -> str:
        return "".join(self.stderr)


def run_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m shadow ARGS` to the end."""
    return subprocess.run(
        [sys.executable, "-m", "shadow", *args],
        cwd=REPO,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def children() -> Iterator[list[Process]]:
    """Processes a test starts; any still running at its end are killed (by pid)."""
    started: list[Process] = []
    yield started
    for child in started:
        if child.proc.poll() is None:
            child.kill()


def busy_message(db: Path, wait: str) -> str:
    return (
        f"Error: The store {db} is busy: another process is using it (waited {wait} s)\n\n"
        "Hint: let the other load, refresh or command finish, then run this again\n"
    )


# --- checks ------------------------------------------------------------------------------------


def assert_big_load_complete(db: Path, summary: dict[str, Any], before: Snapshot) -> None:
    """`summary` is the big file's load, it accounts for every row, and the store holds just it."""
    counts = {k: summary[k] for k in EXPECTED}
    assert counts == EXPECTED
    assert (
        summary["accepted"] + summary["duplicates"] + summary["quarantined"] == summary["rows_read"]
    )
    after = snapshot(db)
    assert after["loads"][0] == before["loads"][0] + 1
    assert after["decisions"][0] == before["decisions"][0] + EXPECTED["accepted"]
    assert after["quarantine"][0] == before["quarantine"][0] + EXPECTED["quarantined"]
    for table in ("schema_migrations", "decision_points", "predictions", "outcomes"):
        assert after[table] == before[table], table
    last = loads_of(db)[-1]
    assert last["load_id"] == summary["load_id"]
    assert (
        last["rows_read"],
        last["rows_accepted"],
        last["rows_duplicate"],
        last["rows_quarantined"],
    ) == tuple(EXPECTED.values())


def load_big_file(files: Files, db: Path, before: Snapshot) -> dict[str, Any]:
    """Load the big file with the plain CLI, to the end, and check what it did."""
    result = run_cli(*ingest_args(files.big, db, "--json"))
    assert result.returncode == 0, result.stderr
    summary: dict[str, Any] = json.loads(result.stdout)[0]
    assert summary["already_loaded_as"] is None
    assert_big_load_complete(db, summary, before)
    return summary


# --- SIGKILL -----------------------------------------------------------------------------------

# (step to wait for, seconds to let it run before the kill)
KILL_POINTS = [
    ("start reading", 0.1),  # DuckDB is reading the CSV into a temporary table
    ("start checking", 0.3),  # typing and checking every row (temporary tables only)
    ("start classifying", 0.3),  # repeated keys, keys already stored (temporary tables only)
    ("start inserting", 0.15),  # inside the transaction: rows being written to the store file
    ("holding commit", 0.0),  # every row written; COMMIT not yet run
]


def test_sigkill_at_any_step_before_commit_leaves_the_store_as_it_was(
    files: Files, db: Path, children: list[Process]
) -> None:
    before = snapshot(db)
    for marker, delay in KILL_POINTS:
        child = Process(
            [sys.executable, str(files.runner), *ingest_args(files.big, db, "--json")],
            hold="commit",  # whatever the timing, no run here gets past COMMIT
        )
        children.append(child)
        child.wait_for(marker)
        time.sleep(delay)
        assert child.kill() == -signal.SIGKILL, f"{marker}: the load ended by itself"
        assert "@@committed" not in child.err
        assert snapshot(db) == before, f"the store changed after a kill at {marker!r}"

    # The same load, run again to the end, goes through and accounts for every row.
    load_big_file(files, db, before)


def test_sigkill_of_the_plain_cli_early_middle_and_late_changes_nothing(
    files: Files, db: Path, tmp_path: Path
) -> None:
    # Calibrate: how long does the whole load take here, now?
    other = tmp_path / "calibration.duckdb"
    shutil.copyfile(files.base_db, other)
    started = time.monotonic()
    load_big_file(files, other, snapshot(other))
    duration = time.monotonic() - started

    before = snapshot(db)
    for fraction in (0.1, 0.35, 0.6):
        child = Process([sys.executable, "-m", "shadow", *ingest_args(files.big, db, "--json")])
        child.wait_until_it_holds(db)
        time.sleep(max(fraction * duration - (time.monotonic() - child.started), 0.0))
        assert child.kill() == -signal.SIGKILL, f"the load ended before {fraction:.0%} of its time"
        assert snapshot(db) == before, f"the store changed after a kill at {fraction:.0%}"
    load_big_file(files, db, before)


@pytest.mark.parametrize(
    ("marker", "hold", "delay"),
    [
        ("commit", "", 0.0),  # a kill racing COMMIT: all of the load or none of it
        ("holding committed", "committed", 0.0),  # committed, not yet closed: all of it
        ("closing", "", 0.02),  # committed, being checkpointed and closed: all of it
    ],
)
def test_sigkill_around_commit_keeps_all_of_the_load_or_none_of_it(
    files: Files, db: Path, children: list[Process], marker: str, hold: str, delay: float
) -> None:
    before = snapshot(db)
    child = Process(
        [sys.executable, str(files.runner), *ingest_args(files.big, db, "--json")], hold=hold
    )
    children.append(child)
    child.wait_for(marker)
    time.sleep(delay)
    child.kill()
    committed = "@@committed" in child.err
    after = snapshot(db)
    if marker == "commit" and after == before:
        load_big_file(files, db, before)  # none of it: the load can simply be run again
        return
    assert committed or marker == "commit"
    # All of it: the load is recorded in full, and running it again changes nothing.
    load = loads_of(db)[-1]
    recorded = {
        "load_id": load["load_id"],
        "rows_read": load["rows_read"],
        "accepted": load["rows_accepted"],
        "duplicates": load["rows_duplicate"],
        "quarantined": load["rows_quarantined"],
    }
    assert_big_load_complete(db, recorded, before)
    again = run_cli(*ingest_args(files.big, db, "--json"))
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["already_loaded_as"] == load["load_id"]
    assert snapshot(db) == after


# --- a second writer ---------------------------------------------------------------------------

HOLDER = r"""
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
print("released", flush=True)
time.sleep(600)
"""


def hold_store(db: Path, seconds: float) -> subprocess.Popen[str]:
    """A process that opens the store with duckdb, keeps it `seconds`, then closes it (and lives on)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db), str(seconds)],
        env=environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "holding\n"
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    if proc.stdout is not None:
        proc.stdout.close()


def test_a_second_writer_gives_up_after_wait_with_a_plain_message(files: Files, db: Path) -> None:
    before = snapshot(db)
    holder = hold_store(db, 600)
    try:
        started = time.monotonic()
        second = run_cli(*ingest_args(files.small, db, "--wait", "1"), timeout=60)
        waited = time.monotonic() - started
    finally:
        stop(holder)
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr == busy_message(db, "1")
    assert waited >= 1.0
    assert snapshot(db) == before

    # Once the holder is gone, the same command goes through.
    again = run_cli(*ingest_args(files.small, db, "--wait", "1", "--json"), timeout=60)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)[0]["accepted"] == 50


def test_a_second_writer_gives_up_while_a_load_runs_and_the_load_completes(
    files: Files, db: Path, children: list[Process]
) -> None:
    before = snapshot(db)
    first = Process([sys.executable, "-m", "shadow", *ingest_args(files.big, db, "--json")])
    children.append(first)
    first.wait_until_it_holds(db)

    second = run_cli(*ingest_args(files.small, db, "--wait", "1"), timeout=60)
    assert first.proc.poll() is None, "the first load ended before the second writer gave up"
    assert second.returncode == 1
    assert second.stdout == ""
    assert second.stderr == busy_message(db, "1")

    assert first.finish() == 0, first.err
    summary = json.loads(first.stdout)[0]
    assert_big_load_complete(db, summary, before)
    assert [load["source"] for load in loads_of(db)].count(str(files.small)) == 0


def test_a_second_writer_with_a_longer_wait_gets_in_when_the_holder_lets_go(
    files: Files, db: Path
) -> None:
    holder = hold_store(db, 2.0)
    try:
        started = time.monotonic()
        second = run_cli(*ingest_args(files.small, db, "--wait", "60", "--json"), timeout=120)
        waited = time.monotonic() - started
        assert holder.poll() is None  # the holder let go of the store but is still running
    finally:
        stop(holder)
    assert second.returncode == 0, second.stderr
    summary = json.loads(second.stdout)[0]
    assert (summary["rows_read"], summary["accepted"]) == (50, 50)
    assert 1.5 <= waited < 60


def test_a_second_writer_with_a_longer_wait_loads_after_the_running_load(
    files: Files, db: Path, children: list[Process]
) -> None:
    before = snapshot(db)
    first = Process([sys.executable, "-m", "shadow", *ingest_args(files.big, db, "--json")])
    children.append(first)
    first.wait_until_it_holds(db)

    second = run_cli(*ingest_args(files.small, db, "--wait", "120", "--json"), timeout=300)
    assert second.returncode == 0, second.stderr
    assert first.finish() == 0, first.err
    big = json.loads(first.stdout)[0]
    small = json.loads(second.stdout)[0]
    assert small["load_id"] == big["load_id"] + 1  # it waited for the first load to finish
    assert (small["rows_read"], small["accepted"]) == (50, 50)
    loads = loads_of(db)
    assert len(loads) == before["loads"][0] + 2
    assert loads[-2]["rows_accepted"] == EXPECTED["accepted"]
    assert loads[-1]["source"] == str(files.small)


# --- a full disk -------------------------------------------------------------------------------

LIMITED = r"""
import resource, signal, sys
# The kernel stops this process writing any file beyond the limit (EFBIG), as a full disk
# stops every process (ENOSPC); without this it would send SIGXFSZ, which kills.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
limit = int(sys.argv[1])
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
sys.argv = ["shadow", *sys.argv[2:]]
from shadow.cli import main
main()
"""


def run_limited(limit: int, *args: str) -> subprocess.CompletedProcess[str]:
    """`shadow ARGS` in a process that cannot write any file beyond `limit` bytes."""
    return subprocess.run(
        [sys.executable, "-c", LIMITED, str(limit), *args],
        cwd=REPO,
        env=environment(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def assert_out_of_space(result: subprocess.CompletedProcess[str], db: Path, cause: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    first, _, rest = result.stderr.partition("\n")
    assert first.startswith(f"Error: Out of disk space writing {db}"), first
    assert f": {cause} (" in first, first
    fix = (
        "raise the file size limit (`ulimit -f`) or free some disk space"
        if cause == "the file size limit was reached"
        else "free some disk space"
    )
    assert rest == f"\nHint: {fix}, then run the same command again; nothing was changed\n"


def test_a_load_that_fills_the_disk_as_it_commits_changes_nothing(files: Files, db: Path) -> None:
    before = snapshot(db)
    # 50 rows fit in memory: the first write to disk is the WAL, at COMMIT, and it cannot grow
    # past 1 KB
    failed = run_limited(1024, *ingest_args(files.small, db, "--json"))
    assert_out_of_space(failed, db, "the file size limit was reached")
    assert "Failed to commit" in failed.stderr
    assert snapshot(db) == before

    again = run_cli(*ingest_args(files.small, db, "--json"))
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)[0]
    assert (summary["rows_read"], summary["accepted"], summary["already_loaded_as"]) == (
        50,
        50,
        None,
    )
    assert snapshot(db)["decisions"][0] == before["decisions"][0] + 50


def test_a_big_load_that_fills_the_disk_while_it_writes_changes_nothing(
    files: Files, db: Path
) -> None:
    before = snapshot(db)
    # the store may grow by 1 MB; the big file's rows need many more, written as they are inserted
    failed = run_limited(db.stat().st_size + 1_000_000, *ingest_args(files.big, db, "--json"))
    assert_out_of_space(failed, db, "the file size limit was reached")
    assert snapshot(db) == before
    load_big_file(files, db, before)  # the same command, with room: every row, once


def test_a_load_onto_a_really_full_disk_changes_nothing(files: Files, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    size = files.base_db.stat().st_size + 2_000_000
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a small file system here (needs root)")
    try:
        db = disk / "shadow.duckdb"
        shutil.copyfile(files.base_db, db)
        failed = run_cli(*ingest_args(files.big, db, "--json"))
        assert_out_of_space(failed, db, "the disk is full")
        # make room, as the user would, and check nothing changed before loading again
        subprocess.run(["mount", "-o", "remount,size=1g", str(disk)], check=True)
        before = snapshot(files.base_db)
        assert snapshot(db) == before
        load_big_file(files, db, before)
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_a_refresh_that_fills_the_disk_keeps_the_published_numbers(files: Files, db: Path) -> None:
    from shadow.refresh.cache import cache_path
    from shadow.snapshot import open_published

    def published() -> str:
        with open_published(db) as snap:
            snap.verify()
            return str(snap.meta["content_hash"])

    assert run_cli("refresh", "--db", str(db)).returncode == 0
    first = published()
    assert run_cli(*ingest_args(files.small, db)).returncode == 0
    files_before = sorted(p.name for p in db.parent.iterdir())

    failed = run_limited(100_000, "refresh", "--db", str(db))
    # the first file over the limit is one of the case cache's (shadow.cache/<point>/...)
    assert_out_of_space(failed, cache_path(db), "the file size limit was reached")
    assert published() == first
    assert sorted(p.name for p in db.parent.iterdir()) == files_before  # no temporary file left

    assert run_cli("refresh", "--db", str(db)).returncode == 0
    assert published() != first  # now with the 50 new decisions
