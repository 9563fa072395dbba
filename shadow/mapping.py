"""Source mappings: how one system's export maps onto the data contract (columns, labels, time)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shadow.config import did_you_mean, load_toml, read_text
from shadow.errors import InvalidConfig

_TABLES = {
    "columns": "contract column = source column",
    "labels": "label = [spellings]",
    "timestamps": "timezone and formats",
    "csv": "delimiter and encoding",
    "defaults": "contract column = value, for columns the file does not have",
    "values": 'missing = spellings of an empty value, e.g. ["NA", "null"]',
}
_TIMESTAMP_KEYS = ("timezone", "formats")
_CSV_KEYS = ("delimiter", "encoding", "quote")
ENCODINGS = ("utf-8", "utf-16", "latin-1")


@dataclass(frozen=True)
class Mapping:
    """A parsed source mapping. The empty mapping means: the file already follows the contract."""

    columns: dict[str, str] = field(default_factory=dict)  # contract name -> source name
    # contract name -> source columns whose values are joined with "/" (a composite case id)
    combined: dict[str, tuple[str, ...]] = field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)  # label -> spellings
    timezone: str | None = None
    formats: tuple[str, ...] = ()
    delimiter: str | None = None
    encoding: str = "utf-8"
    quote: str | None = None
    defaults: dict[str, str] = field(default_factory=dict)  # contract name -> value for every row
    missing: tuple[str, ...] = ()  # spellings that mean "no value" (compared after trimming)
    text: str = ""

    @property
    def digest(self) -> str:
        """A hash of the mapping text: a re-load under a new mapping is a new load."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]


def parse_mapping(text: str, source: str = "<text>") -> Mapping:
    """Check a mapping's TOML text and return it, or raise InvalidConfig naming the problem."""
    data = load_toml(text, source)

    def fail(problem: str, hint: str | None = None) -> InvalidConfig:
        return InvalidConfig(f"{source}: {problem}", hint=hint)

    for key, value in data.items():
        if key not in _TABLES:
            raise fail(
                f"unknown table [{key}]" + did_you_mean(key, _TABLES, show="[{}]"),
                hint="a mapping has the tables "
                + ", ".join(f"[{k}] ({v})" for k, v in _TABLES.items()),
            )
        if not isinstance(value, dict):
            raise fail(f"[{key}] must be a table")

    columns: dict[str, str] = {}
    combined: dict[str, tuple[str, ...]] = {}
    for contract, src in data.get("columns", {}).items():
        if isinstance(src, list) and len(src) >= 2 and all(isinstance(x, str) and x for x in src):
            combined[contract] = tuple(src)  # e.g. case_id = ["site", "asset", "week"]
        elif isinstance(src, str) and src:
            columns[contract] = src
        else:
            raise fail(
                f"[columns] {contract} must name a source column (a string), or list two or more"
                " to join into one value"
            )
    sources = list(columns.values())
    doubled = {s for s in sources if sources.count(s) > 1}
    if doubled:
        raise fail(f"[columns] maps source column {sorted(doubled)[0]!r} twice")

    labels: dict[str, tuple[str, ...]] = {}
    seen: dict[str, str] = {}
    for label, spellings in data.get("labels", {}).items():
        if isinstance(spellings, str):
            spellings = [spellings]
        if not isinstance(spellings, list) or not all(isinstance(s, str | int) for s in spellings):
            raise fail(f'[labels] {label} must be a list of spellings, e.g. ["Y", "yes", "1"]')
        for spelling in spellings:
            folded = str(spelling).strip().lower()
            if folded in seen and seen[folded] != label:
                raise fail(
                    f"[labels] spelling {spelling!r} maps to both {seen[folded]!r} and {label!r}"
                )
            seen[folded] = label
        labels[label] = tuple(str(s) for s in spellings)

    stamps = data.get("timestamps", {})
    for key in stamps:
        if key not in _TIMESTAMP_KEYS:
            raise fail(f"unknown key {key!r} in [timestamps]", hint="use timezone and formats")
    timezone = stamps.get("timezone")
    if timezone is not None:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError) as e:
            raise fail(
                f"unknown timezone {timezone!r}", hint='use an IANA name such as "Europe/Berlin"'
            ) from e
    formats = stamps.get("formats", [])
    if isinstance(formats, str):
        formats = [formats]
    if not isinstance(formats, list) or not all(isinstance(f, str) and "%" in f for f in formats):
        raise fail('[timestamps] formats must be strptime patterns, e.g. "%d/%m/%Y %H:%M"')

    csv = data.get("csv", {})
    for key in csv:
        if key not in _CSV_KEYS:
            raise fail(f"unknown key {key!r} in [csv]", hint="use " + ", ".join(_CSV_KEYS))
    delimiter = csv.get("delimiter")
    if delimiter is not None and (not isinstance(delimiter, str) or len(delimiter) != 1):
        raise fail('[csv] delimiter must be one character, e.g. ";"')
    encoding = str(csv.get("encoding", "utf-8")).lower().replace("_", "-")
    encoding = {
        "utf8": "utf-8",
        "latin1": "latin-1",
        "iso-8859-1": "latin-1",
        "utf16": "utf-16",
    }.get(encoding, encoding)
    if encoding not in ENCODINGS:
        raise fail(f"[csv] encoding {encoding!r} is not one of {', '.join(ENCODINGS)}")
    quote = csv.get("quote")
    if quote is not None and (not isinstance(quote, str) or len(quote) != 1):
        raise fail("[csv] quote must be one character")

    defaults = {}
    for column, value in data.get("defaults", {}).items():
        if not isinstance(value, str | int | float) or isinstance(value, bool) or value == "":
            raise fail(f"[defaults] {column} must be a non-empty string or number")
        defaults[column] = str(value)

    values = data.get("values", {})
    for key in values:
        if key != "missing":
            raise fail(f"unknown key {key!r} in [values]", hint='use missing = ["NA", "null"]')
    missing = values.get("missing", [])
    if isinstance(missing, str):
        missing = [missing]
    if not isinstance(missing, list) or not all(isinstance(m, str) and m.strip() for m in missing):
        raise fail('[values] missing must be a list of spellings, e.g. ["NA", "null"]')

    return Mapping(
        missing=tuple(m.strip() for m in missing),
        columns=columns,
        combined=combined,
        defaults=defaults,
        labels=labels,
        timezone=timezone,
        formats=tuple(formats),
        delimiter=delimiter,
        encoding=encoding,
        quote=quote,
        text=text,
    )


def read_mapping(path: Path | str | None) -> Mapping:
    """The mapping in the TOML file at `path`; the empty mapping if `path` is None."""
    if path is None:
        return Mapping()
    return parse_mapping(read_text(Path(path), "mapping"), str(path))
