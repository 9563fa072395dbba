"""`shadow refresh`: compute the whole track record and publish it for readers.

The store is opened read-only while the logs are joined (a part of the cases at a time, see
gather); the rest is computed with the store closed, then published atomically beside it
(shadow.snapshot), where the app and the reports read it without ever holding the store.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import cast

import polars as pl

from shadow import sql
from shadow.errors import ShadowError, StoreError
from shadow.points import DecisionPoint, list_points
from shadow.snapshot import (
    SNAPSHOT_FORMAT,
    PublishResult,
    open_published,
    publish,
    published_path,
    shadow_version,
)
from shadow.store import Store
from shadow.track import counts, health
from shadow.track.confusion import LABELS, confusion_counts, confusion_of
from shadow.track.evidence import DEFAULT_ALPHA, DEFAULT_FLOOR, DEFAULT_MARGIN, evidence
from shadow.track.gates import gates
from shadow.track.join import parts_of, read_joined
from shadow.track.numbers import numbers
from shadow.track.sequences import sequences_of, stream
from shadow.track.watch import stages

Step = Callable[[str], None]
# How many cases are joined at a time: bounds the memory a refresh needs (about 1.5 GB a part at
# 2M cases), whatever the size of the store.
CASES_PER_PART = 2_000_000
# The tables computed per decision point (each gets a point_id column when published).
TABLES = (
    "numbers",
    "sequences",
    "evidence",
    "disagreements",
    "confusion",
    "calibration",
    "drift",
    "delays",
    "gates",
    "stages",
)


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


def refresh(
    db: Path | str,
    *,
    wait: float | None = None,
    step: Step | None = None,
    cases_per_part: int = CASES_PER_PART,
    force: bool = False,
) -> RefreshSummary:
    """Read the logs of every decision point, compute every number, and publish them.

    When nothing the numbers are computed from has changed since the published snapshot (no
    load, sign-off or point definition since, the same Shadow), that snapshot stands and nothing
    is computed, unless `force`.
    """
    started = time.perf_counter()
    say = step or (lambda _: None)
    # what each part keeps of its cases waits in files beside the store, not in memory
    with spill_folder(Path(db)) as folder:
        with Store.open(db, read_only=True, wait=wait) as store:
            points = list_points(store)
            loads = store.frame(sql.read("track", "loads"))
            _check_schema(store, db)
            signoffs = store.frame(sql.read("track", "signoffs"))
            versions = dict(store.rows(sql.read("track", "policy_versions")))
            point_table = _points(points)
            inputs = _inputs_hash(point_table, loads, signoffs, versions)
            standing = None if force else _standing(db, inputs, points)
            if standing is not None:
                return standing
            gathered = {
                p.point_id: gather(
                    store, p, cases_per_part=cases_per_part, step=say, folder=folder / p.point_id
                )
                for p in points
            }
        # the store is closed: everything from here on reads only what was gathered
        tables: dict[str, list[pl.DataFrame]] = {name: [] for name in TABLES}
        summaries = []
        for point in points:
            say(f"computing {point.point_id}")
            computed = finish(
                point,
                gathered.pop(point.point_id),
                signoffs=signoffs.filter(point_id=point.point_id),
                policy_version=versions.get(point.point_id, 0),
            )
            for name, frame in computed.items():
                if frame.width:
                    tables[name].append(frame.with_columns(point_id=pl.lit(point.point_id)))
            summaries.append(_summary(point, computed))
    # a table no point has rows for is not published (readers treat it as "nothing yet")
    published = {
        name: pl.concat(frames, how="diagonal_relaxed") for name, frames in tables.items() if frames
    }
    published["points"] = point_table
    published["loads"] = loads
    published["signoffs"] = signoffs
    # the data cut-off: the moment of the newest load the numbers include
    cut_off = cast("datetime | None", loads["loaded_at"].max()) if loads.height else None
    say("publishing")
    meta = {"data_cut_off": cut_off, "points": len(points), "inputs_hash": inputs}
    result = publish(db, published, meta)
    return RefreshSummary(summaries, result, cut_off, time.perf_counter() - started)


def compute(
    store: Store,
    point: DecisionPoint,
    *,
    signoffs: pl.DataFrame | None = None,
    policy_version: int = 0,
    cases_per_part: int = CASES_PER_PART,
    step: Step | None = None,
) -> dict[str, pl.DataFrame]:
    """Every table of one decision point's track record, its readiness verdicts and its stages."""
    return finish(
        point,
        gather(store, point, cases_per_part=cases_per_part, step=step),
        signoffs=signoffs,
        policy_version=policy_version,
    )


