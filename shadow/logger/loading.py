"""Spool files into the store: open it briefly, one load per log, each file deleted after its commit."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from shadow.columns import LOGS
from shadow.config import current_user
from shadow.errors import InvalidLog, ShadowError
from shadow.ingestion import LoadSummary, ingest_into, plan_sources
from shadow.loads import rejects
from shadow.logger import spool
from shadow.points import get_point
from shadow.store import Store

# Quarantined rows fetched back from the store per load, to report them with their values.
MAX_REJECTS_REPORTED = 100


class Report(Protocol):
    """Where problems go: kept by the logger and logged; with a `key`, only the first time."""

    def __call__(
        self,
        what: str,
        record: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        level: int = logging.WARNING,
    ) -> None:
        """Keep and log the problem `what` (about `record`, if given)."""


def waiting(folder: Path) -> dict[str, list[Path]]:
    """The spool files in `folder` (<folder>/<log>/*.jsonl) of each log that has any."""
    found = {name: spool.files(folder / name) for name in LOGS}
    return {name: paths for name, paths in found.items() if paths}


def load_spool(
    db: Path,
    point: str,
    folder: Path,
    wait: float,
    report: Report,
    loaded: Callable[[LoadSummary], None],
) -> None:
    """Load every spool file waiting in `folder` into the store at `db`, one load per log.

    Raises StoreLocked (busy), another StoreError (missing, damaged) or UnknownPoint (`point` is
    not registered yet): the files then stay where they are. Problems with single files or rows go
    to `report`; each committed load to `loaded`.
    """
    with Store.open(db, wait=wait) as store:
        get_point(store, point)
        # Listed once the store is ours: files spooled while waiting for it come along too.
        for name, paths in waiting(folder).items():
            summary = _load_files(store, name, paths, report)
            if summary is not None:
                loaded(summary)
                _report_load(store, summary, report)


def _load_files(store: Store, name: str, paths: list[Path], report: Report) -> LoadSummary | None:
    """Load the spool files of one log, merged into one file first (one load, one commit)."""
    path = spool.merge(paths) if len(paths) > 1 else paths[0]
    if path is None:
        return None
    try:
        [summary] = ingest_into(
            store,
            name,
            plan_sources(path),
            # Rows carry point_id: loaded as `shadow ingest <log> <file>` loads them, so a file
            # already loaded by hand is recognised as such.
            point=None,
            loaded_by=f"{current_user()} (ShadowLogger, pid {os.getpid()})",
        )
    except InvalidLog as e:
        if not path.exists():  # another process loaded (and deleted) it first
            return None
        aside = path.with_suffix(".unreadable")
        path.replace(aside)
        report(f"{e}; the spool file was moved aside to {aside}")
        return None
    except ShadowError as e:
        report(f"loading {path} failed ({e}); it stays in the spool", key=f"load:{e}")
        return None
    path.unlink(missing_ok=True)  # after the commit; if a crash comes first, a no-op next time
    return summary


def _report_load(store: Store, summary: LoadSummary, report: Report) -> None:
    """Pass on the load's warnings (each once) and its quarantined rows, with their values."""
    for warning in summary.warnings:
        report(f"{summary.log}: {warning}", key=f"warning:{summary.log}:{_shape(warning)}")
    if not summary.quarantined or summary.load_id is None:
        return
    reasons = ", ".join(f"{n} {code}" for code, n in sorted(summary.by_reason.items()))
    report(
        f"{summary.quarantined} {summary.log} quarantined in load {summary.load_id} ({reasons});"
        f" see `shadow rejects --load {summary.load_id}`"
    )
    quarantined = rejects(store, load_id=summary.load_id, limit=MAX_REJECTS_REPORTED)
    for row in quarantined.iter_rows(named=True):
        report(
            f"{summary.log} row quarantined ({row['reason_code']}): {row['reason']}",
            json.loads(row["original"]),
            level=logging.DEBUG,
        )


def _shape(text: str) -> str:
    """`text` with its digits blanked, so "3 timestamps ..." and "5 timestamps ..." are one key."""
    return "".join("#" if ch.isdigit() else ch for ch in text)
