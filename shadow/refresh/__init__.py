"""`shadow refresh`: read the logs, compute every number of the track record, and publish it.

The shell around the pure computation (shadow.track): it is the only part of the refresh that
reads the store (records.py), keeps the case cache beside it (cache.py) and publishes the
snapshot readers read (shadow.snapshot). One path for every refresh (point.py):
- with no cache to go on from (the first refresh, a new Shadow, a changed point, `force`), every
  case is read, a bucket of cases at a time;
- else only the cases with a row in a load since the cache's last one, as the logs stand now and
  as they stood then.
The store is open read-only while the records are read, and closed while the numbers are
computed and published. When nothing the numbers are computed from changed since the published
snapshot, that snapshot stands and nothing is computed (unless `force`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import polars as pl

from shadow.errors import ShadowError
from shadow.points import DecisionPoint
from shadow.refresh import cache as case_cache
from shadow.refresh.inputs import Inputs
from shadow.refresh.point import PointRefresh
from shadow.refresh.records import (
    CASES_PER_BUCKET,
    buckets_and_versions,
    read_bucket,
    read_changed,
)
from shadow.snapshot import PublishResult, Reuse, open_published, publish
from shadow.store import DEFAULT_WAIT_SECONDS, Store
from shadow.track.tables import TABLES

Step = Callable[[str], None]
# The big published table, hashed and written a week (of the decision) at a time (see Reuse).
CHUNKED = {"disagreements": "decided_at"}


@dataclass
class PointSummary:
    """What the refresh found for one decision point, in counts."""

    point_id: str
    decided: int
    paired: int
    resolved: int
    late_predictions: int
    versions: list[str] = field(default_factory=list)


@dataclass
class RefreshSummary:
    """What one refresh computed and where it published it."""

    points: list[PointSummary]
    published: PublishResult
    data_cut_off: datetime | None
    seconds: float
    # nothing a refresh reads had changed since the published snapshot: it was left as it was
    unchanged: bool = False
    # a daily refresh: how many cases the loads since the last refresh changed (None: every case
    # was read)
    changed_cases: int | None = None


def refresh(
    db: Path | str,
    *,
    wait: float | None = None,
    step: Step | None = None,
    cases_per_bucket: int = CASES_PER_BUCKET,
    force: bool = False,
) -> RefreshSummary:
    """Read the logs of every decision point, compute every number, and publish them."""
    started = time.perf_counter()
    say = step or (lambda _: None)
    wait = DEFAULT_WAIT_SECONDS if wait is None else wait
    with case_cache.locked(db, wait) as cache:
        with Store.open(db, read_only=True, wait=wait) as store:
            inputs = Inputs.read(store, db)
            fingerprint = inputs.fingerprint()
            standing = None if force else _standing(db, fingerprint, cache.meta, inputs.points)
            if standing is not None:
                return standing
            since = None if force else inputs.since(cache.meta)
            if since is None:
                cache.reset()  # every case is read again: the cache is made anew
            refreshes = {
                p.point_id: _read(store, p, cache.point(p.point_id), since, cases_per_bucket, say)
                for p in inputs.points
            }
            # DuckDB keeps what it allocated while reading (each bucket's queries reuse it); the
            # numbers computed next in this process get it back
            store.release_memory()
        # the store is closed: everything from here on reads only the cache
        tables: dict[str, list[pl.DataFrame]] = {name: [] for name in TABLES}
        summaries = []
        for point in inputs.points:
            say(f"computing {point.point_id}")
            computed = refreshes[point.point_id].tables(
                inputs.signoffs.filter(point_id=point.point_id),
                inputs.policy_versions.get(point.point_id, 0),
            )
            for name, frame in computed.items():
                if frame.width:
                    tables[name].append(frame.with_columns(point_id=pl.lit(point.point_id)))
            summaries.append(_summary(point, computed["numbers"]))
        # a table no point has rows for is not published (readers treat it as "nothing yet")
        published = {
            name: pl.concat(frames, how="diagonal_relaxed")
            for name, frames in tables.items()
            if frames
        }
        published["points"] = inputs.point_table()
        published["loads"] = inputs.loads
        published["signoffs"] = inputs.signoffs
        # the data cut-off: the moment of the newest load the numbers include
        loads = inputs.loads
        cut_off = cast("datetime | None", loads["loaded_at"].max()) if loads.height else None
        say("publishing")
        meta = {"data_cut_off": cut_off, "points": len(inputs.points)}
        reuse = None
        if since is not None and cache.meta.get("published"):
            changed = set().union(*(r.changes.chunks for r in refreshes.values()))
            reuse = Reuse(cache.meta["published"], {"disagreements": changed})
        result = publish(db, published, meta, chunked=CHUNKED, reuse=reuse)
        cache.commit(**inputs.cache_meta(result.content_hash), inputs=fingerprint)
    changed_cases = sum(r.changes.cases for r in refreshes.values()) if since is not None else None
    seconds = time.perf_counter() - started
    return RefreshSummary(summaries, result, cut_off, seconds, changed_cases=changed_cases)


def _read(
    store: Store,
    point: DecisionPoint,
    files: case_cache.PointCache,
    since: int | None,
    cases_per_bucket: int,
    say: Step,
) -> PointRefresh:
    """Read the point's cases into its cache: every case a bucket at a time, or only those with
    a row in a load after `since`."""
    buckets, versions = buckets_and_versions(store, point, cases_per_bucket)
    update = PointRefresh(point, files, versions)
    if since is not None:
        say(f"reading the cases of {point.point_id} changed since the last refresh")
        now, before, cases = read_changed(store, point, since)
        update.read(now, before, cases)
        return update
    for bucket in range(buckets):
        of = f", bucket {bucket + 1} of {buckets}" if buckets > 1 else ""
        say(f"reading the cases of {point.point_id}{of}")
        update.read(read_bucket(store, point, (bucket, buckets)), None, None)
    return update


def _standing(
    db: Path | str, inputs: str, cached: dict[str, Any], points: list[DecisionPoint]
) -> RefreshSummary | None:
    """The published snapshot's summary if the cache says it was computed from exactly `inputs`,
    else None."""
    started = time.perf_counter()
    if cached.get("inputs") != inputs:
        return None
    try:
        with open_published(db) as snapshot:
            if snapshot.meta.get("content_hash") != cached.get("published"):
                return None
            rows = dict(snapshot.query("SELECT table_name, rows FROM _tables").rows())
            numbers = snapshot.table("numbers") if "numbers" in rows else pl.DataFrame()
            meta = snapshot.meta
    except ShadowError:
        return None  # nothing published, or a snapshot that cannot be read: compute it again
    summaries = [
        _summary(p, numbers.filter(point_id=p.point_id))
        if numbers.height
        else PointSummary(p.point_id, 0, 0, 0, 0)
        for p in points
    ]
    result = PublishResult(
        path=snapshot.path,
        published_at=meta["published_at"],
        rows=rows,
        content_hash=meta["content_hash"],
    )
    seconds = time.perf_counter() - started
    return RefreshSummary(summaries, result, meta.get("data_cut_off"), seconds, unchanged=True)


def _summary(point: DecisionPoint, numbers: pl.DataFrame) -> PointSummary:
    whole = numbers.filter(segment="all", period="all").filter(
        (pl.col("paired") > 0) | (pl.col("late_predictions") > 0)
    )
    return PointSummary(
        point_id=point.point_id,
        decided=int(whole["decided"].cast(pl.Int64).max() or 0),  # type: ignore[arg-type]
        paired=int(whole["paired"].sum()),
        resolved=int(whole["resolved"].sum()),
        late_predictions=int(whole["late_predictions"].sum()),
        versions=sorted(whole["model_version"].to_list()),
    )
