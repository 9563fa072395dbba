"""The DuckDB file: open, migrate, run SQL, transactions; the only module that imports duckdb."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import polars as pl

from shadow import sql
from shadow.errors import StoreError, StoreLocked, StoreMissing, disk_full, store_damaged

DEFAULT_DB = "shadow.duckdb"
# How long a writer waits for another process to let go of the store before giving up.
DEFAULT_WAIT_SECONDS = 10.0
DEFAULT_MEMORY_LIMIT = "2GB"

Progress = Callable[[float], None]


def default_path() -> Path:
    """The store named by SHADOW_DB, else ./shadow.duckdb."""
    return Path(os.environ.get("SHADOW_DB") or DEFAULT_DB)


def _is_lock_error(e: duckdb.Error) -> bool:
    text = str(e).lower()
    return "lock" in text and ("conflicting" in text or "could not set" in text)


class Store:
    """One open connection to a shadow store (a DuckDB file, or memory for tests)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None) -> None:
        self._con = con
        self.path = path
        con.execute("SET TimeZone = 'UTC'")
        # DuckDB's own bar (a bare percentage on stderr) stays off: the commands draw their own,
        # labelled, from query_progress (execute_with_progress), which still tracks
        con.execute("SET enable_progress_bar_print = false")
        # Bounded by default so a 10M-row load fits an ordinary machine (DuckDB spills the rest
        # to <store>.tmp/); raise it for speed on a big machine.
        limit = os.environ.get("SHADOW_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT
        try:
            con.execute("SET memory_limit = $limit", {"limit": limit})
        except duckdb.Error as e:
            raise StoreError(
                f"SHADOW_MEMORY_LIMIT={limit!r} is not a memory size",
                hint="use a size such as 2GB or 8GB",
            ) from e

    @classmethod
    def open(
        cls,
        path: Path | str | None = None,
        *,
        read_only: bool = False,
        create: bool = False,
        wait: float | None = None,
    ) -> Self:
        """Open the store at `path`, waiting up to `wait` seconds while another process holds it."""
        path = Path(path) if path is not None else default_path()
        if not create and not path.exists():
            raise StoreMissing(
                f"No shadow store at {path}",
                hint="create one with `shadow init` (or point --db / SHADOW_DB at an existing store)",
            )
        if path.is_dir():
            raise StoreError(
                f"{path} is a folder, not a store file", hint="pass a file path to --db"
            )
        wait = DEFAULT_WAIT_SECONDS if wait is None else wait
        deadline = time.monotonic() + wait
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.Error as e:
                if _is_lock_error(e):
                    if time.monotonic() < deadline:
                        time.sleep(0.2)
                        continue
                    raise StoreLocked(
                        f"The store {path} is busy: another process is using it"
                        f" (waited {wait:g} s)",
                        hint="let the other load, refresh or command finish, then run this again",
                    ) from e
                known = disk_full(str(e), path) or store_damaged(str(e), path)
                if known is not None:
                    raise known from e
                raise StoreError(
                    f"Cannot open the store {path}: {_first_line(e)}",
                    hint=f"if the file is damaged, rebuild it from your log files with"
                    f" `shadow recover --db {path}`",
                ) from e
        try:
            store = cls(con, path)
            if not read_only:
                store.migrate()
        except BaseException:
            # a connection left open would keep the file open in this process, and DuckDB
            # refuses the next open of it with other settings (e.g. read-only)
            con.close()
            raise
        return store

    @classmethod
    def memory(cls) -> Self:
        """A migrated store in memory, for tests and throwaway work."""
        store = cls(duckdb.connect(":memory:"), None)
        store.migrate()
        return store

    def close(self) -> None:
        """Close the connection; the file is free for other processes."""
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply pending migrations in order, each in its own transaction. Returns names applied."""
        self.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
        )
        done = {row[0] for row in self.rows("SELECT name FROM schema_migrations")}
        applied = []
        for name in sql.migrations():
            if name in done:
                continue
            try:
                with self.transaction():
                    self._con.execute(sql.read("migrations", name))
                    self._con.execute(
                        "INSERT INTO schema_migrations VALUES ($name, now())", {"name": name}
                    )
            except duckdb.Error as e:
                known = disk_full(str(e), self.path) or store_damaged(str(e), self.path)
                raise known or StoreError(f"Migration {name} failed: {_first_line(e)}") from e
            applied.append(name)
        return applied

    # --- running SQL ----------------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything inside commits together, or not at all."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self._rollback()
            raise
        try:
            self._con.execute("COMMIT")
        except duckdb.Error as e:
            # e.g. the disk filled up while the commit wrote the WAL: nothing was committed
            self._rollback()
            raise _wrap(e, self.path) from e

    def _rollback(self) -> None:
        # A failed COMMIT has already ended the transaction, and a database DuckDB has
        # invalidated after a failed write cannot roll back; either way nothing inside it
        # reached the store, and the error that got us here is the one to report.
        with suppress(duckdb.Error):
            self._con.execute("ROLLBACK")

    def execute(self, text: str, params: dict[str, Any] | None = None) -> None:
        """Run one statement that returns nothing we need (DDL, INSERT, ...)."""
        try:
            self._con.execute(text, params or None)
        except duckdb.Error as e:
            raise _wrap(e, self.path) from e

    def release_memory(self) -> None:
        """Give back to the system the memory DuckDB keeps after a query (its cache of the
        store's blocks, mostly), so that what runs next in this process has it."""
        (limit,) = self.rows("SELECT current_setting('memory_limit')")[0]
        self.execute("SET memory_limit = '64MB'")
        self.execute("SET memory_limit = $limit", {"limit": limit})

    def rows(self, text: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return its rows as tuples."""
        try:
            return self._con.execute(text, params or None).fetchall()
        except duckdb.Error as e:
            raise _wrap(e, self.path) from e

    def frame(self, text: str, params: dict[str, Any] | None = None) -> pl.DataFrame:
        """Run a query and return a fully materialised Polars frame."""
        try:
            result: pl.DataFrame = self._con.sql(text, params=params or None).pl()
        except duckdb.Error as e:
            raise _wrap(e, self.path) from e
        return result

    def query(self, name: str, **params: Any) -> pl.DataFrame:
        """Run sql/queries/<name>.sql with $-named parameters, as a Polars frame."""
        return self.frame(sql.read("queries", name), params)

    def columns(self, relation: str) -> list[tuple[str, str]]:
        """(name, type) of each column of a table or view, in order."""
        return [(r[0], r[1]) for r in self.rows(f"DESCRIBE {relation}")]

    def register(self, name: str, frame: object) -> None:
        """Make a Polars/pandas/Arrow frame queryable as `name` on this connection."""
        try:
            self._con.register(name, frame)
        except duckdb.Error as e:
            raise _wrap(e, self.path) from e

    def unregister(self, name: str) -> None:
        """Forget a frame registered with `register`."""
        try:
            self._con.unregister(name)
        except duckdb.Error as e:
            raise _wrap(e, self.path) from e

    def execute_with_progress(
        self, text: str, params: dict[str, Any] | None, progress: Progress | None
    ) -> None:
        """Run a long statement; while it runs, report its completion (0..1) to `progress`."""
        if progress is None:
            self.execute(text, params)
            return
        done = threading.Event()

        def poll() -> None:
            while not done.wait(0.25):
                try:
                    value = self._con.query_progress()
                except duckdb.Error:
                    return
                if value is not None and value >= 0:
                    progress(min(value / 100.0, 1.0))

        watcher = threading.Thread(target=poll, daemon=True)
        watcher.start()
        try:
            self.execute(text, params)
        finally:
            done.set()
            watcher.join()
        progress(1.0)


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__


def _wrap(e: duckdb.Error, path: Path | None = None) -> StoreError:
    if isinstance(e, duckdb.OutOfMemoryException):
        return StoreError(
            f"DuckDB ran out of memory: {_first_line(e)}",
            hint="raise SHADOW_MEMORY_LIMIT (e.g. 8GB) or load the data in smaller files",
        )
    known = disk_full(str(e), path) or store_damaged(str(e), path)
    if known is not None:
        return known
    return StoreError(str(e).strip())
