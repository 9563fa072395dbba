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
from shadow.track.join import GROUP, Joined, segment_value


def confusion(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """Every cell of the three tables, every label pair of the point (zeros included)."""
    return confusion_of(confusion_counts(joined, point), point)


# the keys of confusion_counts, besides the segment columns
LABELS = ("model_version", "predicted_label", "human_label", "actual_label", "resolved")


def confusion_counts(joined: Joined, point: DecisionPoint) -> pl.DataFrame:
    """The paired cases per (version, segment columns' values, the three labels).

    They add up across parts of the cases (counts.sum_parts); every table of every segment
    column is then a sum over these few rows.
    """
    return joined.paired.group_by(*LABELS, *point.segment_columns).agg(cases=pl.len()).collect()


def confusion_of(counts: pl.DataFrame, point: DecisionPoint) -> pl.DataFrame:
    """The three tables of every segment column, from confusion_counts."""
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
