"""One load: stage a source, classify every row (accepted, duplicate, quarantined), commit atomically."""

from __future__ import annotations

import getpass
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from shadow.columns import HAS_SEGMENTS, KEY, STORED
from shadow.errors import InvalidLog, StoreError
from shadow.ingestion.normalize import quote, resolve_columns, typed_select
from shadow.ingestion.sources import Source, reader_sql
from shadow.mapping import Mapping
from shadow.points import DecisionPoint
from shadow.store import Store

# Timestamps up to this far ahead of the loader's clock are accepted (clocks drift).
CLOCK_SKEW = timedelta(minutes=5)

Step = Callable[[str, float], None]


@dataclass
class LoadSummary:
    """What one load did: every row read is accepted, skipped as a duplicate, or quarantined."""

    log: str
    source: str
    format: str
    content_hash: str
    load_id: int | None = None
    already_loaded_as: int | None = None
    rows_read: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return {
            "log": self.log,
            "source": self.source,
            "format": self.format,
            "content_hash": self.content_hash,
            "load_id": self.load_id,
            "already_loaded_as": self.already_loaded_as,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "quarantined": self.quarantined,
            "quarantined_by_reason": dict(sorted(self.by_reason.items())),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }


def options_hash(log: str, source: Source, point: str | None, mapping: Mapping) -> str:
    """What, besides the bytes, decides the outcome of a load: the same file under a new mapping is new."""
    text = "\x1f".join([log, source.format, point or "", mapping.digest])
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
    try:
        # Staging tables are temporary and private to this connection, so they are built outside
        # the transaction; only the writes to the store's own tables must be atomic.
        sql, params = _stage(
            store, log, source, mapping, points, segments, default_point, summary, report
        )
        params["default_point"] = default_point
        params["latest"] = now + CLOCK_SKEW
        store.execute_with_progress(
            f"CREATE TEMP TABLE _typed AS {sql}", params, lambda f: report("checking", f)
        )
        if mapping.timezone is None:
            _note_assumed_timezones(store, log, summary)
        report("writing", 0.0)
        with store.transaction():
            _classify_and_write(
                store, log, source, default_point, options, loaded_by, summary, mapping.formats
            )
    finally:
        _drop_temporaries(store)
        if source.format == "frame":
            store.unregister("_frame")
    summary.seconds = time.monotonic() - started
    return summary


def _stage(
    store: Store,
    log: str,
    source: Source,
    mapping: Mapping,
    points: list[DecisionPoint],
    segments: list[str],
    default_point: str | None,
    summary: LoadSummary,
    report: Step,
) -> tuple[str, dict[str, Any]]:
    """Read the source into _raw and return the SELECT that types it, with its parameters."""
    _drop_temporaries(store)
    if source.format == "frame":
        store.register("_frame", source.frame)
    select, read_params = reader_sql(source, mapping)
    report("reading", 0.0)
    try:
        store.execute_with_progress(
            f"CREATE TEMP TABLE _raw AS {select}", read_params, lambda f: report("reading", f)
        )
    except StoreError as e:
        raise _unreadable(source, e) from e
    if source.format == "jsonl":
        _explode_json_lines(store, source)
    raw_columns = store.columns("_raw")
    names = [n for n, _ in raw_columns if n != "_json_ok" and n != "_line"]
    types = dict(raw_columns)
    n_raw = store.rows("SELECT count(*) FROM _raw")[0][0]
    n_rejected = _rejected_lines(store, source)
    if n_raw == 0 and n_rejected == 0:
        raise InvalidLog(
            f"{source.name} has a header but no rows"
            if source.format == "csv"
            else f"{source.name} has no rows",
            hint="check that the export wrote any rows; nothing was loaded",
        )
    derived = _add_derived_columns(store, names, mapping)
    types = dict(store.columns("_raw"))
    found = resolve_columns(log, source.name, names, mapping, segments, default_point, derived)
    used = set(found.values()) | {
        src.strip().lower() for cols in mapping.combined.values() for src in cols
    }
    ignored = [
        n
        for n in names
        if n not in used and n.strip().lower() not in used and not n.startswith("shadow_")
    ]
    if ignored:
        summary.warnings.append("ignored columns (not part of the contract): " + ", ".join(ignored))
    missing_segments = [s for s in segments if s not in found]
    if missing_segments and log in HAS_SEGMENTS:
        summary.warnings.append(
            "segment columns not in the file, stored empty: " + ", ".join(missing_segments)
        )
    store.execute("CREATE TEMP TABLE _points (pid VARCHAR, tz VARCHAR, label_set VARCHAR)")
    store.execute("CREATE TEMP TABLE _labels (pid VARCHAR, spelling VARCHAR, label VARCHAR)")
    for p in points:
        store.execute(
            "INSERT INTO _points VALUES ($id, $tz, $labels)",
            {"id": p.point_id, "tz": p.timezone, "labels": ", ".join(p.labels)},
        )
        spellings = {label.strip().lower(): label for label in p.labels}
        for label, words in mapping.labels.items():
            if label not in p.labels:
                continue
            for word in words:
                spellings.setdefault(word.strip().lower(), label)
        for spelling, label in spellings.items():
            store.execute(
                "INSERT INTO _labels VALUES ($id, $spelling, $label)",
                {"id": p.point_id, "spelling": spelling, "label": label},
            )
    sql = typed_select(log, found, types, names, mapping, segments, _row_number(store, source))
    if source.format == "jsonl":  # broken JSON lines carry no columns: their only problem is that
        sql = sql.replace(
            "CASE WHEN _blank THEN",
            "CASE WHEN NOT _json_ok THEN [{'code': 'invalid_json', 'text': 'not a valid JSON object'}]"
            " WHEN _blank THEN",
        ).replace(" AS _row,", " AS _row, _json_ok,", 1)
    formats_aware = [f for f in mapping.formats if "%z" in f or "%Z" in f]
    formats_naive = [f for f in mapping.formats if f not in formats_aware]
    params: dict[str, Any] = {
        "default_point": None,
        "timezone": mapping.timezone,
        "latest": None,
    }
    if mapping.formats:
        params["naive_formats"] = formats_naive or ["%Y-%m-%d %H:%M:%S"]
        params["aware_formats"] = formats_aware or ["%Y-%m-%d %H:%M:%S%z"]
    report("checking", 0.0)
    summary.rows_read = n_raw + n_rejected
    return sql, params


