"""Names of the three logs and their columns: the data contract, spelled once."""

from __future__ import annotations

from typing import Final

PREDICTIONS: Final = "predictions"
DECISIONS: Final = "decisions"
OUTCOMES: Final = "outcomes"
LOGS: Final = (PREDICTIONS, DECISIONS, OUTCOMES)

POINT_ID: Final = "point_id"
CASE_ID: Final = "case_id"

# Columns each log must have (after the mapping has renamed them), and the ones it may have.
REQUIRED: Final[dict[str, tuple[str, ...]]] = {
    PREDICTIONS: (CASE_ID, "predicted_at", "model_version", "predicted_label"),
    DECISIONS: (CASE_ID, "decided_at", "human_label"),
    OUTCOMES: (CASE_ID, "observed_at", "actual_label"),
}
OPTIONAL: Final[dict[str, tuple[str, ...]]] = {
    PREDICTIONS: ("model", "score", "explanation"),
    DECISIONS: ("decided_by", "note"),
    OUTCOMES: ("note",),
}
# The one timestamp and the one label of each log.
TIME: Final = {PREDICTIONS: "predicted_at", DECISIONS: "decided_at", OUTCOMES: "observed_at"}
LABEL: Final = {PREDICTIONS: "predicted_label", DECISIONS: "human_label", OUTCOMES: "actual_label"}
# Logs whose rows carry the case's segment columns (site, region, ...).
HAS_SEGMENTS: Final = (PREDICTIONS, DECISIONS)

# A row's identity: two rows with the same key and different content are a conflict.
KEY: Final[dict[str, tuple[str, ...]]] = {
    PREDICTIONS: (POINT_ID, CASE_ID, "model", "model_version", "predicted_at"),
    DECISIONS: (POINT_ID, CASE_ID, "decided_at"),
    OUTCOMES: (POINT_ID, CASE_ID, "observed_at"),
}
# Everything stored for a row of each log, in table order (before load_id and source_row).
STORED: Final[dict[str, tuple[str, ...]]] = {
    PREDICTIONS: (
        POINT_ID,
        CASE_ID,
        "predicted_at",
        "model",
        "model_version",
        "predicted_label",
        "score",
        "explanation",
        "segments",
    ),
    DECISIONS: (POINT_ID, CASE_ID, "decided_at", "human_label", "decided_by", "note", "segments"),
    OUTCOMES: (POINT_ID, CASE_ID, "observed_at", "actual_label", "note"),
}


def known_columns(log: str) -> tuple[str, ...]:
    """Every contract column a source file of `log` may carry (segments excluded)."""
    return (POINT_ID, *REQUIRED[log], *OPTIONAL[log])
