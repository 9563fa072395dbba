"""Readers at work: loads and refreshes in a loop while readers read, all as real processes.

The writer (this test) loads a day of the three logs at a time with `shadow ingest` (late outcomes
of earlier days, a corrected outcome, duplicate rows, a quarantined row, a file loaded again) and
runs `shadow refresh` after each day, with `--wait 0`, so it fails at once if any reader holds the
store. Meanwhile three readers, each its own process (tests/soak_reader.py), read the published
snapshot over and over: `shadow report --format json`, the app's loader (shadow.browse, as the
pages call it), and Chromium on a real `streamlit run app/main.py`, page after page. They run for
SHADOW_SOAK_SECONDS (default 120).

Afterwards: every row of every file is in the store exactly once and every load's accounting adds
up; no reader recorded an error; every read matches one whole snapshot the writer published (no
half state), and no reader's snapshots went backwards; the last published tables equal a refresh
from scratch of a copy of the store. SHADOW_SOAK_SUMMARY=path writes the run's numbers as JSON.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from shadow import words
from shadow.snapshot import open_published
from shadow.store import Store
from tests.conftest import POINT_TOML
from tests.test_app_browser import CHROMIUM, ROOT, serve, stop

POINT = "pump-inspection"
SECONDS = float(os.environ.get("SHADOW_SOAK_SECONDS", "120"))
SITES = {"hamburg": "north", "kiel": "north", "munich": "south"}
PUMPS = 12  # per site: 36 cases a day
FIRST_DAY = date(2026, 1, 5)
READERS = ("report", "loader", "browser")
COUNTS = ("decided", "paired", "resolved")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


# --- the logs, a day at a time ------------------------------------------------------------------


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def case_id(i: int, site: str, pump: int) -> str:
    return f"{site[:3].upper()}-P{pump:02d}-D{i:03d}"


@dataclass
class Day:
    """One day's files and what loading them must do."""

    files: list[tuple[str, Path, list[str]]] = field(default_factory=list)  # log, file, extra args
    rows: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)  # valid rows, as stored
    quarantined: int = 0  # rows the loads must quarantine
    duplicates: int = 0  # rows the loads must skip as exact duplicates of accepted ones
    again: int = 0  # files loaded before (same content): skipped whole, no load


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_day(i: int, folder: Path, earlier: list[Day]) -> Day:
    """Day i: its predictions and decisions, outcomes of day i-2, and the day's oddities."""
    rng = random.Random(i)
    day = FIRST_DAY + timedelta(days=i)
    out = Day()
    folder.mkdir(parents=True, exist_ok=True)
    predictions, decisions, outcomes = [], [], []
    for site, region in SITES.items():
        for pump in range(PUMPS):
            case = case_id(i, site, pump)
            score = round(rng.random(), 4)
            # kiel's pump 0 is scored after the person decided: a late prediction
            when = at(day, 10) if (site == "kiel" and pump == 0) else at(day, 5)
            versions = ["v1", "v2"] if i >= 3 and pump % 2 == 0 else ["v1"]
            for v in versions:
                s = score if v == "v1" else round(1 - (1 - score) ** 1.3, 4)
                label = "inspect" if s >= 0.5 else "no_inspect"
                predictions.append([case, when, v, label, s, site, region])
            human = "inspect" if rng.random() < 0.4 else "no_inspect"
            decisions.append([case, iso(at(day, 8, pump)), human, f"tech{pump % 4}", site, region])
    if i >= 2:  # late outcomes: day i-2's cases, except every fourth pump (still pending)
        for site in SITES:
            for pump in range(PUMPS):
                if pump % 4:
                    label = (
                        "inspect"
                        if random.Random(f"{i}{site}{pump}").random() < 0.35
                        else "no_inspect"
                    )
                    outcomes.append([case_id(i - 2, site, pump), at(day, 14), label])
    if i >= 4:  # a correction: day i-4's hamburg pump 1 had its outcome on day i-2; a lab report
        first = next(
            r for r in earlier[i - 2].rows["outcomes"] if r[0] == case_id(i - 4, "hamburg", 1)
        )
        flipped = "no_inspect" if first[2] == "inspect" else "inspect"
        outcomes.append([first[0], at(day, 16), flipped])

    # predictions: Parquet on even days, CSV on odd; yesterday's first row sent again
    valid_predictions = [tuple(r) for r in predictions]
    if i >= 1:
        predictions.append(list(earlier[i - 1].rows["predictions_sent"][0]))
        out.duplicates += 1
    columns = [
        "case_id",
        "predicted_at",
        "model_version",
        "predicted_label",
        "score",
        "site",
        "region",
    ]
    frame = pl.DataFrame(predictions, schema=columns, orient="row")
    if i % 2 == 0:
        path = folder / "predictions.parquet"
        frame.write_parquet(path)
    else:
        path = folder / "predictions.csv"
        frame.with_columns(pl.col("predicted_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ")).write_csv(path)
    out.files.append(("predictions", path, []))
    out.rows["predictions_sent"] = [tuple(r) for r in predictions]
    out.rows["predictions"] = [
        (c, int(t.timestamp()), v, label, s) for c, t, v, label, s, _, _ in valid_predictions
    ]

    # decisions: CSV; two rows repeated word for word, and one with a label not in the label set
    bad = [f"BAD-D{i:03d}", iso(at(day, 9)), "maybe", "tech0", "kiel", "north"]
    rows = [*decisions, bad, decisions[0], decisions[1]]
    path = folder / "decisions.csv"
    header = "case_id,decided_at,human_label,decided_by,site,region\n"
    path.write_text(header + "".join(",".join(map(str, r)) + "\n" for r in rows))
    out.files.append(("decisions", path, []))
    out.rows["decisions"] = [
        (c, int(datetime.fromisoformat(t).timestamp()), h, by) for c, t, h, by, _, _ in decisions
    ]
    out.quarantined += 1
    out.duplicates += 2

    # outcomes: every third day Parquet, else CSV with one unparseable time
    out.rows["outcomes"] = [(c, int(t.timestamp()), a) for c, t, a in outcomes]
    if outcomes:
        frame = pl.DataFrame(
            outcomes, schema=["case_id", "observed_at", "actual_label"], orient="row"
        )
        if i % 3 == 0:
            path = folder / "outcomes.parquet"
            frame.write_parquet(path)
        else:
            path = folder / "outcomes.csv"
            text = frame.with_columns(pl.col("observed_at").dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
            path.write_text(
                text.write_csv() + f"{case_id(i - 2, 'kiel', 0)},31/02/2026 14:00,inspect\n"
            )
            out.quarantined += 1
        out.files.append(("outcomes", path, []))

    # a file loaded twice: yesterday's predictions again (the store remembers it: nothing
    # changes), and every fourth day the decisions of two days ago again with --force (each row
    # skipped as a duplicate, the bad one quarantined again)
    if i >= 1 and i % 3 == 2:
        out.files.append(("predictions", earlier[i - 1].files[0][1], []))
        out.again += 1
    if i >= 2 and i % 4 == 3:
        out.files.append(("decisions", earlier[i - 2].files[1][1], ["--force"]))
        out.quarantined += 1
        out.duplicates += len(earlier[i - 2].rows["decisions"]) + 2
    return out


# --- the writer ---------------------------------------------------------------------------------


@dataclass
class Writer:
    db: Path
    commands: list[dict[str, Any]] = field(default_factory=list)
    published: list[dict[str, Any]] = field(default_factory=list)

    def shadow(self, *args: str) -> str:
        # --wait 0 where the command opens the store: it fails at once if anyone else holds it
        wait = ["--wait", "0"] if args[0] in ("ingest", "refresh") else []
        command = [sys.executable, "-m", "shadow", *args, "--db", str(self.db), *wait]
        started = time.time()
        done = subprocess.run(command, capture_output=True, text=True, cwd=self.db.parent)
        self.commands.append({"args": args[:2], "start": started, "end": time.time()})
        assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
        return done.stdout

    def refresh(self) -> None:
        self.shadow("refresh", "--json")
        self.published.append(snapshot_numbers(self.db))


def snapshot_numbers(db: Path) -> dict[str, Any]:
    """The published snapshot's identity and the whole point's counts per model version."""
    with open_published(db) as p:
        rows = p.query(
            "SELECT model_version, decided, paired, resolved FROM numbers WHERE point_id = $point"
            " AND segment = 'all' AND segment_value = 'all' AND period = 'all' AND paired > 0",
            {"point": POINT},
        ).to_dicts()
        ((last_day,),) = p.query(
            "SELECT max(period_start) FROM numbers WHERE point_id = $point AND segment = 'all'"
            " AND period = 'day' AND scope = 'period' AND decided > 0",
            {"point": POINT},
        ).rows()
        published_at = words.iso(p.meta["published_at"])
        return {
            "content_hash": p.meta["content_hash"],
            "published_at": published_at,
            "minute": words.when(published_at),
            "numbers": {r["model_version"]: {k: r[k] for k in COUNTS} for r in rows},
            "last_day": words.iso(last_day),
            "tables": dict(p.table_hashes),
        }


# --- the checks ---------------------------------------------------------------------------------


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def judge(
    kind: str, reads: list[dict[str, Any]], published: list[dict[str, Any]]
) -> tuple[list[str], list[int]]:
    """What is wrong with one reader's reads (errors, reads of no snapshot, a step back), and
    which of the published snapshots (by number) each good read saw."""
    problems = [f"{kind} read {r['t']:.1f} failed: {r['error']}" for r in reads if not r["ok"]]
    seen: list[int] = []
    by_hash = {p["content_hash"]: n for n, p in enumerate(published)}
    by_time = {p["published_at"]: n for n, p in enumerate(published)}
    latest = 0
    for r in (r for r in reads if r["ok"]):
        if kind == "loader":
            n = by_hash.get(r["content_hash"])
            if n is None or published[n]["published_at"] != r["published_at"]:
                problems.append(f"loader read a snapshot nobody published: {r}")
                continue
            if not r["named_by_content"]:
                problems.append(f"loader read a file not named by its content: {r}")
            # every number must be this snapshot's, even if a refresh published mid-read
            if r["numbers"] != published[n]["numbers"] or r["windows"] != r["numbers"]:
                problems.append(f"loader read numbers of no snapshot: {r} vs {published[n]}")
        elif kind == "report":
            n = by_time.get(r["published_at"])
            if n is None or r["numbers"] != published[n]["numbers"]:
                problems.append(f"report read numbers of no snapshot: {r}")
                continue
        else:
            # the browser shows the minute it was published, the last day decided and, on the
            # track record, the numbers: all of one snapshot's
            matches = [
                m
                for m, p in enumerate(published)
                if p["minute"] == r["published_minute"]
                and p["last_day"] == r["last_day"]
                and ("numbers" not in r or p["numbers"].get(r["version"]) == r["numbers"])
            ]
            if not matches:
                problems.append(f"browser showed what no snapshot says: {r}")
                continue
            later = [m for m in matches if m >= latest]
            n = later[0] if later else matches[-1]
        if n < latest:
            problems.append(f"{kind} went back from snapshot {latest} to {n}: {r}")
        latest = max(latest, n)
        seen.append(n)
    return problems, seen


def store_rows(db: Path) -> dict[str, Counter[tuple[Any, ...]]]:
    queries = {
        "predictions": "SELECT case_id, epoch(predicted_at)::BIGINT, model_version,"
        " predicted_label, round(score, 4) FROM predictions",
        "decisions": "SELECT case_id, epoch(decided_at)::BIGINT, human_label, decided_by FROM decisions",
        "outcomes": "SELECT case_id, epoch(observed_at)::BIGINT, actual_label FROM outcomes",
    }
    with Store.open(db, read_only=True) as store:
        return {log: Counter(store.rows(q)) for log, q in queries.items()}


# --- the test -----------------------------------------------------------------------------------


def test_loads_and_refreshes_while_readers_read(tmp_path: Path) -> None:
    db = tmp_path / "store" / "shadow.duckdb"
    db.parent.mkdir()
    (db.parent / "point.toml").write_text(POINT_TOML)
    writer = Writer(db)
    writer.shadow("init")
    writer.shadow("point", "add", "point.toml")
    days: list[Day] = []

    def load_day() -> None:
        i = len(days)
        days.append(make_day(i, tmp_path / "logs" / f"day{i:03d}", days))
        for log, path, extra in days[-1].files:
            writer.shadow("ingest", log, str(path), "--point", POINT, *extra)
        writer.refresh()

    load_day()
    stop_file = tmp_path / "stop"
    app, base = serve(db, tmp_path / "streamlit.log")
    readers: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for kind in READERS:
            command = [sys.executable, "-m", "tests.soak_reader", kind, "--db", str(db)]
            command += ["--out", str(tmp_path / f"{kind}.jsonl"), "--stop", str(stop_file)]
            command += ["--base", base]
            with (tmp_path / f"{kind}.log").open("wb") as log:
                readers[kind] = subprocess.Popen(
                    command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                )
        started = time.time()
        while time.time() - started < SECONDS:
            load_day()
            for kind, process in readers.items():
                assert process.poll() is None, (tmp_path / f"{kind}.log").read_text()
        seconds = time.time() - started
    finally:
        stop_file.touch()
        for process in readers.values():
            try:
                process.wait(timeout=180)
            except subprocess.TimeoutExpired:
                process.kill()
        stop(app)
    for kind, process in readers.items():
        assert process.returncode == 0, (tmp_path / f"{kind}.log").read_text()

    # every row of every file is in the store exactly once; every load adds up
    expected = {
        log: Counter(r for d in days for r in d.rows[log])
        for log in ("predictions", "decisions", "outcomes")
    }
    assert all(n == 1 for c in expected.values() for n in c.values())  # no row is written twice
    stored = store_rows(db)
    for log in expected:
        assert stored[log] == expected[log], log
    with Store.open(db, read_only=True) as store:
        ((bad_loads, read, accepted, duplicates, quarantined, loads),) = store.rows(
            "SELECT count(*) FILTER (rows_read <> rows_accepted + rows_duplicate + rows_quarantined),"
            " sum(rows_read), sum(rows_accepted), sum(rows_duplicate), sum(rows_quarantined),"
            " count(*) FROM loads"
        )
        ((in_quarantine,),) = store.rows("SELECT count(*) FROM quarantine")
    assert bad_loads == 0
    assert accepted == sum(len(c) for c in expected.values())
    assert duplicates == sum(d.duplicates for d in days)
    assert quarantined == in_quarantine == sum(d.quarantined for d in days)
    assert loads == sum(len(d.files) for d in days) - sum(d.again for d in days)
    assert writer.published[-1]["numbers"]["v1"]["resolved"] > 0

    # no reader saw an error, a half state or a step back
    reads = {kind: read_lines(tmp_path / f"{kind}.jsonl") for kind in READERS}
    judged = {kind: judge(kind, reads[kind], writer.published) for kind in READERS}
    problems = [p for kind in READERS for p in judged[kind][0]]
    assert not problems, "\n".join(problems[:20])
    log = (tmp_path / "streamlit.log").read_text(errors="replace")
    assert "Traceback" not in log and "Error" not in log, log[-3000:]

    # the readers read all along: through many publishes, and while commands ran
    seen = {kind: len(set(judged[kind][1])) for kind in READERS}
    busy = [(c["start"], c["end"]) for c in writer.commands]
    during = {
        kind: sum(
            any(s < r["t"] + r["seconds"] and r["t"] < e for s, e in busy) for r in reads[kind]
        )
        for kind in READERS
    }
    for kind in READERS:
        assert len(reads[kind]) >= 5 and during[kind] >= 1, (kind, len(reads[kind]), during[kind])
        assert seen[kind] >= 3, (kind, seen[kind])

    # the last snapshot is what a refresh from scratch of a copy of the store publishes
    scratch = tmp_path / "scratch" / "shadow.duckdb"
    scratch.parent.mkdir()
    shutil.copy(db, scratch)
    Writer(scratch).refresh()
    again = snapshot_numbers(scratch)
    assert again["tables"] == writer.published[-1]["tables"]
    assert again["content_hash"] == writer.published[-1]["content_hash"]
    assert snapshot_numbers(db)["content_hash"] == writer.published[-1]["content_hash"]

    summary = {
        "seconds": round(seconds),
        "days_loaded": len(days),
        "loads": loads,
        "ingest_commands": sum(c["args"][0] == "ingest" for c in writer.commands),
        "refreshes": len(writer.published),
        "rows_read": read,
        "rows_accepted": accepted,
        "rows_duplicate": duplicates,
        "rows_quarantined": quarantined,
        "reads": {kind: len(reads[kind]) for kind in READERS},
        "reads_while_a_command_ran": during,
        "snapshots_seen": seen,
        "browser_pages": dict(Counter(r.get("page") for r in reads["browser"])),
        "loader_reads_of_a_misnamed_file": sum(
            not r.get("named_by_content", True) for r in reads["loader"]
        ),
    }
    print(json.dumps(summary, indent=2))
    if os.environ.get("SHADOW_SOAK_SUMMARY"):
        Path(os.environ["SHADOW_SOAK_SUMMARY"]).write_text(json.dumps(summary, indent=2))