def _classify_and_write(
    store: Store,
    log: str,
    source: Source,
    default_point: str | None,
    options: str,
    loaded_by: str | None,
    summary: LoadSummary,
    mapping_formats: tuple[str, ...],
) -> None:
    """Sort the typed rows into accepted, duplicate and conflicting; write rows, quarantine, load."""

    key = KEY[log]
    content = [c for c in STORED[log] if c not in key]
    key_match = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in key)
    same = " AND ".join(f"s.{c} IS NOT DISTINCT FROM n.{c}" for c in content) or "true"
    group_key = ", ".join(key)
    content_hash = "hash(" + ", ".join(content) + ")" if content else "0"
    store.execute(
        f"""
        CREATE TEMP TABLE _classified AS
        WITH good AS (
            SELECT *, {content_hash} AS _content FROM _typed WHERE len(_problems) = 0
        ),
        firsts AS (
            -- PARTITION BY groups NULLs together (a join on the key would not: model may be NULL)
            SELECT *,
                   count(DISTINCT _content) OVER by_key AS _versions,
                   min(_row) OVER by_key AS _first,
                   list_sort(list(_row) OVER by_key) AS _rows
            FROM good
            WINDOW by_key AS (PARTITION BY {group_key})
        ),
        against_store AS (
            SELECT n.*, s.load_id AS _other_load, s.source_row AS _other_row,
                   CASE WHEN s.load_id IS NULL THEN NULL WHEN {same} THEN true ELSE false END AS _same
            FROM firsts AS n
            LEFT JOIN {log} AS s ON {key_match} AND n._row = n._first AND n._versions = 1
        )
        SELECT *,
            CASE
                WHEN _versions > 1 THEN 'conflict_in_load'
                WHEN _row <> _first THEN 'duplicate'
                WHEN _same THEN 'duplicate'
                WHEN _same = false THEN 'conflict_with_store'
                ELSE 'accept'
            END AS _status
        FROM against_store
        """
    )
    columns = ", ".join(STORED[log])
    load_id = store.rows("SELECT nextval('load_ids')")[0][0]
    store.execute(
        f"INSERT INTO {log} ({columns}, load_id, source_row)"
        f" SELECT {columns}, $load_id, _row FROM _classified WHERE _status = 'accept'",
        {"load_id": load_id},
    )
    key_names = " and ".join(", ".join(key[1:]).rsplit(", ", 1))  # point_id is implied
    original = (
        "to_json(_r._orig)"
        if source.format != "jsonl"
        else "CASE WHEN _r._json_ok THEN json(_r._line) ELSE json_object('line', _r._line) END"
    )
    store.execute(
        f"""
        INSERT INTO quarantine
        SELECT $load_id, q._row, q.code, q.text, CAST({original} AS JSON)
        FROM (
            SELECT _row, _problems[1].code AS code,
                   array_to_string(list_transform(_problems, lambda x: x.text), '; ') AS text
            FROM _typed WHERE len(_problems) > 0
            UNION ALL
            SELECT _row, 'conflict_in_load',
                   'conflicts with row' || CASE WHEN len(_rows) > 2 THEN 's ' ELSE ' ' END
                   || array_to_string(list_filter(_rows, lambda r: r <> _row), ', ')
                   || ' of this file (same {key_names}; different content)'
            FROM _classified WHERE _status = 'conflict_in_load'
            UNION ALL
            SELECT _row, 'conflict_with_store',
                   'conflicts with accepted row from load ' || _other_load
                   || ' (row ' || _other_row || '; same {key_names}; different content)'
            FROM _classified WHERE _status = 'conflict_with_store'
        ) AS q
        JOIN ({_raw_projection(source, store)}) AS _r USING (_row)
        """,
        {"load_id": load_id},
    )
    if _has_rejects(store):
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
            {"load_id": load_id, "header": _header_lines(source)},
        )
        encoding = store.rows("SELECT count(*) FROM _rejects WHERE error_type = 'INVALID ENCODING'")
        if encoding[0][0]:
            summary.warnings.append(
                f"{encoding[0][0]} lines are not UTF-8 text and were quarantined; if the file is"
                ' Latin-1, add [csv] encoding = "latin-1" to the mapping and load it again'
            )
    counts = dict(store.rows("SELECT _status, count(*) FROM _classified GROUP BY _status"))
    summary.accepted = counts.get("accept", 0)
    summary.duplicates = counts.get("duplicate", 0)
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
            "by": loaded_by or _user(),
            "read": summary.rows_read,
            "accepted": summary.accepted,
            "duplicates": summary.duplicates,
            "quarantined": summary.quarantined,
        },
    )


