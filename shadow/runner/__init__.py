"""Running a model in shadow: score cases with a scikit-learn classifier and log its predictions.

Each case gets the model's label, the probability of the point's positive label and the features
that moved that probability most. The explanation is model-agnostic occlusion: each feature in turn
is set to a reference value (median, or most frequent value) and the change in probability is the
feature's contribution, `p(case) - p(case with the feature at its reference)`. It costs one extra
`predict_proba` per feature; cases are scored in batches so memory stays bounded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from shadow.columns import CASE_ID, PREDICTIONS
from shadow.config import did_you_mean
from shadow.errors import InvalidLog, InvalidModel, ShadowError
from shadow.ingestion import LoadSummary, Step, ingest_into, plan_sources
from shadow.ingestion.sources import Source
from shadow.points import DecisionPoint, get_point
from shadow.runner.cases import PREDICTED_AT, read_cases, scored_at
from shadow.runner.explain import explain, occlusion, reference_values
from shadow.runner.model import check_model, label_map, load_model, model_features, predict
from shadow.store import Store

__all__ = ["load_model", "model_features", "score_cases", "score_frame"]


def score_frame(
    model: Any,
    cases: pl.DataFrame,
    *,
    point: DecisionPoint,
    model_version: str,
    model_name: str | None = None,
    predicted_at: datetime | None = None,
    top: int = 3,
    reference: pl.DataFrame | dict[str, Any] | None = None,
    batch_size: int = 100_000,
) -> pl.DataFrame:
    """One row per case: the predictions log for `cases`, scored by `model`.

    Columns: case_id, predicted_at (the case's own `predicted_at` if it has one, else
    `predicted_at`, else now; UTC), model, model_version, predicted_label (the most probable label),
    score (probability of the point's positive label; null for a point without one), explanation
    (JSON object: the `top` features by absolute contribution, rounded to 4 decimals; null when
    top=0), and the point's segment columns that the cases have. Checks everything first, and
    raises a ShadowError before any scoring if the model does not fit the cases or the point.
    """
    plan = _plan(model, cases, point, "the cases", reference, model_version, top, batch_size)
    return _score(plan, cases, model_version, model_name, predicted_at, None)


def score_cases(
    db: str | Path | None,
    point_id: str,
    model_path: str | Path,
    cases_path: str | Path,
    *,
    model_version: str,
    model_name: str | None = None,
    top: int = 3,
    reference_path: str | Path | None = None,
    wait: float | None = None,
    now: datetime | None = None,
    step: Step | None = None,
) -> LoadSummary:
    """Score the cases file with the model file and load the predictions into the store `db`.

    The load goes through the same path as `shadow ingest` (atomic, idempotent, quarantine), and
    nothing is written if a check fails. The store is held only to read the decision point and to
    load the predictions, not while the model runs, so other loads and readers are not kept
    waiting. `wait` is how long to wait for a busy store; `step(source, phase, fraction)` reports
    progress.
    """
    with Store.open(db, read_only=True, wait=wait) as store:
        point = get_point(store, point_id)
    assert point is not None  # get_point raises for an unknown id
    model = load_model(model_path)
    cases = read_cases(cases_path, point)
    reference = read_cases(reference_path, point) if reference_path is not None else None
    plan = _plan(model, cases, point, str(cases_path), reference, model_version, top, 100_000)
    now = now or datetime.now(UTC)
    named = Source(name=str(cases_path), format="frame")

    def progress(done: float) -> None:
        if step is not None:
            step(named, "scoring", done)

    frame = _score(plan, cases, model_version, model_name, now, progress)
    source = replace(plan_sources(frame)[0], name=str(cases_path))
    with Store.open(db, wait=wait) as store:
        return ingest_into(store, PREDICTIONS, [source], point=point_id, now=now, step=step)[0]


@dataclass(frozen=True)
class _Plan:
    """Everything checked before scoring: what to feed the model and how to read its output."""

    model: Any
    point: DecisionPoint
    features: list[str]
    labels: pl.Series  # the point's label for each of model.classes_, in that order
    positive: int | None  # the predict_proba column of the point's positive label
    reference: dict[str, Any]
    top: int
    batch_size: int


def _plan(
    model: Any,
    cases: pl.DataFrame,
    point: DecisionPoint,
    source: str,
    reference: pl.DataFrame | dict[str, Any] | None,
    model_version: str,
    top: int,
    batch_size: int,
) -> _Plan:
    check_model(model, "The model")
    if not model_version or not model_version.strip():
        raise InvalidModel(
            "The model version is empty", hint="name it, e.g. --model-version pump-risk-v1"
        )
    if top < 0 or batch_size < 1:
        raise ShadowError(
            f"top must be 0 or more and batch_size 1 or more (got {top}, {batch_size})"
        )
    if CASE_ID not in cases.columns:
        raise InvalidLog(
            f"No {CASE_ID} column in {source}" + did_you_mean(CASE_ID, cases.columns),
            hint="every case needs its id (the one the decisions log uses): add a case_id column",
        )
    features = model_features(model)
    _require_columns(features, cases.columns, source)
    labels, positive = label_map(model, point)
    if top == 0:
        values: dict[str, Any] = {}
    elif isinstance(reference, dict):
        missing = [f for f in features if f not in reference]
        if missing:
            raise InvalidModel(
                "The reference values lack the model's features: " + ", ".join(missing),
                hint="give a value for every feature, or give no reference to use the cases' own",
            )
        values = {f: reference[f] for f in features}
    else:
        if reference is not None:
            _require_columns(features, reference.columns, "the reference data")
        values = reference_values(cases if reference is None else reference, features)
    return _Plan(model, point, features, labels, positive, values, top, batch_size)


def _require_columns(features: list[str], columns: list[str], where: str) -> None:
    missing = [f for f in features if f not in columns]
    if missing:
        unused = [c for c in columns if c not in features]
        raise InvalidModel(
            f"The model's feature columns are missing from {where}: "
            + ", ".join(f + did_you_mean(f, unused) for f in missing),
            hint="the model was fit on " + ", ".join(features) + "; rename the columns, or use"
            " the model that was fit on these cases' columns. Nothing was scored",
        )


def _score(
    plan: _Plan,
    cases: pl.DataFrame,
    model_version: str,
    model_name: str | None,
    predicted_at: datetime | None,
    progress: Callable[[float], None] | None,
) -> pl.DataFrame:
    times = scored_at(cases, plan.point, predicted_at)
    features = cases.select(plan.features)
    labels, scores, explanations = [], [], []
    for start in range(0, cases.height, plan.batch_size):
        batch = features.slice(start, plan.batch_size)
        proba = predict(plan.model, batch)
        best = proba.argmax(axis=1)
        labels.append(plan.labels.gather(best))
        if plan.positive is not None:
            scores.append(pl.Series("score", proba[:, plan.positive]))
        if plan.top:
            # binary: towards the positive label; multiclass: towards each case's predicted label
            binary = plan.point.task_type == "binary" and plan.positive is not None
            target = np.full(batch.height, plan.positive) if binary else best
            contributions = occlusion(
                plan.model, batch, proba, target, plan.features, plan.reference
            )
            explanations.append(explain(contributions, plan.features, plan.top))
        if progress is not None:
            progress(min(start + plan.batch_size, cases.height) / cases.height)
    return cases.select(
        pl.col(CASE_ID).cast(pl.String),
        times.alias(PREDICTED_AT),
        pl.lit(model_name, dtype=pl.String).alias("model"),
        pl.lit(model_version, dtype=pl.String).alias("model_version"),
        _concat(labels, "predicted_label", pl.String()),
        _concat(scores, "score", pl.Float64()),
        _concat(explanations, "explanation", pl.String()),
        *[pl.col(s).cast(pl.String) for s in plan.point.segment_columns if s in cases.columns],
    )


def _concat(parts: list[pl.Series], name: str, dtype: pl.DataType) -> pl.Expr:
    """The batches' values as one column (all null when there were none, e.g. top=0)."""
    if not parts:
        return pl.lit(None, dtype=dtype).alias(name)
    return pl.lit(pl.concat(parts).cast(dtype)).alias(name)
