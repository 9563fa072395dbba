"""The SQL that maps raw rows onto the contract: renamed, typed, in UTC, with every problem named.

The SELECT is built here, not kept in sql/, because its shape depends on the file: which source column
feeds which contract column, and whether a column arrives as text (CSV) or typed (Parquet). Source
column names are quoted as identifiers; every value travels as a $parameter.
"""

from __future__ import annotations

import difflib
import re

from shadow.columns import CASE_ID, HAS_SEGMENTS, LABEL, OPTIONAL, POINT_ID, REQUIRED, TIME
from shadow.config import did_you_mean
from shadow.errors import InvalidLog
from shadow.mapping import Mapping

_DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
_ISO_AWARE = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|z|[+-]\d{2}(:?\d{2})?)$"
_ISO_NAIVE = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$"


def quote(name: str) -> str:
    """`name` as a safely quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def resolve_columns(
    log: str,
    source: str,
    raw: list[str],
    mapping: Mapping,
    segments: list[str],
    default_point: str | None,
    derived: dict[str, str] | None = None,
) -> dict[str, str]:
    """Contract (or segment) column -> the source column that feeds it. Missing required: InvalidLog."""
    wanted = [POINT_ID, *REQUIRED[log], *OPTIONAL[log]]
    if log in HAS_SEGMENTS:
        wanted += [s for s in segments if s not in wanted]
    by_fold: dict[str, str] = {}
    for name in raw:
        by_fold.setdefault(name.strip().lower(), name)
    found: dict[str, str] = {}
    for contract in [*mapping.columns, *mapping.combined, *mapping.defaults]:
        if contract not in wanted:
            raise InvalidLog(
                f"The mapping names {contract!r}, which is not a column of {log}"
                + did_you_mean(contract, wanted),
                hint=f"{log} columns are " + ", ".join(wanted),
            )
    for contract, src in mapping.columns.items():
        actual = src if src in raw else by_fold.get(src.strip().lower())
        if actual is None:
            raise InvalidLog(
                f"The mapping says {contract} comes from the column {src!r}, but {source} has no"
                f" such column",
                hint="its columns are " + ", ".join(repr(c) for c in raw),
            )
        found[contract] = actual
    found.update(derived or {})  # columns the mapping builds (joined, or constant defaults)
    taken = set(found.values())
    for contract in wanted:
        if contract in found:
            continue
        actual = contract if contract in raw else by_fold.get(contract)
        if actual is not None and actual not in taken:
            found[contract] = actual
            taken.add(actual)
    if POINT_ID not in found and default_point is None:
        raise InvalidLog(
            f"{source} has no point_id column and no decision point was given",
            hint="pass --point ID (see `shadow point list`), or add a point_id column",
        )
    missing = [c for c in REQUIRED[log] if c not in found]
    if missing:
        if len(raw) == 1:
            name = raw[0]
            seen = [d for d in _DELIMITERS if d in name]
            if seen:
                raise InvalidLog(
                    f"{source} was read as a single column {name[:60]!r}: it looks"
                    f" {_DELIMITERS[seen[0]]}-separated, but was read with another delimiter",
                    hint=f"set the delimiter in the mapping file: [csv] delimiter = {seen[0]!r}",
                )
        unused = [c for c in raw if c not in taken]
        parts = []
        for c in missing:
            close = [u for u in unused if _squash(u) == _squash(c)]
            close = close or difflib.get_close_matches(c, unused, n=1, cutoff=0.6)
            parts.append(f"{c} (did you mean {close[0]!r}?)" if close else c)
        example = next((p for p in parts if "did you mean" in p), None)
        if example:
            c, guess = example.split(" (did you mean ")
            hint = (
                f'rename the column in the file, or map it: put [columns] {c} = "{guess[1:-3]}"'
                " in a mapping file and pass --mapping FILE"
            )
        else:
            hint = "map your column names onto these with a mapping file ([columns]) and --mapping"
        raise InvalidLog(
            f"{source} is missing required columns for {log}: " + ", ".join(parts),
            hint=hint,
        )
    return found


def _text(column: str, typ: str) -> str:
    if typ == "VARCHAR":
        return f"NULLIF(trim({column}), '')"
    return f"NULLIF(trim(CAST({column} AS VARCHAR)), '')"


def _timestamp(text: str, column: str, typ: str, *, formats: bool) -> str:
    """A TIMESTAMPTZ expression; naive values are read in the zone of the row (`_tz`)."""
    if typ == "TIMESTAMP WITH TIME ZONE":
        return column
    if typ.startswith("TIMESTAMP") or typ == "DATE":
        return f"timezone(_tz, CAST({column} AS TIMESTAMP))"
    naive = (
        f"CASE WHEN regexp_matches({text}, '{_ISO_NAIVE}') THEN TRY_CAST({text} AS TIMESTAMP) END"
    )
    if formats:
        naive = f"COALESCE({naive}, try_strptime({text}, $naive_formats))"
    # DuckDB's cast wants the offset glued on and upper-case Z; tidy only the values that need it.
    tidied = (
        f"regexp_replace(regexp_replace({text}, '\\s*[Zz]$', '+00'),"
        f" '\\s+([+-]\\d{{2}}(:?\\d{{2}})?)$', '\\1')"
    )
    parsed = (
        f"COALESCE(CASE WHEN regexp_matches({text}, '{_ISO_AWARE}')"
        f" THEN COALESCE(TRY_CAST({text} AS TIMESTAMPTZ), TRY_CAST({tidied} AS TIMESTAMPTZ)) END,"
        f" timezone(_tz, {naive})"
    )
    if formats:
        parsed += f", try_strptime({text}, $aware_formats)"
    return parsed + ")"


def _naive(text: str, typ: str) -> str:
    """True where the timestamp carried no UTC offset, so the row's timezone was assumed."""
    if typ == "TIMESTAMP WITH TIME ZONE":
        return "false"
    if typ.startswith("TIMESTAMP") or typ == "DATE":
        return f"({text} IS NOT NULL)"
    return f"({text} IS NOT NULL AND NOT regexp_matches({text}, '{_ISO_AWARE}'))"


