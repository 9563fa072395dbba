"""What the app shows, read from the published snapshot: small frames, never the store, never a join.

Each function opens the snapshot beside the store, reads the few rows one page needs (parameterised
SQL from sql/published/, or a small published table filtered here), closes it, and returns Polars
frames or plain values. Nothing here computes a published number again: the only arithmetic is
summing the published counts over a chosen date range and handing them to the same
`shadow.track.numbers.numbers` that refresh uses, and the share of disagreements each side won.

A page makes several such reads, and a refresh can publish between them. So every read names the
snapshot file it reads (`current` gives the one published now): a published file never changes,
so the reads of one page, made in one file, never mix two snapshots, and a reader may cache what
it read by the file's path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shadow import sql
from shadow.errors import NotPublished, ShadowError
from shadow.points import DecisionPoint
from shadow.readiness import judge, stages_of
from shadow.snapshot import Published, open_snapshot
from shadow.snapshot import current as _current
from shadow.stats import fixed
from shadow.track.numbers import numbers
from shadow.words import iso as _iso

PERIODS = ("day", "week", "month")
# Who was right in a disagreement: the cells of the published disagreements table.
WHO = {
    "model_right": "the model was right",
    "person_right": "the person was right",
    "both_wrong": "neither was right",
    "disagree_pending": "outcome pending",
}
# Where a week or segment has fewer resolved cases than this, its difference is shown muted.
THIN = 30
_KEYS = ("point_id", "model_version", "segment", "segment_value", "period", "period_start", "scope")


@dataclass(frozen=True)
class Choice:
    """What the reader chose in the sidebar: a point, a model version, a segment, a period, dates."""

    point_id: str
    model_version: str
    segment: str = "all"
    segment_value: str = "all"
    period: str = "week"
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Snapshot:
    """The published snapshot, and what can be chosen in it."""

    path: Path  # the snapshot file: every read of a page made from this one reads it
    published_at: str
    data_cut_off: str | None
    content_hash: str
    points: list[dict[str, Any]]
    versions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    segments: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    days: dict[str, tuple[date, date] | None] = field(default_factory=dict)

    def point(self, point_id: str) -> dict[str, Any]:
        """The published row of one decision point."""
        for p in self.points:
            if p["point_id"] == point_id:
                return p
        raise ShadowError(f"No decision point {point_id!r} in the published track record")


def current(db: Path | str) -> Path:
    """The snapshot file published beside the store `db` now (NotPublished, saying what to run,
    if there is none)."""
    try:
        return _current(db)
    except NotPublished:
        if Path(db).exists():
            raise
        raise NotPublished(
            f"There is no store at {db} and nothing published beside it",
            hint="build the sample with `shadow demo --no-app`, or point the app at your store"
            " with `shadow app --db PATH` (or SHADOW_DB)",
        ) from None


def snapshot(path: Path) -> Snapshot:
    """The snapshot's meta, its decision points, and each point's versions, segments and days."""
    with open_snapshot(path) as published:
        meta = published.meta
        points = published.table("points").to_dicts()
        out = Snapshot(
            path=path,
            published_at=_iso(meta.get("published_at")) or "",
            data_cut_off=_iso(meta.get("data_cut_off")),
            content_hash=str(meta.get("content_hash", "")),
            points=points,
        )
        if "numbers" not in published.tables():
            return out
        for p in points:
            params = {"point": p["point_id"]}
            out.versions[p["point_id"]] = _query(published, "versions", params).to_dicts()
            segments = _query(published, "segments", params)
            out.segments[p["point_id"]] = list(segments.iter_rows())
            days = _query(published, "days", params).row(0)
            out.days[p["point_id"]] = None if days[0] is None else (days[0], days[1])
    return out


# --- track record -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Selection:
    """The chosen version and segment's numbers: over the date range, and period by period."""

    window: dict[str, Any]  # every number over the chosen days (as the published "all" row has)
    periods: pl.DataFrame  # scope "period" rows of the chosen period in range, where it scored
    cumulative: pl.DataFrame  # scope "cumulative" rows of the same periods (from the first day)
    rolling: pl.DataFrame  # scope "rolling" weekly rows in range (the last four weeks at each)
    whole: dict[str, Any] | None  # the published row over the whole record