def _add_derived_columns(store: Store, names: list[str], mapping: Mapping) -> dict[str, str]:
    """Add to _raw the columns the mapping builds: joined ([columns] lists) and [defaults] ones.

    Returns contract column -> the added column that feeds it.
    """
    present = {n.strip().lower() for n in names}
    by_fold = {n.strip().lower(): n for n in names}
    added = {}
    if mapping.combined:
        parts = []
        for contract, sources in mapping.combined.items():
            missing = [src for src in sources if src.strip().lower() not in by_fold]
            if missing:
                raise InvalidLog(
                    f"The mapping joins {contract} from the column {missing[0]!r}, which the file"
                    " does not have",
                    hint="its columns are " + ", ".join(repr(c) for c in names),
                )
            cols = [
                f"NULLIF(trim(CAST({quote(by_fold[src.strip().lower()])} AS VARCHAR)), '')"
                for src in sources
            ]
            # any empty part leaves the joined value empty (a partial id would be a wrong id)
            parts.append(
                f"CASE WHEN {' OR '.join(c + ' IS NULL' for c in cols)} THEN NULL"
                f" ELSE concat_ws('/', {', '.join(cols)}) END AS {quote(f'__joined__{contract}')}"
            )
            added[contract] = f"__joined__{contract}"
        store.execute(
            "CREATE OR REPLACE TEMP TABLE _raw AS SELECT *, " + ", ".join(parts) + " FROM _raw"
        )
    for contract, value in mapping.defaults.items():
        if contract.lower() in present or contract in mapping.columns or contract in added:
            continue  # the file's own column wins over the default
        column = f"__default__{contract}"
        literal = "'" + value.replace("'", "''") + "'"  # DDL takes no parameters; quoted literal
        store.execute(f"ALTER TABLE _raw ADD COLUMN {quote(column)} VARCHAR DEFAULT {literal}")
        added[contract] = column
    return added


def _note_assumed_timezones(store: Store, log: str, summary: LoadSummary) -> None:
    """Say when naive timestamps were read in the decision point's timezone (nobody said which)."""
    for point_id, tz, n in store.rows(
        "SELECT _typed.point_id, tz, count(*) FROM _typed JOIN _points ON pid = _typed.point_id"
        " WHERE _naive_time GROUP BY ALL ORDER BY 1"
    ):
        summary.warnings.append(
            f"{n:,} timestamps had no UTC offset and were read as {tz} time ({point_id}'s"
            " timezone); if they are in another zone, set [timestamps] timezone in the mapping"
        )