def typed_select(
    log: str,
    found: dict[str, str],
    types: dict[str, str],
    raw: list[str],
    mapping: Mapping,
    segments: list[str],
    row_number: str = "rowid + 1",
) -> str:
    """SELECT (from _raw) of the contract columns, typed, plus `_problems`: (code, text) structs."""
    has_formats = bool(mapping.formats)
    text = {c: _text(quote(src), types[src]) for c, src in found.items()}
    time_col, label_col = TIME[log], LABEL[log]

    # Level 1: text values, and the decision point of each row.
    inner = [f"{row_number} AS _row"]
    point = text.get(POINT_ID, "NULL")
    inner.append(f"COALESCE({point}, $default_point) AS {POINT_ID}")
    inner.append(f"({point} IS NULL AND $default_point IS NULL) AS _no_point")
    for c, expr in text.items():
        if c != POINT_ID:
            inner.append(f"{expr} AS {quote('_t_' + c)}")
    blank = " AND ".join(_text(quote(c), types[c]) + " IS NULL" for c in raw) or "false"
    inner.append(f"({blank}) AS _blank")
    if time_col in found:
        src = quote(found[time_col])
        inner.append(f"{src} AS _time_raw")

    # Level 2: typed values and problems, with the point's timezone and label spellings joined in.

    def t(c: str) -> str:
        return quote("_t_" + c)

    ts = _timestamp(t(time_col), "_time_raw", types[found[time_col]], formats=has_formats)
    out = [
        "_row",
        POINT_ID,
        f"{t(CASE_ID)} AS {CASE_ID}",
        f"{ts} AS {time_col}",
        f"_lab.label AS {label_col}",
        f"{_naive(t(time_col), types[found[time_col]])} AS _naive_time",
    ]
    problems = [
        "CASE WHEN _no_point THEN {'code': 'missing_point', 'text': 'missing point_id'} END",
        f"CASE WHEN NOT _no_point AND _pt.pid IS NULL THEN {{'code': 'unknown_point',"
        f" 'text': 'unknown decision point ''' || {POINT_ID} || ''''}} END",
        f"CASE WHEN {t(CASE_ID)} IS NULL THEN {{'code': 'missing_case_id', 'text': 'missing {CASE_ID}'}} END",
        f"CASE WHEN {t(time_col)} IS NULL THEN {{'code': 'missing_timestamp', 'text': 'missing {time_col}'}}"
        f" WHEN {ts} IS NULL AND _pt.pid IS NOT NULL THEN {{'code': 'unparseable_timestamp',"
        f" 'text': 'unparseable timestamp ''' || {t(time_col)} || ''' ({time_col})'}}"
        f" WHEN {ts} > $latest THEN {{'code': 'future_timestamp', 'text': 'timestamp '"
        f" || strftime({ts}, '%Y-%m-%d %H:%M:%S') || ' UTC is in the future ({time_col})'}} END",
        f"CASE WHEN {t(label_col)} IS NULL THEN {{'code': 'missing_label', 'text': 'missing {label_col}'}}"
        f" WHEN _lab.label IS NULL AND _pt.pid IS NOT NULL THEN {{'code': 'unknown_label',"
        f" 'text': 'label ''' || {t(label_col)} || ''' not in label set (' || _pt.label_set || ')'}} END",
    ]
    if log == "predictions":
        out.append(
            f"{t('model')} AS model" if "model" in found else "CAST(NULL AS VARCHAR) AS model"
        )
        out.append(f"{t('model_version')} AS model_version")
        problems.append(
            f"CASE WHEN {t('model_version')} IS NULL THEN {{'code': 'missing_model_version',"
            " 'text': 'missing model_version'} END"
        )
        if "score" in found:
            s = f"TRY_CAST({t('score')} AS DOUBLE)"
            out.append(f"{s} AS score")
            problems.append(
                f"CASE WHEN {t('score')} IS NOT NULL AND {s} IS NULL THEN {{'code': 'unparseable_score',"
                f" 'text': 'score ''' || {t('score')} || ''' is not a number'}}"
                f" WHEN isnan({s}) THEN {{'code': 'score_not_a_number',"
                f" 'text': 'score ' || {t('score')} || ' is not a number'}}"
                f" WHEN {s} < 0 OR {s} > 1 THEN {{'code': 'score_out_of_range',"
                f" 'text': 'score ' || {t('score')} || ' outside 0..1'}} END"
            )
        else:
            out.append("CAST(NULL AS DOUBLE) AS score")
        if "explanation" in found:
            e = t("explanation")
            if types[found["explanation"]] not in ("VARCHAR", "JSON"):
                e = f"NULLIF(CAST(to_json({quote(found['explanation'])}) AS VARCHAR), 'null')"
            valid = f"(CASE WHEN json_valid({e}) THEN json_type({e}) = 'OBJECT' ELSE false END)"
            out.append(f"CASE WHEN {valid} THEN json({e}) END AS explanation")
            problems.append(
                f"CASE WHEN {e} IS NOT NULL AND NOT {valid} THEN {{'code': 'invalid_explanation',"
                " 'text': 'explanation is not a JSON object (feature -> contribution)'} END"
            )
        else:
            out.append("CAST(NULL AS JSON) AS explanation")
    for c in ("decided_by", "note"):
        if c in OPTIONAL[log]:
            out.append(f"{t(c)} AS {c}" if c in found else f"CAST(NULL AS VARCHAR) AS {c}")
    if log in HAS_SEGMENTS:
        present = [s for s in segments if s in found]
        if present:
            pairs = ", ".join(f"'{s}', {t(s)}" for s in present)
            out.append(f"CAST(json_object({pairs}) AS JSON) AS segments")
        else:
            out.append("CAST(NULL AS JSON) AS segments")
    problem_list = (
        "CASE WHEN _blank THEN [{'code': 'blank_row', 'text': 'blank row'}] ELSE"
        " list_filter([" + ", ".join(problems) + "], lambda x: x IS NOT NULL) END AS _problems"
    )
    out.append(problem_list)
    return (
        "SELECT " + ",\n  ".join(out) + "\nFROM (\n  SELECT *, COALESCE($timezone, _pt0.tz) AS _tz"
        " FROM (SELECT " + ",\n    ".join(inner) + " FROM _raw) AS _r\n"
        f"  LEFT JOIN (SELECT pid, tz FROM _points) AS _pt0 ON _pt0.pid = _r.{POINT_ID}\n) AS _x\n"
        f"LEFT JOIN (SELECT pid, label_set FROM _points) AS _pt ON _pt.pid = _x.{POINT_ID}\n"
        f"LEFT JOIN _labels AS _lab ON _lab.pid = _x.{POINT_ID}"
        f" AND _lab.spelling = lower({t(label_col)})"
    )
