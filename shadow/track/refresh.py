"""`shadow refresh`: compute the whole track record and publish it for readers.

The store is opened read-only while the logs are joined (a part of the cases at a time, see
gathered.gather); the rest is computed with the store closed, then published atomically beside it
(shadow.snapshot), where the app and the reports read it without ever holding the store.

Each refresh leaves its state beside the store (shadow.track.state); after a day's loads the next
reads again only the cases they changed (shadow.track.daily), with the same numbers as a refresh
that reads everything (`force`).
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
from datetime import datetime, timedelta
from pathlib import Path
from typing import cast

import polars as pl

from shadow import sql
from shadow.errors import ShadowError, StoreError
from shadow.points import DecisionPoint, list_points
from shadow.snapshot import (
    SNAPSHOT_FORMAT,
    PublishResult,
    Reuse,
    open_published,
    publish,
    published_path,
    shadow_version,
)
from shadow.store import Store
from shadow.track import counts, daily, health, state
from shadow.track.confusion import LABELS, confusion_of
from shadow.track.evidence import DEFAULT_ALPHA, DEFAULT_FLOOR, DEFAULT_MARGIN, evidence
from shadow.track.gates import gates
from shadow.track.gathered import CASES_PER_PART, Gathered, gather
from shadow.track.join import GROUP, parts_of
from shadow.track.numbers import numbers
from shadow.track.sequences import sequences_and_states
from shadow.track.watch import stages

Step = Callable[[str], None]
# The big published table, hashed and written a week (of the decision) at a time (see Reuse).
CHUNKED = {"disagreements": "decided_at"}
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
    # a daily refresh: how many cases the loads since the last refresh changed (None: every case
    # was read)
    changed_cases: int | None = None


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
    with spill_folder(Path(db)) as folder, state.locked(db) as kept:
        with Store.open(db, read_only=True, wait=wait) as store:
            points = list_points(store)
            loads = store.frame(sql.read("track", "loads"))
            _check_schema(store, db)
            signoffs = store.frame(sql.read("track", "signoffs"))
            versions = dict(store.rows(sql.read("track", "policy_versions")))
            point_table = _points(points)
            code = _code_digest()
            inputs = _inputs_hash(point_table, loads, signoffs, versions, code)
            standing = None if force else _standing(db, inputs, points)
            if standing is not None:
                return standing
            last_load = None
            if kept is not None:
                last_load = None if force else daily.since(kept, loads, code, point_table)
                if last_load is None:
                    kept.reset()  # everything is read again: the state is made anew
            gathered = {}
            for p in points:
                files = kept.point(p.point_id) if kept is not None else None
                if files is not None and last_load is not None:
                    say(f"reading the cases of {p.point_id} changed since the last refresh")
                    gathered[p.point_id] = daily.update(
                        store, p, files, last_load, parts_of(store, p, cases_per_part)[1]
                    )
                else:
                    gathered[p.point_id] = gather(
                        store,
                        p,
                        cases_per_part=cases_per_part,
                        step=say,
                        folder=folder / p.point_id,
                        files=files,
                    )
        gathered_daily = [g.daily for g in gathered.values() if g.daily is not None]
        changed = sum(d.cases for d in gathered_daily) if last_load is not None else None
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
            name: pl.concat(frames, how="diagonal_relaxed")
            for name, frames in tables.items()
            if frames
        }
        published["points"] = point_table
        published["loads"] = loads
        published["signoffs"] = signoffs
        # the data cut-off: the moment of the newest load the numbers include
        cut_off = cast("datetime | None", loads["loaded_at"].max()) if loads.height else None
        say("publishing")
        meta = {"data_cut_off": cut_off, "points": len(points), "inputs_hash": inputs}
        reuse = _reuse(kept, gathered_daily) if last_load is not None else None
        result = publish(db, published, meta, chunked=CHUNKED, reuse=reuse)
        if kept is not None:
            kept.commit(**daily.state_meta(code, loads, point_table, result.content_hash))
    return RefreshSummary(
        summaries, result, cut_off, time.perf_counter() - started, changed_cases=changed
    )


def _reuse(kept: state.TrackState | None, days: list[daily.Daily]) -> Reuse | None:
    """What the publish may keep of the snapshot the state's refresh published, after a daily
    refresh: the disagreements of the weeks no changed case is in."""
    if kept is None or kept.meta.get("published") is None:
        return None
    return Reuse(kept.meta["published"], {"disagreements": set().union(*(d.chunks for d in days))})


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
    """Every table of one decision point from what was gathered (the store need not be open).

    With `gathered.files`, what the next refresh goes on from is left there (shadow.track.state).
    """
    g = gathered
    segments = list(point.segment_columns)
    policy = point.readiness()
    # "evidence needed" in the briefing is for the first stage after shadow, at DEFAULT_ALPHA
    first_gate = policy.gates[policy.stages[1]] if len(policy.stages) > 1 else None
    floor = first_gate.accuracy_floor if first_gate else DEFAULT_FLOOR
    margin = first_gate.margin if first_gate else DEFAULT_MARGIN
    finest = counts.combine(g.counts, point)
    table = numbers(counts.rollup(finest, g.versions, point).collect(), point)
    alpha = policy.alpha(_segments_judged(table))
    sequence, states = _sequences(point, g, floor=floor, gate_alpha=alpha, costs=policy.costs)
    calibration_sums = counts.sum_parts(g.calibrations, ["model_version", *segments, "bin"])
    calibration = health.calibration_of(calibration_sums, point)
    confusion_sums = counts.sum_parts(g.confusions, [*LABELS, *segments])
    drift = _drift(point, g)
    delays = _delays(point, g)
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
    disagreed = _every_case(g, "disagreements")
    if g.files is not None:  # what the next refresh goes on from
        for name, frame in (
            ("counts_decided", finest.decided),
            ("counts_by_version", finest.by_version),
            ("calibration_sums", calibration_sums),
            ("confusion_counts", confusion_sums),
            ("sequences", sequence),
            ("states", states),
            ("delays", delays),
        ):
            g.files.put_table(name, frame)
        g.files.entry["gate_alpha"] = alpha
    return {
        "numbers": table,
        "sequences": sequence,
        "evidence": evidence(table, sequence, floor=floor, margin=margin, alpha=DEFAULT_ALPHA),
        # in no published order (readers sort; a daily publish keeps the weeks that stand where
        # they are), but in decision order when written whole
        "disagreements": disagreed.sort("decided_at", "case_id", "model_version")
        if g.daily is None
        else disagreed,
        "confusion": confusion_of(confusion_sums, point),
        "calibration": calibration,
        "drift": drift,
        "delays": delays,
        "gates": verdicts,
        "stages": stage_table.with_columns(policy_version=pl.lit(policy_version)),
    }


def _every_case(g: Gathered, name: str) -> pl.DataFrame:
    """What was kept of every case as `name`."""
    if g.daily is not None:
        return g.daily.files.read(name)
    return g.kept.take(name)


def _sequences(
    point: DecisionPoint,
    g: Gathered,
    *,
    floor: float,
    gate_alpha: float,
    costs: dict[str, float] | None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The sequences and their states; a daily refresh goes on from the first day that changed."""
    args = {"floor": floor, "alpha": DEFAULT_ALPHA, "gate_alpha": gate_alpha, "costs": costs}
    d = g.daily
    # (a gate error rate that changed, as segments gain evidence, changes every day's bounds)
    if d is None or d.files.entry.get("gate_alpha") != gate_alpha:
        return sequences_and_states(_every_case(g, "streams"), point, **args)  # type: ignore[arg-type]
    table, states = d.files.table("sequences"), d.files.table("states")
    start = d.matured_from
    if start is None:
        return table, states
    monday = start - timedelta(days=start.weekday())
    tail = d.files.read("streams", [w for w in d.files.weeks("streams") if w >= monday])
    earlier = pl.col("as_of") < start
    later, later_states = sequences_and_states(
        tail.filter(pl.col("as_of") >= start),
        point,
        resume=states.filter(earlier),
        **args,  # type: ignore[arg-type]
    )
    return (
        pl.concat([table.filter(earlier), later]).sort(*GROUP, "as_of"),
        pl.concat([states.filter(earlier), later_states]).sort(*GROUP, "as_of"),
    )


