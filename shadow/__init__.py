"""Shadow: build the track record that lets a model earn a bigger role next to the people who decide."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shadow.ingestion import LoadSummary
    from shadow.logger import ShadowLogger

__version__ = "0.1.0"
__all__ = ["ShadowLogger", "__version__", "ingest"]


def ingest(
    log: str,
    source: Any,
    *,
    point: str | None = None,
    mapping: str | Path | None = None,
    db: str | Path | None = None,
    fmt: str | None = None,
) -> list[LoadSummary]:
    """Load predictions, decisions or outcomes from a path, folder, glob or Polars/pandas frame.

    Returns one LoadSummary per file (each file is its own atomic load).

    Example:
        shadow.ingest("decisions", "exports/decisions.csv", point="pump-inspection",
                      mapping="maps/cmms.toml")
    """
    from shadow.ingestion import ingest_into, plan_sources  # deferred: keeps `import shadow` light
    from shadow.store import Store

    sources = plan_sources(source, fmt)
    with Store.open(db) as store:
        return ingest_into(store, log, sources, point=point, mapping=mapping)


def __getattr__(name: str) -> Any:
    # `shadow.ShadowLogger` is imported on first use: `import shadow` stays light.
    if name == "ShadowLogger":
        from shadow.logger import ShadowLogger

        return ShadowLogger
    raise AttributeError(f"module 'shadow' has no attribute {name!r}")
