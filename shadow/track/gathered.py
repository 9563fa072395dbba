"""What a refresh reads of a point's cases: sums that add up, and a few columns of every case.

The store is read a part of the cases at a time (gather); what each part gives is either added up
(the counts, calibration and confusion sums at their finest grain) or kept (of every case, only
what the sequences, drift and delays read, and the disagreements the case explorer shows).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from shadow.errors import disk_full
from shadow.points import DecisionPoint
from shadow.store import Store
from shadow.track import counts, health, join
from shadow.track.confusion import confusion_counts
from shadow.track.join import Joined, parts_of
from shadow.track.sequences import stream

if TYPE_CHECKING:
    from collections.abc import Callable

    from shadow.track.daily import Daily
    from shadow.track.state import PointFiles

    Step = Callable[[str], None]

# How many cases are joined at a time: bounds the memory a refresh needs (about 1.5 GB a part at
# 2M cases), whatever the size of the store.
CASES_PER_PART = 2_000_000
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
# What is kept of every case, by name (see kept_frames).
KEPT = ("streams", "scores", "delays", "disagreements")


class Kept:
    """What the parts keep of their cases, by name: in files in `folder`, or in memory without one.

    A 10M-case refresh keeps about 1.5 GB of it; in files, the memory a refresh needs is that of
    one part while joining and of one table while computing, whatever the size of the store.
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

    def written(self) -> None:
        """(Each part's files are written before `add` returns.)"""

    def take(self, name: str) -> pl.DataFrame:
        """Every part's `name` as one frame; the parts are forgotten (their files removed)."""
        parts = self._parts.pop(name, [])
        frames = [p if isinstance(p, pl.DataFrame) else pl.read_ipc(p) for p in parts]
        for p in parts:
            if isinstance(p, Path):
                p.unlink()
        return pl.concat(frames, rechunk=False)


class StateKept:
    """What the parts keep of their cases, written straight into the state a refresh leaves for
    the next one, a file per part and week (state.PointFiles): read back once, never copied.

    A part's files are written on other threads while the refresh goes on (DuckDB reading the
    next part); `written` waits for them. With `whole` (the cases are read in one part), the
    part's frames are also held in memory and given back from there, not read back.
    """

    def __init__(self, files: PointFiles, point: DecisionPoint, *, whole: bool = False) -> None:
        self.files = files
        self.point = point
        self.whole = whole
        self._held: dict[str, pl.DataFrame] = {}

    def add(self, frames: dict[str, pl.DataFrame]) -> None:
        """Keep one part's frames (their files written in the background)."""
        if self.whole:
            self._held.update(frames)
        self.files.add_weeks_later({n: (f, week_of(n, self.point)) for n, f in frames.items()})

    def written(self) -> None:
        """Wait for the files of the parts kept so far. Unless the frames are held, the numbers
        cannot be computed without them: a file that could not be written is an error here (held,
        it costs only the state: see state.TrackState.commit)."""
        self.files.wait()
        if self.files.failed is not None and not self.whole:
            e = self.files.failed
            raise disk_full(str(e), self.files.folder) or e

    def take(self, name: str) -> pl.DataFrame:
        """Every part's `name` as one frame (in no particular row order)."""
        if name in self._held:
            return self._held.pop(name)
        self.written()
        return self.files.read(name)


@dataclass
class Gathered:
    """What the numbers need of one point's cases, read from the store a part at a time.

    The counts, calibration and confusion sums at their finest grain (they add up across parts);
    of every case, what kept_frames keeps (`kept`). `files`: where the refresh leaves its state
    for the next (None: it leaves none). `daily`: what changed since the state a daily refresh
    went on from (None: everything was read).
    """

    versions: list[str]
    kept: Kept | StateKept
    counts: list[counts.Partial] = field(default_factory=list)
    calibrations: list[pl.DataFrame] = field(default_factory=list)
    confusions: list[pl.DataFrame] = field(default_factory=list)
    files: PointFiles | None = None
    daily: Daily | None = None


def kept_frames(
    joined: Joined, point: DecisionPoint, costs: dict[str, float] | None
) -> dict[str, pl.LazyFrame]:
    """What is kept of each case: what the sequences (streams), the drift (scores) and the delays
    read, and the disagreements as the case explorer shows them (their segments as JSON)."""
    segments = list(point.segment_columns)
    return {
        "streams": stream(joined, point, costs),
        "scores": health.scores(joined, point),
        "delays": health.delay_days(joined, point),
        # the case explorer shows disagreements: publish those (a few percent of all cases), with
        # their explanations, and not every paired case
        "disagreements": joined.paired.filter(~pl.col("agree")).select(
            *DISAGREEMENT_COLUMNS,
            segments=pl.struct(segments).struct.json_encode() if segments else pl.lit("{}"),
        ),
    }


def week_of(name: str, point: DecisionPoint) -> pl.Expr:
    """The week (its Monday) a kept row of `name` belongs to: the week its outcome matured in for
    the streams (the sequences go on from a day), else the week of the decision."""
    if name == "streams":
        return pl.col("as_of").dt.truncate("1w")
    if name == "disagreements":
        decided = pl.col("decided_at").dt.convert_time_zone(point.timezone)
        return decided.dt.date().dt.truncate("1w")
    return pl.col("week")


def gather(
    store: Store,
    point: DecisionPoint,
    *,
    cases_per_part: int = CASES_PER_PART,
    step: Step | None,
    folder: Path | None = None,
    files: PointFiles | None = None,
) -> Gathered:
    """Join the point's cases a part at a time (join.read_records, then join.join_records) and
    keep what the numbers need.

    With `files`, what is kept of each case is written into the state part by part (StateKept);
    else with a `folder`, there (see Kept).
    """
    say = step or (lambda _: None)
    parts, versions = parts_of(store, point, cases_per_part)
    costs = point.readiness().costs
    kept_by = StateKept(files, point, whole=parts == 1) if files is not None else Kept(folder)
    out = Gathered(versions, kept_by, files=files)
    for part in range(parts):
        say(f"joining {point.point_id}" + (f", part {part + 1} of {parts}" if parts > 1 else ""))
        records = join.read_records(store, point, (part, parts))
        # the previous part's files were written while DuckDB read this one: now they must be
        # (the memory they held is then free for this part's join)
        out.kept.written()
        joined = join.join_records(records, versions, point).cached()
        del records
        out.counts.append(counts.partial(joined, point))
        out.calibrations.append(health.calibration_sums(joined, point))
        out.confusions.append(confusion_counts(joined, point))
        kept = kept_frames(joined, point, costs)
        keep(out.kept, dict(zip(kept, pl.collect_all(kept.values()), strict=True)))
        del joined, kept
    # DuckDB keeps what it allocated between the parts (each part's queries reuse it, instead of
    # asking the system for it again); the numbers computed next in this process get it back
    store.release_memory()
    return out


def keep(kept: Kept | StateKept, frames: dict[str, pl.DataFrame]) -> None:
    """Keep one part's frames: into the state, written in the background (StateKept); else
    each written to its file on its own thread, side by side (writing a frame is mostly one
    thread's work)."""
    if isinstance(kept, StateKept):
        kept.add(frames)
        return
    with ThreadPoolExecutor(len(frames)) as pool:
        list(pool.map(kept.add, frames, frames.values()))
