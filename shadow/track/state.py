"""What a refresh keeps for the next one, so that a daily refresh reads only what changed.

Beside the store, in `<store>.track/` (shadow.duckdb -> shadow.track/), per decision point:
- the counts and sums at their finest grain (they add up, so a day's changes are added to them);
- the tables the next refresh goes on from: the sequences and where each stream stood at the end
  of each day, the delays;
- what the numbers read of every case (the streams, scores, delays and disagreements), one file
  per week, so that a day's changes rewrite only the weeks they touch.

It is a cache. `state.json` names every file of it and is replaced whole, after the files it names
are written: a refresh killed on the way leaves the previous state (or none), and the files it
wrote are removed by the next. Deleting the folder costs one full refresh, nothing else.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl

STATE_FORMAT = 2
SUFFIX = ".track"
# What the numbers read of each case, kept a week per file, and the week each row belongs to.
WEEKLY = ("streams", "scores", "delays", "disagreements")


def state_path(db: Path | str) -> Path:
    """Where the refresh state of the store `db` is kept: shadow.duckdb -> shadow.track/."""
    db = Path(db)
    stem = db.stem if db.suffix == ".duckdb" else db.name
    return db.with_name(stem + SUFFIX)


class PointFiles:
    """One decision point's files in the state: whole tables, and tables kept a week per file.

    Writing never changes a file: it writes a new one and names it here (see TrackState.commit).
    """

    def __init__(self, folder: Path, entry: dict[str, Any], token: str) -> None:
        self.folder = folder
        self.entry = entry
        self.entry.setdefault("tables", {})
        self.entry.setdefault("weeks", {})
        self._token = token
        # a file that could not be written (a full disk): the state is then not kept
        self.failed: OSError | None = None
        # frames still being written on other threads (add_weeks_later)
        self._pending: list[Future[None]] = []

    # --- whole tables -------------------------------------------------------------------------

    def table(self, name: str) -> pl.DataFrame:
        """The table `name` as kept (KeyError when this state has none)."""
        return pl.read_ipc(self.folder / self.entry["tables"][name])

    def put_table(self, name: str, frame: pl.DataFrame) -> None:
        """Keep `frame` as the table `name`."""
        self.entry["tables"][name] = self._write(f"{name}-all", frame)

    # --- tables kept a week per file (or a few: a full refresh writes one per part) --------

    def weeks(self, name: str) -> list[date]:
        """The weeks `name` has rows in."""
        return sorted(date.fromisoformat(w) for w in self.entry["weeks"][name] if w != "schema")

    def read(self, name: str, weeks: Iterable[date] | None = None) -> pl.DataFrame:
        """The rows of `name` (of the given weeks only, or all), in no particular order."""
        self.wait()
        files = self.entry["weeks"][name]
        wanted = self.weeks(name) if weeks is None else sorted(set(weeks))
        paths = [self.folder / p for w in wanted for p in files.get(w.isoformat(), [])]
        if not paths:
            return pl.read_ipc(self.folder / files["schema"][0])
        # the files side by side (in no particular row order: every reader sorts or sums)
        return pl.scan_ipc(paths).collect()

    def add_weeks(self, name: str, frame: pl.DataFrame, week: pl.Expr) -> None:
        """Keep `frame`'s rows as rows of `name` too, a file per `week` (a Date expression)."""
        files = self.entry["weeks"].setdefault(name, {})
        if "schema" not in files:
            files["schema"] = [self._write(f"{name}-schema", frame.clear())]
        if not frame.height:
            return
        keyed = frame.with_columns(week.alias("_state_week"))
        for (start,), rows in keyed.partition_by("_state_week", as_dict=True).items():
            part = len(files.get(start.isoformat(), []))
            path = self._write(f"{name}-{start.isoformat()}-{part}", rows.drop("_state_week"))
            files.setdefault(start.isoformat(), []).append(path)

    def add_weeks_later(self, frames: Mapping[str, tuple[pl.DataFrame, pl.Expr]]) -> None:
        """add_weeks for each (frame, week) of `frames`, each on a thread of its own, while the
        caller goes on (reading waits for them, and so do the state's commit and abandon)."""
        pool = ThreadPoolExecutor(max(len(frames), 1))
        self._pending += [
            pool.submit(self.add_weeks, name, frame, week) for name, (frame, week) in frames.items()
        ]
        pool.shutdown(wait=False)

    def wait(self) -> None:
        """Wait for the frames still being written (add_weeks_later)."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()

    def replace_week(self, name: str, start: date, rows: pl.DataFrame) -> None:
        """Keep `rows` as the rows of `name` in the week starting on `start`."""
        files = self.entry["weeks"][name]
        if rows.height:
            files[start.isoformat()] = [self._write(f"{name}-{start.isoformat()}", rows)]
        else:
            files.pop(start.isoformat(), None)

    def _write(self, stem: str, frame: pl.DataFrame) -> str:
        name = f"{stem}-{self._token}.arrow"
        if self.failed is None:  # after a failure, nothing more is written
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
                frame.write_ipc(self.folder / name)
            except OSError as e:  # the refresh goes on: the state is only a cache
                self.failed = e
        return name


class TrackState:
    """The state a refresh starts from (`meta` empty when there is none) and the one it leaves."""

    def __init__(self, folder: Path, meta: dict[str, Any]) -> None:
        self.folder = folder
        self.meta = meta
        self._token = secrets.token_hex(4)
        self._points: dict[str, PointFiles] = {}

    @classmethod
    def open(cls, db: Path | str) -> TrackState:
        """The state kept beside `db`: empty when there is none, or one that cannot be read."""
        folder = state_path(db)
        state = cls(folder, _read_meta(folder))
        if state.meta and not state._complete():
            state.meta = {}
        return state

    def point(self, point_id: str) -> PointFiles:
        """The files of one point (a new, empty entry if the state has none for it)."""
        if point_id not in self._points:
            entry = self.meta.setdefault("points", {}).setdefault(point_id, {})
            key = hashlib.sha256(point_id.encode()).hexdigest()[:16]
            self._points[point_id] = PointFiles(self.folder / key, entry, self._token)
        return self._points[point_id]

    def reset(self) -> None:
        """Forget what the state held (the next commit names only what is written from now on)."""
        self.meta = {}
        self._points = {}

    def commit(self, **meta: Any) -> None:
        """Name the files written as the state, with `meta`; remove every file it does not name.

        If a file could not be written (a full disk), the state stays as it was before this
        refresh (its files were left alone) and what this one wrote is removed.
        """
        for files in self._points.values():
            files.wait()
        if any(p.failed for p in self._points.values()):
            self.abandon()
            return
        self.meta.update(meta, format=STATE_FORMAT)
        temp = self.folder / f"state.json.{self._token}.tmp"
        try:
            temp.write_text(json.dumps(self.meta, indent=1, sort_keys=True, default=str))
            os.replace(temp, self.folder / "state.json")
        except OSError:
            temp.unlink(missing_ok=True)
            self.abandon()
            return
        self._remove_unnamed()

    def abandon(self) -> None:
        """Leave the state as it was before this refresh: remove what this one wrote."""
        for files in self._points.values():
            with suppress(Exception):  # (the error that got us here is the one to report)
                files.wait()
        self.meta = _read_meta(self.folder)
        self._points = {}
        self._remove_unnamed()

    def _remove_unnamed(self) -> None:
        named = set(self._named())
        for path in self.folder.rglob("*"):
            relative = path.relative_to(self.folder).as_posix()
            if (
                path.is_file()
                and path.name not in ("state.json", ".lock")
                and relative not in named
            ):
                path.unlink(missing_ok=True)

    def _named(self) -> Iterator[str]:
        for point_id, entry in self.meta.get("points", {}).items():
            key = hashlib.sha256(point_id.encode()).hexdigest()[:16]
            for name in entry.get("tables", {}).values():
                yield f"{key}/{name}"
            for files in entry.get("weeks", {}).values():
                for names in files.values():
                    yield from (f"{key}/{name}" for name in names)

    def _complete(self) -> bool:
        return all((self.folder / name).is_file() for name in self._named())


def _read_meta(folder: Path) -> dict[str, Any]:
    try:
        meta = json.loads((folder / "state.json").read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) and meta.get("format") == STATE_FORMAT else {}


@contextmanager
def locked(db: Path | str) -> Iterator[TrackState | None]:
    """The state of `db`, held for this refresh alone; None while another refresh holds it (that
    refresh keeps the state up to date; this one computes everything and leaves the state be).
    A refresh that fails leaves the state as it found it (TrackState.abandon)."""
    folder = state_path(db)
    try:
        folder.mkdir(exist_ok=True)
        handle = (folder / ".lock").open("a")
    except OSError:  # a read-only folder: no state, every refresh computes everything
        yield None
        return
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        state = TrackState.open(db)
        try:
            yield state
        except BaseException:
            state.abandon()  # what this refresh wrote of the state goes; the state stays
            raise
    finally:
        handle.close()
