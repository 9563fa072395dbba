"""Logging from a live service: calls that return at once, a local spool, loads in the background.

A call (`prediction`, `decision`, `outcome`) appends one tuple to an in-memory buffer and returns;
it does no I/O and raises nothing. A daemon thread writes the buffer to JSON Lines files in a spool
folder (atomically), then loads each file into the store through the ordinary loader, so a logged
row has every guarantee a loaded file has (atomic, idempotent by content, quarantined with a
reason). A file is deleted only after its load has committed; while the store is busy the files
wait in the spool, and the next flush (or the next ShadowLogger, or `shadow ingest`) loads them.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import urllib.parse
import weakref
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from shadow.columns import DECISIONS, LOGS, OUTCOMES, PREDICTIONS
from shadow.errors import ShadowError, StoreLocked, UnknownPoint
from shadow.ingestion import LoadSummary
from shadow.logger import loading, spool
from shadow.store import default_path

__all__ = ["Problem", "ShadowLogger"]

log = logging.getLogger("shadow.logger")

# Problems kept in memory (later ones are counted and logged, not kept).
MAX_PROBLEMS = 1000
# One load into a store at a time from all the loggers of a process: two connections of one
# process to a DuckDB file share its instance and could conflict on the same tables.
_STORE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Problem:
    """Something that went wrong while logging: what, when, and the record concerned (if one)."""

    what: str
    when: datetime
    record: dict[str, Any] | None = None


@dataclass
class _Totals:
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    loads: int = 0
    dropped: int = 0
    dropped_reported: int = 0
    problems: int = 0
    last_load_at: datetime | None = None
    store_busy: bool = False
    seen: set[str] = field(default_factory=set)  # keys of problems reported only once


class ShadowLogger:
    """Log predictions, decisions and outcomes of one decision point from a live service.

    Calls return at once and never raise; problems are kept in `errors` and logged (logger
    "shadow.logger"). Records reach the store within `flush_every` seconds while it is free.

    Example:
        logger = ShadowLogger("pump-inspection", db="ops.duckdb")
        logger.prediction("P-17/2026-W10", "inspect", model_version="v3", score=0.82)
    """

    def __init__(
        self,
        point: str,
        *,
        db: str | Path | None = None,
        spool_dir: str | Path | None = None,
        flush_every: float = 5.0,
        max_buffer: int = 100_000,
        wait: float = 2.0,
    ) -> None:
        self.point = point
        self.db = Path(db) if db is not None else default_path()
        root = Path(spool_dir) if spool_dir is not None else Path(f"{self.db}.spool")
        # A registered point id is a safe folder name; anything else is quoted (and never loads).
        self.spool = root / urllib.parse.quote(point, safe="")
        self.flush_every = max(flush_every, 0.01)  # a floor: 0 would spin
        self.max_buffer = max_buffer
        self.wait = wait
        self.errors: list[Problem] = []
        self._closed = False
        self._start()
        _LIVE.add(self)

    def _start(self) -> None:
        """Fresh buffer, locks and background threads (at construction, and in a forked child)."""
        self._buffer: deque[tuple[Any, ...]] = deque()
        # From half full on, each call wakes the spooling thread at once, not at its next tick.
        self._spill_at = max(self.max_buffer // 2, 1)
        self._lock = threading.Lock()  # errors and totals
        self._spool_lock = threading.Lock()  # buffer -> spool files
        self._load_lock = threading.Lock()  # spool files -> store
        self._wake = threading.Event()  # spool now
        self._wake_loader = threading.Event()  # load now
        self._stop = threading.Event()
        self._totals = _Totals()
        # Two threads, so that writing the spool never waits for the store (busy, or loading).
        self._threads = [
            threading.Thread(target=loop, name=f"shadow-logger-{self.point}-{what}", daemon=True)
            for loop, what in ((self._spool_loop, "spool"), (self._load_loop, "load"))
        ]
        for thread in self._threads:
            thread.start()

    # --- the calls: on the caller's thread, no I/O, nothing raised ------------------------------

    def prediction(
        self,
        case_id: Any,
        label: Any,
        *,
        model_version: Any = None,
        score: Any = None,
        explanation: Any = None,
        model: Any = None,
        at: datetime | str | None = None,
        **segments: Any,
    ) -> None:
        """Log what the model said about a case (`at`: when; default now, UTC). Never raises."""
        try:
            item = (
                PREDICTIONS,
                time.time_ns(),
                case_id,
                label,
                at,
                segments,
                model_version,
                score,
                explanation,
                model,
            )
            if len(self._buffer) < self._spill_at:
                self._buffer.append(item)
            else:
                self._put_late(item)
        except Exception as e:  # never into the caller
            self._call_failed(e, PREDICTIONS)

    def decision(
        self,
        case_id: Any,
        label: Any,
        *,
        decided_by: Any = None,
        note: Any = None,
        at: datetime | str | None = None,
        **segments: Any,
    ) -> None:
        """Log what a person decided for a case (`at`: when; default now, UTC). Never raises."""
        try:
            item = (DECISIONS, time.time_ns(), case_id, label, at, segments, decided_by, note)
            if len(self._buffer) < self._spill_at:
                self._buffer.append(item)
            else:
                self._put_late(item)
        except Exception as e:
            self._call_failed(e, DECISIONS)

    def outcome(
        self, case_id: Any, label: Any, *, at: datetime | str | None = None, note: Any = None
    ) -> None:
        """Log what really happened for a case (`at`: when; default now, UTC). Never raises."""
        try:
            item = (OUTCOMES, time.time_ns(), case_id, label, at, None, note)
            if len(self._buffer) < self._spill_at:
                self._buffer.append(item)
            else:
                self._put_late(item)
        except Exception as e:
            self._call_failed(e, OUTCOMES)

    def _put_late(self, item: tuple[Any, ...]) -> None:
        """Buffer a record when the buffer is half full or more: wake the thread; drop when full."""
        self._wake.set()
        if len(self._buffer) < self.max_buffer:
            self._buffer.append(item)
            return
        # Full: spooling to disk has not kept up. Memory stays bounded; the drop is counted and
        # reported at the next flush, never silently.
        with self._lock:
            self._totals.dropped += 1

    def _call_failed(self, e: Exception, name: str) -> None:
        with contextlib.suppress(Exception):  # nothing may escape into the caller
            self._problem(f"a {name} call failed: {type(e).__name__}: {e}")

    # --- flushing --------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Spool what is buffered, then load the spool into the store (for at most `timeout` s).

        Returns True when everything logged so far is in the store, False when records still
        wait in the spool (the store was busy or missing, or time ran out). Never raises.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        try:
            spooled = self._spool_buffer()
            return self._load_spool(deadline) and spooled
        except Exception as e:
            self._problem(f"flush failed: {type(e).__name__}: {e}")
            return False

    def close(self, timeout: float | None = 10.0) -> bool:
        """Stop the background thread and flush (for at most `timeout` s); returns flush()'s answer.

        Records the store could not take stay in the spool, and one log line says where.
        Safe to call twice; records logged after close() are written by flush() or at exit.
        """
        started = time.monotonic()
        self._closed = True
        self._stop.set()
        self._wake.set()
        self._wake_loader.set()
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(None if timeout is None else _left(started + timeout))
        left = None if timeout is None else max(timeout - (time.monotonic() - started), 0.0)
        done = self.flush(left)
        if not done:
            self._say_where_records_wait()
        return done

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def status(self) -> dict[str, Any]:
        """Counts for monitoring: buffered, waiting in the spool, loaded, dropped, problems."""
        waiting = [path for name in LOGS for path in spool.files(self.spool / name)]
        with self._lock:
            t = self._totals
            return {
                "point": self.point,
                "buffered": len(self._buffer),
                "spooled_files": len(waiting),
                "spooled_records": sum(spool.count_lines(path) for path in waiting),
                "spool": str(self.spool),
                "accepted": t.accepted,
                "duplicates": t.duplicates,
                "quarantined": t.quarantined,
                "loads": t.loads,
                "dropped": t.dropped,
                "problems": t.problems,
                "store_busy": t.store_busy,
                "last_load_at": t.last_load_at,
            }

    def _spool_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_every)
            self._wake.clear()
            try:
                if self._spool_buffer() and self._waiting():
                    self._wake_loader.set()
            except Exception as e:  # the thread must live on
                self._problem(f"writing the spool failed: {type(e).__name__}: {e}")

    def _load_loop(self) -> None:
        # Records left in the spool by an earlier process are loaded at once, not at the first tick.
        if not self._waiting():
            self._wake_loader.wait(self.flush_every)
        while not self._stop.is_set():
            self._wake_loader.clear()
            try:
                self._load_spool(None)
            except Exception as e:
                self._problem(f"loading the spool failed: {type(e).__name__}: {e}")
            self._wake_loader.wait(self.flush_every)

    def _waiting(self) -> dict[str, list[Path]]:
        return loading.waiting(self.spool)

    def _spool_buffer(self) -> bool:
        """Write what is buffered to one spool file per log; what cannot be written stays buffered.

        Returns False if some records stayed in the buffer.
        """
        written = True
        with self._spool_lock:
            buffer = self._buffer
            items = [buffer.popleft() for _ in range(len(buffer))]
            lines: dict[str, list[str]] = {name: [] for name in LOGS}
            writable: dict[str, list[tuple[Any, ...]]] = {name: [] for name in LOGS}
            for item in items:
                line = spool.to_line(self.point, item, self._report_record)
                if line is not None:
                    lines[item[0]].append(line)
                    writable[item[0]].append(item)
            for name, rows in lines.items():
                if not rows:
                    continue
                try:
                    spool.write_atomically(self.spool / name, rows)
                except OSError as e:
                    written = False
                    kept = writable[name]
                    buffer.extendleft(reversed(kept))  # in front of newer records, for next time
                    self._problem(
                        f"cannot write a spool file in {self.spool / name} ({e}); {len(kept)}"
                        " records stay in memory and are tried again at the next flush",
                        key=f"spool-write:{e.errno}",
                    )
        with self._lock:
            dropped = self._totals.dropped - self._totals.dropped_reported
            self._totals.dropped_reported = self._totals.dropped
        if dropped:
            self._problem(
                f"{dropped:,} records were dropped: the buffer was full ({self.max_buffer:,}"
                " records) because writing the spool did not keep up"
            )
        return written

    def _report_record(self, what: str, record: dict[str, Any], key: str | None) -> None:
        self._problem(what, record, key=key)

    def _load_spool(self, deadline: float | None) -> bool:
        """Load the waiting spool files into the store, holding it briefly. True if none is left."""
        if not self._waiting():
            return True
        if not self._load_lock.acquire(timeout=-1 if deadline is None else _left(deadline)):
            return False
        try:
            wait = self.wait if deadline is None else min(self.wait, _left(deadline))
            with _STORE_LOCK:
                self._load_into_store(wait)
        finally:
            self._load_lock.release()
        return not self._waiting()

    def _load_into_store(self, wait: float) -> None:
        try:
            loading.load_spool(self.db, self.point, self.spool, wait, self._problem, self._loaded)
        except StoreLocked:
            with self._lock:
                was_busy, self._totals.store_busy = self._totals.store_busy, True
            if not was_busy:
                self._problem(
                    f"the store {self.db} is busy; records wait in {self.spool} and are loaded"
                    f" once it is free (tried every {self.flush_every:g} s)",
                    level=logging.INFO,
                )
            return
        except UnknownPoint as e:
            self._problem(
                f"{e} in {self.db}; records wait in {self.spool} until it is registered"
                " (`shadow point add FILE`)",
                key="unknown-point",
            )
        except ShadowError as e:  # a missing or damaged store
            self._problem(f"{e}; records wait in {self.spool}", key=f"store:{e}")
        with self._lock:
            self._totals.store_busy = False

    def _loaded(self, summary: LoadSummary) -> None:
        with self._lock:
            t = self._totals
            t.accepted += summary.accepted
            t.duplicates += summary.duplicates
            t.quarantined += summary.quarantined
            t.loads += 1
            t.last_load_at = datetime.now(UTC)

    # --- problems --------------------------------------------------------------------------------

    def _problem(
        self,
        what: str,
        record: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        level: int = logging.WARNING,
    ) -> None:
        """Keep a problem (up to MAX_PROBLEMS) and log it; with a `key`, only the first time."""
        with self._lock:
            if key is not None:
                if key in self._totals.seen:
                    return
                self._totals.seen.add(key)
            self._totals.problems += 1
            if len(self.errors) < MAX_PROBLEMS:
                self.errors.append(Problem(what, datetime.now(UTC), record))
        log.log(level, "shadow logger (%s): %s", self.point, what)

    def _say_where_records_wait(self) -> None:
        waiting = self._waiting()
        n = sum(spool.count_lines(path) for paths in waiting.values() for path in paths)
        if not n:
            return
        name = next(iter(waiting)) if len(waiting) == 1 else "<log>"
        log.warning(
            "shadow logger (%s): %d records could not be loaded into %s and are kept in %s;"
            " the next ShadowLogger for this store loads them, or run `shadow ingest %s %s --db %s`",
            self.point,
            n,
            self.db,
            self.spool,
            name,
            self.spool / name,
            self.db,
        )

    def __repr__(self) -> str:
        return f"ShadowLogger({self.point!r}, db={str(self.db)!r})"


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.0)


# --- every live logger: flushed at exit, restarted in a forked child ----------------------------

_LIVE: weakref.WeakSet[ShadowLogger] = weakref.WeakSet()


@atexit.register
def _at_exit() -> None:
    for logger in list(_LIVE):
        if logger._closed and not logger._buffer:
            continue  # closed already, nothing logged since
        try:
            logger.close()
        except Exception:  # exiting must go on
            log.exception("shadow logger (%s): flushing at exit failed", logger.point)


def _after_fork() -> None:
    # The child has a copy of the parent's buffer (the parent writes those) and no thread.
    global _STORE_LOCK
    _STORE_LOCK = threading.Lock()
    for logger in list(_LIVE):
        if not logger._closed:
            logger._start()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
