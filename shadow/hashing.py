"""The content hash of published tables: over their values, whatever the order of their rows.

For each table, the SHA-256 of its column names and of its rows, each row written as one line of
JSON and the lines sorted; for a set of tables, the SHA-256 of their sorted names and hashes. It
is over values, not over the bytes of a file, so the same numbers give the same hash whichever
file, process or row order they come from. A big table can be hashed a week at a time (its rows
by the week of a time column; chunked_table_hash), so that a daily publish hashes only the weeks
that changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import polars as pl
import pyarrow as pa


def table_hash(frame: pl.DataFrame) -> str:
    """SHA-256 of a frame's column names and rows, whatever the order of the rows.

    Each row becomes one line of JSON (floats as text, so NaN and null differ, though inside lists
    and structs NaN is written as null; binary as hex). The lines are sorted and hashed after a
    first line naming the columns in order. Types do not enter the hash, values do: 1 and 1.0
    differ, an Int32 and an Int64 holding 1 do not.
    """
    digest = hashlib.sha256()
    digest.update(("\x1f".join(frame.columns) + "\n").encode())
    if frame.width == 0 or frame.height == 0:
        return digest.hexdigest()
    # every line followed by a newline (a JSON object is never the start of another, so the
    # newline changes no line's place in the order), sorted, and hashed straight from Arrow's
    # buffer of the values (one contiguous run of UTF-8 bytes, in row order) without building
    # Python strings
    row = pl.struct([_canonical(name, dtype) for name, dtype in frame.schema.items()])
    lines = frame.select(pl.concat_str(row.struct.json_encode(), pl.lit("\n"))).to_series()
    text = lines.sort().rechunk().to_arrow()
    if text.type != pa.large_string():
        text = text.cast(pa.large_string())
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int64)
    first, last = offsets[text.offset], offsets[text.offset + len(text)]
    digest.update(memoryview(text.buffers()[2])[first:last])
    return digest.hexdigest()


def content_hash(table_hashes: Mapping[str, str]) -> str:
    """SHA-256 over every table's name and `table_hash`, whatever the order of the tables."""
    lines = sorted(f"{name}\x1f{value}" for name, value in table_hashes.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def _canonical(name: str, dtype: pl.DataType) -> pl.Expr:
    column = pl.col(name)
    if dtype.is_float():
        return column.cast(pl.String)
    if dtype == pl.Binary:
        return column.bin.encode("hex")
    return column


def week_chunk(column: str, dtype: pl.DataType) -> pl.Expr:
    """The chunk a row of a chunked table falls in: the Monday (UTC) of its `column`'s week."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        return pl.col(column).dt.convert_time_zone("UTC").dt.date().dt.truncate("1w")
    return pl.col(column).dt.date().dt.truncate("1w")


def chunk_hashes(frame: pl.DataFrame, column: str) -> dict[str, tuple[int, str]]:
    """Each week's rows (week_chunk of `column`), by the week's Monday: how many, and their
    `table_hash`."""
    keyed = frame.with_columns(week_chunk(column, frame.schema[column]).alias("_chunk"))
    weeks = keyed.partition_by("_chunk", as_dict=True)
    return {
        key.isoformat(): (rows.height, table_hash(rows.drop("_chunk")))
        for (key,), rows in weeks.items()
    }


def chunked_table_hash(columns: list[str], chunks: Mapping[str, tuple[int, str]]) -> str:
    """The hash of a table published in weekly chunks: SHA-256 of its column names, then of a
    line per chunk (its Monday and its `table_hash`), sorted. The same rows give the same hash
    however they are read; a publish that changes some weeks hashes only those."""
    digest = hashlib.sha256()
    digest.update(("\x1f".join(columns) + "\n").encode())
    for line in sorted(f"{week}\x1f{value}\n" for week, (_, value) in chunks.items()):
        digest.update(line.encode())
    return digest.hexdigest()
