"""The daily refresh: only the cases changed since the last refresh are read again.

A refresh leaves its state beside the store (shadow.track.state). The next one goes on from it
when every load it was computed from is in the store as it was, and only new loads came since:
- it reads the cases with a row in a new load (sql/track/changed_cases.sql) twice: their records
  as the logs stand now, and as they stood after the last load the state includes (`upto`);
- it adds to the kept counts and sums what the changed cases give now, less what they gave then;
- it rewrites the weeks of kept rows where the changed cases' rows differ;
- the sequences go on from the first day a changed case's outcome matured on (or used to).
Every other case is as the state kept it, so the numbers are those a full refresh computes, the
cost grows with what changed, and the full refresh stays the reference (tested to be identical).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import polars as pl

from shadow.hashing import week_chunk
from shadow.points import DecisionPoint
from shadow.store import Store
from shadow.track import counts, health
from shadow.track.confusion import LABELS, confusion_counts
from shadow.track.gathered import KEPT, Gathered, Kept, kept_frames, week_of
from shadow.track.join import Joined, join_records, read_changed
from shadow.track.state import PointFiles, TrackState


@dataclass
class Daily:
    """What changed since the state a daily refresh went on from."""

    files: PointFiles  # the state, with the changed weeks already rewritten
    cases: int  # how many cases had a row in a new load
    weeks: dict[str, list[date]] = field(default_factory=dict)  # per kept name, weeks rewritten
    matured_from: date | None = None  # the first day whose streams changed (None: none did)
    # the weeks (UTC Mondays) of the published disagreements with a row that changed
    chunks: set[str] = field(default_factory=set)


def loads_fingerprint(loads: pl.DataFrame, upto: int | None = None) -> str:
    """SHA-256 of the loads (up to load `upto`) by id, file hash, rows accepted and time."""
    rows = loads.select("load_id", "content_hash", "rows_accepted", "loaded_at").unique()
    if upto is not None:
        rows = rows.filter(pl.col("load_id") <= upto)
    text = json.dumps(rows.sort("load_id").rows(), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def since(state: TrackState, loads: pl.DataFrame, code: str, points: pl.DataFrame) -> int | None:
    """The last load the state includes, if a daily refresh can go on from it (else None): the
    same Shadow, the same decision points, and every load it read still there as it was."""
    meta = state.meta
    last = meta.get("last_load")
    if not meta or last is None or meta.get("code") != code:
        return None
    if meta.get("definitions") != definitions(points):
        return None
    if meta.get("loads") != loads_fingerprint(loads, int(last)):
        return None
    return int(last)


def definitions(points: pl.DataFrame) -> dict[str, str]:
    """Each point's definition (name, labels, segments, timezone, policy), as a fingerprint."""
    return {
        row["point_id"]: hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
        for row in points.to_dicts()
    }


def update(
    store: Store, point: DecisionPoint, files: PointFiles, last_load: int, versions: list[str]
) -> Gathered:
    """Bring the point's state up to date with the loads after `last_load`: what finish needs."""
    now, before, changed = read_changed(store, point, last_load)
    new = join_records(now, versions, point).cached()
    old = join_records(before, versions, point).cached()
    segments = list(point.segment_columns)
    was, now_ = counts.partial(old, point), counts.partial(new, point)
    partial = counts.Partial(
        counts.difference(
            files.table("counts_decided"), now_.decided, was.decided, [*segments, "_day"]
        ),
        counts.difference(
            files.table("counts_by_version"),
            now_.by_version,
            was.by_version,
            ["model_version", *segments, "_day"],
        ),
    )
    calibration = counts.difference(
        files.table("calibration_sums"),
        health.calibration_sums(new, point),
        health.calibration_sums(old, point),
        ["model_version", *segments, "bin"],
    )
    confusion = counts.difference(
        files.table("confusion_counts"),
        confusion_counts(new, point),
        confusion_counts(old, point),
        [*LABELS, *segments],
    )
    daily = Daily(files, changed.len())
    _rewrite_weeks(daily, point, old, new, changed)
    return Gathered(
        versions,
        Kept(),  # nothing: every case's rows are in the state's weeks
        counts=[partial],
        calibrations=[calibration],
        confusions=[confusion],
        files=files,
        daily=daily,
    )


def _rewrite_weeks(
    daily: Daily, point: DecisionPoint, old: Joined, new: Joined, changed: pl.Series
) -> None:
    """Rewrite each week of kept rows where the changed cases' rows are not what they were."""
    costs = point.readiness().costs
    before, after = (
        dict(zip(KEPT, pl.collect_all(kept_frames(j, point, costs).values()), strict=True))
        for j in (old, new)
    )
    files = daily.files
    for name in KEPT:
        week = week_of(name, point).alias("_week")
        was, now = before[name].with_columns(week), after[name].with_columns(week)
        rewritten = []
        for start in sorted({*was["_week"], *now["_week"]}):
            old_rows = was.filter(_week=start).drop("_week")
            new_rows = now.filter(_week=start).drop("_week")
            if _same(old_rows, new_rows):
                continue
            kept = files.read(name, [start]).filter(~pl.col("case_id").is_in(changed.implode()))
            files.replace_week(name, start, pl.concat([kept, new_rows]))
            rewritten.append(start)
            if name == "disagreements":
                for rows in (old_rows, new_rows):
                    weeks = rows.select(week_chunk("decided_at", rows.schema["decided_at"]))
                    daily.chunks |= {w.isoformat() for w in weeks.to_series()}
            if name == "streams":
                first = pl.concat([old_rows["as_of"], new_rows["as_of"]]).min()
                if daily.matured_from is None or first < daily.matured_from:  # type: ignore[operator]
                    daily.matured_from = first  # type: ignore[assignment]
        daily.weeks[name] = rewritten


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """The same rows, in any order."""
    if a.height != b.height:
        return False
    return a.sort(a.columns, nulls_last=True).equals(b.sort(b.columns, nulls_last=True))


def state_meta(
    code: str, loads: pl.DataFrame, points: pl.DataFrame, published: str
) -> dict[str, Any]:
    """What the state records of the inputs it was computed from (see `since`), and the content
    hash of the snapshot it published (the next publish may keep what did not change of it)."""
    last = loads["load_id"].max() if loads.height else 0
    return {
        "published": published,
        "code": code,
        "last_load": last,
        "loads": loads_fingerprint(loads, int(last)),  # type: ignore[arg-type]
        "definitions": definitions(points),
    }
