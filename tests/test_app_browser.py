"""The app in a real browser: `streamlit run` on a free port, Playwright driving Debian's Chromium.

Every page is opened and its key numbers looked for (read here by plain SQL from the published
snapshot), a filter is clicked and the page changes, and screenshots go to tests/artifacts/. The
README's screenshots are taken here too: set SHADOW_SCREENSHOTS=docs/screenshots to write them
there (else they go to tests/artifacts/readme/). The data team is never blocked: with the app open and in use, `shadow ingest` and `shadow refresh` run
as their own processes, succeed without waiting, and the app then shows the new numbers.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shadow.snapshot import open_published, published_path

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = os.environ.get("SHADOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
PAGES = {
    "": "Track record",
    "disagreements": "Disagreements",
    "segments": "Segments",
    "readiness": "Readiness",
    "health": "Model health",
    "data_quality": "Data quality",
}
POINT = "pump-inspection"
# The README's screenshots: page address -> (title, file name), light theme, one screen each.
SCREENSHOTS = {
    "": ("Track record", "track_record.png"),
    "disagreements": ("Disagreements", "disagreements.png"),
    "segments?period=month": ("Segments", "segments.png"),
    "readiness?segment=site+%3D+kiel": ("Readiness", "readiness.png"),
}
SCREEN = {"width": 1280, "height": 900}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(db: Path, log: Path, *, plain: bool = False) -> tuple[subprocess.Popen[bytes], str]:
    """Start the app on a free localhost port over `db`; wait until it answers its health check.

    As `shadow app` serves it (app/serve.py), or with `plain` as `python -m streamlit` would.
    """
    port = free_port()
    command = [
        sys.executable,
        *(["-m", "streamlit"] if plain else [str(ROOT / "app" / "serve.py")]),
        "run",
        str(ROOT / "app" / "main.py"),
        "--server.headless",
        "true",
        "--server.address",
        "127.0.0.1",
        "--server.port",
        str(port),
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--db",
        str(db),
    ]
    with log.open("wb") as out:  # the child keeps its own copy of the file
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the app exited: {log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return process, base
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise AssertionError("the app did not answer within 60 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def copy_store(demo_db: Path, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "demo.duckdb"
    shutil.copy(demo_db, db)
    shutil.copy(published_path(demo_db), published_path(db))
    return db


def whole(
    db: Path, segment: str = "all", value: str = "all", version: str = "v2"
) -> dict[str, Any]:
    with open_published(db) as p:
        (row,) = p.query(
            "SELECT * FROM numbers WHERE point_id = $point AND model_version = $version"
            " AND segment = $segment AND segment_value = $value AND period = 'all'",
            {"point": POINT, "version": version, "segment": segment, "value": value},
        ).to_dicts()
    return row


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def app(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("browser")
    db = copy_store(demo_db, folder)
    process, base = serve(db, folder / "streamlit.log")
    yield base, db
    stop(process)


def settle(page: Any, title: str) -> float:
    """Wait until the page's script has finished and drawn its title, numbers and charts.

    Returns the seconds since navigation began.
    """
    page.get_by_role("heading", name=title, level=1).wait_for(timeout=60_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=\"stApp\"]')"
        "?.getAttribute('data-test-script-state') === 'notRunning'"
        " && !document.querySelector('[data-testid=\"stSkeleton\"]')"
        " && !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " && [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
        ".every(c => c.querySelector('.main-svg'))",
        timeout=60_000,
    )
    return float(page.evaluate("() => performance.now()")) / 1000


def text(page: Any) -> str:
    """What the page says: its text and the text inside its charts (tables are drawn on a canvas)."""
    main = page.get_by_test_id("stMain")
    return str(main.inner_text()) + "\n".join(main.locator(".main-svg").all_text_contents())


def worst(db: Path) -> str:
    """The site where v2 did worst next to the people (30 or more outcomes known)."""
    with open_published(db) as p:
        return str(
            p.query(
                "SELECT segment_value FROM numbers WHERE point_id = $point AND model_version = 'v2'"
                " AND segment = 'site' AND period = 'all' AND resolved >= 30"
                " ORDER BY difference LIMIT 1",
                {"point": POINT},
            )["segment_value"][0]
        )


def brier(db: Path) -> float:
    with open_published(db) as p:
        return float(
            p.query(
                "SELECT DISTINCT brier FROM calibration WHERE point_id = $point"
                " AND model_version = 'v2' AND segment = 'all'",
                {"point": POINT},
            )["brier"][0]
        )


def test_every_page_opens_with_its_numbers(app: tuple[str, Path], browser: Any) -> None:
    base, db = app
    row = whole(db)
    expected = {
        "": [f"{row['paired']:,}", f"{row['resolved']:,}", "Dana Reyes, maintenance lead"],
        "disagreements": [f"{row['paired'] - row['agree']:,}", "disagreements match"],
        "segments": ["Model minus people accuracy, by site", f"where it did worst: {worst(db)}"],
        "readiness": ["Owner of every verdict here: Dana Reyes", "site = kiel: shadow, advisory: "],
        "health": ["Brier score", f"{brier(db):.3f}", "Model versions side by side"],
        "data_quality": ["At site = dortmund outcomes arrive for", "quarantined"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 2400})
    for path, title in PAGES.items():
        page.goto(f"{base}/{path}")
        seconds = settle(page, title)
        shown = text(page)
        for needle in expected[path]:
            assert needle in shown, (title, needle)
        assert "Traceback" not in shown
        page.screenshot(path=str(ARTIFACTS / f"{path or 'track_record'}.png"), full_page=True)
        assert seconds < 60
    page.close()


def test_choosing_a_site_and_a_period_changes_the_page_and_the_address(
    app: tuple[str, Path], browser: Any
) -> None:
    base, db = app
    kiel = whole(db, "site", "kiel")
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(base)
    settle(page, "Track record")
    assert "Agreement each week" in text(page)
    page.get_by_test_id("stSidebar").get_by_role("radio", name="month").click()
    page.get_by_text("Agreement each month").wait_for(timeout=30_000)
    segment = page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").nth(2)
    segment.click()
    page.keyboard.type("site = kiel")
    page.keyboard.press("Enter")
    page.get_by_text("site = kiel · decided").wait_for(timeout=30_000)
    settle(page, "Track record")
    assert f"{kiel['paired']:,}" in text(page)
    assert "period=month" in page.url and "kiel" in page.url
    page.screenshot(path=str(ARTIFACTS / "track_record_kiel_month.png"), full_page=True)
    # the address is a bookmark: opened afresh, it shows the same choice
    bookmark = page.url
    page.close()
    again = browser.new_page(viewport={"width": 1400, "height": 1600})
    again.goto(bookmark)
    settle(again, "Track record")
    assert "site = kiel · decided" in text(again) and "Agreement each month" in text(again)
    again.close()


def test_readiness_of_a_site_shows_its_gate_and_the_command_to_sign_off(
    app: tuple[str, Path], browser: Any
) -> None:
    base, db = app
    with open_published(db) as p:
        resolved = p.query(
            "SELECT value FROM gates WHERE point_id = $point AND model_version = 'v2'"
            " AND segment = 'site' AND segment_value = 'kiel' AND stage = 'advisory'"
            " AND criterion = 'resolved'",
            {"point": POINT},
        )["value"][0]
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(f"{base}/readiness?segment=site+%3D+kiel")
    settle(page, "Readiness")
    shown = text(page)
    assert "weeks of track record" in shown  # a criterion of the checklist, drawn as text
    assert f"{resolved:,.0f}" in shown and "at least 100" in shown
    assert f"shadow signoff --point {POINT} --segment site=kiel --to advisory" in shown
    page.screenshot(path=str(ARTIFACTS / "readiness_kiel.png"), full_page=True)
    page.close()


def test_charts_take_the_dark_theme_background(app: tuple[str, Path], browser: Any) -> None:
    base, _ = app
    context = browser.new_context(color_scheme="dark", viewport={"width": 1400, "height": 2400})
    page = context.new_page()
    page.goto(f"{base}/segments?period=month")
    settle(page, "Segments")
    background = page.evaluate(
        "() => getComputedStyle(document.querySelector('[data-testid=\"stApp\"]')).backgroundColor"
    )
    red, green, blue = (int(x) for x in background[4:-1].split(",")[:3])
    assert red + green + blue < 150, background  # Streamlit's dark theme is on
    charts = page.evaluate(
        "() => [...document.querySelectorAll('.main-svg')].map(s => getComputedStyle(s).backgroundColor)"
    )
    assert charts and set(charts) == {"rgba(0, 0, 0, 0)"}  # the page shows through every chart
    page.screenshot(path=str(ARTIFACTS / "segments_dark.png"), full_page=True)
    context.close()


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG file, from its header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_the_readmes_screenshots(app: tuple[str, Path], browser: Any) -> None:
    base, _ = app
    folder = Path(os.environ.get("SHADOW_SCREENSHOTS") or ARTIFACTS / "readme")
    folder = folder if folder.is_absolute() else ROOT / folder
    folder.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(color_scheme="light", viewport=SCREEN)
    page = context.new_page()
    for address, (title, name) in SCREENSHOTS.items():
        page.goto(f"{base}/{address}")
        settle(page, title)
        assert "Traceback" not in text(page)
        page.screenshot(path=str(folder / name))
        assert png_size(folder / name) == (SCREEN["width"], SCREEN["height"])
        assert (folder / name).stat().st_size < 400_000, f"{name} is too big for the repository"
    context.close()


NEW_PREDICTIONS = (
    "case_id,predicted_at,model_version,predicted_label,score,site,region,asset_class\n"
)
NEW_DECISIONS = "case_id,decided_at,human_label,decided_by,site,region,asset_class\n"


def test_loads_and_refreshes_succeed_while_the_app_is_in_use_and_it_shows_them(
    demo_db: Path, tmp_path: Path, browser: Any
) -> None:
    db = copy_store(demo_db, tmp_path / "store")
    process, base = serve(db, tmp_path / "streamlit.log")
    try:
        before = whole(db)["paired"]
        cases = range(11)
        predictions = tmp_path / "p.csv"
        predictions.write_text(
            NEW_PREDICTIONS
            + "".join(
                f"LIVE-{i},2026-10-05T06:00:00Z,v2,inspect,0.8,kiel,north,centrifugal\n"
                for i in cases
            )
        )
        decisions = tmp_path / "d.csv"
        decisions.write_text(
            NEW_DECISIONS
            + "".join(
                f"LIVE-{i},2026-10-05T09:00:00Z,inspect,ana,kiel,north,centrifugal\n" for i in cases
            )
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1600})
        page.goto(base)
        settle(page, "Track record")
        assert f"{before:,}" in text(page)
        steps = [
            ["ingest", "predictions", str(predictions), "--point", POINT],
            ["ingest", "decisions", str(decisions), "--point", POINT],
            ["refresh"],
        ]
        for step in steps:
            # --wait 0: the command fails at once if anything (the app) holds the store
            wait = ["--wait", "0"]
            command = [sys.executable, "-m", "shadow", *step, "--db", str(db), *wait]
            worker = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            reads = 0
            while worker.poll() is None or reads == 0:  # the app is in use the whole time
                path, title = list(PAGES.items())[reads % len(PAGES)]
                page.goto(f"{base}/{path}")
                settle(page, title)
                reads += 1
            output = worker.communicate()[0].decode()
            assert worker.returncode == 0, output
        # the app shows the new numbers: the next visit, no restart
        page.goto(base)
        settle(page, "Track record")
        after = whole(db)["paired"]
        assert after == before + len(cases)
        assert f"{after:,}" in text(page)
        page.screenshot(path=str(ARTIFACTS / "after_refresh.png"), full_page=True)
        page.close()
        assert process.poll() is None  # the app ran throughout
    finally:
        stop(process)


@pytest.mark.parametrize("command", ["app", "demo"])
def test_shadow_app_and_shadow_demo_serve_the_app_on_localhost(
    command: str, demo_db: Path, tmp_path: Path
) -> None:
    db = copy_store(demo_db, tmp_path / "s") if command == "app" else tmp_path / "new.duckdb"
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "shadow", command, "--db", str(db), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "BROWSER": "none"},
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[0].decode()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health") as r:
                    if r.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("no app answered")
        assert published_path(db).exists()  # demo built and published the store first
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert f"Opening the app at http://127.0.0.1:{port} over {db}" in output
