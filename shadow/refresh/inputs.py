"""What a refresh computes from, as fingerprints: whether anything changed since the last one,
and whether the cache it left can be gone on from.

The inputs are the decision points' definitions and policy versions, every load (by id, file hash,
rows accepted and time), every sign-off, and the Shadow computing them (its version and the
digest of its Python and SQL files). The published snapshot stands while they are all the same;
the cache can be gone on from while the points, the Shadow and every load it read are as they
were, and only new loads came since.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from shadow import sql
from shadow.errors import StoreError
from shadow.points import DecisionPoint, list_points
from shadow.snapshot import SNAPSHOT_FORMAT, shadow_version
from shadow.store import Store


@dataclass(frozen=True)
class Inputs:
    """What the published numbers are computed from, read from the store."""

    points: list[DecisionPoint]
    loads: pl.DataFrame  # sql/track/loads.sql: every load with its quarantined rows by reason
    signoffs: pl.DataFrame  # sql/track/signoffs.sql
    policy_versions: dict[str, int]
    code: str  # code_digest()

    @classmethod
    def read(cls, store: Store, db: Path | str) -> Inputs:
        """The inputs as the store holds them now."""
        _check_schema(store, db)
        return cls(
            points=list_points(store),
            loads=store.frame(sql.read("track", "loads")),
            signoffs=store.frame(sql.read("track", "signoffs")),
            policy_versions=dict(store.rows(sql.read("track", "policy_versions"))),
            code=code_digest(),
        )

    def point_table(self) -> pl.DataFrame:
        """The published `points` table: each point's definition."""
        return points_table(self.points)

    def fingerprint(self) -> str:
        """A hash of every input: equal, and the published snapshot stands."""
        inputs = {
            "loads": loads_fingerprint(self.loads),
            "signoffs": self.signoffs.select("signoff_id", "snapshot_hash")
            .sort("signoff_id")
            .rows(),
            "points": self.point_table().to_dicts(),
            "policy_versions": sorted(self.policy_versions.items()),
            "shadow": [shadow_version(), SNAPSHOT_FORMAT, self.code],
        }
        text = json.dumps(inputs, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def last_load(self) -> int:
        """The newest load's id (0 before any)."""
        return int(self.loads["load_id"].max() or 0) if self.loads.height else 0  # type: ignore[arg-type]

    def cache_meta(self, published: str) -> dict[str, Any]:
        """What the cache records of the inputs it was computed from (see `since`), and the
        content hash of the snapshot published with it."""
        last = self.last_load()
        return {
            "published": published,
            "code": self.code,
            "last_load": last,
            "loads": loads_fingerprint(self.loads, last),
            "definitions": _definitions(self.point_table()),
        }

    def since(self, meta: dict[str, Any]) -> int | None:
        """The last load a cache with `meta` includes, if it can be gone on from (else None): the
        same Shadow, the same decision points, and every load it read still there as it was."""
        last = meta.get("last_load")
        if not meta or last is None or meta.get("code") != self.code:
            return None
        if meta.get("definitions") != _definitions(self.point_table()):
            return None
        if meta.get("loads") != loads_fingerprint(self.loads, int(last)):
            return None
        return int(last)


def loads_fingerprint(loads: pl.DataFrame, upto: int | None = None) -> str:
    """SHA-256 of the loads (up to load `upto`) by id, file hash, rows accepted and time."""
    rows = loads.select("load_id", "content_hash", "rows_accepted", "loaded_at").unique()
    if upto is not None:
        rows = rows.filter(pl.col("load_id") <= upto)
    text = json.dumps(rows.sort("load_id").rows(), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _definitions(points: pl.DataFrame) -> dict[str, str]:
    """Each point's definition (name, labels, segments, timezone, policy), as a fingerprint."""
    return {
        row["point_id"]: hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest()
        for row in points.to_dicts()
    }


def code_digest() -> str:
    """SHA-256 of the code that computes the numbers (this package's Python and SQL files): a
    changed Shadow computes again even where its version number stayed the same."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for folder, pattern in ((package, "*.py"), (sql.SQL_DIR, "*.sql")):
        for path in sorted(folder.rglob(pattern)):
            digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


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


def points_table(points: list[DecisionPoint]) -> pl.DataFrame:
    """The published `points` table: one row per decision point, its definition."""
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