def selection(snapshot: Path, choice: Choice) -> Selection:
    """The numbers of one version and segment, for the track record, disagreements and health pages."""
    with open_snapshot(snapshot) as published:
        point = _point(published, choice.point_id)
        rows = _numbers(
            published,
            choice.point_id,
            choice.model_version,
            segment=choice.segment,
            value=choice.segment_value,
        )
    days = _in_range(rows.filter(period="day", scope="period"), choice, "day")
    whole = rows.filter(period="all")
    active = _in_range(rows.filter(period=choice.period, scope="period"), choice, choice.period)
    active = active.filter(pl.col("paired") > 0)
    starts = active.select("period_start")
    cumulative = rows.filter(period=choice.period, scope="cumulative").join(
        starts, on="period_start", how="semi"
    )
    rolling = _in_range(rows.filter(period="week", scope="rolling"), choice, "week").filter(
        pl.col("paired") > 0
    )
    return Selection(
        window=window(days, point),
        periods=active.sort("period_start"),
        cumulative=cumulative.sort("period_start"),
        rolling=rolling.sort("period_start"),
        whole=whole.row(0, named=True) if whole.height else None,
    )


def window(days: pl.DataFrame, point: DecisionPoint) -> dict[str, Any]:
    """Every number over a run of days: their published counts summed, then `numbers` as refresh does."""
    counted = [
        c
        for c, t in days.schema.items()
        if c not in _KEYS and t.is_integer() and not isinstance(t, pl.Boolean)
    ]
    sums = days.select(pl.col(c).sum() for c in counted) if days.height else None
    if sums is None:
        sums = pl.DataFrame({c: [0] for c in counted}, schema=dict.fromkeys(counted, pl.Int64))
    return numbers(sums, point).row(0, named=True)


def disagreements_over_time(periods: pl.DataFrame) -> pl.DataFrame:
    """Per period: disagreements by who was right, and the share the model won (of those resolved)."""
    if periods.is_empty():
        return pl.DataFrame()
    won = periods["model_right_person_wrong"].cast(pl.Float64).to_numpy()
    resolved = periods["disagree_resolved"].cast(pl.Float64).to_numpy()
    low, high = fixed.wilson(won, resolved)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(resolved > 0, won / resolved, np.nan)
    return periods.select(
        "period_start",
        model_right=pl.col("model_right_person_wrong").cast(pl.Int64),
        person_right=pl.col("person_right_model_wrong").cast(pl.Int64),
        neither_right=(
            pl.col("disagree_resolved")
            - pl.col("model_right_person_wrong")
            - pl.col("person_right_model_wrong")
        ).cast(pl.Int64),
        pending=pl.col("disagree_pending").cast(pl.Int64),
        resolved=pl.col("disagree_resolved").cast(pl.Int64),
    ).with_columns(
        model_share=pl.Series(share).fill_nan(None),
        model_share_low=pl.Series(low).fill_nan(None),
        model_share_high=pl.Series(high).fill_nan(None),
    )


# --- disagreements ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cases:
    """One page of the disagreements that match the filters, and how many match in all."""

    total: int
    rows: list[dict[str, Any]]


def cases(
    snapshot: Path,
    choice: Choice,
    *,
    who: tuple[str, ...] = tuple(WHO),
    limit: int = 50,
    offset: int = 0,
) -> Cases:
    """The disagreements of the chosen version, segment and days, newest decision first."""
    unknown = set(who) - set(WHO)
    if unknown:
        raise ShadowError(f"Unknown kind of disagreement {sorted(unknown)[0]!r}")
    with open_snapshot(snapshot) as published:
        point = _point(published, choice.point_id)
        if "disagreements" not in published.tables():
            return Cases(0, [])
        params: dict[str, Any] = {
            "point": choice.point_id,
            "version": choice.model_version,
            "path": None if choice.segment == "all" else f"$.{_json_key(choice.segment)}",
            "value": None if choice.segment == "all" else choice.segment_value,
            "cells": list(who),
            "timezone": point.timezone,
            "start": choice.start or date.min,
            "end": choice.end or date.max,
        }
        total = int(_query(published, "disagreement_count", params)["cases"][0])
        page = _query(published, "disagreement_cases", {**params, "limit": limit, "offset": offset})
    rows = []
    for r in page.iter_rows(named=True):
        rows.append(
            {
                **r,
                "reasons": reasons(r["explanation"]),
                "segments": json.loads(r["segments"]) if r["segments"] else {},
                "who": WHO.get(r["cell"], r["cell"]),
            }
        )
    return Cases(total, rows)


