"""The cases to score: read from a file, and the time each one was scored."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from shadow.columns import CASE_ID, PREDICTIONS, TIME
from shadow.errors import InvalidLog, ShadowError
from shadow.ingestion.sources import csv_header, expand
from shadow.mapping import Mapping
from shadow.points import DecisionPoint
from shadow.runner.model import first_line

PREDICTED_AT = TIME[PREDICTIONS]
# A time of day followed by a UTC offset or Z ("07:00+01", "07:00:00.5 +01:00", "07:00Z").
_OFFSET = r"\d:\d{2}(:\d{2}(\.\d+)?)?\s*([Zz]|[+-]\d{2}(:?\d{2})?)$"


def scored_at(cases: pl.DataFrame, point: DecisionPoint, default: datetime | None) -> pl.Expr:
    """When each case was scored: its own predicted_at (naive = the point's timezone), else `default`."""
    if PREDICTED_AT not in cases.columns:
        when = default or datetime.now(UTC)
        if when.tzinfo is None:
            raise ShadowError("predicted_at must be timezone-aware", hint="e.g. datetime.now(UTC)")
        return pl.lit(when.astimezone(UTC)).cast(pl.Datetime("us", "UTC"))
    column = cases.get_column(PREDICTED_AT)
    if column.dtype == pl.String:
        parsed = _parse_times(column, point.timezone)
    elif isinstance(column.dtype, pl.Date | pl.Datetime):
        zone = column.dtype.time_zone if isinstance(column.dtype, pl.Datetime) else None
        parsed = column.cast(pl.Datetime("us", zone))
        if zone is None:
            parsed = parsed.dt.replace_time_zone(
                point.timezone, ambiguous="earliest", non_existent="null"
            )
        parsed = parsed.dt.convert_time_zone("UTC")
    else:
        raise InvalidLog(
            f"The cases' {PREDICTED_AT} column holds {column.dtype}, not timestamps",
            hint="use ISO 8601 text such as 2026-03-02T07:00:00+01:00, or drop the column",
        )
    bad = column.is_not_null() & parsed.is_null()
    if bad.any():
        row = int(bad.arg_true()[0])
        raise InvalidLog(
            f"The cases' {PREDICTED_AT} {column[row]!r} (row {row + 1}) is not a timestamp",
            hint="use ISO 8601, e.g. 2026-03-02 07:00 or 2026-03-02T07:00:00+01:00; or drop the"
            " column to log the time of scoring",
        )
    return pl.lit(parsed)


def _parse_times(text: pl.Series, timezone: str) -> pl.Series:
    """ISO 8601 text as UTC timestamps: with an offset as given, without one in `timezone`."""
    frame = pl.DataFrame({"t": text.str.strip_chars()})
    has_offset = pl.col("t").str.contains(_OFFSET)
    aware = (
        pl.when(has_offset)
        .then(pl.col("t"))
        .str.to_datetime(strict=False, time_zone="UTC", time_unit="us")
    )
    naive = (
        pl.when(~has_offset)
        .then(pl.col("t"))
        .str.to_datetime(strict=False, time_unit="us")
        .dt.replace_time_zone(timezone, ambiguous="earliest", non_existent="null")
        .dt.convert_time_zone("UTC")
    )
    return frame.select(pl.coalesce(aware, naive)).to_series()


def read_cases(path: str | Path, point: DecisionPoint) -> pl.DataFrame:
    """The cases file (CSV, Parquet or JSON Lines by extension) as a frame; ids and segments as text."""
    sources = expand([path])
    if len(sources) != 1:
        raise InvalidLog(f"{path} holds {len(sources)} files", hint="score one file at a time")
    source = sources[0]
    text = [CASE_ID, PREDICTED_AT, *point.segment_columns]
    try:
        if source.format == "csv":
            delimiter, names = csv_header(source, Mapping())
            frame = pl.read_csv(
                source.path,  # type: ignore[arg-type]
                separator=delimiter,
                schema_overrides={c: pl.String for c in text if c in names},
                infer_schema_length=10_000,
            )
        elif source.format == "parquet":
            frame = pl.read_parquet(source.path)  # type: ignore[arg-type]
        else:
            frame = pl.read_ndjson(source.path, infer_schema_length=10_000)  # type: ignore[arg-type]
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InvalidLog(
            f"Cannot read {source.name}: {first_line(e)}",
            hint="check that the file is complete and each column holds one kind of value",
        ) from e
    if frame.height == 0:
        raise InvalidLog(f"{source.name} has no cases", hint="check that the export wrote any rows")
    return frame.with_columns(
        pl.col(c).cast(pl.String) for c in (CASE_ID, *point.segment_columns) if c in frame.columns
    )
