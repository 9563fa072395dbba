"""Confusion tables per model version and segment over the whole record (every task type).

One row per (version, segment, value, table, row label, column label) with its count:
- table "model": the outcome (row) against the model's label (column), resolved cases;
- table "person": the outcome against the person's decision, the same resolved cases;
- table "agreement": the person's decision against the model's label, every paired case.
For multiclass tasks this is where per-class errors show; Cohen's kappa of the agreement table is
computed from it by whoever shows it (stats.cohen_kappa takes the q x q table).
"""

from __future__ import annotations

import polars as pl

from shadow.points import DecisionPoint
from shadow.track.join import GROUP, segment_value


def confusion_of(counts: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """The three tables of every segment column, from the confusion cells (every label pair of
    the point, zeros included)."""
    tables = {
        "model": ("actual_label", "predicted_label", pl.col("resolved")),
        "person": ("actual_label", "human_label", pl.col("resolved")),
        "agreement": ("human_label", "predicted_label", pl.lit(True)),
    }
    finest = counts.lazy()
    parts = []
    for segment in ("all", *point.segment_columns):
        value = segment_value(segment)
        for name, (row, column, keep) in tables.items():
            parts.append(
                finest.filter(keep)
                .group_by("model_version", value.alias("segment_value"), row, column)
                .agg(pl.col("cases").sum())
                .select(
                    "model_version",
                    pl.lit(segment).alias("segment"),
                    "segment_value",
                    pl.lit(name).alias("table"),
                    pl.col(row).alias("row_label"),
                    pl.col(column).alias("column_label"),
                    "cases",
                )
            )
    found = pl.concat(parts).collect()
    labels = pl.DataFrame({"row_label": list(point.labels)}).join(
        pl.DataFrame({"column_label": list(point.labels)}), how="cross"
    )
    groups = found.select(*GROUP, "table").unique()
    return (
        groups.join(labels, how="cross")
        .join(found, on=[*GROUP, "table", "row_label", "column_label"], how="left")
        .with_columns(pl.col("cases").fill_null(0))
        .sort(*GROUP, "table", "row_label", "column_label")
    )