def _header_lines(source: Source) -> int:
    return 1 if source.format == "csv" else 0


def _row_number(store: Store, source: Source) -> str:
    """SQL for the row number of a _raw row: its place among the file's data rows (1 = first).

    DuckDB numbers the rows it parsed; lines it could not split are left out of that count, so
    when there are any, each parsed row is moved past the malformed lines that came before it.
    """
    if not _rejected_lines(store, source):
        return "(rowid + 1)"
    store.execute(
        "CREATE OR REPLACE TEMP TABLE _skipped AS SELECT line - $header - row_number() OVER"
        " (ORDER BY line) AS parsed_before FROM (SELECT DISTINCT line FROM _rejects)",
        {"header": _header_lines(source)},
    )
    return "(_raw.rowid + 1 + (SELECT count(*) FROM _skipped WHERE parsed_before < _raw.rowid + 1))"


def _raw_projection(source: Source, store: Store) -> str:
    """The raw rows with their row number, as the user's columns (for the quarantine's `original`)."""
    row = _row_number(store, source)
    if source.format == "jsonl":
        return f"SELECT {row} AS _row, _line, _json_ok FROM _raw"
    names = [n for n, _ in store.columns("_raw") if not n.startswith("__")]
    fields = ", ".join(f"{quote(n)} := {quote(n)}" for n in names)
    return f"SELECT {row} AS _row, struct_pack({fields}) AS _orig FROM _raw"


def _explode_json_lines(store: Store, source: Source) -> None:
    """Turn the one-text-column table of JSON lines into a table with one column per JSON key."""
    store.execute(
        "CREATE TEMP TABLE _lines AS SELECT rowid AS _rid, line AS _line,"
        " CASE WHEN json_valid(line) THEN json_type(line) = 'OBJECT' ELSE false END AS _json_ok FROM _raw"
        " WHERE trim(COALESCE(line, '')) <> ''"  # blank lines separate records; they are not rows
    )
    keys = [
        r[0]
        for r in store.rows(
            "SELECT k FROM (SELECT unnest(json_keys(_line)) AS k, _rid FROM _lines WHERE _json_ok)"
            " GROUP BY k ORDER BY min(_rid), k"
        )
    ]
    if not keys and not store.rows("SELECT count(*) FROM _lines WHERE NOT _json_ok")[0][0]:
        raise InvalidLog(f"{source.name} has no rows", hint="check that the export wrote any rows")
    projections = [
        f"CASE WHEN _json_ok THEN _line ->> $k{i} END AS {quote(k)}" for i, k in enumerate(keys)
    ]
    params = {f"k{i}": "$." + _json_path_key(k) for i, k in enumerate(keys)}
    store.execute("DROP TABLE _raw")
    store.execute(
        "CREATE TEMP TABLE _raw AS SELECT "
        + ", ".join([*projections, "_line", "_json_ok"])
        + " FROM _lines ORDER BY _rid",
        params,
    )
    store.execute("DROP TABLE _lines")


def _json_path_key(key: str) -> str:
    return '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _has_rejects(store: Store) -> bool:
    return bool(
        store.rows(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_rejects' AND temporary"
        )[0][0]
    )


def _rejected_lines(store: Store, source: Source) -> int:
    if source.format not in ("csv", "jsonl") or not _has_rejects(store):
        return 0
    return int(store.rows("SELECT count(DISTINCT line) FROM _rejects")[0][0])


def _drop_temporaries(store: Store) -> None:
    for name in (
        "_raw",
        "_lines",
        "_typed",
        "_classified",
        "_points",
        "_labels",
        "_rejects",
        "_rejects_scan",
    ):
        store.execute(f"DROP TABLE IF EXISTS temp.{name}")


def _unreadable(source: Source, e: StoreError) -> InvalidLog:
    text = str(e)
    first = text.splitlines()[0] if text else ""
    if source.format == "parquet":
        return InvalidLog(
            f"{source.name} is not a readable Parquet file (it may be truncated or damaged): {first}",
            hint="export the file again; nothing was loaded",
        )
    if "unicode" in text.lower() or "encoding" in text.lower():
        return InvalidLog(
            f"{source.name} is not UTF-8 text",
            hint='if it was saved as Latin-1, add [csv] encoding = "latin-1" to the mapping file',
        )
    return InvalidLog(f"Cannot read {source.name}: {first}", hint="check that the file is complete")


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
