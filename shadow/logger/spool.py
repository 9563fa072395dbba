"""The spool: buffered calls as JSON Lines files beside the store, written atomically, merged, counted.

A spool file is an ordinary predictions, decisions or outcomes file whose rows carry point_id, so
`shadow ingest predictions <spool>/predictions/` loads it by hand just as the logger does.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from shadow.columns import (
    CASE_ID,
    DECISIONS,
    LABEL,
    LOGS,
    OUTCOMES,
    POINT_ID,
    PREDICTIONS,
    REQUIRED,
    TIME,
    known_columns,
)

# A buffered call is a tuple: (log, time_ns, case_id, label, at, segments, *FIELDS[log]).
FIELDS = {
    PREDICTIONS: ("model_version", "score", "explanation", "model"),
    DECISIONS: ("decided_by", "note"),
    OUTCOMES: ("note",),
}
# Names a segment keyword may not take: they are the contract's own columns.
RESERVED = {c for name in LOGS for c in known_columns(name)} | {"segments", "load_id", "source_row"}
# Values the loader checks strictly: one that JSON cannot hold is sent as text that fails the
# check, so the row reaches the store's quarantine with its reason instead of vanishing.
_CHECKED = {"score", "explanation", *LABEL.values()}

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SEQUENCE = itertools.count()

Report = Callable[[str, dict[str, Any], str | None], None]  # (what, record, key once-only)


def record(item: tuple[Any, ...]) -> dict[str, Any]:
    """The contract columns of a buffered call (segments left out); `at` defaults to the call time."""
    name, t_ns, case_id, label, at = item[:5]
    if at is None:
        at = (_EPOCH + timedelta(microseconds=t_ns // 1000)).isoformat()
    values = {CASE_ID: case_id, TIME[name]: at, LABEL[name]: label}
    values.update(zip(FIELDS[name], item[6:], strict=True))
    return values


def to_line(point: str, item: tuple[Any, ...], report: Report) -> str | None:
    """The JSON line for a buffered call, or None when it cannot be written (then `report` says why)."""
    name, segments = item[0], item[5]
    values = record(item)
    row: dict[str, Any] = {POINT_ID: point}
    for key, value in (segments or {}).items():
        if key in RESERVED:
            report(
                f"{key!r} is a column of the logs, not a segment: the value given as a segment"
                " keyword was not logged",
                values,
                f"reserved:{key}",
            )
        else:
            row[key] = value
    # Required columns are written even when empty (the loader quarantines the row and says why);
    # optional ones only when given.
    row.update({k: v for k, v in values.items() if v is not None or k in REQUIRED[name]})
    try:
        return _dumps(row)
    except (TypeError, ValueError) as e:
        problem = str(e)
    for key in _CHECKED & row.keys():
        try:
            _dumps(row[key])
        except (TypeError, ValueError):
            row[key] = f"<not JSON: {row[key]!r}>"
    try:
        line = _dumps(row)
    except (TypeError, ValueError):
        report(
            f"{name[:-1]} for case {values[CASE_ID]!r} cannot be written as JSON ({problem});"
            " it was not logged",
            values,
            None,
        )
        return None
    report(
        f"{name[:-1]} for case {values[CASE_ID]!r} has a value JSON cannot hold ({problem}); it is"
        " sent as text, so the store quarantines the row with the reason",
        values,
        None,
    )
    return line


def _dumps(value: Any) -> str:
    return _ENCODER.encode(value) + "\n"


def _plain(value: Any) -> Any:
    """JSON for the values json cannot write itself: times, numpy scalars and arrays, decimals."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if getattr(value, "ndim", None) == 0 and callable(getattr(value, "item", None)):
        return value.item()  # a numpy scalar
    if callable(getattr(value, "tolist", None)):
        return value.tolist()  # a numpy array
    if type(value).__name__ in ("Decimal", "Fraction"):
        return float(value)
    raise TypeError(f"a value of type {type(value).__name__} is not JSON")


# One encoder: json.dumps with options builds a new one per call, which costs more than encoding.
_ENCODER = json.JSONEncoder(default=_plain, ensure_ascii=False)


def files(folder: Path) -> list[Path]:
    """The spool files waiting in `folder`, oldest first (names start with their UTC time)."""
    try:
        return sorted(folder.glob("*.jsonl"))
    except OSError:
        return []


def write_atomically(folder: Path, lines: list[str]) -> Path:
    """A new spool file with `lines`: written to a hidden temporary name, synced, then renamed."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"{stamp}-{os.getpid()}-{next(_SEQUENCE):06d}.jsonl"
    temporary = folder / f".{path.name}.tmp"  # not *.jsonl: no reader picks it up half written
    try:
        with temporary.open("w", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    _sync_folder(folder)
    return path


def merge(paths: list[Path]) -> Path | None:
    """One spool file with the lines of `paths` (which are then deleted), so one load takes them.

    A crash after the new file is written but before the parts are deleted leaves their rows twice
    in the spool; the loader skips the second copy of an identical row, so each is stored once.
    """
    lines: list[str] = []
    present = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:  # loaded and deleted meanwhile by another process
            continue
        present.append(path)
        lines.extend(line + "\n" for line in text.splitlines() if line.strip())
    if not lines:  # only empty files: nothing to load
        for path in present:
            path.unlink(missing_ok=True)
        return None
    merged = write_atomically(paths[0].parent, lines)
    for path in present:
        path.unlink(missing_ok=True)
    return merged


def count_lines(path: Path) -> int:
    """Rows in a spool file (0 if it is gone)."""
    try:
        with path.open("rb") as f:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 16), b""))
    except OSError:
        return 0


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder itself is synced (POSIX); best effort elsewhere.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