def _drift(point: DecisionPoint, g: Gathered) -> pl.DataFrame:
    """The drift table; a daily refresh counts again the weeks whose scores changed."""
    d = g.daily
    if d is None:
        groups, weeks = health.drift_sums(_every_case(g, "scores"), point)
    else:
        groups, weeks = d.files.table("drift_groups"), d.files.table("drift_weeks")
        changed = d.weeks.get("scores", [])
        if changed:
            groups, weeks = health.drift_update(
                groups,
                weeks,
                changed,
                d.files.read("scores", changed),
                lambda: d.files.read("scores"),
                point,
            )
    if g.files is not None:
        g.files.put_table("drift_groups", groups)
        g.files.put_table("drift_weeks", weeks)
    return health.drift_table(groups, weeks)


def _delays(point: DecisionPoint, g: Gathered) -> pl.DataFrame:
    """The delays table; a daily refresh computes again the weeks whose delays changed."""
    if g.daily is None:
        return health.delays_of(_every_case(g, "delays"), point)
    weeks = g.daily.weeks.get("delays", [])
    before = g.daily.files.table("delays")
    if not weeks:
        return before
    fresh = health.delays_of(g.daily.files.read("delays", weeks), point)
    return pl.concat([before.filter(~pl.col("week").is_in(weeks)), fresh]).sort(
        "segment", "segment_value", "week"
    )


def _inputs_hash(
    points: pl.DataFrame,
    loads: pl.DataFrame,
    signoffs: pl.DataFrame,
    policy_versions: dict[str, int],
    code: str,
) -> str:
    """A fingerprint of everything the published numbers are computed from: every load (by id,
    file hash, rows and time), every sign-off, each point's definition and policy version, and
    the Shadow that computes them."""
    inputs = {
        "loads": daily.loads_fingerprint(loads),
        "signoffs": signoffs.select("signoff_id", "snapshot_hash").sort("signoff_id").rows(),
        "points": points.to_dicts(),
        "policy_versions": sorted(policy_versions.items()),
        "shadow": [shadow_version(), SNAPSHOT_FORMAT, code],
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
