"""Finding input files and turning each (or a frame) into a DuckDB relation of raw rows, as read."""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from shadow.errors import InvalidLog
from shadow.mapping import Mapping

FORMATS = ("csv", "parquet", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}
_DELIMITERS = (",", ";", "\t", "|")
_MAX_HEADER = 16 << 20  # bytes: a first line longer than this is no header
# Hive partition folders: key=value, the value URL-encoded; Spark and Hive write a null as this
_PARTITION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


@dataclass(frozen=True)
class Partition:
    """One key=value folder of a Hive-partitioned lake, as a column of every row below it.

    `sql_type` is DATE for an ISO date (2026-01-05), TIMESTAMP for an ISO date and time without
    offset, else VARCHAR (the value as written: site=007 stays '007'). `problem` says why a value
    that looks like a date or time is read as text (date=2026-02-30).
    """

    key: str
    value: str | None  # None: the Hive null partition
    sql_type: str = "VARCHAR"
    problem: str | None = None

    def literal(self) -> str:
        """The value as an SQL literal of its type (DDL and views take no parameters)."""
        if self.value is None:
            return f"CAST(NULL AS {self.sql_type})"
        text = "'" + self.value.replace("'", "''") + "'"
        return text if self.sql_type == "VARCHAR" else f"{self.sql_type} {text}"


def partitions_of(path: Path) -> tuple[Partition, ...]:
    """The Hive partitions of a file: the key=value folders directly above it, outermost first.

    Only the run of key=value folders next to the file counts (lake/predictions/date=2026-01-05/
    part-0.parquet has `date`; a /data/env=prod/ folder above `predictions/` does not).
    """
    found: list[Partition] = []
    for part in reversed(path.parent.parts):
        match = _PARTITION.match(part)
        if match is None:
            break
        key, raw = match.group(1), unquote(match.group(2))
        found.append(_typed_partition(key, None if raw == _NULL_PARTITION else raw))
    keys = [p.key.lower() for p in found]
    doubled = sorted({k for k in keys if keys.count(k) > 1})
    if doubled:
        raise InvalidLog(
            f"{path}: the partition key {doubled[0]!r} appears twice in its folders",
            hint="each key=value folder level of a lake must name a different key",
        )
    return tuple(reversed(found))


def _typed_partition(key: str, value: str | None) -> Partition:
    if value is None or not value.strip():
        return Partition(key, None)
    text = value.strip()
    kind, parse = (
        ("DATE", date.fromisoformat)
        if _DATE.match(text)
        else ("TIMESTAMP", datetime.fromisoformat)
        if _TIMESTAMP.match(text)
        else (None, None)
    )
    if kind is None or parse is None:
        return Partition(key, value)
    try:
        parse(text)
    except ValueError:
        what = "date" if kind == "DATE" else "date and time"
        return Partition(
            key,
            value,
            problem=f"the partition value {key}={value} is not a valid {what}; it was read as text",
        )
    return Partition(key, text, kind)


@dataclass(frozen=True)
class Source:
    """One thing to load: a file on disk, or an in-memory frame handed to the Python API."""

    name: str  # what the user sees: the path, or "<frame>"
    format: str
    path: Path | None = None
    frame: Any = None  # a Polars DataFrame when the source is a frame
    partitions: tuple[Partition, ...] = ()  # a file in a Hive-partitioned folder: its key=values

    def content_hash(self) -> str:
        """SHA-256 of the file's bytes (or of the frame's Arrow IPC bytes)."""
        if self.path is not None:
            with self.path.open("rb") as f:
                return hashlib.file_digest(f, "sha256").hexdigest()
        buffer = io.BytesIO()
        self.frame.write_ipc(buffer)
        return hashlib.sha256(buffer.getvalue()).hexdigest()


