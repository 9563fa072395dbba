"""Builds a store from the bundled sample deployment (used by `shadow demo` and the tests)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from shadow.errors import ShadowError
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, list_points, read_point
from shadow.store import Store

_PACKAGED = Path(__file__).resolve().parent / "_sample_data"
SAMPLE = (
    _PACKAGED if _PACKAGED.is_dir() else Path(__file__).resolve().parent.parent / "sample_data"
) / "pump_inspection"
# log -> mapping file name (None: the export already follows the contract)
LOAD_PLAN = {"predictions": None, "decisions": "decisions_mapping.toml", "outcomes": None}


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
        for log, mapping in LOAD_PLAN.items():
            for s in ingest_into(
                store,
                log,
                plan_sources(sample / f"{log}.csv"),
                point=point.point_id,
                mapping=sample / mapping if mapping else None,
            ):
                if s.already_loaded_as is not None:
                    yield f"{log}: already loaded (load {s.already_loaded_as}), nothing changed"
                    continue
                reasons = ", ".join(f"{n} {code}" for code, n in sorted(s.by_reason.items()))
                yield (
                    f"{log}: {s.rows_read} rows read, {s.accepted} accepted, {s.duplicates}"
                    f" duplicates skipped, {s.quarantined} quarantined"
                    + (f" ({reasons})" if reasons else "")
                )
    yield f"The store is {db}. See the loads with `shadow loads --db {db}`"
    yield f"and the quarantined rows with `shadow rejects --db {db}`."
