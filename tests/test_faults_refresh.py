"""A real `shadow refresh` killed with SIGKILL at many moments: readers see one whole set, never a mix.

The store holds the sample deployment's predictions and decisions (set A is what a refresh of
that publishes), then its outcomes too (set B). With A published, a `shadow refresh` of the
store (which would publish B) is killed again and again: at moments spread over the whole
refresh, and more of them over the publish at its end. After every kill a reader opens the
snapshot as the app does and hashes every table: it must find exactly A or exactly B. The next
refresh must publish B, and leave nothing of the killed ones behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shadow.demo import SAMPLE
from shadow.hashing import content_hash
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, read_point
from shadow.refresh import refresh
from shadow.refresh.cache import MANIFEST, cache_path
from shadow.snapshot import current as current_file
from shadow.snapshot import open_published, published_path, snapshots_folder
from shadow.store import Store

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses SIGKILL"),
]

REPO = Path(__file__).resolve().parents[1]
SPREAD = 18  # kills at moments spread over the whole refresh
IN_PUBLISH = 12  # and more over the publish at its end (from its temporary file to the exit)

# The real CLI, with its heavy imports done before it is told to go, so that a kill's delay
# is measured from the start of the refresh itself.
RUNNER = r"""
import sys
import shadow.refresh  # polars, duckdb and the jobs: imported before the clock starts
from shadow.cli import main
sys.stdout.write("ready\n")
sys.stdout.flush()
sys.stdin.readline()
sys.argv = ["shadow", *sys.argv[1:]]
main()
"""


def load(db: Path, log: str, export: str, mapping: str) -> None:
    with Store.open(db) as store:
        (summary,) = ingest_into(
            store,
            log,
            plan_sources(SAMPLE / export),
            point="pump-inspection",
            mapping=SAMPLE / mapping,
        )
    assert summary.accepted > 0


def published_hashes(db: Path) -> dict[str, str]:
    """Every published table's hash, recomputed from what a reader reads (and checked)."""
    with open_published(db) as snap:
        snap.verify()  # every table's hash recomputed and equal to the one published with it
        hashes = dict(snap.table_hashes)
        assert content_hash(hashes) == snap.meta["content_hash"]
    return hashes


