"""The published snapshot: the computed numbers in a DuckDB file beside the store, never changed.

The store is for loading. DuckDB lets a process write a file only while no other process has it
open, even read-only, so nothing that reads the track record (the app, a report, someone's own SQL)
may open the store. `publish` writes the numbers into a new file named by their content hash,
`<name>.snapshots/<hash>.duckdb`, and then points `<name>.published.duckdb` (a symbolic link) at
it, swapping the link in one rename. A file, once named, is never written again: a reader that
resolved the link keeps a whole snapshot however many publishes follow, and the same path always
means the same numbers (a reader can cache by it). A publish killed at any moment leaves the link
on the previous snapshot and at most a temporary file, which the next publish removes. A snapshot
the link no longer names is removed once it has been retired for GRACE_SECONDS.

The meta carries the content hash of the tables (see shadow.hashing), so a reader, or a sign-off
made later, can check that what it read is what was published. A big table can be published in
weekly chunks, each hashed alone: a daily publish then copies the previous file and writes and
hashes again only the weeks that changed (Reuse).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import duckdb
import polars as pl
from polars.datatypes import DataTypeClass

from shadow.errors import NotPublished, ShadowError, StoreError, disk_full, is_damage
from shadow.hashing import (
    chunk_hashes,
    chunked_table_hash,
    content_hash,
    table_hash,
    week_chunk,
)

SUFFIX = ".published.duckdb"
FOLDER_SUFFIX = ".snapshots"
# Bumped when the layout of the files, of the internal tables or the definition of the hash
# changes; a reader opens only snapshots of its own format.
SNAPSHOT_FORMAT = 3
# How long a snapshot the link no longer names is kept for readers that resolved it before.
GRACE_SECONDS = 600.0
# Keys publish writes into the meta itself; the caller's meta may not use them.
RESERVED_META = ("published_at", "shadow_version", "content_hash", "snapshot_format")
# How long a reader retries while something holds the published file for writing. `publish` never
# does (it renames a finished file over it), so only a stranger, such as a duckdb shell opened
# read-write on the snapshot, can make a reader wait.
OPEN_WAIT_SECONDS = 2.0

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_HINT = "run `shadow refresh` to compute the track record and publish it"


def _stem(db: Path) -> str:
    return db.stem if db.suffix == ".duckdb" else db.name


def published_path(db: Path | str) -> Path:
    """The link to the snapshot of the store `db`: shadow.duckdb -> shadow.published.duckdb."""
    db = Path(db)
    return db.with_name(_stem(db) + SUFFIX)


def snapshots_folder(db: Path | str) -> Path:
    """Where the snapshot files of the store `db` are: shadow.duckdb -> shadow.snapshots/."""
    db = Path(db)
    return db.with_name(_stem(db) + FOLDER_SUFFIX)


def current(db: Path | str) -> Path:
    """The snapshot file published beside the store `db` now. Raises NotPublished if none."""
    link = published_path(db)
    if not link.exists():  # no link, or one whose file is gone
        raise NotPublished(f"Nothing is published beside {db} yet", hint=_HINT)
    return Path(os.path.realpath(link))


@dataclass(frozen=True)
class PublishResult:
    """What one publish wrote: where, when, how many rows per table, and the content hash."""

    path: Path
    published_at: datetime
    rows: dict[str, int]
    content_hash: str


# --- publishing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reuse:
    """What a publish may keep of the snapshot it replaces, if that is the one with
    `content_hash`: of each chunked table named in `changed`, the rows and hashes of every week
    not listed there (ISO dates of Mondays) stand; the rest is written and hashed anew."""

    content_hash: str
    changed: Mapping[str, Collection[str]]


def publish(
    db: Path | str,
    tables: Mapping[str, pl.DataFrame],
    meta: Mapping[str, Any] | None = None,
    *,
    chunked: Mapping[str, str] | None = None,
    reuse: Reuse | None = None,
) -> PublishResult:
    """Publish `tables` and `meta` as the snapshot of the store `db`, replacing the previous one.

    The tables keep their column types (time zones and categoricals included); the meta is one
    row of whatever types its values have, plus published_at, shadow_version, content_hash and
    snapshot_format. Raises ValueError for a table name or meta key it cannot use, and TypeError
    for a column type that would not read back unchanged.

    `chunked` names tables hashed a week at a time, by a time column (hashing.chunked_table_hash);
    with `reuse`, the weeks of those tables that did not change are kept from the previous
    snapshot's file (copied) instead of being written and hashed again.
    """
    meta = dict(meta or {})
    chunked = dict(chunked or {})
    _check(tables, meta, chunked)
    link = published_path(db)
    folder = snapshots_folder(db)
    if not link.parent.is_dir():
        raise StoreError(
            f"Cannot publish beside {db}: the folder {link.parent} does not exist",
            hint="create the store first with `shadow init`",
        )
    published_at = datetime.now(UTC)
    meta.update(published_at=published_at, shadow_version=shadow_version())
    with _publishing(link.parent):
        _remove_temporaries(link.parent, folder)
        previous = _linked(link)
        standing = _standing_chunks(previous, reuse, tables, chunked) if reuse and previous else {}
        hashes, chunks = _hashes(tables, chunked, standing)
        meta.update(content_hash=content_hash(hashes), snapshot_format=SNAPSHOT_FORMAT)
        target = folder / f"{meta['content_hash']}.duckdb"
        try:
            found = _published_at(target)
            if found is None:
                _write_new(target, previous, tables, hashes, chunks, meta, chunked, standing)
            else:  # these very numbers are published already: the link goes back to them
                published_at = found
            _link(link, target)
        except duckdb.Error as e:
            raise disk_full(str(e), target) or StoreError(
                f"Cannot publish beside {db}: {_first_line(e)}",
                hint="the previous snapshot is unchanged; run `shadow refresh` again",
            ) from e
        except OSError as e:  # copying the previous snapshot, or a full disk while linking
            full = disk_full(str(e), target)
            if full is None:
                raise
            raise full from e
        if previous is not None and previous != target:
            _retire(previous)
        _prune(folder, keep=target)
    return PublishResult(
        path=target,
        published_at=published_at,
        rows={name: frame.height for name, frame in tables.items()},
        content_hash=meta["content_hash"],
    )


def _write_new(
    target: Path,
    previous: Path | None,
    tables: Mapping[str, pl.DataFrame],
    hashes: Mapping[str, str],
    chunks: pl.DataFrame,
    meta: Mapping[str, Any],
    chunked: Mapping[str, str],
    standing: Mapping[str, Chunks],
) -> None:
    """Write the snapshot into a temporary file and rename it to `target` once it is whole."""
    target.parent.mkdir(exist_ok=True)
    temp = target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    try:
        if standing and previous is not None:  # what stands is in the previous file: copy it
            shutil.copyfile(previous, temp)
        _write(temp, tables, hashes, chunks, meta, chunked, standing)
        _fsync(temp)
        os.replace(temp, target)
        _fsync(target.parent)
    except BaseException:
        _remove(temp)
        raise


def _linked(link: Path) -> Path | None:
    """The snapshot file `link` names now, if there is one."""
    return Path(os.path.realpath(link)) if link.exists() else None


def _published_at(path: Path) -> datetime | None:
    """When the snapshot file at `path` was published, if it is whole and of this format (every
    table read and checked against its hash: a file damaged since is written again)."""
    if not path.is_file():
        return None
    try:
        with open_snapshot(path) as found:
            found.verify()
            when = found.meta.get("published_at")
    except (ShadowError, duckdb.Error):
        return None
    return when if isinstance(when, datetime) else None


def _link(link: Path, target: Path) -> None:
    """Point `link` at `target` (relative to the link's folder) in one rename."""
    temp = link.parent / f".{link.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp"
    os.symlink(os.path.relpath(target, link.parent), temp)
    try:
        os.replace(temp, link)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync(link.parent)


def _retire(path: Path) -> None:
    """Mark a snapshot as retired now (its modification time), for `_prune`."""
    with suppress(OSError):  # gone already, or not ours to touch: nothing to keep for
        os.utime(path)


def _prune(folder: Path, keep: Path) -> None:
    """Remove the snapshots retired more than GRACE_SECONDS ago (all but `keep`)."""
    cutoff = time.time() - GRACE_SECONDS
    for path in folder.glob("*.duckdb"):
        try:
            if path != keep and path.stat().st_mtime < cutoff:
                _remove(path)
        except OSError:
            continue


# A chunked table's weeks: Monday -> (rows, table_hash of those rows)
Chunks = dict[str, tuple[int, str]]


def _hashes(
    tables: Mapping[str, pl.DataFrame], chunked: Mapping[str, str], standing: dict[str, Chunks]
) -> tuple[dict[str, str], pl.DataFrame]:
    """Every table's hash, and the chunks of the chunked ones (those standing are not hashed)."""
    hashes, rows = {}, []
    for name, frame in tables.items():
        column = chunked.get(name)
        if column is None:
            hashes[name] = table_hash(frame)
            continue
        kept = standing.get(name, {})
        week = week_chunk(column, frame.schema[column])
        fresh = frame.filter(~week.is_in([date.fromisoformat(w) for w in kept]))
        chunks = kept | chunk_hashes(fresh, column)
        hashes[name] = chunked_table_hash(frame.columns, chunks)
        rows += [(name, date.fromisoformat(w), n, h) for w, (n, h) in chunks.items()]
    return hashes, pl.DataFrame(rows, schema=_CHUNKS_SCHEMA, orient="row")


def _standing_chunks(
    previous: Path, reuse: Reuse, tables: Mapping[str, pl.DataFrame], chunked: Mapping[str, str]
) -> dict[str, Chunks]:
    """The weeks of each chunked table that stand as the previous snapshot has them: only if that
    snapshot is `reuse.content_hash`, of this format, with the same columns, and holds as many
    rows of those weeks as the new table has."""
    try:
        with open_snapshot(previous) as found:
            if found.meta.get("content_hash") != reuse.content_hash:
                return {}
            chunks = found.query("SELECT * FROM _chunks")
            columns = found.query("SELECT * FROM _columns ORDER BY position")
    except (ShadowError, duckdb.Error):
        return {}
    standing: dict[str, Chunks] = {}
    for name, column in chunked.items():
        frame = tables.get(name)
        if frame is None or name not in reuse.changed:
            continue
        same = columns.filter(table_name=name).drop("table_name").to_dicts() == [
            {k: v for k, v in row.items() if k != "table_name"} for row in _column_rows(name, frame)
        ]
        changed = set(reuse.changed[name])
        kept = {
            week.isoformat(): (n, h)
            for week, n, h in chunks.filter(table_name=name)
            .select("week", "rows", "content_hash")
            .iter_rows()
            if week.isoformat() not in changed
        }
        week = week_chunk(column, frame.schema[column])
        rows = frame.filter(week.is_in([date.fromisoformat(w) for w in kept])).height
        if same and kept and rows == sum(n for n, _ in kept.values()):
            standing[name] = kept
    return standing


def shadow_version() -> str:
    """The installed Shadow's version ("unknown" when it is not installed)."""
    # From the installed package, not `shadow.__version__`: importing the package root would
    # bring every layer above this one with it.
    try:
        return metadata.version("shadow-eval")
    except metadata.PackageNotFoundError:
        return "unknown"


def _check(
    tables: Mapping[str, pl.DataFrame], meta: Mapping[str, Any], chunked: Mapping[str, str]
) -> None:
    for name, frame in tables.items():
        if not _NAME.match(name):
            raise ValueError(
                f"Cannot publish a table named {name!r}: use letters, digits and _,"
                " starting with a letter"
            )
        for column, dtype in frame.schema.items():
            bad = _unpublishable(dtype)
            if bad:
                raise TypeError(f"Cannot publish {name}.{column} ({dtype}): {bad}")
    for name, column in chunked.items():
        chunk = tables.get(name)
        if chunk is not None and not (
            isinstance(chunk.schema.get(column), pl.Datetime) and chunk[column].null_count() == 0
        ):
            raise ValueError(f"Cannot chunk {name} by {column}: not a time column without gaps")
    for key in meta:
        if key in RESERVED_META:
            raise ValueError(f"The meta key {key!r} is written by publish itself")


def _unpublishable(dtype: pl.DataType | DataTypeClass) -> str | None:
    """Why a column of this type cannot go through DuckDB and come back the same, if it cannot."""
    if isinstance(dtype, pl.Duration):
        return "DuckDB stores it as an INTERVAL, which Polars cannot read back; publish seconds"
    if isinstance(dtype, pl.Enum):
        return "it would come back as text; cast it to pl.String or pl.Categorical"
    if isinstance(dtype, pl.Object):
        return "Python objects cannot be stored"
    if isinstance(dtype, pl.List | pl.Array):
        return _unpublishable(dtype.inner) or (
            "binary inside a list cannot be hashed" if dtype.inner == pl.Binary else None
        )
    if isinstance(dtype, pl.Struct):
        for field in dtype.fields:
            if field.dtype == pl.Binary:
                return "binary inside a struct cannot be hashed"
            bad = _unpublishable(field.dtype)
            if bad:
                return bad
    return None


@contextmanager
def _publishing(folder: Path) -> Iterator[None]:
    """One publish at a time in a folder, so the cleanup never removes a live publish's file.

    The lock is flock on the folder itself: the kernel drops it when the process dies, however
    it dies, and no lock file is left behind.
    """
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _remove_temporaries(beside: Path, folder: Path) -> None:
    # .<name>.<pid>-<token>.tmp, and DuckDB's own .tmp.wal and .tmp.tmp/ (spill folder) beside it
    for stale in [*beside.glob(f".*{SUFFIX}.*.tmp*"), *folder.glob(".*.tmp*")]:
        _remove(stale)


def _remove(path: Path) -> None:
    for each in (path, Path(f"{path}.wal"), Path(f"{path}.tmp")):
        if each.is_dir() and not each.is_symlink():
            shutil.rmtree(each, ignore_errors=True)
        else:
            each.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write(
    temp: Path,
    tables: Mapping[str, pl.DataFrame],
    hashes: Mapping[str, str],
    chunks: pl.DataFrame,
    meta: Mapping[str, Any],
    chunked: Mapping[str, str],
    standing: Mapping[str, Chunks],
) -> None:
    """Write the tables, their meta, hashes and column types.

    With `standing` chunks, `temp` is a copy of the previous snapshot: of those tables only the
    other weeks' rows are replaced; everything else is written anew.
    """
    con = duckdb.connect(str(temp))
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar_print = false")  # no bare percentage on stderr
        for (name,) in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall():
            if name not in standing:
                con.execute(f'DROP TABLE "{name}"')
        columns: list[dict[str, Any]] = []
        for name, frame in tables.items():
            if name in standing:
                weeks = [date.fromisoformat(w) for w in standing[name]]
                column = chunked[name]
                con.execute(
                    f"""DELETE FROM "{name}" WHERE NOT list_contains($weeks::DATE[],
                        CAST(date_trunc('week', "{column}") AS DATE))""",
                    {"weeks": weeks},
                )
                fresh = frame.filter(~week_chunk(column, frame.schema[column]).is_in(weeks))
                _create(con, name, fresh, insert=True)
            else:
                _create(con, name, frame)
            columns += _column_rows(name, frame)
        meta_frame = pl.DataFrame({key: [value] for key, value in meta.items()})
        _create(con, "_meta", meta_frame)
        columns += _column_rows("_meta", meta_frame)
        index = pl.DataFrame(
            {
                "table_name": list(tables),
                "rows": [frame.height for frame in tables.values()],
                "content_hash": [hashes[name] for name in tables],
                "chunked_by": [chunked.get(name) for name in tables],
            },
            schema={
                "table_name": pl.String,
                "rows": pl.Int64,
                "content_hash": pl.String,
                "chunked_by": pl.String,
            },
        )
        _create(con, "_tables", index)
        _create(con, "_columns", pl.DataFrame(columns, schema=_COLUMNS_SCHEMA))
        _create(con, "_chunks", chunks)
        for name, frame in [*tables.items(), ("_meta", meta_frame)]:
            back = _restore(con.sql(f'SELECT * FROM "{name}" LIMIT 0').pl(), columns, name)
            if back.schema != frame.schema:
                changed = [
                    f"{c} ({frame.schema[c]} -> {back.schema.get(c)})"
                    for c in frame.columns
                    if back.schema.get(c) != frame.schema[c]
                ]
                raise TypeError(f"{name} would not read back the same: " + ", ".join(changed))
        con.execute("CHECKPOINT")
    finally:
        con.close()


_CHUNKS_SCHEMA = {
    "table_name": pl.String,
    "week": pl.Date,
    "rows": pl.Int64,
    "content_hash": pl.String,
}
_COLUMNS_SCHEMA = {
    "table_name": pl.String,
    "column_name": pl.String,
    "position": pl.Int32,
    "polars_type": pl.String,
    "time_zone": pl.String,
    "categorical": pl.Boolean,
}


def _column_rows(table: str, frame: pl.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            "table_name": table,
            "column_name": name,
            "position": position,
            "polars_type": str(dtype),
            "time_zone": dtype.time_zone if isinstance(dtype, pl.Datetime) else None,
            "categorical": isinstance(dtype, pl.Categorical),
        }
        for position, (name, dtype) in enumerate(frame.schema.items())
    ]


