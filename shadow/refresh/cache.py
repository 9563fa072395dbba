"""The case cache: what every refresh keeps beside the store, so that the next one reads only what
the day's loads changed.

`<store>.cache/` (shadow.duckdb -> shadow.cache/), per decision point:
- tables: the cells (shadow.track.cells), the streams' daily table and states, drift's sums and
  the delays table, as the last refresh left them;
- rows: what the numbers read of each case (shadow.track.rows), a file per week, so that a day's
  changes rewrite only the weeks they touch (a full refresh writes a file per week and bucket).

Files are never changed: a refresh writes new ones, and `manifest.json`, which names every file
of the cache and what it was computed from, is replaced whole once they are all written. A
refresh killed on the way, or one that fails (a full disk), leaves the previous cache as it was;
the files it wrote are removed by the next. Deleting the folder costs one full refresh, nothing
else. One refresh at a time holds the cache (a lock the kernel drops when the process dies).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

from shadow.errors import StoreError, StoreLocked, disk_full

FORMAT = 3
SUFFIX = ".cache"
MANIFEST = "manifest.json"


def cache_path(db: Path | str) -> Path:
    """Where the case cache of the store `db` is kept: shadow.duckdb -> shadow.cache/."""
    db = Path(db)
    stem = db.stem if db.suffix == ".duckdb" else db.name
    return db.with_name(stem + SUFFIX)


class PointCache:
    """One decision point's files in the cache: whole tables, and rows kept a file per week."""

    def __init__(self, folder: Path, entry: dict[str, Any], token: str) -> None:
        self.folder = folder
        self.entry = entry
        self.entry.setdefault("tables", {})
        self.entry.setdefault("weeks", {})
        self._token = token

    # --- whole tables -------------------------------------------------------------------------

    def table(self, name: str) -> pl.DataFrame | None:
        """The table `name` as kept, or None when the cache has none."""
        file = self.entry["tables"].get(name)
        return None if file is None else pl.read_ipc(self.folder / file)

    def put(self, name: str, frame: pl.DataFrame) -> None:
        """Keep `frame` as the table `name`."""
        self.entry["tables"][name] = self._write(f"{name}-all", frame)

    # --- rows kept a file per week ------------------------------------------------------------

    def weeks(self, kind: str) -> list[date]:
        """The weeks `kind` has rows in."""
        files = self.entry["weeks"].get(kind, {})
        return sorted(date.fromisoformat(w) for w in files if w != "schema")

    def rows(self, kind: str, weeks: Iterable[date] | None = None) -> pl.DataFrame:
        """The rows of `kind` (of the given weeks only, or all), in no particular order."""
        files = self.entry["weeks"][kind]
        wanted = self.weeks(kind) if weeks is None else sorted(set(weeks))
        paths = [self.folder / p for w in wanted for p in files.get(w.isoformat(), [])]
        if not paths:
            return pl.read_ipc(self.folder / files["schema"][0])
        return pl.scan_ipc(paths).collect()

    def replace(
        self,
        kind: str,
        before: pl.DataFrame | None,
        after: pl.DataFrame,
        cases: pl.Series | None,
        week: pl.Expr,
    ) -> list[date]:
        """Keep the rows `after` of some cases in place of `before`, what the cache had of them;
        return the weeks whose rows changed.

        `cases` are the ids of those cases; None when the cache has none of them (a full refresh
        adds bucket after bucket): each week's rows are then added as a file of their own. Else a
        week where they changed is written again as one file: its other cases' rows, and these.
        """
        files = self.entry["weeks"].setdefault(kind, {})
        if "schema" not in files:
            files["schema"] = [self._write(f"{kind}-schema", after.clear())]
        new = _by_week(after, week)
        old = _by_week(before, week) if before is not None else {}
        changed = []
        for start in sorted({*new, *old}):
            rows = new.get(start, after.clear())
            if cases is None:
                if rows.height:
                    part = len(files.get(start.isoformat(), []))
                    name = f"{kind}-{start.isoformat()}-{part}"
                    files.setdefault(start.isoformat(), []).append(self._write(name, rows))
                changed.append(start)
                continue
            if _same(old.get(start, after.clear()), rows):
                continue
            others = self.rows(kind, [start]).filter(~pl.col("case_id").is_in(cases.implode()))
            whole = pl.concat([others, rows])
            if whole.height:
                files[start.isoformat()] = [self._write(f"{kind}-{start.isoformat()}", whole)]
            else:
                files.pop(start.isoformat(), None)
            changed.append(start)
        return changed

    def _write(self, stem: str, frame: pl.DataFrame) -> str:
        name = f"{stem}-{self._token}.arrow"
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            frame.write_ipc(self.folder / name)
        except OSError as e:
            full = disk_full(str(e), self.folder)
            if full is None:
                raise
            raise full from e
        return name