class Refresh:
    """A `shadow refresh` process that imports what it needs, then waits for `go`."""

    def __init__(self, runner: Path, db: Path) -> None:
        env = {k: v for k, v in os.environ.items() if k not in ("SHADOW_DB", "SHADOW_DEBUG")}
        env["PYTHONPATH"] = str(REPO)
        self.proc = subprocess.Popen(
            [sys.executable, str(runner), "refresh", "--db", str(db), "--json"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def go(self) -> float:
        """Wait until it is ready, then let it run; returns the moment it was let go."""
        assert self.proc.stdout is not None and self.proc.stdin is not None
        assert self.proc.stdout.readline() == "ready\n"
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        return time.monotonic()

    def kill(self) -> bool:
        """SIGKILL it; True if it was still running (the kill is what ended it)."""
        running = self.proc.poll() is None
        if running:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.communicate(timeout=60)
        return running and self.proc.returncode == -signal.SIGKILL


def strays(db: Path, keep: set[str]) -> list[str]:
    """What is beside the store besides `keep`, and the temporary files among the snapshots."""
    beside = [p.name for p in db.parent.iterdir() if p.name not in keep]
    folder = snapshots_folder(db)
    temporary = (
        [p.name for p in folder.iterdir() if p.name.startswith(".")] if folder.is_dir() else []
    )
    return sorted(beside + temporary)


def cache_strays(db: Path) -> list[str]:
    """Files in the case cache that its manifest does not name (a killed refresh's)."""
    folder = cache_path(db)
    meta = json.loads((folder / MANIFEST).read_text())
    named = {MANIFEST, ".lock"}
    for point_id, entry in meta["points"].items():
        key = hashlib.sha256(point_id.encode()).hexdigest()[:16]
        files = [*entry["tables"].values()]
        files += [n for weeks in entry["weeks"].values() for names in weeks.values() for n in names]
        named |= {f"{key}/{name}" for name in files}
    found = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    return sorted(found - named)


def test_a_refresh_killed_at_any_moment_publishes_all_or_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shadow.duckdb"
    point, text = read_point(SAMPLE / "point.toml")
    with Store.open(db, create=True) as store:
        add_point(store, point, text)
    load(db, "predictions", "predictions.jsonl", "predictions_mapping.toml")
    load(db, "decisions", "decisions.csv", "decisions_mapping.toml")
    refresh(db)
    old = published_hashes(db)
    old_file = current_file(db)
    saved = tmp_path.parent / f"{tmp_path.name}-old.published.duckdb"
    shutil.copyfile(old_file, saved)

    load(db, "outcomes", "outcomes.csv", "outcomes_mapping.toml")
    refresh(db)
    new = published_hashes(db)
    assert old.keys() <= new.keys()
    assert all(old[name] != new[name] for name in ("numbers", "loads")), "B must differ from A"
    # beside the store: its snapshot, and the cache the next refresh goes on from
    keep = {db.name, published_path(db).name, snapshots_folder(db).name, cache_path(db).name}
    assert strays(db, keep) == []
    assert cache_strays(db) == []
    new_file = current_file(db)

    runner = tmp_path.parent / f"{tmp_path.name}-runner.py"
    runner.write_text(RUNNER, encoding="utf-8")

    def put_back_old() -> None:
        # the test's own set-up, as a publish would do it: the old file, and the link to it
        # swapped into place; the new numbers' file gone, so that a refresh must write it
        if not old_file.exists():
            shutil.copyfile(saved, old_file)
        link = tmp_path / ".test-link"
        link.unlink(missing_ok=True)
        os.symlink(os.path.relpath(old_file, tmp_path), link)
        os.replace(link, published_path(db))
        new_file.unlink(missing_ok=True)

    # How long a refresh takes here, now, from `go`, and when its publish begins.
    put_back_old()
    timing = Refresh(runner, db)
    began = timing.go()
    following = Refresh(runner, db)  # as in the kills below: the next one imports meanwhile
    publish_began = None
    while timing.proc.poll() is None:
        if publish_began is None and strays(db, keep):
            publish_began = time.monotonic() - began
        time.sleep(0.002)
    duration = time.monotonic() - began
    assert timing.proc.communicate(timeout=60)[1] == ""
    assert timing.proc.returncode == 0
    assert published_hashes(db) == new
    assert publish_began is not None, "never saw the publish's temporary file"

    rng = random.Random(20260701)
    delays = [duration * (i + rng.random()) / SPREAD for i in range(SPREAD)]
    # to a little past the calibrated end, so that some kills land after the rename however
    # the timing drifts
    window = duration * 1.1 - publish_began
    delays += [publish_began + window * (i + rng.random()) / IN_PUBLISH for i in range(IN_PUBLISH)]
    rng.shuffle(delays)

    seen = {"old": 0, "new": 0}
    killed, stale = 0, 0
    for delay in delays:
        put_back_old()
        current = following
        began = current.go()
        # the next process imports while this one runs; it touches nothing until told to go
        following = Refresh(runner, db)
        time.sleep(max(delay - (time.monotonic() - began), 0.0))
        killed += current.kill()
        found = published_hashes(db)
        assert found in (old, new), f"a mix after a kill at {delay:.2f} s"
        seen["old" if found == old else "new"] += 1
        stale += bool(strays(db, keep))
    following.kill()

    print(f"refresh {duration:.2f} s, publish from {publish_began:.2f} s; {killed} killed; {seen}")
    assert seen["old"] > 0 and seen["new"] > 0, seen
    # (a machine that speeds up after the timing run lets more refreshes finish first)
    assert killed >= (SPREAD + IN_PUBLISH) * 0.5, f"only {killed} refreshes were still running"
    assert stale > 0, "no kill landed while a publish's temporary file existed"

    # The next refresh, the plain command, publishes the new set and removes what the kills left.
    put_back_old()
    done = subprocess.run(
        [sys.executable, "-m", "shadow", "refresh", "--db", str(db)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert published_hashes(db) == new
    assert strays(db, keep) == []
    assert cache_strays(db) == []
