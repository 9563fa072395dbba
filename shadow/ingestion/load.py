"""One load: stage a source, classify every row (accepted, duplicate, quarantined), commit atomically."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

from shadow.columns import HAS_SEGMENTS, KEY, STORED
from shadow.config import current_user
from shadow.errors import StoreError
from shadow.ingestion.normalize import quote
from shadow.ingestion.sources import Source
from shadow.ingestion.stage import (
    Step,
    drop_raw,
    drop_temporaries,
    has_rejects,
    header_lines,
    note_assumed_timezones,
    row_number,
    stage,
)
from shadow.ingestion.summary import LoadSummary
from shadow.mapping import Mapping
from shadow.points import DecisionPoint
from shadow.store import Store

# Timestamps up to this far ahead of the loader's clock are accepted (clocks drift).
CLOCK_SKEW = timedelta(minutes=5)


def options_hash(log: str, source: Source, point: str | None, mapping: Mapping) -> str:
    """What, besides the bytes, decides the outcome of a load: the same file under a new mapping is new."""
    parts = [log, source.format, point or "", mapping.digest]
    if source.partitions:  # the same bytes in another partition folder are other rows
        parts += [f"{p.key}={p.value}" for p in source.partitions]
    text = "\x1f".join(parts)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_source(
    store: Store,
    log: str,
    source: Source,
    *,
    points: list[DecisionPoint],
    default_point: str | None,
    mapping: Mapping,
    now: datetime | None = None,
    loaded_by: str | None = None,
    step: Step | None = None,
    force: bool = False,
) -> LoadSummary:
    """Load one source into `log` in one transaction and say what happened to every row.

    A source already loaded with the same content and options is skipped, unless `force`.
    """
    started = time.monotonic()
    report: Step = step or (lambda _phase, _done: None)
    report("hashing", 0.0)
    digest = source.content_hash()
    options = options_hash(log, source, default_point, mapping)
    summary = LoadSummary(log=log, source=source.name, format=source.format, content_hash=digest)
    previous = store.rows(
        "SELECT load_id, rows_read FROM loads WHERE log = $log AND content_hash = $hash"
        " AND options_hash = $options ORDER BY load_id LIMIT 1",
        {"log": log, "hash": digest, "options": options},
    )
    if previous and not force:
        summary.already_loaded_as, summary.rows_read = previous[0]
        summary.duplicates = summary.rows_read
        summary.seconds = time.monotonic() - started
        return summary

    now = now or datetime.now(UTC)
    segments = sorted({s for p in points for s in p.segment_columns}) if log in HAS_SEGMENTS else []
    failed = True
    try:
        # Staging tables are temporary and private to this connection, so they are built outside
        # the transaction; only the writes to the store's own tables must be atomic.
        sql, params = stage(
            store, log, source, mapping, points, segments, default_point, summary, report
        )
        params["default_point"] = default_point
        params["latest"] = now + CLOCK_SKEW
        store.execute_with_progress(
            f"CREATE TEMP TABLE _typed AS {sql}", params, lambda f: report("checking", f)
        )
        if mapping.timezone is None:
            note_assumed_timezones(store, log, summary)
        quarantine = _classify(store, log, source)
        report("writing", 0.0)
        with store.transaction():
            _write(
                store,
                log,
                source,
                default_point,
                options,
                loaded_by,
                summary,
                mapping.formats,
                quarantine,
            )
        failed = False
    finally:
        try:
            drop_temporaries(store)
            if source.format == "frame":
                store.unregister("_frame")
        except StoreError:
            # After a failed write (a full disk) DuckDB may refuse anything more on this
            # connection; the load's own error is the one to report, and nothing was committed.
            if not failed:
                raise
    summary.seconds = time.monotonic() - started
    return summary


def _classify(store: Store, log: str, source: Source) -> bool:
    """Find the rows that are not simply new: repeated keys in the file, keys already stored.

    Returns whether any row is to be quarantined.

    Builds _repeats (rows whose key repeats in this file: 'first', 'duplicate' or
    'conflict_in_load'), _known (rows whose key is already in the store, and whether the content is
    the same) and _originals (the values as read, for every row that will be quarantined). Both
    are usually tiny, so the common case, a file of new rows, costs one pass over _typed.
    """
    key = KEY[log]
    content = [c for c in STORED[log] if c not in key]
    # Every key column is NOT NULL in the store except `model`; plain equality lets DuckDB hash-join.
    key_match = " AND ".join(
        f"s.{c} IS NOT DISTINCT FROM n.{c}" if c == "model" else f"s.{c} = n.{c}" for c in key
    )
    same = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in content) or "true"
    group_key = ", ".join(key)
    key_hash = "hash(" + ", ".join(key) + ")"
    content_hash = "hash(" + ", ".join(content) + ")" if content else "0"
    store.execute(
        f"""
        CREATE TEMP TABLE _repeats AS
        WITH repeated AS (
            SELECT {key_hash} AS _k FROM _typed WHERE len(_problems) = 0
            GROUP BY _k HAVING count(*) > 1
        ),
        rows AS (
            SELECT *, {content_hash} AS _content FROM _typed
            WHERE len(_problems) = 0 AND {key_hash} IN (SELECT _k FROM repeated)
        )
        -- grouped by the key itself: a hash collision only sends rows down this careful path
        SELECT _row,
               CASE WHEN count(DISTINCT _content) OVER by_key > 1 THEN 'conflict_in_load'
                    WHEN _row <> min(_row) OVER by_key THEN 'duplicate'
                    ELSE 'first' END AS _status,
               list_sort(list(_row) OVER by_key) AS _rows
        FROM rows
        WINDOW by_key AS (PARTITION BY {group_key})
        """
    )
    store.execute(
        f"""
        CREATE TEMP TABLE _known AS
        SELECT n._row, ({same}) AS _same, s.load_id AS _other_load, s.source_row AS _other_row
        FROM _typed AS n JOIN {log} AS s ON {key_match}
        WHERE len(n._problems) = 0
          AND n._row NOT IN (SELECT _row FROM _repeats WHERE _status <> 'first')
        """
    )
    (to_quarantine,) = store.rows(
        "SELECT (SELECT count(*) FROM _typed WHERE len(_problems) > 0)"
        " + (SELECT count(*) FROM _repeats WHERE _status = 'conflict_in_load')"
        " + (SELECT count(*) FROM _known WHERE NOT _same)"
    )[0]
    if not to_quarantine:  # the usual file: no row needs its values as read
        store.execute("CREATE TEMP TABLE _originals (_row BIGINT, original JSON)")
        drop_raw(store)
        return False
    original = (
        "to_json(_r._orig)"
        if source.format != "jsonl"
        else "CASE WHEN _r._json_ok THEN json(_r._line) ELSE json_object('line', _r._line) END"
    )
    store.execute(
        f"""
        CREATE TEMP TABLE _originals AS
        SELECT _row, CAST({original} AS JSON) AS original
        FROM (
            SELECT _row FROM _typed WHERE len(_problems) > 0
            UNION ALL SELECT _row FROM _repeats WHERE _status = 'conflict_in_load'
            UNION ALL SELECT _row FROM _known WHERE NOT _same
        ) AS q
        JOIN ({raw_projection(store, source)}) AS _r USING (_row)
        """
    )
    drop_raw(store)  # the rest needs only _typed: free the copy of the file
    return True


def _write(
    store: Store,
    log: str,
    source: Source,
    default_point: str | None,
    options: str,
    loaded_by: str | None,
    summary: LoadSummary,
    mapping_formats: tuple[str, ...],
    quarantine: bool = True,
) -> None:
    """Write accepted rows, the quarantine and the load record (inside the caller's transaction).

    `quarantine` False: _classify found no row to quarantine (lines the CSV reader could not
    split are still written, from _rejects).
    """
    key = KEY[log]
    columns = ", ".join(STORED[log])
    load_id = store.rows("SELECT nextval('load_ids')")[0][0]
    skip = store.rows(
        "SELECT (SELECT count(*) FROM _repeats WHERE _status <> 'first')"
        " + (SELECT count(*) FROM _known)"
    )[0][0]
    store.execute(
        f"INSERT INTO {log} ({columns}, load_id, source_row)"
        f" SELECT {columns}, $load_id, _row FROM _typed WHERE len(_problems) = 0"
        # a file of new rows (the usual case) needs no anti-join
        + (
            " AND _row NOT IN (SELECT _row FROM _repeats WHERE _status <> 'first')"
            " AND _row NOT IN (SELECT _row FROM _known)"
            if skip
            else ""
        ),
        {"load_id": load_id},
    )
    key_names = " and ".join(", ".join(key[1:]).rsplit(", ", 1))  # point_id is implied
    if quarantine:  # else no row read needs it (and _originals is empty)
        store.execute(
            f"""
            INSERT INTO quarantine
            SELECT $load_id, q._row, q.code, q.text, o.original
            FROM (
                SELECT _row, _problems[1].code AS code,
                       array_to_string(list_transform(_problems, lambda x: x.text), '; ') AS text
                FROM _typed WHERE len(_problems) > 0
                UNION ALL
                SELECT _row, 'conflict_in_load',
                       'conflicts with row' || CASE WHEN len(_rows) > 2 THEN 's ' ELSE ' ' END
                       || array_to_string(list_filter(_rows, lambda r: r <> _row), ', ')
                       || ' of this file (same {key_names}; different content)'
                FROM _repeats WHERE _status = 'conflict_in_load'
                UNION ALL
                SELECT _row, 'conflict_with_store',
                       'conflicts with accepted row from load ' || _other_load
                       || ' (row ' || _other_row || '; same {key_names}; different content)'
                FROM _known WHERE NOT _same
            ) AS q
            JOIN _originals AS o USING (_row)
            """,
            {"load_id": load_id},
        )
    if has_rejects(store):
        store.execute(
            """
            INSERT INTO quarantine
            SELECT $load_id, line - $header,
                   CASE WHEN error_type = 'INVALID ENCODING' THEN 'invalid_encoding'
                        ELSE 'malformed_line' END,
                   'malformed line ' || line || ': ' || lower(error_type) || ' ('
                   || error_message || ')',
                   CAST(json_object('line', csv_line) AS JSON)
            FROM (SELECT line, first(error_type) AS error_type, first(error_message) AS error_message,
                         first(csv_line) AS csv_line FROM _rejects GROUP BY line)
            """,
            {"load_id": load_id, "header": header_lines(source)},
        )
        encoding = store.rows("SELECT count(*) FROM _rejects WHERE error_type = 'INVALID ENCODING'")
        if encoding[0][0]:
            summary.warnings.append(
                f"{encoding[0][0]} lines are not UTF-8 text and were quarantined; if the file is"
                ' Latin-1, add [csv] encoding = "latin-1" to the mapping and load it again'
            )
    summary.accepted = store.rows(
        f"SELECT count(*) FROM {log} WHERE load_id = $id", {"id": load_id}
    )[0][0]
    summary.duplicates = store.rows(
        "SELECT (SELECT count(*) FROM _repeats WHERE _status = 'duplicate')"
        " + (SELECT count(*) FROM _known WHERE _same)"
    )[0][0]
    summary.by_reason = dict(
        store.rows(
            "SELECT reason_code, count(*) FROM quarantine WHERE load_id = $id GROUP BY reason_code",
            {"id": load_id},
        )
    )
    summary.quarantined = sum(summary.by_reason.values())
    if summary.by_reason.get("unparseable_timestamp") and not mapping_formats:
        summary.warnings.append(
            "timestamps must be ISO 8601 (2026-03-02 07:00 or 2026-03-02T07:00:00+01:00) unless"
            ' the mapping lists their formats, e.g. [timestamps] formats = ["%d/%m/%Y %H:%M"]'
        )
    if summary.accepted + summary.duplicates + summary.quarantined != summary.rows_read:
        raise StoreError(
            f"Internal check failed for {source.name}: {summary.rows_read} rows read but"
            f" {summary.accepted} accepted + {summary.duplicates} duplicates +"
            f" {summary.quarantined} quarantined; nothing was loaded",
            hint="please report this with the file; the store was left unchanged",
        )
    summary.load_id = load_id
    store.execute(
        "INSERT INTO loads VALUES ($id, $log, $point, $source, $format, $hash, $options, now(),"
        " $by, $read, $accepted, $duplicates, $quarantined)",
        {
            "id": load_id,
            "log": log,
            "point": default_point,
            "source": source.name,
            "format": source.format,
            "hash": summary.content_hash,
            "options": options,
            "by": loaded_by or current_user(),
            "read": summary.rows_read,
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "quarantined": summary.quarantined,
        },
    )


def raw_projection(store: Store, source: Source) -> str:
    """The raw rows with their row number, as the user's columns (for the quarantine's `original`)."""
    row = row_number(store, source)
    if source.format == "jsonl":
        return f"SELECT {row} AS _row, _line, _json_ok FROM _raw"
    names = [n for n, _ in store.columns("_raw") if not n.startswith("__")]
    fields = ", ".join(f"{quote(n)} := {quote(n)}" for n in names)
    return f"SELECT {row} AS _row, struct_pack({fields}) AS _orig FROM _raw"
