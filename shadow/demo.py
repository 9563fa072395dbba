"""Builds a store from the bundled sample deployment (used by `shadow demo` and the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from shadow.errors import ShadowError
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, list_points, read_point
from shadow.refresh import refresh
from shadow.snapshot import published_path
from shadow.store import Store

_PACKAGED = Path(__file__).resolve().parent / "_sample_data"
SAMPLE = (
    _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "sample_data"
) / "pump_inspection"
# log -> (the export, the mapping that loads it)
LOAD_PLAN = {
    "predictions": ("predictions.jsonl", "predictions_mapping.toml"),
    "decisions": ("decisions.csv", "decisions_mapping.toml"),
    "outcomes": ("outcomes.csv", "outcomes_mapping.toml"),
}


def build_demo(db: Path, sample: Path = SAMPLE) -> Iterator[str]:
    """Register the sample's decision point and load its three logs into `db`; yields progress lines."""
    point, text = read_point(sample / "point.toml")
    with Store.open(db, create=True) as store:
        others = [p.point_id for p in list_points(store) if p.point_id != point.point_id]
        if others:
            raise ShadowError(
                f"{db} already holds other decision points ({', '.join(others)}); the demo will not"
                " mix its sample into it",
                hint="run `shadow demo --db demo.duckdb` to build the demo in its own file",
            )
        result = add_point(store, point, text)
        yield f"Decision point {point.point_id}: {result} (owner: {point.owner})"
        for log, (export, mapping) in LOAD_PLAN.items():
            for s in ingest_into(
                store,
                log,
                plan_sources(sample / export),
                point=point.point_id,
                mapping=sample / mapping,
            ):
                if s.already_loaded_as is not None:
                    yield f"{log}: already loaded (load {s.already_loaded_as}), nothing changed"
                    continue
                reasons = ", ".join(f"{n} {code}" for code, n in sorted(s.by_reason.items()))
                yield (
                    f"{log}: {s.rows_read:,} rows read, {s.accepted:,} accepted, {s.duplicates:,}"
                    f" duplicates skipped, {s.quarantined:,} quarantined"
                    + (f" ({reasons})" if reasons else "")
                )
        yield from overview(store, point.point_id)
    summary = refresh(db)
    yield (
        f"Computed the track record in {summary.seconds:.1f} s and published it to"
        f" {published_path(db)}."
    )
    yield f"The store is {db}. See the loads with `shadow loads --db {db}`"
    yield f"and the quarantined rows with `shadow rejects --db {db}`."


def overview(store: Store, point_id: str) -> Iterator[str]:
    """What the store holds for the point so far, in plain words."""
    rows = store.query("overview", point=point_id).to_dicts()
    if not rows or not rows[0]["decided"]:
        yield "No decisions are loaded yet."
        return
    first = rows[0]
    pending = first["decided"] - first["resolved"]
    yield (
        f"So far: {first['decided']:,} cases decided by people from {first['decided_from']:%Y-%m-%d}"
        f" to {first['decided_to']:%Y-%m-%d}; {first['resolved']:,} of them have a known outcome,"
        f" {pending:,} have none (yet)."
    )
    for r in rows:
        if r["model_version"] is not None:
            yield (
                f"  model {r['model_version']} scored {r['scored']:,} cases from"
                f" {r['scored_from']:%Y-%m-%d} to {r['scored_to']:%Y-%m-%d}"
            )
