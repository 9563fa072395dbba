"""One decision point's refresh: the cases read again go into the cache, its tables come out.

The same steps whether a refresh reads every case (a full refresh: the cache starts empty, and
the cases come a bucket at a time) or only the cases the loads since the last refresh touched
(a daily refresh: they come once, as they are now and as the cache had them):
1. cells (shadow.track.cells): the cache's, plus the cells of the cases as they are now, less
   their cells as they were;
2. rows (shadow.track.rows): each kind of row of those cases takes the place of what the cache
   had of them, in the weeks where they changed;
3. streams (shadow.track.streams): go on from the end of the day before the first day whose
   stream rows changed, from the states kept for that day (all over again when the bounds they
   are computed at changed);
4. drift and delays: the weeks whose rows changed are computed again;
5. the numbers, gates and stages (shadow.track.tables): from the cells and the streams.
So a day's cost follows what the day changed, and the result is the full refresh's to the last
bit (the cells are integer sums, the streams resume exactly).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from shadow.hashing import week_chunk
from shadow.points import DecisionPoint
from shadow.refresh.cache import PointCache
from shadow.track import health, rows
from shadow.track.cells import Cells, cells_of, total
from shadow.track.join import GROUP, Joined, Records, join_records
from shadow.track.numbers import numbers_of
from shadow.track.streams import streams
from shadow.track.tables import bounds, gate_alpha, point_tables

_CELLS = ("decided", "by_version", "calibration", "confusion")
# the first day of any stream: everything is computed again from there
_FIRST_DAY = date.min


@dataclass
class Changes:
    """What the cases read again changed in the cache."""

    cases: int = 0  # how many cases were read again (a daily refresh's count)
    weeks: dict[str, set[date]] = field(default_factory=dict)  # per kind of row, weeks changed
    matured_from: date | None = None  # the first day whose stream rows changed
    # the weeks (UTC Mondays) of the published disagreements with a row that changed
    chunks: set[str] = field(default_factory=set)


class PointRefresh:
    """One point's refresh: read() the cases read again (as often as they come), then tables()."""

    def __init__(self, point: DecisionPoint, cache: PointCache, versions: list[str]) -> None:
        self.point = point
        self.cache = cache
        self.versions = versions
        self.costs = point.readiness().costs
        kept = {name: cache.table(f"cells_{name}") for name in _CELLS}
        self.cells = Cells(*(pl.DataFrame() if f is None else f for f in kept.values()))
        self.changes = Changes()

    def read(self, now: Records, before: Records | None, cases: pl.Series | None) -> None:
        """Take the records of some cases as they are `now`, in place of `before` (what the
        cache had of them: None when it had none, as in a full refresh; `cases`: their ids)."""
        point = self.point
        new = join_records(now, self.versions, point).cached()
        parts = [(self.cells, 1), (cells_of(new, point), 1)]
        after = _rows(new, point, self.costs)
        previous: dict[str, pl.DataFrame | None] = dict.fromkeys(rows.KINDS)
        if before is not None:
            old = join_records(before, self.versions, point).cached()
            parts.append((cells_of(old, point), -1))
            previous = dict(_rows(old, point, self.costs))
        self.cells = total(parts, point)
        if cases is not None:
            self.changes.cases += cases.len()
        for kind in rows.KINDS:
            week = rows.week_of(kind, point)
            changed = self.cache.replace(kind, previous[kind], after[kind], cases, week)
            if not changed:
                continue
            self.changes.weeks.setdefault(kind, set()).update(changed)
            touched = [f for f in (previous[kind], after[kind]) if f is not None]
            moved = pl.concat(touched).filter(week.is_in(changed))
            if kind == "streams" and moved.height:
                first = moved["as_of"].min()
                if self.changes.matured_from is None or first < self.changes.matured_from:  # type: ignore[operator]
                    self.changes.matured_from = first  # type: ignore[assignment]
            if kind == "disagreements":
                chunks = moved.select(week_chunk("decided_at", moved.schema["decided_at"]))
                self.changes.chunks |= {w.isoformat() for w in chunks.to_series()}

    def tables(self, signoffs: pl.DataFrame, policy_version: int) -> dict[str, pl.DataFrame]:
        """Every published table of the point; what the next refresh goes on from is kept."""
        point, cache = self.point, self.cache
        numbers = numbers_of(self.cells, self.versions, point)
        alpha = gate_alpha(point.readiness(), numbers)
        sequences = self._streams(alpha)
        drift = self._drift()
        delays = health.delays(
            cache.table("delays"),
            self._changed("delays"),
            cache.rows("delays", self._changed("delays")),
            point,
        )
        for name in _CELLS:
            frame = getattr(self.cells, name)
            if frame.width:
                cache.put(f"cells_{name}", frame)
        cache.put("delays", delays)
        disagreements = cache.rows("disagreements").sort("decided_at", "case_id", "model_version")
        return point_tables(
            point,
            cells=self.cells,
            numbers=numbers,
            sequences=sequences,
            drift=drift,
            delays=delays,
            disagreements=disagreements,
            signoffs=signoffs,
            policy_version=policy_version,
            alpha=alpha,
        )

    def _changed(self, kind: str) -> list[date]:
        return sorted(self.changes.weeks.get(kind, ()))

    def _streams(self, alpha: float) -> pl.DataFrame:
        """The sequences table: gone on from the day before the first day that changed."""
        cache, at = self.cache, bounds(self.point, alpha)
        table, states = cache.table("sequences"), cache.table("stream_states")
        start = self.changes.matured_from
        if table is None or states is None or cache.entry.get("bounds") != list(at):
            start = _FIRST_DAY  # streams computed at other bounds: all over again
        if start is not None:
            monday = start - timedelta(days=start.weekday())
            weeks = [w for w in cache.weeks("streams") if w >= monday]
            tail = cache.rows("streams", weeks).filter(pl.col("as_of") >= start)
            earlier = pl.col("as_of") < start
            before = states.filter(earlier) if states is not None else None
            later, later_states = streams(tail, self.point, at, resume=before)
            if table is not None and states is not None and start > _FIRST_DAY:
                later = pl.concat([table.filter(earlier), later])
                later_states = pl.concat([states.filter(earlier), later_states])
            table = later.sort(*GROUP, "as_of")
            states = later_states.sort(*GROUP, "as_of")
            cache.put("sequences", table)
            cache.put("stream_states", states)
            cache.entry["bounds"] = list(at)
        assert table is not None
        return table

    def _drift(self) -> pl.DataFrame:
        """The drift table: the weeks whose scores changed counted again."""
        cache = self.cache
        groups, weeks = cache.table("drift_groups"), cache.table("drift_weeks")
        previous = None if groups is None or weeks is None else (groups, weeks)
        groups, weeks = health.drift_sums(
            previous,
            self._changed("scores"),
            lambda wanted: cache.rows("scores", wanted),
            self.point,
        )
        cache.put("drift_groups", groups)
        cache.put("drift_weeks", weeks)
        return health.drift_table(groups, weeks)


def _rows(
    joined: Joined, point: DecisionPoint, costs: dict[str, float] | None
) -> dict[str, pl.DataFrame]:
    kinds = rows.rows_of(joined, point, costs)
    return dict(zip(kinds, pl.collect_all(kinds.values()), strict=True))
