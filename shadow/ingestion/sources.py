"""Finding input files and turning each (or a frame) into a DuckDB relation of raw rows, as read."""

from __future__ import annotations

import csv
import glob
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class Source:
    """One thing to load: a file on disk, or an in-memory frame handed to the Python API."""

    name: str  # what the user sees: the path, or "<frame>"
    format: str
    path: Path | None = None
    frame: Any = None  # a Polars DataFrame when the source is a frame

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
    for raw in paths:
        text = str(raw)
        path = Path(text)
        if any(ch in text for ch in "*?[") and not path.exists():
            matches = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
            if not matches:
                raise InvalidLog(f"No files match {text}", hint="check the pattern and quote it")
            found.extend(matches)
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
        sources.append(Source(name=str(path), format=kind, path=path))
    return sources


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
            f" FROM read_parquet({literal}, file_row_number = true)",
            {},
        )
    if source.format == "jsonl":
        # One text value per line; lines are parsed as JSON later so a broken one is quarantined.
        return (
            "SELECT line FROM read_csv($path, columns = {'line': 'VARCHAR'}, header = false,"
            " delim = $delim, quote = '', escape = '', auto_detect = false, strict_mode = false,"
            " store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan')",
            {"path": path, "delim": "\x01"},
        )
    delimiter, names = csv_header(source, mapping)
    return (
        "SELECT * FROM read_csv($path, columns = $columns, header = true, delim = $delim,"
        " quote = $quote, escape = $quote, encoding = $encoding, auto_detect = false,"
        " store_rejects = true, rejects_table = '_rejects', rejects_scan = '_rejects_scan')",
        {
            "path": path,
            "columns": {n: "VARCHAR" for n in names},
            "delim": delimiter,
            "quote": mapping.quote or '"',
            "encoding": mapping.encoding,
        },
    )