class Kept:
    """What the parts keep of their cases, by name: in files in `folder`, or in memory without one.

    A 10M-case refresh keeps about 1 GB of it; in files, the memory a refresh needs is that of one
    part while joining and of one table while computing, whatever the size of the store.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder
        self._parts: dict[str, list[pl.DataFrame | Path]] = {}

    def add(self, name: str, frame: pl.DataFrame) -> None:
        """Keep one part's `name`."""
        parts = self._parts.setdefault(name, [])
        if self.folder is None:
            parts.append(frame)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}-{len(parts)}.arrow"
        frame.write_ipc(path)
        parts.append(path)

    def take(self, name: str) -> pl.DataFrame:
        """Every part's `name` as one frame; the parts are forgotten (their files removed)."""
        parts = self._parts.pop(name, [])
        frames = [p if isinstance(p, pl.DataFrame) else pl.read_ipc(p) for p in parts]
        for p in parts:
            if isinstance(p, Path):
                p.unlink()
        return pl.concat(frames, rechunk=False)


@dataclass
class Gathered:
    """What the numbers need of one point's cases, read from the store a part at a time.

    The counts, calibration and confusion sums at their finest grain (they add up across parts);
    of every case, only what the sequences, drift and delays read, and the disagreements (`kept`).
    """

    versions: list[str]
    kept: Kept
    counts: list[counts.Partial] = field(default_factory=list)
    calibrations: list[pl.DataFrame] = field(default_factory=list)
    confusions: list[pl.DataFrame] = field(default_factory=list)


# The columns of a disagreement the case explorer shows (and the cell the filters use).
DISAGREEMENT_COLUMNS = (
    "case_id",
    "model_version",
    "model",
    "predicted_at",
    "predicted_label",
    "score",
    "explanation",
    "decided_at",
    "human_label",
    "decided_by",
    "actual_label",
    "observed_at",
    "cell",
)


def gather(
    store: Store,
    point: DecisionPoint,
    *,
    cases_per_part: int = CASES_PER_PART,
    step: Step | None,
    folder: Path | None = None,
) -> Gathered:
    """Join the point's cases a part at a time (join.read_joined) and keep what the numbers need.

    With a `folder`, what is kept of each case is written there part by part (see Kept).
    """
    say = step or (lambda _: None)
    parts, versions = parts_of(store, point, cases_per_part)
    costs = point.readiness().costs
    out = Gathered(versions, Kept(folder))
    for part in range(parts):
        say(f"joining {point.point_id}" + (f", part {part + 1} of {parts}" if parts > 1 else ""))
        joined = read_joined(store, point, (part, parts), versions).cached()
        out.counts.append(counts.partial(joined, point))
        out.calibrations.append(health.calibration_sums(joined, point))
        out.confusions.append(confusion_counts(joined, point))
        frames = pl.collect_all(
            [
                stream(joined, point, costs),
                health.scores(joined, point),
                health.delay_days(joined, point),
                # the case explorer shows disagreements: publish those (a few percent of all
                # cases), with their explanations, and not every paired case
                joined.paired.filter(~pl.col("agree")).select(
                    *DISAGREEMENT_COLUMNS, *point.segment_columns
                ),
            ]
        )
        for name, frame in zip(
            ("streams", "scores", "delays", "disagreements"), frames, strict=True
        ):
            out.kept.add(name, frame)
        del joined, frames
    return out


