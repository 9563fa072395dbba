"""`shadow recover`: rebuild a damaged store from the original log files, as its record lists them.

The record of what went into the store (the decision points, every load with its file, log, point,
format, time and user, and the sign-offs) is read from the store itself if those small tables can
still be read, else from the snapshot the last `shadow refresh` published beside it. A new store is
built beside the damaged one: the points registered again, each recorded load run again in order
from its file (at its original time, and given back its load id, time, user and file name, so the
numbers come out the same), the sign-offs copied as they were. Only when every load has been run
again with the counts it had the first time is the damaged file moved aside (to <store>.damaged)
and the new store put in its place; until then nothing of the user's is touched.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import polars as pl

from shadow.config import current_user
from shadow.errors import (
    InvalidConfig,
    InvalidLog,
    NotPublished,
    ShadowError,
    StoreError,
    StoreLocked,
)
from shadow.ingestion import ingest_into, plan_sources
from shadow.ingestion.load import options_hash
from shadow.mapping import Mapping, read_mapping
from shadow.points import DecisionPoint, add_point
from shadow.snapshot import current, open_snapshot
from shadow.store import Store

Step = Callable[[str], None]


@dataclass(frozen=True)
class RecordedLoad:
    """One load as the record lists it; the hashes only when the record comes from the store."""

    load_id: int
    log: str
    point_id: str | None
    source: str
    format: str
    loaded_at: datetime
    loaded_by: str
    counts: tuple[int, int, int, int]  # rows read, accepted, duplicates, quarantined
    content_hash: str | None = None
    options_hash: str | None = None


@dataclass
class Record:
    """What went into the store: points (with their TOML text), policy versions, loads, sign-offs."""

    origin: str
    points: list[tuple[DecisionPoint, str]]
    policy_versions: pl.DataFrame
    loads: list[RecordedLoad]
    signoffs: pl.DataFrame


@dataclass
class Recovered:
    """What one recovery did: where the record came from, the loads run again, what was left out."""

    origin: str
    points: int
    loads: list[RecordedLoad] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    kept_as: Path | None = None


def recover(
    db: Path | str,
    *,
    mappings: list[str] | None = None,
    partial: bool = False,
    wait: float | None = None,
    step: Step | None = None,
) -> Recovered:
    """Rebuild the store `db` from its log files; the damaged file is kept as <db>.damaged.

    `mappings` are the mapping files the loads used, each as FILE or LOG=FILE. Raises ShadowError
    listing every file that is missing or changed (nothing is touched) unless `partial`.
    """
    db = Path(db)
    say = step or (lambda _: None)
    record = read_record(db, wait=wait)
    given = [_given(m) for m in mappings or []]
    plan, problems = _plan(record, given)
    if problems and not partial:
        raise ShadowError(
            f"Cannot rebuild {db} from its logs as they are now:\n  " + "\n  ".join(problems),
            hint="put the files back as they were loaded (or pass the mappings with --mapping),"
            " or rebuild without them with --partial; nothing was changed",
        )
    temp = db.with_name(db.name + ".recovering")
    _remove(temp)
    done = Recovered(record.origin, len(record.points), problems=problems)
    try:
        with Store.open(temp, create=True) as store:
            _register(store, record)
            for load, path, mapping in plan:
                say(f"load {load.load_id}: {load.log} from {load.source}")
                problem = _run_again(store, load, path, mapping)
                if problem is not None:
                    if not partial:
                        raise ShadowError(
                            f"Cannot rebuild {db} from its logs as they are now: {problem}",
                            hint="put the file back as it was loaded (or pass its mapping with"
                            " --mapping), or rebuild without it with --partial; nothing was"
                            " changed",
                        )
                    done.problems.append(problem)
                else:
                    done.loads.append(load)
    except BaseException:
        _remove(temp)
        raise
    if db.exists():
        done.kept_as = _aside(db)
    os.replace(temp, db)
    return done


# --- the record ---------------------------------------------------------------------------------


def read_record(db: Path, *, wait: float | None = None) -> Record:
    """The record of the store `db`: from the store if it can be read, else from its snapshot."""
    try:
        return _from_store(db, wait)
    except StoreLocked:
        raise  # in use, so not to be replaced: let the other process finish first
    except StoreError as store_error:
        reason = str(store_error)
    try:
        return _from_published(db)
    except (NotPublished, StoreError) as e:
        raise ShadowError(
            f"Cannot read what went into {db}: neither the store ({reason}) nor the snapshot"
            f" published beside it ({e}) can be read",
            hint="rebuild the store by hand: `shadow init`, `shadow point add` and `shadow ingest`"
            " each of your log files in the order they were first loaded",
        ) from e


def _from_store(db: Path, wait: float | None) -> Record:
    with Store.open(db, read_only=True, wait=wait) as store:
        points = store.frame(
            "SELECT point_id, name, owner, task_type AS task, labels, positive_label,"
            " segment_columns AS segments, timezone, policy, definition"
            " FROM decision_points ORDER BY point_id"
        )
        versions = store.frame("SELECT * FROM policy_versions ORDER BY point_id, version")
        loads = store.frame("SELECT * FROM loads ORDER BY load_id")
        signoffs = store.frame("SELECT * FROM signoffs ORDER BY signoff_id")
    return Record(
        origin=f"the store {db} (its record of points and loads is intact)",
        points=[
            (DecisionPoint.from_published(p), p["definition"]) for p in points.iter_rows(named=True)
        ],
        policy_versions=versions,
        loads=[_load(row) for row in loads.iter_rows(named=True)],
        signoffs=signoffs,
    )


def _from_published(db: Path) -> Record:
    path = current(db)
    # an older format's points and loads still say what went in
    with open_snapshot(path, any_format=True) as snap:
        published_at = snap.meta.get("published_at")
        points = snap.table("points")
        loads = snap.table("loads")
        signoffs = snap.table("signoffs") if "signoffs" in snap.tables() else pl.DataFrame()
        stages = snap.table("stages") if "stages" in snap.tables() else pl.DataFrame()
    when = f"{published_at:%Y-%m-%d %H:%M} UTC" if isinstance(published_at, datetime) else "?"
    now = datetime.now(UTC)
    versions = []
    for p in points.iter_rows(named=True):
        version = 1
        if stages.height and "policy_version" in stages.columns:
            found = stages.filter(point_id=p["point_id"])["policy_version"].max()
            version = 1 if found is None else int(cast("int", found))
        versions.append(
            {
                "point_id": p["point_id"],
                "version": version,
                "policy": p["policy"],
                "recorded_at": now,
                "recorded_by": current_user(),
            }
        )
    return Record(
        origin=f"the snapshot {path} published {when} (loads made since are not in it)",
        points=[
            (DecisionPoint.from_published(p), _definition(p, db))
            for p in points.iter_rows(named=True)
        ],
        policy_versions=pl.DataFrame(
            versions,
            schema={
                "point_id": pl.String,
                "version": pl.Int32,
                "policy": pl.String,
                "recorded_at": pl.Datetime("us", "UTC"),
                "recorded_by": pl.String,
            },
        ),
        loads=[_load(row) for row in loads.unique("load_id").sort("load_id").iter_rows(named=True)],
        signoffs=signoffs,
    )


def _load(row: dict[str, Any]) -> RecordedLoad:
    return RecordedLoad(
        load_id=int(row["load_id"]),
        log=row["log"],
        point_id=row["point_id"],
        source=row["source"],
        format=row["format"],
        loaded_at=row["loaded_at"],
        loaded_by=row["loaded_by"],
        counts=(
            int(row["rows_read"]),
            int(row["rows_accepted"]),
            int(row["rows_duplicate"]),
            int(row["rows_quarantined"]),
        ),
        content_hash=row.get("content_hash"),
        options_hash=row.get("options_hash"),
    )


def _definition(p: dict[str, Any], db: Path) -> str:
    """The point's fields as TOML (its original text is kept only in the store)."""
    data = {
        "id": p["point_id"],
        "name": p["name"],
        "owner": p["owner"],
        "task": p["task"],
        "labels": list(p["labels"]),
        "positive_label": p["positive_label"],
        "segments": list(p["segments"]),
        "timezone": p["timezone"],
    }
    lines = [f"# Recovered by `shadow recover` from the snapshot published beside {db}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in data.items() if value is not None]
    return "\n".join([*lines, *_toml_tables("policy", json.loads(p["policy"]))]) + "\n"


def _toml_tables(name: str, table: dict[str, Any]) -> list[str]:
    lines = ["", f"[{name}]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for k, v in table.items():
        if isinstance(v, dict):
            lines += _toml_tables(f"{name}.{k}", v)
    return lines


# --- the plan -----------------------------------------------------------------------------------


def _given(text: str) -> tuple[str | None, Mapping]:
    """--mapping FILE or LOG=FILE, read."""
    log, sep, path = text.partition("=")
    if sep and log in ("predictions", "decisions", "outcomes"):
        return log, read_mapping(path)
    return None, read_mapping(text)


def _plan(
    record: Record, given: list[tuple[str | None, Mapping]]
) -> tuple[list[tuple[RecordedLoad, Path, Mapping]], list[str]]:
    """Each recorded load with its file and mapping, and a line for each that cannot be run again."""
    plan, problems = [], []
    for load in record.loads:
        name = f"load {load.load_id} ({load.log} from {load.source})"
        path = Path(load.source)
        if load.format == "frame":
            problems.append(
                f"{name} came from a frame (the Python API or `shadow score`), not a file:"
                " load it again the same way"
            )
            continue
        if not path.is_file():
            problems.append(f"{name}: the file is missing")
            continue
        try:
            (source,) = plan_sources(path, load.format)
            if load.content_hash is not None and source.content_hash() != load.content_hash:
                problems.append(f"{name}: the file has changed since it was loaded (its sha256)")
                continue
        except InvalidLog as e:
            problems.append(f"{name}: {e}")
            continue
        candidates = [(log, m) for log, m in given if log in (None, load.log)]
        if load.options_hash is None:
            # the snapshot does not record the options: the mapping named for this log, if any
            chosen = next((m for log, m in candidates if log == load.log), Mapping())
        else:
            matching = [
                m
                for m in [Mapping(), *(m for _, m in candidates)]
                if options_hash(load.log, source, load.point_id, m) == load.options_hash
            ]
            if not matching:
                problems.append(
                    f"{name} was made with a mapping that was not given: pass it with --mapping"
                )
                continue
            chosen = matching[0]
        plan.append((load, path, chosen))
    return plan, problems


# --- the new store ------------------------------------------------------------------------------


def _register(store: Store, record: Record) -> None:
    """The points, their policy versions and the sign-offs, as recorded; ids continue after them."""
    for point, definition in record.points:
        add_point(store, point, definition)
    with store.transaction():
        store.execute("DELETE FROM policy_versions")
        _insert(store, "policy_versions", record.policy_versions)
        if record.signoffs.height:
            _insert(store, "signoffs", record.signoffs)
            _advance(store, "signoff_ids", int(record.signoffs["signoff_id"].max()))  # type: ignore[arg-type]
    if record.loads:
        # the loads run again get fresh ids above every recorded one, then take back their own
        _advance(store, "load_ids", max(load.load_id for load in record.loads))


def _insert(store: Store, table: str, frame: pl.DataFrame) -> None:
    columns = ", ".join(frame.columns)
    store.register("_recorded", frame)
    try:
        store.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM _recorded")
    finally:
        store.unregister("_recorded")


def _advance(store: Store, sequence: str, past: int) -> None:
    store.rows(f"SELECT max(nextval('{sequence}')) FROM range($n)", {"n": past})


def _run_again(store: Store, load: RecordedLoad, path: Path, mapping: Mapping) -> str | None:
    """Run one recorded load again and give it back its id, time, user and file name."""
    name = f"load {load.load_id} ({load.log} from {load.source})"
    try:
        (summary,) = ingest_into(
            store,
            load.log,
            plan_sources(path, load.format),
            point=load.point_id,
            mapping=mapping,
            now=load.loaded_at,
            loaded_by=load.loaded_by,
            force=True,
        )
    except (InvalidLog, InvalidConfig) as e:
        return f"{name} cannot be run again: {e} (name each log's mapping as --mapping LOG=FILE)"
    counts = (summary.rows_read, summary.accepted, summary.duplicates, summary.quarantined)
    new = summary.load_id
    if counts != load.counts:
        return (
            f"{name} now gives {_counts(counts)} where it gave {_counts(load.counts)}: the file"
            " or its mapping is not the one loaded (name each log's mapping as --mapping LOG=FILE)"
        )
    with store.transaction():
        for table in (load.log, "quarantine"):
            store.execute(
                f"UPDATE {table} SET load_id = $old WHERE load_id = $new",
                {"old": load.load_id, "new": new},
            )
        store.execute(
            "UPDATE loads SET load_id = $old, loaded_at = $at, source = $source WHERE load_id = $new",
            {"old": load.load_id, "at": load.loaded_at, "source": load.source, "new": new},
        )
    return None


def _counts(counts: tuple[int, ...]) -> str:
    read, accepted, duplicates, quarantined = counts
    return (
        f"{read:,} read, {accepted:,} accepted, {duplicates:,} duplicates, {quarantined:,}"
        " quarantined"
    )


def _aside(db: Path) -> Path:
    """Move the damaged store (and its WAL) to <db>.damaged, or .damaged-2, ...; returns where."""
    target = db.with_name(db.name + ".damaged")
    n = 1
    while target.exists():
        n += 1
        target = db.with_name(f"{db.name}.damaged-{n}")
    os.replace(db, target)
    wal = Path(f"{db}.wal")
    if wal.exists():
        os.replace(wal, Path(f"{target}.wal"))
    return target


def _remove(path: Path) -> None:
    for each in (path, Path(f"{path}.wal")):
        each.unlink(missing_ok=True)
