"""The content hash of published tables: over their values, whatever the order of their rows.

For each table, the SHA-256 of its column names and of its rows, each row written as one line of
JSON and the lines sorted; for a set of tables, the SHA-256 of their sorted names and hashes. It
is over values, not over the bytes of a file, so the same numbers give the same hash whichever
file, process or row order they come from.
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
    lines = frame.select(
        pl.struct([_canonical(name, dtype) for name, dtype in frame.schema.items()])
        .struct.json_encode()
        .alias("line")
    ).to_series()
    # every line followed by a newline, hashed straight from Arrow's buffer of the values (one
    # contiguous run of UTF-8 bytes, in row order) without building Python strings
    text = (lines.sort() + "\n").rechunk().to_arrow()
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