def _by_week(frame: pl.DataFrame, week: pl.Expr) -> dict[date, pl.DataFrame]:
    keyed = frame.with_columns(week.alias("_week"))
    return {
        start: rows.drop("_week")
        for (start,), rows in keyed.partition_by("_week", as_dict=True).items()
    }


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """The same rows, in any order."""
    if a.height != b.height:
        return False
    return a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True))


class Cache:
    """The cache a refresh starts from (`meta` empty when there is none) and the one it leaves."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self._token = secrets.token_hex(4)
        self._points: dict[str, PointCache] = {}

    def point(self, point_id: str) -> PointCache:
        """The files of one point (a new, empty entry if the cache has none for it)."""
        if point_id not in self._points:
            entry = self.meta.setdefault("points", {}).setdefault(point_id, {})
            self._points[point_id] = PointCache(self.folder / _key(point_id), entry, self._token)
        return self._points[point_id]

    def reset(self) -> None:
        """Forget what the cache held: everything is computed again (the next commit names only
        what is written from now on)."""
        self.meta = {}
        self._points = {}

    def commit(self, **meta: Any) -> None:
        """Name the files written as the cache, with `meta`; remove every file it does not name."""
        self.meta.update(meta, format=FORMAT)
        temp = self.folder / f"{MANIFEST}.{self._token}.tmp"
        try:
            temp.write_text(json.dumps(self.meta, indent=1, sort_keys=True, default=str))
            os.replace(temp, self.folder / MANIFEST)
        except OSError as e:
            temp.unlink(missing_ok=True)
            full = disk_full(str(e), self.folder)
            if full is None:
                raise
            raise full from e
        self._remove_unnamed()

    def abandon(self) -> None:
        """Leave the cache as it was before this refresh: remove what this one wrote."""
        self.meta = _read_manifest(self.folder)
        self._points = {}
        self._remove_unnamed()

    def _remove_unnamed(self) -> None:
        named = set(self._named())
        for path in self.folder.rglob("*"):
            relative = path.relative_to(self.folder).as_posix()
            if path.is_file() and path.name not in (MANIFEST, ".lock") and relative not in named:
                path.unlink(missing_ok=True)

    def _named(self) -> Iterator[str]:
        for point_id, entry in self.meta.get("points", {}).items():
            key = _key(point_id)
            yield from (f"{key}/{name}" for name in entry.get("tables", {}).values())
            for files in entry.get("weeks", {}).values():
                for names in files.values():
                    yield from (f"{key}/{name}" for name in names)

    def _complete(self) -> bool:
        return all((self.folder / name).is_file() for name in self._named())


def _key(point_id: str) -> str:
    return hashlib.sha256(point_id.encode()).hexdigest()[:16]


def _read_manifest(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else {}


@contextmanager
def locked(db: Path | str, wait: float) -> Iterator[Cache]:
    """The cache of `db`, held for this refresh alone (waiting up to `wait` seconds while another
    refresh holds it). A refresh that fails leaves the cache as it found it."""
    folder = cache_path(db)
    try:
        folder.mkdir(exist_ok=True)
        handle = (folder / ".lock").open("a")
    except OSError as e:
        raise disk_full(str(e), folder) or StoreError(
            f"Cannot keep the refresh's cache in {folder}: {e.strerror or e}",
            hint="the refresh needs a folder it can write beside the store, as its publish does",
        ) from e
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLocked(
                        f"Another refresh of {db} is running (waited {wait:g} s)",
                        hint="let it finish (its numbers will be published), or raise --wait",
                    ) from None
                time.sleep(0.2)
        cache = Cache(folder, _read_manifest(folder))
        if cache.meta and not cache._complete():
            cache.meta = {}
        try:
            yield cache
        except BaseException:
            cache.abandon()
            raise
    finally:
        handle.close()
