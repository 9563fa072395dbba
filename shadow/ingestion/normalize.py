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
# How many columns one term of the blank-row check covers (see typed_select).
BLANK_CHUNK = 100
_ISO_DATE = r"^\d{4}-\d{2}-\d{2}"
# A time of day followed by a UTC offset or Z: "10:00+01", "10:00:00.5 +01:00", "07:00Z".
_OFFSET = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$"


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


def _text(column: str, typ: str, *, missing: bool = False) -> str:
    """The trimmed text of a value; NULL when empty (or one of the mapping's $missing spellings)."""
    text = f"trim({column})" if typ == "VARCHAR" else f"trim(CAST({column} AS VARCHAR))"
    if missing:
        return f"CASE WHEN list_contains($missing, {text}) THEN NULL ELSE NULLIF({text}, '') END"
    return f"NULLIF({text}, '')"


_NUMERIC = (
    "DOUBLE",
    "FLOAT",
    "REAL",
    "INTEGER",
    "BIGINT",
    "SMALLINT",
    "TINYINT",
    "HUGEINT",
    "UBIGINT",
    "UINTEGER",
    "USMALLINT",
    "UTINYINT",
    "DECIMAL",
)


def _timestamp(text: str, column: str, typ: str, tz: str, *, formats: bool) -> str:
    """A TIMESTAMPTZ expression; naive values are read in the zone `tz` (an SQL expression)."""
    if typ == "TIMESTAMP WITH TIME ZONE":
        return column
    if typ.startswith("TIMESTAMP") or typ == "DATE":
        return f"timezone({tz}, CAST({column} AS TIMESTAMP))"
    # DuckDB's cast wants the offset glued on and an upper-case Z; tidy only values that need it.
    tidied = (
        f"regexp_replace(regexp_replace({text}, '\\s*[Zz]$', '+00'),"
        f" '\\s+([+-]\\d{{2}}(:?\\d{{2}})?)$', '\\1')"
    )
    aware = f"COALESCE(TRY_CAST({text} AS TIMESTAMPTZ), TRY_CAST({tidied} AS TIMESTAMPTZ))"
    # Only ISO 8601 (year first, with dashes) without a mapping format: DuckDB's own cast would
    # also take 2025/01/15, and the rule we state is simpler than the one it has.
    naive = f"CASE WHEN _iso THEN TRY_CAST({text} AS TIMESTAMP) END"
    if formats:
        naive = f"COALESCE({naive}, try_strptime({text}, $naive_formats))"
    parsed = f"CASE WHEN _has_offset THEN {aware} ELSE timezone({tz}, {naive}) END"
    if formats:
        parsed = f"COALESCE({parsed}, try_strptime({text}, $aware_formats))"
    return parsed


def _has_offset(text: str, typ: str) -> str:
    """True where the timestamp carries a UTC offset (or Z), so no timezone has to be assumed."""
    if typ == "TIMESTAMP WITH TIME ZONE":
        return "true"
    if typ.startswith("TIMESTAMP") or typ == "DATE":
        return "false"
    return f"(_iso AND COALESCE(regexp_matches({text}, '{_OFFSET}'), false))"


def _problem(code: str, text: str) -> str:
    """A {code, text} struct literal; `text` is an SQL string expression."""
    return f"{{'code': '{code}', 'text': {text}}}"


def _quoted(expr: str) -> str:
    """SQL for the value of `expr` in single quotes, as shown in a reason: 'maybe'."""
    return f"'''' || {expr} || ''''"


