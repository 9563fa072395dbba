"""What loads did: the list of past loads, and the quarantined rows with their reasons and values."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from shadow.errors import ShadowError
from shadow.store import Store

# Reason codes a load can give a quarantined row, with what each means in plain words.
REASONS = {
    "blank_row": "every field of the row is empty",
    "malformed_line": "the line could not be split into the file's columns",
    "invalid_encoding": "the line is not text in the file's encoding (UTF-8 unless mapped)",
    "invalid_json": "the line is not a JSON object",
    "missing_point": "no point_id column and no --point",
    "unknown_point": "the row names a decision point that is not registered",
    "missing_case_id": "case_id is empty",
    "missing_timestamp": "the timestamp is empty",
    "unparseable_timestamp": "the timestamp is not a valid date and time in a known format",
    "future_timestamp": "the timestamp is later than now",
    "missing_label": "the label is empty",
    "unknown_label": "the label is not in the decision point's label set (nor mapped onto it)",
    "missing_model_version": "model_version is empty",
    "unparseable_score": "the score is not a number",
    "score_not_a_number": "the score is NaN",
    "score_out_of_range": "the score is outside 0..1",
    "invalid_explanation": "the explanation is not a JSON object",
    "conflict_in_load": "the file has another row with the same key and different content",
    "conflict_with_store": "an accepted row with the same key has different content",
}


def past_loads(store: Store, *, limit: int = 50) -> pl.DataFrame:
    """One row per load, newest first."""
    return store.query("loads", limit=limit)


def rejects(
    store: Store, *, load_id: int | None = None, reason: str | None = None, limit: int | None = None
) -> pl.DataFrame:
    """One row per quarantined row (load, row, reason, original values as JSON text)."""
    if load_id is not None and not store.rows(
        "SELECT 1 FROM loads WHERE load_id = $id", {"id": load_id}
    ):
        raise ShadowError(f"There is no load {load_id}", hint="list the loads with `shadow loads`")
    return store.query("rejects", load_id=load_id, reason=reason, limit=limit)


def export_rejects(frame: pl.DataFrame, path: Path) -> int:
    """Write quarantined rows to CSV: their original columns, then shadow_load/_row/_reason. Returns rows."""
    originals = [json.loads(text) for text in frame["original"].to_list()]
    columns: list[str] = []
    for row in originals:
        columns.extend(k for k in row if k not in columns)
    data = {c: [_cell(row.get(c)) for row in originals] for c in columns}
    data["shadow_load"] = [str(v) for v in frame["load_id"].to_list()]
    data["shadow_row"] = [str(v) for v in frame["source_row"].to_list()]
    data["shadow_reason"] = frame["reason"].to_list()
    pl.DataFrame(data, schema=dict.fromkeys(data, pl.String)).write_csv(path)
    return frame.height


def _cell(value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)