def expand(paths: list[str | Path], fmt: str | None = None) -> list[Source]:
    """Sources for the given files, folders and glob patterns, in a stable (sorted) order."""
    if fmt is not None and fmt not in FORMATS:
        raise InvalidLog(f"Unknown format {fmt!r}", hint="use --format csv, parquet or jsonl")
    found: list[Path] = []
    groups: list[list[Path]] = []  # the files of each folder or pattern
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if any(ch in text for ch in "*?[") and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise InvalidLog(f"No files match {text}", hint="check the pattern and quote it")
            found.extend(matches)
            groups.append(matches)
        elif path.is_dir():
            inside = sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _EXTENSIONS
            )
            if not inside:
                raise InvalidLog(
                    f"No CSV, Parquet or JSON Lines files in the folder {path}",
                    hint="the extensions read are " + ", ".join(sorted(_EXTENSIONS)),
                )
            found.extend(inside)
            groups.append(inside)
        elif not path.exists():
            raise InvalidLog(
                f"No such file: {path}", hint="check the path (and the current folder)"
            )
        else:
            found.append(path)
    sources = []
    for path in found:
        kind = fmt or _EXTENSIONS.get(path.suffix.lower())
        if kind is None:
            raise InvalidLog(
                f"Cannot tell the format of {path} from its extension {path.suffix or '(none)'!r}",
                hint="name it .csv, .parquet or .jsonl, or pass --format csv|parquet|jsonl",
            )
        sources.append(
            Source(name=str(path), format=kind, path=path, partitions=partitions_of(path))
        )
    by_path = {s.path: s for s in sources}
    for group in groups:
        _check_layout([by_path[p] for p in group])
    return sources


def _check_layout(sources: list[Source]) -> None:
    """Refuse a folder or pattern whose partition folders name different keys (date= and day=).

    Each file is its own load, so files may differ in their columns; but a lake whose folders
    disagree on the partition keys is usually two lakes, or a file in the wrong place.
    """
    layouts: dict[tuple[str, ...], Source] = {}
    for source in sources:
        layouts.setdefault(tuple(p.key for p in source.partitions), source)
    if len(layouts) > 1:
        (a, first), (b, second) = list(layouts.items())[:2]

        def show(keys: tuple[str, ...]) -> str:
            return "/".join(f"{k}=..." for k in keys) or "no partition folders"

        raise InvalidLog(
            f"The files given mix partition layouts: {first.name} is under {show(a)},"
            f" {second.name} under {show(b)}",
            hint="give each partition layout its own load (one folder or pattern each);"
            " nothing was loaded",
        )


def from_frame(frame: Any) -> Source:
    """A source for a Polars or pandas DataFrame."""
    import polars as pl

    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if not isinstance(frame, pl.DataFrame):
        is_pandas = type(frame).__module__.startswith("pandas")
        try:
            frame = pl.from_pandas(frame)
        except (TypeError, ValueError) as e:
            if is_pandas:  # e.g. a column mixing numbers and text
                raise InvalidLog(
                    f"Cannot read the pandas DataFrame: {e}",
                    hint="give each column one type, e.g. df['note'] = df['note'].astype(str)",
                ) from e
            raise InvalidLog(
                f"Cannot load an object of type {type(frame).__name__}",
                hint="pass a file path, a Polars DataFrame or a pandas DataFrame",
            ) from e
    for name, dtype in frame.schema.items():
        if "Object" in str(dtype):  # cannot be hashed (written as Arrow) nor read by DuckDB
            raise InvalidLog(
                f"The frame's column {name!r} holds Python objects, which cannot be loaded",
                hint=f"convert it to text or numbers first, e.g. pl.col({name!r}).cast(pl.String)",
            )
    casts = {n: _loadable(d) for n, d in frame.schema.items() if _loadable(d) != d}
    if casts:
        frame = frame.cast(casts)
    return Source(name="<frame>", format="frame", frame=frame)


def _loadable(dtype: Any) -> Any:
    """`dtype`, or the nearest type DuckDB reads through Arrow (no float16, no 128-bit integers).

    128-bit integers become text, as a CSV's would be; half floats become 32-bit floats.
    """
    import polars as pl

    if dtype == pl.Float16:
        return pl.Float32
    if dtype in (pl.Int128, pl.UInt128):
        return pl.String
    if isinstance(dtype, pl.List):
        return pl.List(_loadable(dtype.inner))
    if isinstance(dtype, pl.Array):
        return pl.Array(_loadable(dtype.inner), dtype.shape)
    if isinstance(dtype, pl.Struct):
        return pl.Struct({f.name: _loadable(f.dtype) for f in dtype.fields})
    return dtype


