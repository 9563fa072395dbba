"""Staging a source: read it into temporary tables and build the SELECT that checks its rows.

Staging tables are temporary and private to the connection; nothing here writes to the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shadow.columns import HAS_SEGMENTS
from shadow.errors import InvalidLog, StoreError
from shadow.ingestion.normalize import quote, resolve_columns, typed_select
from shadow.ingestion.sources import Source, reader_sql
from shadow.ingestion.summary import LoadSummary
from shadow.mapping import Mapping
from shadow.points import DecisionPoint
from shadow.store import Store

Step = Callable[[str, float], None]
# How many ignored columns a load's note names before it says "and N more".
SHOWN_NAMES = 20


def stage(
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
    drop_temporaries(store)
    if source.format == "frame":
        store.register("_frame", source.frame)
    select, read_params = reader_sql(source, mapping)
    report("reading", 0.0)
    # Parquet needs no copy: it is typed, and read straight from the file (twice at most).
    in_place = source.format == "parquet" and not (mapping.defaults or mapping.combined)
    try:
        if in_place:
            store.execute(f"CREATE TEMP VIEW _raw AS {select}")
        else:
            store.execute_with_progress(
                f"CREATE TEMP TABLE _raw AS {select}", read_params, lambda f: report("reading", f)
            )
    except StoreError as e:
        raise _unreadable(source, e) from e
    if source.format == "jsonl":
        _explode_json_lines(store, source)
    from_path = _add_partitions(store, source, select if in_place else None, summary)
    raw_columns = store.columns("_raw")
    names = [n for n, _ in raw_columns if n not in ("_json_ok", "_line") and not n.startswith("__")]
    in_file = [n for n in names if n not in from_path]
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
        if n not in used
        and n.strip().lower() not in used
        and not n.startswith("shadow_")
        and n not in from_path  # a partition folder the mapping does not need is no news
    ]
    if ignored:
        shown = ", ".join(ignored[:SHOWN_NAMES])
        more = f" and {len(ignored) - SHOWN_NAMES:,} more" if len(ignored) > SHOWN_NAMES else ""
        summary.warnings.append(
            f"{len(ignored):,} ignored column{'s' if len(ignored) != 1 else ''}"
            f" (not part of the contract): {shown}{more}"
        )
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
    sql = typed_select(log, found, types, in_file, mapping, segments, row_number(store, source))
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
    if mapping.missing:
        params["missing"] = list(mapping.missing)
    if mapping.formats:
        params["naive_formats"] = formats_naive or ["%Y-%m-%d %H:%M:%S"]
        params["aware_formats"] = formats_aware or ["%Y-%m-%d %H:%M:%S%z"]
    report("checking", 0.0)
    summary.rows_read = n_raw + n_rejected
    return sql, params


def _add_partitions(
    store: Store, source: Source, view_select: str | None, summary: LoadSummary
) -> list[str]:
    """Add the file's Hive partition values (its key=value folders) to _raw as columns.

    A column the file has itself keeps the file's values (with a note). `view_select` is the
    reader's SELECT when _raw is a view over the file (Parquet read in place), else None.
    Returns the names of the columns added.
    """
    if not source.partitions:
        return []
    in_file = {n.strip().lower() for n, _ in store.columns("_raw")}
    added = []
    for p in source.partitions:
        if p.problem:
            summary.warnings.append(p.problem)
        if p.key.lower() in in_file:
            summary.warnings.append(
                f"the file has its own column {p.key!r}: its values are used, not the partition"
                f" folder's {p.key}={p.value}"
            )
            continue
        added.append(p)
    if not added:
        return []
    if view_select is not None:
        columns = ", ".join(f"{p.literal()} AS {quote(p.key)}" for p in added)
        store.execute(
            f"CREATE OR REPLACE TEMP VIEW _raw AS SELECT *, {columns} FROM ({view_select})"
        )
    else:
        for p in added:
            store.execute(
                f"ALTER TABLE _raw ADD COLUMN {quote(p.key)} {p.sql_type} DEFAULT {p.literal()}"
            )
    return [p.key for p in added]


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


def note_assumed_timezones(store: Store, log: str, summary: LoadSummary) -> None:
    """Say when naive timestamps were read in the decision point's timezone (nobody said which)."""
    for point_id, tz, n in store.rows(
        "SELECT _typed.point_id, tz, count(*) FROM _typed JOIN _points ON pid = _typed.point_id"
        " WHERE _naive_time GROUP BY ALL ORDER BY 1"
    ):
        summary.warnings.append(
            f"{n:,} timestamps had no UTC offset and were read as {tz} time ({point_id}'s"
            " timezone); if they are in another zone, set [timestamps] timezone in the mapping"
        )


def header_lines(source: Source) -> int:
    """How many lines of the source come before its first data row."""
    return 1 if source.format == "csv" else 0


def row_number(store: Store, source: Source) -> str:
    """SQL for the row number of a _raw row: its place among the file's data rows (1 = first).

    DuckDB numbers the rows it parsed; lines it could not split are left out of that count, so
    when there are any, each parsed row is moved past the malformed lines that came before it.
    """
    if source.format == "parquet":
        return "__row"
    if not _rejected_lines(store, source):
        return "(rowid + 1)"
    store.execute(
        "CREATE OR REPLACE TEMP TABLE _skipped AS SELECT line - $header - row_number() OVER"
        " (ORDER BY line) AS parsed_before FROM (SELECT DISTINCT line FROM _rejects)",
        {"header": header_lines(source)},
    )
    return "(_raw.rowid + 1 + (SELECT count(*) FROM _skipped WHERE parsed_before < _raw.rowid + 1))"


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


def has_rejects(store: Store) -> bool:
    """Whether the CSV reader set aside lines it could not split (its _rejects table)."""
    return bool(
        store.rows(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = '_rejects' AND temporary"
        )[0][0]
    )


def _rejected_lines(store: Store, source: Source) -> int:
    if source.format not in ("csv", "jsonl") or not has_rejects(store):
        return 0
    return int(store.rows("SELECT count(DISTINCT line) FROM _rejects")[0][0])


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


def drop_raw(store: Store) -> None:
    """Drop _raw, whether it is a copy of the file (a table) or the file itself (a view)."""
    is_view = store.rows(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = '_raw' AND temporary"
    )[0][0]
    store.execute("DROP VIEW IF EXISTS temp._raw" if is_view else "DROP TABLE IF EXISTS temp._raw")


_STAGING = (
    "_lines",
    "_typed",
    "_repeats",
    "_known",
    "_originals",
    "_points",
    "_labels",
    "_rejects",
    "_rejects_scan",
    "_skipped",
)


def drop_temporaries(store: Store) -> None:
    """Drop every staging table this connection may hold (before and after each load).

    One statement list, not one call each: a lake is hundreds of small loads.
    """
    drop_raw(store)
    store.execute("; ".join(f"DROP TABLE IF EXISTS temp.{name}" for name in _STAGING))
