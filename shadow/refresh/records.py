"""The records of record, read from the store: the only step of a refresh that reads the logs.

DESIGN.md, "Joining: which rows count", in SQL (sql/track/*_of_record.sql): for each case, the
outcome of record (the latest), the decision of record (the latest made before the outcome was
observed) and, per model version, the prediction of record (the latest made at or before that
decision). DuckDB picks them a bucket of cases at a time: the cases whose id hashes to the
bucket, so that memory stays bounded however big the store, and so that the same SQL could run
per bucket on another engine. A daily refresh reads only the cases a load touched since the last
refresh, as the logs stand now and as they stood after the last load it had read.
"""

from __future__ import annotations

import json

import polars as pl

from shadow import sql
from shadow.points import DecisionPoint
from shadow.store import Store
from shadow.track.join import Records

# How many cases a bucket holds at most: bounds the memory a refresh needs (about 1.5 GB a
# bucket of 2M cases), whatever the size of the store.
CASES_PER_BUCKET = 2_000_000
# Which cases a run of the records reads (the macro sql/track/*_of_record.sql call): the cases of
# one bucket, by a hash of the case id; or every case the rows hold (read_changed's copies).
_BUCKET = (
    "CREATE OR REPLACE TEMP MACRO wanted(id, part, parts) AS (parts = 1 OR hash(id) % parts = part)"
)
_EVERY_CASE = "CREATE OR REPLACE TEMP MACRO wanted(id, part, parts) AS true"
# The rows the records are picked from (the table macros sql/track/*_of_record.sql read from): the
# logs, or copies of only the changed cases' rows ({} = "changed_").
LOGS = {"outcome": "outcomes", "decision": "decisions", "prediction": "predictions"}
_ROWS = "CREATE OR REPLACE TEMP MACRO {}_rows() AS TABLE SELECT * FROM {}"
# `upto` when every load is read
EVERY_LOAD = 2**62


def buckets_and_versions(
    store: Store, point: DecisionPoint, cases_per_bucket: int = CASES_PER_BUCKET
) -> tuple[int, list[str]]:
    """Into how many buckets the point's cases are read, and every model version it has."""
    versions, decisions = store.rows(sql.read("track", "versions"), {"point": point.point_id})[0]
    return max(1, -(-int(decisions) // max(cases_per_bucket, 1))), list(versions or [])


def read_bucket(
    store: Store,
    point: DecisionPoint,
    bucket: tuple[int, int] = (0, 1),
    *,
    upto: int | None = None,
) -> Records:
    """The records of the point's cases in one bucket (`bucket` = (number, how many)).

    With `upto` (a load id), the logs are read as they stood after that load.
    """
    store.execute(_BUCKET)
    for name, log in LOGS.items():
        store.execute(_ROWS.format(name, log))
    return _records(store, point, bucket, upto)


def read_changed(
    store: Store, point: DecisionPoint, since: int
) -> tuple[Records, Records, pl.Series]:
    """The records of the point's cases with a row in a load after `since`, as the logs stand
    now and as they stood after load `since`; and those cases' ids.

    Every other case's records are as they were: a refresh after that load need read only these.
    The changed cases' rows are copied out of the logs once, and both runs read the copies.
    """
    params = {"point": point.point_id, "since": since}
    store.execute(sql.read("track", "changed_cases"), params)
    for name, log in LOGS.items():
        store.execute(
            f"""CREATE OR REPLACE TEMP TABLE changed_{log} AS SELECT * FROM {log}
            WHERE point_id = $point AND case_id IN (SELECT case_id FROM changed_cases)""",
            {"point": point.point_id},
        )
        store.execute(_ROWS.format(name, f"changed_{log}"))
    store.execute(_EVERY_CASE)
    try:
        now, before = _records(store, point), _records(store, point, upto=since)
        changed = store.frame("SELECT case_id FROM changed_cases")["case_id"]
    finally:
        for log in LOGS.values():
            store.execute(f"DROP TABLE IF EXISTS changed_{log}")
    return now, before, changed


def _records(
    store: Store, point: DecisionPoint, bucket: tuple[int, int] = (0, 1), upto: int | None = None
) -> Records:
    """One run of sql/track/*_of_record.sql over the rows the macros give."""
    segments = list(point.segment_columns)
    # the segments' shape for json_transform; {"_": ...} when the point has none (dropped later)
    shape = json.dumps(dict.fromkeys(segments or ["_"], "VARCHAR"))
    params = {
        "point": point.point_id,
        "part": bucket[0],
        "parts": bucket[1],
        "upto": EVERY_LOAD if upto is None else upto,
    }
    # the outcome and decision of record in one query (the segments' numbers, read twice in it,
    # worked out once)
    cases = store.frame(
        f"WITH record_outcome AS ({_body('outcome_of_record')}),"
        f" segment_codes AS MATERIALIZED ({_body('segment_codes')}),"
        f" record_decision AS ({_body('decision_of_record')})"
        f" SELECT * FROM ({_body('decided')})",
        {**params, "segments": shape},
    )
    # the predictions are matched to the decisions of record as Polars now holds them (read in
    # place, not copied into a table: writing a DuckDB table of them costs more), and name their
    # case by its row there
    decisions = cases.select("case_id", "decided_at", "human_label", "decision_rows")
    store.register("record_decision", decisions.with_row_index("_case_row"))
    try:
        predictions = store.frame(
            sql.read("track", "prediction_of_record"), {**params, "segments": shape}
        )
    finally:
        store.unregister("record_decision")
    return Records(cases, predictions)


def _body(name: str) -> str:
    """sql/track/<name>.sql as a query to nest in another (without its closing semicolon)."""
    return sql.read("track", name).strip().rstrip(";")
