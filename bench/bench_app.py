"""App benchmark: time from request to a rendered page, cold and warm, and the app's memory.

Over a published snapshot (by default the 10M-case sample's), for every page:
- AppTest: the page's run after the sidebar has drawn, with Streamlit's cache cleared (cold) and
  again with the cache warm (the next click); and the very first request (sidebar + Track record);
- browser: `streamlit run` as its own process, Chromium driven by Playwright; the time from
  `page.goto` (a full page load) until the page has drawn its title, numbers and every chart, on
  the first visit (cold: nothing cached) and on a second visit (warm), then moving to each page by
  a click in the sidebar (no reload); then the server's peak memory (VmHWM).
- with --first-visit N: N alternating pairs, each a fresh server and a fresh browser opening the
  Track record 4 s after the server answered: served as `shadow app` serves it (app/serve.py,
  the pages' imports done while the server starts) against the baseline `python -m streamlit run`.

    python bench/bench_app.py --published bench/data/sample-10m/store.published.duckdb

The snapshot is copied into a temporary folder first (the app only reads it, but the copy keeps
the benchmark away from a store someone else is using).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.test_app_browser import ARGS, CHROMIUM, PAGES, serve, settle, stop  # noqa: E402

APP = ROOT / "app" / "main.py"
FILES = {
    "": "track_record",
    "disagreements": "disagreements",
    "segments": "segments",
    "readiness": "readiness",
    "health": "health",
    "data_quality": "data_quality",
}


def apptest(db: Path) -> dict[str, dict[str, float]]:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["SHADOW_DB"] = str(db)
    out: dict[str, dict[str, float]] = {}
    st.cache_data.clear()
    started = time.perf_counter()
    at = AppTest.from_file(str(APP), default_timeout=300).run()  # the sidebar, then Track record
    out["first request (sidebar + Track record)"] = {
        "cold": round(time.perf_counter() - started, 2)
    }
    assert not at.exception, at.exception
    for path, name in FILES.items():
        times = {}
        for kind in ("cold", "warm"):
            if kind == "cold":
                st.cache_data.clear()  # the page's readers start cold (the sidebar's choice is kept)
            started = time.perf_counter()
            at.switch_page(f"pages/{name}.py").run()
            times[kind] = round(time.perf_counter() - started, 2)
            assert not at.exception, at.exception
            assert at.title[0].value == PAGES[path], (at.title[0].value, path)
        out[PAGES[path]] = times
    return out


def browser(db: Path, log: Path) -> tuple[dict[str, dict[str, float]], int]:
    from playwright.sync_api import sync_playwright

    process, base = serve(db, log)
    out: dict[str, dict[str, float]] = {}
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = b.new_page(viewport={"width": 1400, "height": 1600})
            for kind in ("cold", "warm"):
                for path, title in PAGES.items():
                    started = time.perf_counter()
                    page.goto(f"{base}/{path}")
                    settle(page, title)
                    out.setdefault(title, {})[kind] = round(time.perf_counter() - started, 2)
            # moving between pages as a reader does: a click in the sidebar, no reload
            titles = list(PAGES.values())
            for title in [*titles[1:], titles[0]]:
                started = time.perf_counter()
                page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
                settle(page, title)
                out[title]["sidebar click"] = round(time.perf_counter() - started, 2)
            b.close()
        status = Path(f"/proc/{process.pid}/status").read_text()
        peak_kb = int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])
    finally:
        stop(process)
    return out, peak_kb * 1024


def first_visits(db: Path, log: Path, pairs: int) -> dict[str, list[float]]:
    """The first reader's Track record on a fresh server: `python -m streamlit` against app/serve.py."""
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"python -m streamlit run": [], "app/serve.py": []}
    with sync_playwright() as p:
        for _ in range(pairs):
            for plain, label in ((True, "python -m streamlit run"), (False, "app/serve.py")):
                process, base = serve(db, log, plain=plain)
                try:
                    time.sleep(4)  # what a reader takes to open the page after `shadow app`
                    b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
                    page = b.new_page(viewport={"width": 1400, "height": 1600})
                    started = time.perf_counter()
                    page.goto(base)
                    settle(page, "Track record")
                    out[label].append(round(time.perf_counter() - started, 2))
                    b.close()
                finally:
                    stop(process)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--published",
        type=Path,
        default=ROOT / "bench" / "data" / "sample-10m" / "store.published.duckdb",
        help="a published snapshot (<store>.published.duckdb)",
    )
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--skip-apptest", action="store_true")
    parser.add_argument(
        "--first-visit", type=int, default=0, metavar="N", help="N pairs: app/serve.py vs plain"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "store.duckdb"
        shutil.copy(args.published, Path(folder) / "store.published.duckdb")
        load_before = os.getloadavg()
        result: dict[str, object] = {
            "published": str(args.published),
            "size_mb": round(args.published.stat().st_size / 1e6, 1),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "load_before": load_before,
        }
        if not args.skip_apptest:
            result["apptest_seconds"] = apptest(db)
        if not args.skip_browser:
            seconds, peak = browser(db, Path(folder) / "streamlit.log")
            result["browser_seconds"] = seconds
            result["app_peak_memory_mb"] = round(peak / 1e6)
        if args.first_visit:
            result["first_visit_seconds"] = first_visits(
                db, Path(folder) / "first.log", args.first_visit
            )
        result["load_after"] = os.getloadavg()
    versions = subprocess.run(
        [
            sys.executable,
            "-c",
            "import streamlit, plotly, polars, duckdb; print(streamlit.__version__,"
            " plotly.__version__, polars.__version__, duckdb.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    result["streamlit, plotly, polars, duckdb"] = versions
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