def csv_header(source: Source, mapping: Mapping) -> tuple[str, list[str]]:
    """The delimiter and the column names of a CSV file, checked for the usual ways files go wrong."""
    assert source.path is not None
    with source.path.open("rb") as f:
        head = f.read(1 << 16)
        # a header longer than the first read (thousands of columns): read on to its end, or a
        # name cut in two reads as a wrong (or empty) column name
        while not _ends_a_line(head) and len(head) < _MAX_HEADER:
            more = f.read(1 << 20)
            if not more:
                break
            head += more
        complete = len(f.read(1)) == 0
    if not head.strip():
        raise InvalidLog(f"{source.name} is empty", hint="check that the export wrote any rows")
    if not _ends_a_line(head) and not complete:
        raise InvalidLog(
            f"{source.name}: the first line is longer than {_MAX_HEADER >> 20} MB, so it is no header",
            hint="check that the file is a CSV export with the column names on its first line",
        )
    if mapping.encoding == "utf-8" and head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidLog(
            f"{source.name} is UTF-16 text (it starts with a UTF-16 byte order mark)",
            hint='add [csv] encoding = "utf-16" to the mapping file; or re-save it as UTF-8',
        )
    encoding = {"utf-8": "utf-8-sig", "latin-1": "latin-1", "utf-16": "utf-16"}[mapping.encoding]
    try:
        text = head.decode(encoding)
    except UnicodeDecodeError as e:
        if complete or e.start < len(head) - 4:  # not a character cut by our read
            line = head[: e.start].count(b"\n") + 1
            raise InvalidLog(
                f"{source.name} is not UTF-8 text (byte 0x{head[e.start]:02x} on line {line})",
                hint='if it was saved as Latin-1 / Windows-1252, add [csv] encoding = "latin-1"'
                " to the mapping file; or re-save it as UTF-8",
            ) from e
        text = head[: e.start].decode(encoding)
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = mapping.delimiter or max(_DELIMITERS, key=first.count)
    if first.count(delimiter) == 0:
        delimiter = mapping.delimiter or ","
    names = next(csv.reader([first], delimiter=delimiter, quotechar=mapping.quote or '"'))
    names = [n.strip() for n in names]
    blank = [i + 1 for i, n in enumerate(names) if not n]
    if blank:
        raise InvalidLog(
            f"{source.name}: the header has an empty column name (column {blank[0]})",
            hint="give every column a name in the first line of the file",
        )
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise InvalidLog(
            f"{source.name}: the header names the column {doubled[0]!r} twice",
            hint="rename one of them so every column name is unique",
        )
    return delimiter, names


def _ends_a_line(head: bytes) -> bool:
    return b"\n" in head or b"\r" in head


def reader_sql(source: Source, mapping: Mapping) -> tuple[str, dict[str, Any]]:
    """A SELECT over the raw rows of `source`, with its parameters. CSV values stay text."""
    if source.format == "frame":
        return "SELECT * FROM _frame", {}
    path = str(source.path)
    if source.format == "parquet":
        # Parquet is read in place (a view, which takes no $parameters: the path is a quoted
        # literal); file_row_number numbers the rows, since a view has no rowid.
        literal = "'" + path.replace("'", "''") + "'"
        return (
            "SELECT * EXCLUDE (file_row_number), file_row_number + 1 AS __row"
            f" FROM read_parquet({literal}, file_row_number = true, hive_partitioning = false)",
            {},
        )
    if source.format == "jsonl":
        # One text value per line; lines are parsed as JSON later so a broken one is quarantined.
        return (
            "SELECT line FROM read_csv($path, columns = {'line': 'VARCHAR'}, header = false,"
            " delim = $delim, quote = '', escape = '', auto_detect = false, strict_mode = false,"
            " hive_partitioning = false,"
            " store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan')",
            {"path": path, "delim": "\x01"},
        )
    delimiter, names = csv_header(source, mapping)
    return (
        "SELECT * FROM read_csv($path, columns = $columns, header = true, delim = $delim,"
        " quote = $quote, escape = $quote, encoding = $encoding, auto_detect = false,"
        " hive_partitioning = false,"
        " store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan')",
        {
            "path": path,
            "columns": {n: "VARCHAR" for n in names},
            "delim": delimiter,
            "quote": mapping.quote or '"',
            "encoding": mapping.encoding,
        },
    )
