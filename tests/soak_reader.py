"""One reader of the soak test (tests/test_soak.py), run as its own process until a stop file appears.

    python -m tests.soak_reader report|loader|browser --db STORE --out READS.jsonl --stop STOP [--base URL]

Every read appends one JSON line to READS.jsonl: when it was, which snapshot it saw (content hash
and/or published_at), a few numbers of the whole point per model version, and the error text if
it failed. The test judges the lines afterwards; this only reads and records.

- report: `shadow report --point ... --format json` in a subprocess, as a data team's cron would.
- loader: what the app's pages call (shadow.browse), in a loop, as one Streamlit process would:
  the choice names the snapshot it was made in, and a read that finds a newer one starts again.
- browser: Chromium on a running `streamlit run app/main.py`, each page of the app in turn.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

POINT = "pump-inspection"
COUNTS = ("decided", "paired", "resolved")


def run(read: Callable[[], dict[str, Any]], out: Path, stop: Path) -> None:
    """Call `read` until `stop` exists; one JSON line per call, errors included."""
    with out.open("a", encoding="utf-8") as f:
        while not stop.exists():
            started = time.time()
            try:
                record = {"ok": True, **read()}
            except Exception:  # the test asserts there were none, with this text
                record = {"ok": False, "error": traceback.format_exc()}
            record["t"] = started
            record["seconds"] = round(time.time() - started, 3)
            f.write(json.dumps(record, default=str) + "\n")
            f.flush()


def report_reader(db: str) -> Callable[[], dict[str, Any]]:
    command = [sys.executable, "-m", "shadow", "report", "--db", db, "--point", POINT]

    def read() -> dict[str, Any]:
        done = subprocess.run([*command, "--format", "json"], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()}")
        briefing = json.loads(done.stdout)
        return {
            "published_at": briefing["published_at"],
            "numbers": {
                v["model_version"]: {k: v[k] for k in COUNTS} for v in briefing["versions"]
            },
        }

    return read


def loader_reader(db: str) -> Callable[[], dict[str, Any]]:
    from shadow import browse

    def read() -> dict[str, Any]:
        # as the app does: the sidebar asks which file is published, every page reads that one
        path = browse.current(db)
        snap = browse.snapshot(path)
        numbers, windows = {}, {}
        first, last = snap.days[POINT] or (None, None)
        for v in snap.versions[POINT]:
            choice = browse.Choice(POINT, v["model_version"], start=first, end=last)
            selection = browse.selection(path, choice)
            assert selection.whole is not None
            numbers[choice.model_version] = {k: selection.whole[k] for k in COUNTS}
            windows[choice.model_version] = {k: selection.window[k] for k in COUNTS}
            # the other pages' readers, as each page calls them
            browse.cases(path, choice, limit=20)
            browse.segments(path, choice, "site")
            browse.readiness(path, choice)
            browse.stages(path, choice)
            browse.health(path, choice)
            browse.quality(path, choice)
        return {
            "content_hash": snap.content_hash,
            "published_at": snap.published_at,
            # the file is named by the numbers it holds: every read above is of those
            "named_by_content": path.stem == snap.content_hash,
            "numbers": {v: n for v, n in numbers.items() if n["paired"]},
            "windows": {v: n for v, n in windows.items() if n["paired"]},
        }

    return read


def browser_reader(base: str) -> tuple[Callable[[], dict[str, Any]], Callable[[], None]]:
    from playwright.sync_api import sync_playwright

    from tests.test_app_browser import ARGS, CHROMIUM, PAGES, settle, text

    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    # the track record (which shows the numbers) every other read, the other pages in turn
    others = list(PAGES.items())[1:]
    pages = [p for other in others for p in (next(iter(PAGES.items())), other)]
    turn = [0]

    def number(pattern: str, shown: str) -> int:
        found = re.search(pattern, shown)
        if found is None:
            raise AssertionError(f"no {pattern!r} on the page:\n{shown}")
        return int(found.group(1).replace(",", ""))

    def read() -> dict[str, Any]:
        path, title = pages[turn[0] % len(pages)]
        turn[0] += 1
        page.goto(f"{base}/{path}")
        settle(page, title)
        shown = text(page)
        sidebar = str(page.get_by_test_id("stSidebar").inner_text())
        errors = page.locator(
            '[data-testid="stException"], [data-testid="stAlertContentError"]'
        ).all_inner_texts()
        if errors or "Traceback" in shown:
            raise AssertionError(f"{title} shows an error: {errors or shown}")
        published = re.search(r"Numbers published (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", sidebar)
        version = re.search(r"· model (\S+) ·", shown)
        days = re.search(r"· decided (\d{4}-\d\d-\d\d) to (\d{4}-\d\d-\d\d)", shown)
        record: dict[str, Any] = {
            "page": title,
            "published_minute": published.group(1) if published else None,
            "version": version.group(1) if version else None,
            "last_day": days.group(2) if days else None,
        }
        if title == "Track record":
            record["numbers"] = {
                "decided": number(r"of ([\d,]+) decided by people", shown),
                "paired": number(r"Cases shadowed\s+([\d,]+)", shown),
                "resolved": number(r"Outcome known\s+([\d,]+)", shown),
            }
        return record

    def close() -> None:
        browser.close()
        playwright.stop()

    return read, close


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=["report", "loader", "browser"])
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--stop", type=Path, required=True)
    parser.add_argument("--base")
    args = parser.parse_args(argv)
    if args.kind == "browser":
        read, close = browser_reader(args.base)
        try:
            run(read, args.out, args.stop)
        finally:
            close()
    elif args.kind == "report":
        run(report_reader(args.db), args.out, args.stop)
    else:
        run(loader_reader(args.db), args.out, args.stop)


if __name__ == "__main__":
    main()
