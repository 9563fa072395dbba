"""Loading the three logs: files or frames in, every row accepted, skipped as a duplicate, or quarantined."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from shadow.columns import LOGS
from shadow.errors import InvalidLog
from shadow.ingestion.load import load_source
from shadow.ingestion.sources import Source, expand, from_frame
from shadow.ingestion.summary import LoadSummary
from shadow.mapping import Mapping, read_mapping
from shadow.points import get_point, list_points, unknown_point
from shadow.store import Store

__all__ = ["LoadSummary", "ingest_into", "plan_sources"]

Step = Callable[[Source, str, float], None]


def plan_sources(source: Any, fmt: str | None = None) -> list[Source]:
    """The sources to load for a path, a list of paths/folders/globs, or a Polars/pandas frame."""
    if isinstance(source, str | Path):
        return expand([source], fmt)
    if isinstance(source, list | tuple) and all(isinstance(s, str | Path) for s in source):
        if not source:
            raise InvalidLog(
                "No files given", hint="name at least one file, folder or glob pattern"
            )
        return expand(list(source), fmt)
    return [from_frame(source)]


def ingest_into(
    store: Store,
    log: str,
    sources: list[Source],
    *,
    point: str | None = None,
    mapping: Mapping | str | Path | None = None,
    now: datetime | None = None,
    loaded_by: str | None = None,
    step: Step | None = None,
    force: bool = False,
    on_done: Callable[[LoadSummary], None] | None = None,
) -> list[LoadSummary]:
    """Load each source into `log` (its own atomic load) and return one summary per source.

    `on_done` is called with each summary as soon as its load has committed, so a caller can
    report the files that were loaded even if a later file fails.
    """
    if log not in LOGS:
        raise InvalidLog(f"Unknown log {log!r}", hint="the logs are " + ", ".join(LOGS))
    if not isinstance(mapping, Mapping):
        mapping = read_mapping(mapping)
    points = list_points(store)
    if point is not None:
        get_point(store, point)  # refuse an unknown --point before reading anything
        points_used = [p for p in points if p.point_id == point]
    else:
        points_used = points
    if not points:
        raise unknown_point(point or "(none given)", [])
    for label in mapping.labels:
        if not any(label in p.labels for p in points_used):
            raise InvalidLog(
                f"The mapping's [labels] maps spellings to {label!r}, which is not a label of "
                + ", ".join(p.point_id for p in points_used),
                hint="the labels are "
                + "; ".join(f"{p.point_id}: {', '.join(p.labels)}" for p in points_used),
            )
    summaries = []
    for source in sources:

        def report(phase: str, done: float, source: Source = source) -> None:
            if step is not None:
                step(source, phase, done)

        summary = load_source(
            store,
            log,
            source,
            points=points,
            default_point=point,
            mapping=mapping,
            now=now,
            loaded_by=loaded_by,
            step=report,
            force=force,
        )
        summaries.append(summary)
        if on_done is not None:
            on_done(summary)
    return summaries