def _create(
    con: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame, *, insert: bool = False
) -> None:
    try:
        con.register("_frame", frame)
        if insert:  # into the table as it is (the same columns, in the same order)
            con.execute(f'INSERT INTO "{name}" SELECT * FROM _frame')
        else:
            con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
    except duckdb.Error as e:
        if disk_full(str(e)) is not None:
            raise  # not the table's fault: publish says so, naming the file
        raise TypeError(f"DuckDB cannot store the table {name}: {_first_line(e)}") from e
    finally:
        con.unregister("_frame")


def _restore(frame: pl.DataFrame, columns: list[dict[str, Any]], table: str) -> pl.DataFrame:
    """Give back what DuckDB does not keep: a column's time zone, and that it was categorical."""
    fixes = []
    for c in columns:
        if c["table_name"] != table or c["column_name"] not in frame.columns:
            continue
        if c["time_zone"] is not None:
            fixes.append(pl.col(c["column_name"]).dt.convert_time_zone(c["time_zone"]))
        elif c["categorical"]:
            fixes.append(pl.col(c["column_name"]).cast(pl.Categorical))
    return frame.with_columns(fixes) if fixes else frame


# --- reading ------------------------------------------------------------------------------------


class Published:
    """An open published snapshot: its meta, its tables, and parameterised SQL over them.

    Use it as a context manager and keep it open only for one request; while it is open this
    process holds that version of the file (never the store, and never a later version).
    Timestamps from `table` keep their time zones; `query` returns them in UTC.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path) -> None:
        self._con = con
        self.path = path
        self._columns = con.sql("SELECT * FROM _columns ORDER BY position").pl().to_dicts()
        index = con.sql("SELECT * FROM _tables").pl()
        self.table_hashes: dict[str, str] = dict(
            zip(index["table_name"], index["content_hash"], strict=True)
        )
        # a table hashed a week at a time names its time column
        self.chunked_by: dict[str, str] = {
            t: c for t, c in zip(index["table_name"], index["chunked_by"], strict=True) if c
        }
        meta = _restore(con.sql("SELECT * FROM _meta").pl(), self._columns, "_meta")
        self.meta: dict[str, Any] = meta.row(0, named=True)

    def tables(self) -> list[str]:
        """The names of the published tables (not the internal _meta, _tables, _columns)."""
        return sorted(self.table_hashes)

    def table(self, name: str) -> pl.DataFrame:
        """One published table, with the column types it was published with."""
        if name not in self.table_hashes:
            raise NotPublished(
                f"The published snapshot {self.path} has no table {name!r}"
                f" (it has {', '.join(self.tables()) or 'none'})",
                hint=_HINT,
            )
        return _restore(self._frame(f'SELECT * FROM "{name}"', None), self._columns, name)

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pl.DataFrame:
        """Run one SELECT over the snapshot; values go in `params` as $name, never into the text."""
        return self._frame(sql, dict(params) if params else None)

    def hash_of(self, name: str) -> str:
        """The table `name`'s hash, computed from what a reader reads (a week at a time where it
        was published so)."""
        frame = self.table(name)
        column = self.chunked_by.get(name)
        if column is not None:
            return chunked_table_hash(frame.columns, chunk_hashes(frame, column))
        return table_hash(frame)

    def verify(self) -> None:
        """Read every table and check it against the content hash published with it."""
        for name in self.tables():
            if self.hash_of(name) != self.table_hashes[name]:
                raise StoreError(
                    f"The table {name} in {self.path} does not match its content hash",
                    hint="the file was changed after it was published; " + _HINT,
                )
        if content_hash(self.table_hashes) != self.meta["content_hash"]:
            raise StoreError(
                f"The tables in {self.path} do not match the published content hash",
                hint="the file was changed after it was published; " + _HINT,
            )

    def _frame(self, sql: str, params: dict[str, Any] | None) -> pl.DataFrame:
        try:
            result: pl.DataFrame = self._con.sql(sql, params=params).pl()
        except duckdb.Error as e:
            if is_damage(str(e)):
                raise _damaged(self.path, e) from e
            raise StoreError(f"Query over the published snapshot failed: {_first_line(e)}") from e
        return result

    def close(self) -> None:
        """Let go of the snapshot file."""
        self._con.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, v: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def open_published(db: Path | str) -> Published:
    """Open the snapshot published beside the store `db` now, read-only. Raises NotPublished if
    none, and StoreError for one this Shadow cannot read."""
    return open_snapshot(current(db))


def open_snapshot(path: Path, *, any_format: bool = False) -> Published:
    """Open one snapshot file read-only (see `current`): the same path is always the same numbers.

    Each call opens the file afresh in its own in-memory DuckDB (ATTACH ... READ_ONLY). A file of
    another snapshot format is refused (StoreError) unless `any_format`: its tables may not mean
    what this Shadow reads them as.
    """
    missing = NotPublished(f"The published snapshot {path} is gone", hint=_HINT)
    if not path.is_file():
        raise missing
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET TimeZone = 'UTC'")
        deadline = time.monotonic() + OPEN_WAIT_SECONDS
        while True:
            try:
                con.execute("ATTACH $path AS snapshot (READ_ONLY)", {"path": str(path)})
                break
            except duckdb.Error as e:
                if not path.exists():
                    raise missing from e
                if "lock" in str(e).lower() and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                if is_damage(str(e)):
                    raise _damaged(path, e) from e
                raise StoreError(
                    f"Cannot read the published snapshot {path}: {_first_line(e)}",
                    hint=_HINT + " again",
                ) from e
        con.execute("USE snapshot")
        published = Published(con, path)
    except duckdb.Error as e:
        con.close()
        if is_damage(str(e)):
            raise _damaged(path, e) from e
        raise StoreError(
            f"{path} is not a published snapshot: {_first_line(e)}", hint=_HINT + " again"
        ) from e
    except BaseException:
        con.close()
        raise
    found = published.meta.get("snapshot_format")
    if found != SNAPSHOT_FORMAT and not any_format:
        published.close()
        raise StoreError(
            f"The published snapshot {path} was written by Shadow"
            f" {published.meta.get('shadow_version', '?')} in format {found}; this Shadow"
            f" ({shadow_version()}) reads format {SNAPSHOT_FORMAT}",
            hint=_HINT + " again with this Shadow",
        )
    return published


def _damaged(path: Path, e: BaseException) -> StoreError:
    return StoreError(
        f"The published snapshot {path} is damaged: {_first_line(e)}",
        hint="publish it again with `shadow refresh` (the store itself is not affected)",
    )


def _first_line(e: BaseException) -> str:
    return str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
