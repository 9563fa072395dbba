"""Hostile log values (HTML, script, Markdown) reach the HTML briefing and the charts as text.

The store comes from tests/hostile.py: case ids, sites, the model, its version, who decided, the
explanation's features, the point's name and owner all hold markup. The briefing is parsed as a
browser would: no element or attribute may come from a value, and every value must read as typed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from shadow import charts, words
from shadow.cli import cli
from tests import hostile

pytestmark = pytest.mark.slow

# Every element the briefing writes itself (Plotly's chart adds a div and a script per chart).
ELEMENTS = {
    "html", "head", "meta", "title", "style", "script", "body", "h1", "h2", "p", "code", "ul",
    "li", "table", "tr", "th", "td", "div",
}  # fmt: skip


class Page(HTMLParser):
    """The elements, attributes and text of an HTML page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[str] = []
        self.attributes: list[str] = []
        self.text: list[str] = []
        self.scripts: list[str] = []
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(tag)
        self.attributes += [name for name, _ in attrs]
        self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in and self._in[-1] == "script":
            self.scripts.append(data)
        elif not (self._in and self._in[-1] == "style"):
            self.text.append(data)


def parse(page: str) -> Page:
    parsed = Page()
    parsed.feed(page)
    parsed.close()
    return parsed


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield hostile.build(tmp_path_factory.mktemp("hostile") / "hostile.duckdb")


def html_report(db: Path, *extra: str) -> str:
    result = CliRunner().invoke(
        cli, ["report", "--db", str(db), "--point", hostile.POINT, "--format", "html", *extra]
    )
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("site", [None, *hostile.SITES])
def test_the_html_briefing_shows_hostile_values_as_text(hostile_db: Path, site: str | None) -> None:
    page = html_report(hostile_db, *(["--segment", f"site={site}"] if site else []))
    parsed = parse(page)
    assert set(parsed.elements) <= ELEMENTS, set(parsed.elements) - ELEMENTS
    assert not [a for a in parsed.attributes if a.lower().startswith("on")]
    # Plotly's library, then one chart; no value opened or closed a script of its own
    assert parsed.elements.count("script") == 2
    # the chart's data is JSON inside a script: a value in it must not carry markup either
    assert not any("<img" in s.lower() or "<script" in s.lower() for s in parsed.scripts)
    text = " ".join(parsed.text)
    for value in (hostile.NAME, hostile.OWNER, hostile.VERSION):
        assert value in text, value
    if site is None:
        for value in hostile.SITES:  # each site has its row in the segments table
            assert f"site = {value}" in text, value
    else:
        assert f"— site = {site}" in text  # the title names the chosen site


@pytest.mark.parametrize("site", [None, *hostile.SITES])
def test_the_markdown_briefing_shows_hostile_values_as_text(
    hostile_db: Path, site: str | None
) -> None:
    from markdown_it import MarkdownIt

    extra = ["--segment", f"site={site}"] if site else []
    result = CliRunner().invoke(
        cli, ["report", "--db", str(hostile_db), "--point", hostile.POINT, "--format", "md", *extra]
    )
    assert result.exit_code == 0, result.output
    # rendered as a Markdown viewer would (CommonMark with tables, raw HTML allowed)
    page = MarkdownIt("commonmark", {"html": True}).enable("table").render(result.stdout)
    parsed = parse(page)
    # only the structure the briefing writes: headings, paragraphs, lists, the table, the id's code
    written = {"h1", "h2", "p", "ul", "li", "code", "table", "thead", "tbody", "tr", "th", "td"}
    assert set(parsed.elements) <= written, set(parsed.elements) - written
    assert parsed.elements.count("code") == 1 and not parsed.scripts
    text = " ".join(parsed.text)
    for value in (hostile.NAME, hostile.OWNER, hostile.VERSION):
        assert value in text, value
    if site is None:
        for value in hostile.SITES:  # each site has its row in the segments table, in its cell
            assert f"site = {value}" in text, value
        rows = [line for line in result.stdout.splitlines() if line.startswith("| ")]
        cells = {len(parsed_row) for parsed_row in _cells(page)}
        assert len(rows) > 2 and len(cells) == 1, cells
    else:
        assert f"— site = {site}" in text  # the title names the chosen site


def _cells(page: str) -> list[list[str]]:
    """The cells of each row of the rendered table."""

    class Rows(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.rows: list[list[str]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "tr":
                self.rows.append([])
            elif tag in ("td", "th"):
                self.rows[-1].append(tag)

    found = Rows()
    found.feed(page)
    return found.rows


def test_the_heatmap_labels_show_markup_as_typed() -> None:
    # Plotly reads <b> and <a href> in axis labels and hover text; &lt; is how it shows a "<".
    periods = pl.DataFrame(
        {
            "segment_value": ["<b>x</b>", "a & b", "kiel"],
            "period_start": [date(2026, 3, 2)] * 3,
            "resolved": [40, 40, 40],
            "difference": [0.1, -0.1, 0.0],
        }
    )
    fig = charts.heatmap_figure(periods, thin=30)
    assert list(fig.data[1].y) == ["&lt;b&gt;x&lt;/b&gt;", "a &amp; b", "kiel"]
    assert [row[0] for row in fig.data[1].z] == [0.1, -0.1, 0.0]  # each row still its own value


def test_markdown_escaping_keeps_a_value_on_one_line_and_shows_it_as_typed() -> None:
    assert words.md("kiel") == "kiel"
    assert words.md("**bold** [x](javascript:y)") == r"\*\*bold\*\* \[x\]\(javascript\:y\)"
    assert words.md("$x^2$ :red[r] `c` <b>") == r"\$x^2\$ \:red\[r\] \`c\` \<b\>"
    assert words.md("two\nlines\r\n# heading") == r"two lines \# heading"
    assert words.md(r"a\b") == r"a\\b"