def reasons(explanation: str | None, top: int = 3) -> list[tuple[str, float]]:
    """The model's top reasons from its logged explanation (feature -> contribution), largest first."""
    if not explanation:
        return []
    try:
        parsed = json.loads(explanation)
    except ValueError:
        return []
    if not isinstance(parsed, dict):
        return []
    pairs = [(str(k), float(v)) for k, v in parsed.items() if isinstance(v, int | float)]
    return sorted(pairs, key=lambda kv: -abs(kv[1]))[:top]


# --- segments and readiness ---------------------------------------------------------------------


@dataclass(frozen=True)
class Segments:
    """Every value of one segment column: over the whole record, and period by period."""

    whole: pl.DataFrame  # one row per segment value, period "all"
    periods: pl.DataFrame  # scope "period" rows of the chosen period in range


def segments(snapshot: Path, choice: Choice, column: str) -> Segments:
    """The chosen version's numbers for each value of the segment column `column`."""
    with open_snapshot(snapshot) as published:
        _point(published, choice.point_id)
        rows = _numbers(
            published, choice.point_id, choice.model_version, segment=column, value=None
        )
    periods = _in_range(rows.filter(period=choice.period, scope="period"), choice, choice.period)
    return Segments(
        whole=rows.filter(period="all").sort("segment_value"),
        periods=periods.filter(pl.col("paired") > 0).sort("segment_value", "period_start"),
    )


def stages(snapshot: Path, choice: Choice) -> pl.DataFrame | None:
    """The current stage of every segment of the chosen point; None before gates were published."""
    with open_snapshot(snapshot) as published:
        _point(published, choice.point_id)
        if "stages" not in published.tables():
            return None
        return _query(
            published, "stages", {"point": choice.point_id, "segment": None, "value": None}
        )


@dataclass(frozen=True)
class Readiness:
    """The chosen segment's (or every segment's) stage, next gate and sign-offs, as published."""

    judged: bool  # False: no gate is judged yet (no case has both a decision and a prediction)
    order: tuple[str, ...]  # the policy's stages, in order
    verdicts: list[dict[str, Any]]  # shadow.readiness.judge, for the chosen model version
    history: pl.DataFrame  # one row per sign-off, oldest first, as stored


def readiness(snapshot: Path, choice: Choice) -> Readiness:
    """Gate verdicts of the chosen version for the chosen segment (or all), and their sign-offs."""
    params: dict[str, Any] = {
        "point": choice.point_id,
        "segment": None if choice.segment == "all" else choice.segment,
        "value": None if choice.segment == "all" else choice.segment_value,
    }
    with open_snapshot(snapshot) as published:
        _point(published, choice.point_id)
        point = published.table("points").filter(point_id=choice.point_id).row(0, named=True)
        tables = set(published.tables())
        if not {"gates", "stages"} <= tables:
            return Readiness(False, stages_of(point), [], pl.DataFrame())
        rows = _query(published, "stages", params)
        gates = _query(published, "gates", {**params, "version": choice.model_version})
        history = _query(published, "signoffs", params) if "signoffs" in tables else pl.DataFrame()
    verdicts = judge(point, gates, rows, version=choice.model_version) if rows.height else []
    return Readiness(True, stages_of(point), verdicts, history)


# --- model health -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Health:
    """Calibration, score drift, decline alarms and every version side by side, for one segment."""

    calibration: pl.DataFrame  # one row per reliability bin of the chosen version
    drift: pl.DataFrame  # one row per week of the chosen version
    alarms: pl.DataFrame  # one row per day a decline alarm fired (chosen version)
    versions: pl.DataFrame  # one row per version, over the whole record


def health(snapshot: Path, choice: Choice) -> Health:
    """The chosen segment's model-health tables (calibration and drift of the chosen version)."""
    key = {
        "point_id": choice.point_id,
        "segment": choice.segment,
        "segment_value": choice.segment_value,
    }
    with open_snapshot(snapshot) as published:
        _point(published, choice.point_id)
        calibration = _table(published, "calibration")
        drift = _table(published, "drift")
        sequences = _table(published, "sequences")
        versions = _numbers(
            published,
            choice.point_id,
            None,
            segment=choice.segment,
            value=choice.segment_value,
            period="all",
        )
    mine = {**key, "model_version": choice.model_version}
    return Health(
        calibration=calibration.filter(**mine).sort("mean_score")
        if calibration.height
        else calibration,
        drift=_in_range(drift.filter(**mine).rename({"week": "period_start"}), choice, "week")
        .rename({"period_start": "week"})
        .sort("week")
        if drift.height
        else drift,
        alarms=sequences.filter(**mine).filter(pl.col("cusum_alarms") > 0).sort("as_of")
        if sequences.height
        else sequences,
        versions=versions.filter(pl.col("paired") > 0),
    )