def typed_select(
    log: str,
    found: dict[str, str],
    types: dict[str, str],
    raw: list[str],
    mapping: Mapping,
    segments: list[str],
    row_number: str = "rowid + 1",
) -> str:
    """SELECT (from _raw) of the contract columns, typed, plus `_problems`: (code, text) structs.

    Three levels, so each value is computed once: (1) text values and the row's decision point,
    (2) typed values, with the point's timezone and label spellings joined in, (3) the output and
    the list of problems, built only for rows that have one.
    """
    time_col, label_col = TIME[log], LABEL[log]
    time_type = types[found[time_col]]

    def t(c: str) -> str:
        return quote("_t_" + c)

    # Level 1: text values, and the decision point of each row.
    nulls = bool(mapping.missing)
    point = (
        _text(quote(found[POINT_ID]), types[found[POINT_ID]], missing=nulls)
        if POINT_ID in found
        else "NULL"
    )
    # A row is blank when every column is: checked BLANK_CHUNK columns to a term, and the terms
    # joined a level up. (One AND over thousands of columns takes DuckDB time that grows with the
    # square of the columns: 50 s for a file of 8,000.)
    empty = [f"{_text(quote(c), types[c], missing=nulls)} IS NULL" for c in raw]
    chunks = [empty[i : i + BLANK_CHUNK] for i in range(0, len(empty), BLANK_CHUNK)]
    level1 = [
        f"{row_number} AS _row",
        f"COALESCE({point}, $default_point) AS {POINT_ID}",
        f"({point} IS NULL AND $default_point IS NULL) AS _no_point",
        f"{quote(found[time_col])} AS _time_raw",
        *(f"({' AND '.join(chunk)}) AS _blank_{i}" for i, chunk in enumerate(chunks)),
    ]
    blank = " AND ".join(f"_blank_{i}" for i in range(len(chunks))) or "false"
    for c, src in found.items():
        if c != POINT_ID:
            level1.append(f"{_text(quote(src), types[src], missing=nulls)} AS {t(c)}")
    score_numeric = "score" in found and types[found["score"]].startswith(_NUMERIC)
    if score_numeric:
        level1.append(f"CAST({quote(found['score'])} AS DOUBLE) AS _score_typed")
    if "explanation" in found:
        if types[found["explanation"]] in ("VARCHAR", "JSON"):
            level1.append(f"{t('explanation')} AS _expl_text")
        else:  # a struct or map in Parquet
            src = quote(found["explanation"])
            level1.append(f"NULLIF(CAST(to_json({src}) AS VARCHAR), 'null') AS _expl_text")

    # Level 2: typed values.
    level2 = [
        "_l1.*",
        f"({blank}) AS _blank",
        f"COALESCE(regexp_matches({t(time_col)}, '{_ISO_DATE}'), false) AS _iso",
        f"{_has_offset(t(time_col), time_type)} AS _has_offset",
        "_pt.pid IS NOT NULL AS _point_known",
        "_pt.label_set AS _label_set",
        "COALESCE($timezone, _pt.tz) AS _tz",  # the zone of naive timestamps in this row
        "_lab.label AS _label",
    ]
    has_formats = bool(mapping.formats)
    level3_in = [
        f"{_timestamp(t(time_col), '_time_raw', time_type, '_tz', formats=has_formats)} AS _ts"
    ]
    if "score" in found:
        level3_in.append(
            "_score_typed AS _score"
            if score_numeric
            else f"TRY_CAST({t('score')} AS DOUBLE) AS _score"
        )
    if "explanation" in found:
        level3_in.append(
            "CASE WHEN json_valid(_expl_text) THEN json_type(_expl_text) = 'OBJECT' ELSE false END"
            " AS _expl_ok"
        )

    # Level 3: the output columns, and each problem as (condition for a fine row, problem).
    out = [
        "_row",
        POINT_ID,
        f"{t(CASE_ID)} AS {CASE_ID}",
        f"_ts AS {time_col}",
        f"_label AS {label_col}",
        f"(NOT _has_offset AND {t(time_col)} IS NOT NULL) AS _naive_time",
    ]
    text_of = {c: t(c) for c in found}
    checks = [
        ("NOT _no_point", _problem("missing_point", "'missing point_id'")),
        (
            "_no_point OR _point_known",
            _problem("unknown_point", f"'unknown decision point ' || {_quoted(POINT_ID)}"),
        ),
        (f"{t(CASE_ID)} IS NOT NULL", _problem("missing_case_id", f"'missing {CASE_ID}'")),
    ]
    fine = [ok for ok, _ in checks]
    problems = [f"CASE WHEN NOT ({ok}) THEN {problem} END" for ok, problem in checks]
    problems.append(
        f"CASE WHEN {text_of[time_col]} IS NULL THEN {_problem('missing_timestamp', repr('missing ' + time_col))}"
        f" WHEN _ts IS NULL AND _point_known THEN "
        + _problem(
            "unparseable_timestamp",
            f"'unparseable timestamp ' || {_quoted(text_of[time_col])} || ' ({time_col})'",
        )
        + " WHEN _ts > $latest THEN "
        + _problem(
            "future_timestamp",
            f"'timestamp ' || strftime(_ts, '%Y-%m-%d %H:%M:%S') || ' UTC is in the future ({time_col})'",
        )
        + " END"
    )
    fine.append("(_ts IS NOT NULL AND _ts <= $latest)")
    problems.append(
        f"CASE WHEN {text_of[label_col]} IS NULL THEN {_problem('missing_label', repr('missing ' + label_col))}"
        " WHEN _label IS NULL AND _point_known THEN "
        + _problem(
            "unknown_label",
            f"'label ' || {_quoted(text_of[label_col])} || ' not in label set (' || _label_set || ')'",
        )
        + " END"
    )
    fine.append("_label IS NOT NULL")
    if log == "predictions":
        out.append(
            f"{t('model')} AS model" if "model" in found else "CAST(NULL AS VARCHAR) AS model"
        )
        out.append(f"{t('model_version')} AS model_version")
        problems.append(
            f"CASE WHEN {t('model_version')} IS NULL THEN "
            + _problem("missing_model_version", "'missing model_version'")
            + " END"
        )
        fine.append(f"{t('model_version')} IS NOT NULL")
        if "score" in found:
            score = t("score")
            out.append("_score AS score")
            problems.append(
                f"CASE WHEN {score} IS NOT NULL AND _score IS NULL THEN "
                + _problem(
                    "unparseable_score", f"'score ' || {_quoted(score)} || ' is not a number'"
                )
                + " WHEN isnan(_score) THEN "
                + _problem("score_not_a_number", f"'score ' || {score} || ' is not a number'")
                + " WHEN _score < 0 OR _score > 1 THEN "
                + _problem("score_out_of_range", f"'score ' || {score} || ' outside 0..1'")
                + " END"
            )
            fine.append("(_score IS NULL OR _score BETWEEN 0 AND 1)")
            fine.append(f"NOT ({score} IS NOT NULL AND _score IS NULL)")
        else:
            out.append("CAST(NULL AS DOUBLE) AS score")
        if "explanation" in found:
            out.append("CASE WHEN _expl_ok THEN json(_expl_text) END AS explanation")
            problems.append(
                "CASE WHEN _expl_text IS NOT NULL AND NOT _expl_ok THEN "
                + _problem(
                    "invalid_explanation",
                    "'explanation is not a JSON object (feature -> contribution)'",
                )
                + " END"
            )
            fine.append("(_expl_text IS NULL OR _expl_ok)")
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
    out.append(
        "CASE WHEN _blank THEN [" + _problem("blank_row", "'blank row'") + "]"
        f" WHEN {' AND '.join(fine)} THEN []"
        " ELSE list_filter([" + ", ".join(problems) + "], lambda x: x IS NOT NULL) END AS _problems"
    )
    return (
        "SELECT " + ",\n  ".join(out) + "\nFROM (\n"
        "  SELECT " + ", ".join(level3_in) + ", *\n"
        "  FROM (\n"
        "    SELECT " + ", ".join(level2) + "\n"
        "    FROM (SELECT " + ",\n      ".join(level1) + " FROM _raw) AS _l1\n"
        f"    LEFT JOIN _points AS _pt ON _pt.pid = _l1.{POINT_ID}\n"
        f"    LEFT JOIN _labels AS _lab ON _lab.pid = _l1.{POINT_ID}"
        f" AND _lab.spelling = lower(_l1.{t(label_col)})\n"
        "  ) AS _l2\n) AS _l3"
    )
