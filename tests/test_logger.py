"""ShadowLogger with real store files and real processes: calls never raise nor wait, records arrive once.

A busy store is another process holding the DuckDB file open (as the app's loader or a data team's
load would); a process that exits without close() is a real child interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shadow import ShadowLogger
from shadow.cli import cli
from shadow.store import Store
from tests.conftest import register

REPO = Path(__file__).resolve().parents[1]
POINT = "pump-inspection"
slow = pytest.mark.slow
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="holds a file lock")

HOLDER = r"""
import sys
import duckdb
con = duckdb.connect(sys.argv[1])
print("holding", flush=True)
sys.stdin.readline()
con.close()
print("released", flush=True)
sys.stdin.readline()
"""


class Holder:
    """Another process that holds the store open (DuckDB's file lock) until told to let go."""

    def __init__(self, db: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(db)],
            env=environment(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == "holding\n"

    def release(self) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == "released\n"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SHADOW_DB", "SHADOW_DEBUG")}
    env["PYTHONPATH"] = str(REPO)
    return env


@pytest.fixture
def holders() -> Iterator[Callable[[Path], Holder]]:
    """Start holders of a store; any still running at the end are killed (by pid)."""
    started: list[Holder] = []

    def start(db: Path) -> Holder:
        started.append(Holder(db))
        return started[-1]

    yield start
    for holder in started:
        holder.stop()


@pytest.fixture
def loggers() -> Iterator[Callable[..., ShadowLogger]]:
    """Make ShadowLoggers; each is closed at the end so no background thread outlives its test."""
    made: list[ShadowLogger] = []

    def make(db: Path, **kwargs: Any) -> ShadowLogger:
        kwargs.setdefault("flush_every", 3600)  # tests flush by hand unless they say otherwise
        made.append(ShadowLogger(POINT, db=db, **kwargs))
        return made[-1]

    yield make
    for logger in made:
        logger.close(timeout=5)


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with Store.open(db, wait=30) as store:
        return store.rows(sql)


def count(db: Path, table: str) -> int:
    return int(rows(db, f"SELECT count(*) FROM {table}")[0][0])


def log_some(logger: ShadowLogger, n: int, prefix: str = "c") -> None:
    for i in range(n):
        case = f"{prefix}{i}"
        logger.prediction(case, "inspect", model_version="v1", score=0.25, site="hamburg")
        logger.decision(case, "no_inspect", decided_by="dana", site="hamburg", region="north")
        logger.outcome(case, "inspect")


def wait_until(check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"not true within {timeout} s")
        time.sleep(0.05)


def spooled(logger: ShadowLogger) -> int:
    return int(logger.status()["spooled_records"])


# --- records arrive once ------------------------------------------------------------------------


def test_logged_records_arrive_in_the_store_exactly_once(db: Path, loggers: Any) -> None:
    logger = loggers(db)
    before = datetime.now(UTC)
    logger.prediction(
        "P-17", "inspect", model_version="v3", score=0.82, explanation={"vibration": 0.4}
    )
    logger.prediction("P-18", "no_inspect", model_version="v3", model="risk", site="hamburg")
    logger.decision("P-17", "no_inspect", decided_by="dana", note="looked fine", site="kiel")
    logger.outcome("P-17", "inspect", at=datetime(2026, 3, 2, 7, 0, tzinfo=UTC), note="leak")
    assert logger.flush() is True

    predictions = rows(
        db,
        "SELECT case_id, model, model_version, predicted_label, score, explanation, segments,"
        " predicted_at FROM predictions ORDER BY case_id",
    )
    assert [r[:5] for r in predictions] == [
        ("P-17", None, "v3", "inspect", 0.82),
        ("P-18", "risk", "v3", "no_inspect", None),
    ]
    assert json.loads(predictions[0][5]) == {"vibration": 0.4}
    assert json.loads(predictions[1][6]) == {"site": "hamburg"}
    assert before <= predictions[0][7] <= datetime.now(UTC)  # `at` is the call time, in UTC
    assert rows(db, "SELECT case_id, human_label, decided_by, note FROM decisions") == [
        ("P-17", "no_inspect", "dana", "looked fine")
    ]
    assert rows(db, "SELECT case_id, actual_label, observed_at, note FROM outcomes") == [
        ("P-17", "inspect", datetime(2026, 3, 2, 7, 0, tzinfo=UTC), "leak")
    ]

    # Flushing and closing again adds nothing; the spool is empty.
    assert logger.flush() is True
    assert logger.close() is True
    assert (count(db, "predictions"), count(db, "decisions"), count(db, "outcomes")) == (2, 1, 1)
    status = logger.status()
    assert (status["accepted"], status["quarantined"], status["spooled_files"]) == (4, 0, 0)
    # The loader's warnings are passed on, each once.
    assert [p.what for p in logger.errors] == [
        "predictions: segment columns not in the file, stored empty: region",
        "decisions: segment columns not in the file, stored empty: region",
    ]


def test_the_background_thread_loads_without_being_asked(db: Path, loggers: Any) -> None:
    logger = loggers(db, flush_every=0.1)
    log_some(logger, 50)
    wait_until(lambda: logger.status()["accepted"] == 150)
    assert (count(db, "predictions"), count(db, "decisions"), count(db, "outcomes")) == (50, 50, 50)
    assert count(db, "loads") == 3  # one load per log: one short hold of the store


def test_a_context_manager_closes_and_loads(db: Path) -> None:
    with ShadowLogger(POINT, db=db, flush_every=3600) as logger:
        log_some(logger, 10)
    assert count(db, "decisions") == 10
    assert not any((Path(f"{db}.spool") / POINT).rglob("*.jsonl"))


def test_shadow_logger_is_exported_without_making_import_shadow_heavy() -> None:
    code = (
        "import sys, shadow\n"
        "light = not any(m in sys.modules for m in ('duckdb', 'polars', 'pyarrow'))\n"
        "print(light, shadow.ShadowLogger.__module__)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "shadow.logger"]


# --- bad input: never raised, always reported ---------------------------------------------------


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


def test_calls_never_raise_on_bad_input_and_the_problems_are_kept(db: Path, loggers: Any) -> None:
    logger = loggers(db)
    calls: list[Callable[[], None]] = [
        lambda: logger.prediction(None, "inspect", model_version="v1"),  # no case id
        lambda: logger.prediction("a", "inspect", model_version="v1", explanation={"x": {1, 2}}),
        lambda: logger.prediction("b", "inspect", model_version="v1", score=Opaque()),
        lambda: logger.prediction(Opaque(), "inspect", model_version="v1"),  # not text: not logged
        lambda: logger.prediction("c", "maybe", model_version="v1", score=1.7),
        lambda: logger.prediction("d", "inspect"),  # no model version
        lambda: logger.prediction("e", "inspect", model_version="v1", point_id="other"),
        lambda: logger.decision("f", 1, at="not a time"),
        lambda: logger.decision("g", "inspect", at=datetime.now(UTC) + timedelta(days=2)),
        lambda: logger.outcome(12, "inspect", at=datetime(2026, 3, 2, tzinfo=UTC)),  # int: ok
    ]
    for call in calls:
        assert call() is None
    assert logger.flush() is True  # quarantined rows are loaded too: into the quarantine

    problems = [p.what for p in logger.errors]
    assert any("Opaque()" in p and "it was not logged" in p for p in problems), problems
    assert any("'point_id' is a column of the logs, not a segment" in p for p in problems)
    assert any("quarantined in load" in p and "shadow rejects --load" in p for p in problems)
    by_reason = {
        p.what.split("(", 1)[1].split(")", 1)[0]
        for p in logger.errors
        if p.what.startswith(("predictions row quarantined", "decisions row quarantined"))
    }
    assert by_reason == {
        "missing_case_id",
        "invalid_explanation",
        "unparseable_score",
        "unknown_label",
        "missing_model_version",
        "unparseable_timestamp",
        "future_timestamp",
    }
    # Each quarantined row is reported with its values, and is in the store's quarantine too.
    missing = next(p for p in logger.errors if "(missing_case_id)" in p.what)
    assert missing.record is not None and missing.record["case_id"] is None
    assert (
        count(db, "quarantine") == 7
    )  # 5 predictions ('maybe' with score 1.7: one row), 2 decisions
    assert rows(db, "SELECT case_id FROM predictions ORDER BY case_id") == [("e",)]
    assert rows(db, "SELECT case_id FROM outcomes") == [("12",)]
    # The unserialisable value travels as text, so the quarantine shows what was passed.
    explanation = next(p for p in logger.errors if "(invalid_explanation)" in p.what)
    assert explanation.record is not None
    assert explanation.record["explanation"] == "<not JSON: {'x': {1, 2}}>"


def test_a_point_not_yet_registered_keeps_records_in_the_spool(
    tmp_path: Path, loggers: Any
) -> None:
    db = tmp_path / "new.duckdb"
    Store.open(db, create=True).close()
    logger = loggers(db)
    log_some(logger, 5)
    assert logger.flush() is False
    assert spooled(logger) == 15
    assert any("Unknown decision point 'pump-inspection'" in p.what for p in logger.errors)
    with Store.open(db) as store:
        register(store)
    assert logger.flush() is True
    assert count(db, "predictions") == 5


def test_a_missing_store_keeps_records_in_the_spool(tmp_path: Path, loggers: Any) -> None:
    db = tmp_path / "later.duckdb"
    logger = loggers(db)
    log_some(logger, 3)
    assert logger.flush() is False
    assert logger.flush() is False
    assert [p.what for p in logger.errors] == [
        f"No shadow store at {db}; records wait in {logger.spool}"  # once, not every flush
    ]
    with Store.open(db, create=True) as store:
        register(store)
    assert logger.flush() is True
    assert count(db, "outcomes") == 3


def test_an_unwritable_spool_keeps_records_in_memory_then_drops_and_counts(
    db: Path, tmp_path: Path, loggers: Any
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where the spool folder should be")
    logger = loggers(db, spool_dir=blocker / "spool", max_buffer=20)
    log_some(logger, 3)  # 9 records
    assert logger.flush() is False
    assert logger.status()["buffered"] == 9  # kept, to be tried again
    log_some(logger, 30, prefix="more")  # 90 more: the buffer holds 20 at most
    assert logger.flush() is False

    def kept_and_dropped() -> tuple[int, int]:
        status = logger.status()
        return status["buffered"], status["dropped"]

    # (the spooling thread, woken from half full, takes records out and puts them back)
    wait_until(lambda: sum(kept_and_dropped()) == 99)
    kept, dropped = kept_and_dropped()
    assert dropped >= 60
    assert any("records were dropped: the buffer was full" in p.what for p in logger.errors)
    assert sum("cannot write a spool file" in p.what for p in logger.errors) == 1

    blocker.unlink()
    assert logger.flush() is True
    assert count(db, "predictions") + count(db, "decisions") + count(db, "outcomes") == kept


# --- the spool ----------------------------------------------------------------------------------


def test_leftover_spool_files_are_loaded_when_a_logger_starts(
    db: Path, tmp_path: Path, loggers: Any
) -> None:
    folder = Path(f"{db}.spool") / POINT / "decisions"
    folder.mkdir(parents=True)
    line = {"point_id": POINT, "case_id": "old", "decided_at": "2026-03-02T07:00:00+00:00"}
    (folder / "20260302T070000000000Z-1-000000.jsonl").write_text(
        json.dumps({**line, "human_label": "inspect"}) + "\n"
    )
    logger = loggers(db)  # flushes every hour, but leftovers are loaded at once
    wait_until(lambda: logger.status()["accepted"] == 1)
    assert rows(db, "SELECT case_id, human_label FROM decisions") == [("old", "inspect")]
    assert not list(folder.glob("*.jsonl"))


def test_a_spool_file_loads_by_hand_and_then_is_not_loaded_twice(
    tmp_path: Path, loggers: Any
) -> None:
    db = tmp_path / "late.duckdb"
    logger = loggers(db)
    log_some(logger, 4)
    assert logger.flush() is False  # no store yet: three spool files
    with Store.open(db, create=True) as store:
        register(store)
    folder = logger.spool / "predictions"
    result = CliRunner().invoke(cli, ["ingest", "predictions", str(folder), "--db", str(db)])
    assert result.exit_code == 0, result.output
    assert count(db, "predictions") == 4
    # Like a crash between a load's commit and the file's deletion: the file is still there.
    assert len(list(folder.glob("*.jsonl"))) == 1
    assert logger.flush() is True
    assert count(db, "predictions") == 4
    assert not list(folder.glob("*.jsonl"))


def test_files_spooled_while_waiting_are_loaded_as_one_load_per_log(
    tmp_path: Path, loggers: Any
) -> None:
    db = tmp_path / "later.duckdb"
    logger = loggers(db)
    for batch in range(3):
        log_some(logger, 10, prefix=f"b{batch}-")
        assert logger.flush() is False
    assert logger.status()["spooled_files"] == 9
    with Store.open(db, create=True) as store:
        register(store)
    assert logger.flush() is True
    assert rows(db, "SELECT log, rows_read, rows_accepted FROM loads ORDER BY log") == [
        ("decisions", 30, 30),
        ("outcomes", 30, 30),
        ("predictions", 30, 30),
    ]


# --- a busy store, and processes that exit ------------------------------------------------------


@slow
@linux
def test_a_busy_store_does_not_slow_the_calls_and_records_load_once_it_is_free(
    db: Path, loggers: Any, holders: Any
) -> None:
    holder = holders(db)
    logger = loggers(db, flush_every=0.05, wait=0.2)
    durations = []
    for i in range(2000):
        started = time.perf_counter()
        logger.prediction(f"c{i}", "inspect", model_version="v1", score=0.5, site="kiel")
        durations.append(time.perf_counter() - started)
        if i % 500 == 0:
            time.sleep(0.3)  # let the background thread try the busy store meanwhile
    durations.sort()
    assert durations[len(durations) // 2] < 0.001, "median call"
    assert durations[-1] < 0.1, "slowest call"  # generous: a shared test machine

    assert logger.flush(timeout=1) is False
    wait_until(lambda: spooled(logger) == 2000)
    status = logger.status()
    assert status["store_busy"] is True
    assert status["accepted"] == 0
    assert sum("is busy" in p.what for p in logger.errors) == 1  # once, not every retry

    holder.release()
    wait_until(lambda: logger.status()["accepted"] == 2000)  # the background thread, by itself
    assert spooled(logger) == 0
    assert logger.flush() is True
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM predictions") == [(2000, 2000)]


LOGGING_CHILD = r"""
import sys
from shadow import ShadowLogger

logger = ShadowLogger("pump-inspection", db=sys.argv[1], flush_every=3600, wait=float(sys.argv[3]))
for i in range(int(sys.argv[2])):
    logger.prediction(f"c{i}", "inspect", model_version="v1", score=0.5)
    logger.decision(f"c{i}", "no_inspect", decided_by="dana")
print("logged", flush=True)
# no close(): the process simply ends
"""


def run_child(db: Path, n: int, wait: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOGGING_CHILD, str(db), str(n), str(wait)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@slow
def test_a_process_that_exits_without_close_gets_its_records_into_the_store(db: Path) -> None:
    child = run_child(db, 300, wait=2)
    assert child.returncode == 0, child.stderr
    assert child.stdout == "logged\n"
    assert "Traceback" not in child.stderr
    assert (count(db, "predictions"), count(db, "decisions")) == (300, 300)
    assert not any(Path(f"{db}.spool").rglob("*.jsonl"))


@slow
@linux
def test_a_process_that_exits_while_the_store_is_busy_leaves_its_records_for_the_next_logger(
    db: Path, loggers: Any, holders: Any
) -> None:
    holder = holders(db)
    child = run_child(db, 300, wait=0.5)
    assert child.returncode == 0, child.stderr
    spool = Path(f"{db}.spool") / POINT
    # One clear line says where the records are and how they will be loaded.
    assert child.stderr.strip().splitlines()[-1] == (
        f"shadow logger ({POINT}): 600 records could not be loaded into {db} and are kept in"
        f" {spool}; the next ShadowLogger for this store loads them, or run"
        f" `shadow ingest <log> {spool}/<log> --db {db}`"
    )
    assert len(list(spool.rglob("*.jsonl"))) == 2
    holder.release()

    logger = loggers(db)  # picks the leftovers up as it starts
    wait_until(lambda: logger.status()["accepted"] == 600)
    assert rows(db, "SELECT count(*), count(DISTINCT case_id) FROM predictions") == [(300, 300)]
    assert count(db, "decisions") == 300
    assert not list(spool.rglob("*.jsonl"))


FORKING_CHILD = r"""
import os
import sys
from shadow import ShadowLogger

logger = ShadowLogger("pump-inspection", db=sys.argv[1], flush_every=3600)
logger.outcome("before-fork", "inspect")  # buffered in the parent, copied into the child
pid = os.fork()
if pid == 0:
    logger.outcome("in-child", "inspect")
    sys.exit(0)  # a normal exit: flushed at exit by the child's own logger
assert os.waitpid(pid, 0)[1] == 0
logger.outcome("in-parent", "inspect")
"""


@slow
@linux
def test_a_forked_worker_logs_its_own_records_and_not_the_parents_twice(db: Path) -> None:
    child = subprocess.run(
        [sys.executable, "-c", FORKING_CHILD, str(db)],
        env=environment(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 0, child.stderr
    assert rows(db, "SELECT case_id FROM outcomes ORDER BY case_id") == [
        ("before-fork",),
        ("in-child",),
        ("in-parent",),
    ]
    assert count(db, "loads") == 2  # the child's one outcome; the parent's two


def test_a_point_id_that_is_not_a_folder_name_stays_inside_the_spool(
    db: Path, tmp_path: Path
) -> None:
    logger = ShadowLogger("../elsewhere", db=db, spool_dir=tmp_path / "spool", flush_every=3600)
    try:
        logger.outcome("x", "inspect")
        assert logger.flush() is False  # not a registered point: the record waits
        assert logger.spool == tmp_path / "spool" / "..%2Felsewhere"
        assert [p.name for p in (tmp_path / "spool").iterdir()] == ["..%2Felsewhere"]
    finally:
        logger.close(timeout=1)
