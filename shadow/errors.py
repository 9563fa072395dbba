"""Every error a user can see: ShadowError(message, hint) and its subclasses."""

from __future__ import annotations

from pathlib import Path


class ShadowError(Exception):
    """Base class. `str(err)` is the message; `hint` says what to do next."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class StoreError(ShadowError):
    """The DuckDB file could not be opened, migrated or queried."""


class StoreLocked(StoreError):
    """Another process holds the DuckDB file, so this one cannot write to it now."""


class StoreMissing(StoreError):
    """No store exists at the given path."""


class StoreDamaged(StoreError):
    """The store file cannot be read as written: DuckDB found it truncated, overwritten or corrupt."""


class InvalidConfig(ShadowError):
    """A decision point, mapping or policy file cannot be used as written."""


class UnknownPoint(ShadowError):
    """A decision point id that is not registered in the store."""


class InvalidLog(ShadowError):
    """An input log cannot be read at all: missing, empty, wrong format, missing columns."""


class InvalidModel(ShadowError):
    """A model that cannot score the cases: unreadable, or its features or classes do not fit."""


class NotPublished(ShadowError):
    """Nothing (or not the table asked for) has been published beside the store yet."""


class SnapshotChanged(ShadowError):
    """A read expected one published snapshot and found a newer one: read again from the start."""


# How the operating system says a write did not fit (ENOSPC, EDQUOT, EFBIG), as DuckDB reports it.
_FULL = ("no space left on device", "disk quota exceeded", "file too large")


def disk_full(error: str, path: Path | str | None = None) -> StoreError | None:
    """A StoreError saying the disk is full (or the file size limit reached), if `error` says so."""
    text = error.lower()
    if not any(phrase in text for phrase in _FULL):
        return None
    if "file too large" in text:
        cause = "the file size limit was reached"
        fix = "raise the file size limit (`ulimit -f`) or free some disk space"
    else:
        cause = "the disk is full"
        fix = "free some disk space"
    first = error.strip().splitlines()[0]
    where = f" writing {path}" if path is not None else ""
    return StoreError(
        f"Out of disk space{where}: {cause} ({first})",
        hint=f"{fix}, then run the same command again; nothing was changed",
    )


# How DuckDB says a file is not what it wrote: overwritten, truncated, or not a DuckDB file at all.
_DAMAGED = (
    "corrupt database file",
    "does not match stored checksum",
    "not a valid duckdb database file",
    "could not read enough bytes",
)


def is_damage(error: str) -> bool:
    """Whether DuckDB's error text says the file it read is damaged."""
    text = error.lower()
    return any(phrase in text for phrase in _DAMAGED)


def store_damaged(error: str, path: Path | str | None) -> StoreDamaged | None:
    """A StoreDamaged naming the file and the way back, if `error` says the store is damaged."""
    if path is None or not is_damage(error):
        return None
    first = error.strip().splitlines()[0]
    return StoreDamaged(
        f"The store file {path} is damaged: {first}",
        hint=f"rebuild it from your log files with `shadow recover --db {path}` (the damaged"
        " file is kept beside it; see `shadow recover --help`)",
    )