# --- data quality -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    """Loads, quarantined rows, late predictions, outcome coverage and delay, selective labels."""

    loads: pl.DataFrame  # one row per load of the point
    reasons: pl.DataFrame  # one row per quarantine reason: rows over all loads
    weeks: pl.DataFrame  # the chosen version and segment, scope "period" weekly rows in range
    delays: pl.DataFrame  # one row per week of decision: median and 90th percentile days
    selective: pl.DataFrame  # period "all" rows (every segment) flagged for selective labels


def quality(snapshot: Path, choice: Choice) -> Quality:
    """The data-quality tables of the chosen point (and version and segment where they have one)."""
    with open_snapshot(snapshot) as published:
        _point(published, choice.point_id)
        loads = _table(published, "loads")
        delays = _table(published, "delays")
        rows = _numbers(
            published,
            choice.point_id,
            choice.model_version,
            segment=choice.segment,
            value=choice.segment_value,
        )
        whole = _numbers(
            published, choice.point_id, choice.model_version, segment=None, value=None, period="all"
        )
    if loads.height:
        loads = loads.filter(point_id=choice.point_id)
    per_load = (
        loads.group_by("load_id", "log", "source", "loaded_at")
        .agg(
            pl.col("rows_read").first(),
            pl.col("rows_accepted").first(),
            pl.col("rows_duplicate").first(),
            pl.col("rows_quarantined").first(),
        )
        .sort("load_id")
        if loads.height
        else pl.DataFrame()
    )
    reasons = (
        loads.filter(pl.col("reason_code").is_not_null())
        .group_by("log", "reason_code")
        .agg(rows=pl.col("rows_with_reason").sum())
        .sort("rows", "log", "reason_code", descending=[True, False, False])
        if loads.height
        else pl.DataFrame()
    )
    if delays.height:
        delays = delays.filter(
            point_id=choice.point_id, segment=choice.segment, segment_value=choice.segment_value
        )
        delays = _in_range(delays.rename({"week": "period_start"}), choice, "week")
        delays = delays.rename({"period_start": "week"}).sort("week")
    selective = (
        whole.filter(pl.col("selective_labels"))
        if "selective_labels" in whole.columns
        else whole.clear()
    )
    return Quality(
        loads=per_load,
        reasons=reasons,
        weeks=_in_range(rows.filter(period="week", scope="period"), choice, "week").sort(
            "period_start"
        ),
        delays=delays,
        selective=selective,
    )


# --- reading ------------------------------------------------------------------------------------


def _query(published: Published, name: str, params: dict[str, Any]) -> pl.DataFrame:
    return published.query(sql.read("published", name), params)


def _table(published: Published, name: str) -> pl.DataFrame:
    return published.table(name) if name in published.tables() else pl.DataFrame()


def _point(published: Published, point_id: str) -> DecisionPoint:
    """The decision point as published (what `numbers` needs to compute over a date range)."""
    found = published.table("points").filter(point_id=point_id)
    if found.is_empty():
        raise ShadowError(
            f"No decision point {point_id!r} in the published track record",
            hint="after `shadow point add`, run `shadow refresh`",
        )
    return DecisionPoint.from_published(found.row(0, named=True))


def _numbers(
    published: Published,
    point_id: str,
    version: str | None,
    *,
    segment: str | None,
    value: str | None,
    period: str | None = None,
) -> pl.DataFrame:
    """Published numbers of one point; a None filter keeps every value."""
    if "numbers" not in published.tables():
        return pl.DataFrame()
    params = {
        "point": point_id,
        "version": version,
        "segment": segment,
        "value": value,
        "period": period,
    }
    return _query(published, "numbers", params)


def _in_range(rows: pl.DataFrame, choice: Choice, period: str) -> pl.DataFrame:
    """The rows whose period overlaps the chosen days (a week that starts before them counts)."""
    if rows.is_empty() or (choice.start is None and choice.end is None):
        return rows
    start = choice.start or date.min
    end = choice.end or date.max
    every = {"day": "1d", "week": "1w", "month": "1mo"}[period]
    first = pl.lit(start).dt.truncate(every)
    return rows.filter((pl.col("period_start") >= first) & (pl.col("period_start") <= end))


def _json_key(segment: str) -> str:
    # segment columns are checked identifiers (shadow.points); quote them for the JSON path anyway
    return json.dumps(segment)
