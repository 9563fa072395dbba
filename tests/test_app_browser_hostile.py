"""Hostile log values in the app, in a real browser: shown as typed, never run or rendered as markup.

The store (tests/hostile.py) has case ids, sites, who decided, the model's version and features,
the point's name and owner made of HTML, script and Markdown. Each page that shows them is opened
in Chromium: the literal text must be on the page, no dialog may open (an `alert` that ran), and
no element may come from a value (an <img>, a <script>, bold or a link from Markdown, KaTeX math).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import hostile
from tests.test_app_browser import ARGS, ARTIFACTS, CHROMIUM, serve, settle, stop, text

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}"),
]
# Elements a value could have smuggled in; the app draws none of them itself on these pages.
INJECTED = (
    "[data-testid=stMain] img, [data-testid=stMain] script, [data-testid=stMain] iframe,"
    " [data-testid=stMain] b, [data-testid=stMain] i, [data-testid=stMain] a[href^='javascript'],"
    " [data-testid=stMain] .katex, [onerror], [onload]"
)
FIRST_DAY, NEXT_DAY = "2026-03-02", "2026-03-03"  # the hostile case ids were decided on the first


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("hostile-browser")
    db = hostile.build(folder / "hostile.duckdb")
    process, base = serve(db, folder / "streamlit.log")
    yield base
    stop(process)


@pytest.fixture(scope="module")
def page(app: str) -> Iterator[tuple[Any, list[str]]]:
    """One browser tab that records every dialog (an alert that ran would open one)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        tab = browser.new_page(viewport={"width": 1600, "height": 2400})
        dialogs: list[str] = []
        tab.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        tab.goto(app)  # the first visit starts the app's session
        settle(tab, "Track record")
        yield tab, dialogs
        browser.close()


def visit(app: str, page: tuple[Any, list[str]], path: str, title: str, **query: Any) -> str:
    """Open `path`, wait for it, check nothing ran or was injected, and return what it says."""
    tab, dialogs = page
    tab.goto(f"{app}/{path}" + ("?" + urllib.parse.urlencode(query, doseq=True) if query else ""))
    settle(tab, title)
    shown = text(tab)
    assert "Traceback" not in shown
    injected = tab.evaluate(
        f"() => [...document.querySelectorAll({INJECTED!r})].map(e => e.outerHTML)"
    )
    assert injected == []
    assert dialogs == []
    ARTIFACTS.mkdir(exist_ok=True)
    tab.screenshot(path=str(ARTIFACTS / f"hostile_{path or 'track_record'}.png"), full_page=True)
    return shown


def test_track_record_shows_the_point_and_version_as_typed(app: str, page: Any) -> None:
    shown = visit(app, page, "", "Track record")
    for value in (hostile.NAME, hostile.OWNER, hostile.VERSION):
        assert value in shown, value
    assert f"{hostile.OWNER} owns the decision point {hostile.NAME}" in shown


def test_segments_show_every_hostile_site_as_typed(app: str, page: Any) -> None:
    shown = visit(app, page, "segments", "Segments")
    for site in hostile.SITES:
        assert shown.count(site) >= 2, site  # a heatmap row label, and in the table's summary
    # the model did best at the Markdown site and worst at the <img> one (tests/hostile.py)
    assert f"did best next to the people: {hostile.MARKDOWN} (+" in shown
    assert f"where it did worst: {hostile.IMG} (-" in shown


def test_the_case_explorer_lists_hostile_case_ids_and_reasons_as_typed(app: str, page: Any) -> None:
    shown = visit(app, page, "disagreements", "Disagreements", dates=[FIRST_DAY, NEXT_DAY])
    assert f"decided {FIRST_DAY} to {NEXT_DAY}" in shown
    tab, _ = page
    tab.locator("[data-testid=stDataFrame] [role=gridcell]").first.wait_for(
        state="attached", timeout=30_000
    )
    # the table is drawn on a canvas; its accessible twin holds the cells' text
    cells = tab.evaluate(
        "() => [...document.querySelectorAll('[data-testid=stDataFrame] [role=gridcell]')]"
        ".map(c => c.textContent)"
    )
    assert hostile.SCRIPT in cells and hostile.IMG in cells  # the case ids
    assert any(c.startswith(f"{hostile.SCRIPT} +0.400, {hostile.IMG} -0.200") for c in cells)
    assert tab.evaluate(f"() => document.querySelectorAll({INJECTED!r}).length") == 0


@pytest.mark.parametrize("site", hostile.SITES)
def test_a_hostile_site_chosen_in_the_address_is_named_as_typed(
    app: str, page: Any, site: str
) -> None:
    shown = visit(app, page, "disagreements", "Disagreements", segment=f"site = {site}")
    assert f"· site = {site} · decided" in shown


@pytest.mark.parametrize(
    ("path", "title"),
    [("readiness", "Readiness"), ("health", "Model health"), ("data_quality", "Data quality")],
)
def test_the_other_pages_show_the_values_as_typed(
    app: str, page: Any, path: str, title: str
) -> None:
    shown = visit(app, page, path, title)
    assert f"owner: {hostile.OWNER} · model {hostile.VERSION}" in shown
    if path == "readiness":
        for site in hostile.SITES:
            assert f"site = {site}" in shown, site