@contextmanager
def spill_folder(db: Path) -> Iterator[Path]:
    """A new folder beside the store for what a refresh keeps of each case, removed afterwards.

    Folders left by a refresh that was killed (its process is gone) are removed first.
    """
    prefix = f"{db.name}.refresh-"
    for stale in db.parent.glob(prefix + "*"):
        pid = stale.name[len(prefix) :].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=db.parent))
    except OSError:  # the store's folder is read-only: the system's temporary folder
        folder = Path(tempfile.mkdtemp(prefix=f"shadow-refresh-{os.getpid()}-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def finish(
    point: DecisionPoint,
    gathered: Gathered,
    *,
    signoffs: pl.DataFrame | None = None,
    policy_version: int = 0,
) -> dict[str, pl.DataFrame]:
    """Every table of one decision point from what was gathered (the store need not be open)."""
    g = gathered
    segments = list(point.segment_columns)
    versions = g.versions
    policy = point.readiness()
    # "evidence needed" in the briefing is for the first stage after shadow, at DEFAULT_ALPHA
    first_gate = policy.gates[policy.stages[1]] if len(policy.stages) > 1 else None
    floor = first_gate.accuracy_floor if first_gate else DEFAULT_FLOOR
    margin = first_gate.margin if first_gate else DEFAULT_MARGIN
    table = numbers(
        counts.rollup(counts.combine(g.counts, point), versions, point).collect(), point
    )
    alpha = policy.alpha(_segments_judged(table))
    sequence = sequences_of(
        g.kept.take("streams"),
        point,
        floor=floor,
        alpha=DEFAULT_ALPHA,
        gate_alpha=alpha,
        costs=policy.costs,
    )
    calibration = health.calibration_of(
        counts.sum_parts(g.calibrations, ["model_version", *segments, "bin"]), point
    )
    drift = health.drift_of(g.kept.take("scores"), point)
    verdicts = gates(
        policy,
        table,
        sequence,
        drift,
        calibration,
        alpha=alpha,
        binary=point.positive_label is not None,
    )
    stage_table = stages(
        policy,
        sequence,
        signoffs if signoffs is not None else pl.DataFrame(),
        alpha=alpha,
        timezone=point.timezone,
    )
    if verdicts.width:
        verdicts = verdicts.with_columns(policy_version=pl.lit(policy_version))
    disagreed = g.kept.take("disagreements").with_columns(
        segments=pl.struct(segments).struct.json_encode() if segments else pl.lit("{}")
    )
    return {
        "numbers": table,
        "sequences": sequence,
        "evidence": evidence(table, sequence, floor=floor, margin=margin, alpha=DEFAULT_ALPHA),
        "disagreements": disagreed.drop(*segments).sort("decided_at", "case_id", "model_version"),
        "confusion": confusion_of(counts.sum_parts(g.confusions, [*LABELS, *segments]), point),
        "calibration": calibration,
        "drift": drift,
        "delays": health.delays_of(g.kept.take("delays"), point),
        "gates": verdicts,
        "stages": stage_table.with_columns(policy_version=pl.lit(policy_version)),
    }


def _inputs_hash(
    points: pl.DataFrame,
    loads: pl.DataFrame,
    signoffs: pl.DataFrame,
    policy_versions: dict[str, int],
) -> str:
    """A fingerprint of everything the published numbers are computed from: every load (by id,
    file hash, rows and time), every sign-off, each point's definition and policy version, and
    the Shadow that computes them."""
    inputs = {
        "loads": loads.select("load_id", "content_hash", "rows_accepted", "loaded_at")
        .unique()
        .sort("load_id")
        .rows(),
        "signoffs": signoffs.select("signoff_id", "snapshot_hash").sort("signoff_id").rows(),
        "points": points.to_dicts(),
        "policy_versions": sorted(policy_versions.items()),
        "shadow": [shadow_version(), SNAPSHOT_FORMAT, _code_digest()],
    }
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _code_digest() -> str:
    """SHA-256 of the code that computes the numbers (this package's Python and SQL files): a
    changed Shadow computes again even where its version number stayed the same."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for folder, pattern in ((package, "*.py"), (sql.SQL_DIR, "*.sql")):
        for path in sorted(folder.rglob(pattern)):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def _standing(db: Path | str, inputs: str, points: list[DecisionPoint]) -> RefreshSummary | None:
    """The published snapshot's summary if it was computed from exactly `inputs`, else None."""
    started = time.perf_counter()
    try:
        with open_published(db) as snapshot:
            if snapshot.meta.get("inputs_hash") != inputs:
                return None
            rows = dict(snapshot.query("SELECT table_name, rows FROM _tables").rows())
            numbers = snapshot.table("numbers") if "numbers" in rows else pl.DataFrame()
            meta = snapshot.meta
    except ShadowError:
        return None  # nothing published, or a snapshot that cannot be read: compute it again
    summaries = [
        _summary(p, {"numbers": numbers.filter(point_id=p.point_id)})
        if numbers.height
        else PointSummary(p.point_id, 0, 0, 0, 0)
        for p in points
    ]
    result = PublishResult(
        path=published_path(db),
        published_at=meta["published_at"],
        rows=rows,
        content_hash=meta["content_hash"],
    )
    seconds = time.perf_counter() - started
    return RefreshSummary(summaries, result, meta.get("data_cut_off"), seconds, unchanged=True)


def _check_schema(store: Store, db: Path | str) -> None:
    """Refuse a store whose schema predates sign-offs (opened read-only, it cannot migrate)."""
    found = store.rows(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'signoffs'"
    )
    if not found[0][0]:
        raise StoreError(
            f"The store {db} was made by an older Shadow: it has no sign-off log yet",
            hint=f"run `shadow init --db {db}` to bring its schema up to date, then refresh",
        )


def _segments_judged(numbers: pl.DataFrame) -> int:
    """How many segments share the family error rate: segment values with a resolved case."""
    values = numbers.filter(pl.col("segment") != "all", period="all").filter(pl.col("resolved") > 0)
    return max(values.select("segment", "segment_value").n_unique(), 1)


def _summary(point: DecisionPoint, computed: dict[str, pl.DataFrame]) -> PointSummary:
    whole = (
        computed["numbers"]
        .filter(segment="all", period="all")
        .filter((pl.col("paired") > 0) | (pl.col("late_predictions") > 0))
    )
    return PointSummary(
        point_id=point.point_id,
        decided=int(whole["decided"].cast(pl.Int64).max() or 0),  # type: ignore[arg-type]
        paired=int(whole["paired"].sum()),
        resolved=int(whole["resolved"].sum()),
        late_predictions=int(whole["late_predictions"].sum()),
        versions=sorted(whole["model_version"].to_list()),
    )


def _points(points: list[DecisionPoint]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "point_id": [p.point_id for p in points],
            "name": [p.name for p in points],
            "owner": [p.owner for p in points],
            "task": [p.task_type for p in points],
            "labels": [list(p.labels) for p in points],
            "positive_label": [p.positive_label for p in points],
            "segments": [list(p.segment_columns) for p in points],
            "timezone": [p.timezone for p in points],
            "policy": [json.dumps(p.policy) for p in points],
        },
        schema={
            "point_id": pl.String,
            "name": pl.String,
            "owner": pl.String,
            "task": pl.String,
            "labels": pl.List(pl.String),
            "positive_label": pl.String,
            "segments": pl.List(pl.String),
            "timezone": pl.String,
            "policy": pl.String,
        },
    )
