"""Occlusion: how much each feature moved a case's probability, measured against a reference value.

A feature's contribution is p(case) - p(case with that feature set to its reference value): the
median of a numeric column, else its most frequent value. It works for any model, at the cost of
one extra predict_proba per feature.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import polars as pl

from shadow.runner.model import predict


def reference_values(frame: pl.DataFrame, features: list[str]) -> dict[str, Any]:
    """Each feature's reference: the median of a numeric column, else its most frequent value."""
    values: dict[str, Any] = {}
    for f in features:
        column = frame.get_column(f)
        if column.dtype.is_numeric():
            values[f] = column.median()
            continue
        counts = column.drop_nulls().value_counts(name="__n")
        ties_by_value = counts.sort(["__n", f], descending=[True, False])
        values[f] = None if counts.is_empty() else ties_by_value.item(0, f)
    return values


def occlusion(
    model: Any,
    batch: pl.DataFrame,
    proba: np.ndarray[Any, Any],
    target: np.ndarray[Any, Any],
    features: list[str],
    reference: dict[str, Any],
) -> np.ndarray[Any, Any]:
    """Per case and feature: p(target) minus p(target) with the feature at its reference value.

    `proba` is the model's predict_proba for the batch; `target` the column to follow per case.
    """
    rows = np.arange(batch.height)
    base = proba[rows, target]
    out = np.zeros((batch.height, len(features)))
    for j, feature in enumerate(features):
        value = reference[feature]
        column = batch.get_column(feature)
        changed = column.ne_missing(value).to_numpy()  # a case already at the reference: 0
        if not changed.any():
            continue
        lit = pl.lit(value, dtype=column.dtype) if value is None else pl.lit(value)
        moved = batch if changed.all() else batch.filter(pl.Series(changed))
        p = predict(model, moved.with_columns(lit.alias(feature)))
        idx = rows[changed]
        out[idx, j] = base[idx] - p[np.arange(idx.size), target[idx]]
    return out


def explain(contributions: np.ndarray[Any, Any], features: list[str], top: int) -> pl.Series:
    """JSON objects of the `top` largest contributions by absolute value (zeros left out)."""
    k = min(top, len(features))
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    values = np.round(np.take_along_axis(contributions, order, axis=1), 4)
    keys = pl.Series([json.dumps(f) + ": " for f in features], dtype=pl.String)
    parts = pl.DataFrame(
        {f"k{i}": keys.gather(order[:, i]) for i in range(k)}
        | {f"v{i}": values[:, i] for i in range(k)}
    )
    pairs = [
        pl.when(pl.col(f"v{i}").is_finite() & (pl.col(f"v{i}") != 0)).then(
            pl.col(f"k{i}") + pl.col(f"v{i}").cast(pl.String)
        )
        for i in range(k)
    ]
    joined = pl.concat_list(pairs).list.drop_nulls().list.join(", ")
    return parts.select(
        pl.concat_str(pl.lit("{"), joined, pl.lit("}")).alias("explanation")
    ).to_series()
