"""Numbers in plain words for the briefing and the app (shares, ranges, times); values safe in Markdown."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any


def pct(x: float | None) -> str:
    """A share as a whole percentage, or "no evidence yet" when there is none: 0.934 -> 93%."""
    return "no evidence yet" if x is None else f"{100 * x:.0f}%"


def span(i: dict[str, Any]) -> str:
    """The 95% range of {"low", "high"} as percentages, e.g. 92 to 94 percent."""
    if i["low"] is None or i["high"] is None:
        return "no interval yet"
    return f"{100 * i['low']:.0f}–{100 * i['high']:.0f}%"


def rate(value: float | None, low: float | None, high: float | None, n: int | None) -> str:
    """A share with its range and count: 93% with its range and n = 2,226, or "no evidence yet"."""
    if value is None or not n:
        return "no evidence yet"
    return f"{pct(value)} ({span({'low': low, 'high': high})}, n = {n:,})"


def points(x: float | None) -> str:
    """A difference of shares in percentage points: +9.0 points."""
    return "n/a" if x is None else f"{100 * x:+.1f} points"


def need(passes: bool, cases: float, weeks: float) -> str:
    """What a segment still needs for one piece of evidence, at its current pace."""
    if passes:
        return "shown"
    if math.isinf(cases):
        return "not at current rates"
    when = "no cases arriving" if math.isinf(weeks) else f"about {weeks:.0f} weeks"
    return f"{cases:,.0f} more cases ({when})"


def where(s: dict[str, Any]) -> str:
    """A segment as people read it: "all cases" or "site = kiel"."""
    return "all cases" if s["segment"] == "all" else f"{s['segment']} = {s['segment_value']}"


def when(iso: str | None) -> str:
    """An ISO time as people read it: 2026-11-26 02:47 UTC."""
    if not iso:
        return "no load yet"
    moment = datetime.fromisoformat(iso)
    return moment.strftime("%Y-%m-%d %H:%M") + (" UTC" if moment.utcoffset() is not None else "")


def iso(x: Any) -> str | None:
    """A date or time as ISO text (None stays None)."""
    if x is None:
        return None
    return x.isoformat() if isinstance(x, datetime | date) else str(x)


# What Markdown (and Streamlit's extensions: $math$, :red[colour], :emoji:) reads as syntax.
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:&])")


# What a Markdown document (the briefing) reads as syntax or markup in a value: emphasis, code,
# links and images, raw HTML and entities, table cells, headings, GitHub's $math$ and ~strike~.
# Dates, numbers and sentences keep their '-', '.', ':' and '(' as typed.
_DOCUMENT = re.compile(r"([\\`*_{}\[\]<>#|!~$&])")


def md_document(value: Any) -> str:
    """A value from the logs or a point file, escaped to show as typed in a Markdown document;
    line breaks become spaces (one line stays one, and a table row stays one row)."""
    return _DOCUMENT.sub(r"\\\1", " ".join(str(value).splitlines()))


def md(value: Any) -> str:
    """A value from the logs or a point file, escaped to show as typed inside Markdown text.

    Streamlit shows raw HTML as text already, but it renders Markdown: a site called `**x**` or
    `[x](javascript:...)` would be bold or a link. Line breaks become spaces: one line stays one.
    """
    return _MARKDOWN.sub(r"\\\1", " ".join(str(value).splitlines()))
