"""Streamlit glue shared by the pages: which store, cached readers, the sidebar, messages and cards.

The app never holds the store or the published file open: every reader opens a snapshot file,
reads and closes it (shadow.browse). The sidebar asks which file is published now; every read of
the page is from that file, and is cached under its path: a published file never changes, so the
path names the numbers. A refresh publishes a new file, and the next rerun reads it; no restart,
and no page mixes the numbers of two snapshots.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import streamlit as st

from shadow import browse, words
from shadow.errors import NotPublished, ShadowError

PERIODS = ["day", "week", "month"]
md = words.md  # log and point values inside Markdown: shown as typed


def db_path() -> str:
    """The store: `-- --db PATH` after `streamlit run app/main.py`, else SHADOW_DB, else ./shadow.duckdb."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--db")
    known, _ = parser.parse_known_args(sys.argv[1:])
    return str(known.db or os.environ.get("SHADOW_DB") or "shadow.duckdb")


# --- cached readers: keyed by the snapshot file's path ---------------------------------------------


@st.cache_data(max_entries=8, show_spinner=False)
def _snapshot(path: Path) -> browse.Snapshot:
    return browse.snapshot(path)


@st.cache_data(max_entries=64, show_spinner="Reading the track record…")
def selection(path: Path, choice: browse.Choice) -> browse.Selection:
    """The chosen version and segment's numbers (cached per published snapshot)."""
    return browse.selection(path, choice)


@st.cache_data(max_entries=128, show_spinner="Finding the cases…")
def cases(
    path: Path,
    choice: browse.Choice,
    who: tuple[str, ...],
    limit: int,
    offset: int,
) -> browse.Cases:
    """One page of disagreements (cached per published snapshot)."""
    return browse.cases(path, choice, who=who, limit=limit, offset=offset)


@st.cache_data(max_entries=64, show_spinner="Reading the segments…")
def segments(path: Path, choice: browse.Choice, column: str) -> browse.Segments:
    """Every value of one segment column (cached per published snapshot)."""
    return browse.segments(path, choice, column)


@st.cache_data(max_entries=32, show_spinner="Reading the gates…")
def readiness(path: Path, choice: browse.Choice) -> browse.Readiness:
    """Stages, gate verdicts and sign-offs of the chosen segment (cached per published snapshot)."""
    return browse.readiness(path, choice)


@st.cache_data(max_entries=32, show_spinner=False)
def stages(path: Path, choice: browse.Choice) -> pl.DataFrame | None:
    """The current stage of every segment of the point; None before gates were published."""
    return browse.stages(path, choice)


@st.cache_data(max_entries=32, show_spinner="Reading model health…")
def health(path: Path, choice: browse.Choice) -> browse.Health:
    """Calibration, drift, alarms and versions (cached per published snapshot)."""
    return browse.health(path, choice)


@st.cache_data(max_entries=32, show_spinner="Reading data quality…")
def quality(path: Path, choice: browse.Choice) -> browse.Quality:
    """Loads, quarantine, coverage and delays (cached per published snapshot)."""
    return browse.quality(path, choice)


@st.cache_data(max_entries=16, show_spinner=False)
def warnings(path: Path, point_id: str) -> list[str]:
    """The morning briefing's "Look into" list for the point, word for word (of that snapshot)."""
    from shadow.report import briefing

    return briefing(path, point_id, snapshot=path).warnings


# --- the sidebar --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Context:
    """What every page reads: the store, the snapshot file the sidebar drew, the reader's choice."""

    db: str
    snapshot: browse.Snapshot
    choice: browse.Choice
    point: dict[str, Any]
    first_day: date
    last_day: date

    @property
    def where(self) -> str:
        """The chosen segment in words, escaped for the Markdown every page shows it in."""
        c = self.choice
        return md(words.where({"segment": c.segment, "segment_value": c.segment_value}))


def show_error(e: ShadowError) -> None:
    """An expected failure as a message and the next step, never a traceback."""
    st.error(str(e))
    if e.hint:
        st.caption(f"Hint: {e.hint}")


def sidebar() -> Context | None:
    """Draw the choices (bound to the URL, so a view can be bookmarked); None with a message if none."""
    db = db_path()
    try:
        snap = _snapshot(browse.current(db))
    except NotPublished as e:
        _nothing_yet(db, e)
        return None
    except ShadowError as e:
        show_error(e)
        return None
    if not snap.points:
        st.info(
            f"The store {db} has no decision point yet. Register one with"
            " `shadow point add point.toml`, load its logs with `shadow ingest`, then run"
            " `shadow refresh`. To see the app on a sample, run `shadow demo`."
        )
        return None
    ids = [p["point_id"] for p in snap.points]
    sb = st.sidebar
    point_id = sb.selectbox(
        "Decision point",
        ids,
        key="point",
        bind="query-params",
    )
    point = snap.point(point_id)
    versions = [v["model_version"] for v in snap.versions.get(point_id, [])]
    days = snap.days.get(point_id)
    if not versions or days is None:
        st.title(md(point["name"]))
        st.caption(f"Decision point `{point_id}` · owner: {md(point['owner'])}")
        st.info(
            "No case has both a person's decision and a model's prediction yet, so there is no"
            " track record to show: no evidence yet. Load the model's predictions and the people's"
            f" decisions (`shadow ingest predictions ... --point {point_id}`, `shadow ingest"
            " decisions ...`), then run `shadow refresh`."
        )
        return None
    version = sb.selectbox(
        "Model version",
        versions,
        key="version",
        bind="query-params",
        help="Newest first. Model health shows every version side by side.",
    )
    options = ["all", *[f"{s}:{v}" for s, v in snap.segments.get(point_id, [])]]
    segment = sb.selectbox(
        "Segment",
        options,
        format_func=lambda o: "All cases" if o == "all" else o.replace(":", " = ", 1),
        key="segment",
        bind="query-params",
        help="Bookmark the page to come back to your site.",
    )
    period = sb.segmented_control(
        "Period",
        PERIODS,
        default="week",
        key="period",
        bind="query-params",
        required=True,
    )
    first, last = days
    # The widget keeps its value when a refresh adds days: a reader who had the whole record
    # (the default) gets the whole new record, not the days the previous snapshot had.
    whole = st.session_state.get("_whole_days")
    if whole != (first, last) and whole is not None and st.session_state.get("dates") == whole:
        del st.session_state["dates"]
    st.session_state["_whole_days"] = (first, last)
    chosen = sb.date_input(
        "Decided between",
        value=(first, last),
        min_value=first,
        max_value=last,
        key="dates",
        bind="query-params",
    )
    start, end = _range(chosen, first, last)
    column, _, value = segment.partition(":") if segment != "all" else ("all", "", "all")
    sb.caption(
        f"Numbers published {words.when(snap.published_at)}, from the logs loaded up to"
        f" {words.when(snap.data_cut_off)}. The app only reads them; `shadow refresh` updates"
        " them and the next click shows the new ones."
    )
    choice = browse.Choice(
        point_id=point_id,
        model_version=version,
        segment=column,
        segment_value=value,
        period=period or "week",
        start=start,
        end=end,
    )
    return Context(db, snap, choice, point, first, last)


def _range(chosen: Any, first: date, last: date) -> tuple[date, date]:
    """The chosen dates as (start, end): a half-picked range runs to the last day.

    A range given backwards (a hand-edited address) is read forwards, not as no days at all.
    """
    if isinstance(chosen, date):
        return chosen, last
    picked = [d for d in (chosen or ()) if d is not None]
    if not picked:
        return first, last
    start, end = picked[0], picked[1] if len(picked) > 1 else last
    return min(start, end), max(start, end)


def _nothing_yet(db: str, e: NotPublished) -> None:
    st.title("Shadow track record")
    if not os.path.exists(db):
        st.info(
            f"There is no store at `{db}` yet. To see the app on the bundled sample, run"
            " `shadow demo` (it builds `shadow.duckdb` and opens this app). For your own logs:"
            " `shadow init`, `shadow point add point.toml`, `shadow ingest ...`, `shadow refresh`,"
            " then `shadow app --db PATH`."
        )
    else:
        st.info(
            f"The store `{db}` has no published track record yet. Run `shadow refresh --db {db}`"
            " to compute it; this page shows it on the next click."
        )
    st.caption(str(e))


# --- pieces every page uses ---------------------------------------------------------------------


def context() -> Context:
    """The context drawn by the sidebar in main.py (pages run after it)."""
    ctx: Context | None = st.session_state.get("_context")
    if ctx is None:
        st.stop()
    if st.session_state.get("_sidebar_drawn"):
        return ctx  # every read of this run is from the file the sidebar was drawn from
    # the page reran on its own (AppTest does): the snapshot published now, the reader's choice
    path = browse.current(ctx.db)
    return ctx if path == ctx.snapshot.path else replace(ctx, snapshot=_snapshot(path))


def header(title: str, ctx: Context) -> None:
    """The page title and one line saying what is shown: point, owner, version, segment, days."""
    c = ctx.choice
    st.title(title)
    st.caption(
        f"**{md(ctx.point['name'])}** (`{c.point_id}`) · owner: {md(ctx.point['owner'])} · model"
        f" {md(c.model_version)} · {ctx.where} · decided {c.start} to {c.end}"
    )


def card(label: str, value: str, detail: str, help: str | None = None) -> None:
    """One headline number in a bordered box, with its range and n underneath."""
    with st.container(border=True):
        st.metric(label, value, help=help)
        st.caption(detail)


def rate_detail(row: dict[str, Any], name: str, n: str) -> str:
    """A published rate's 95% range and its n, or that there is no evidence yet."""
    if row.get(name) is None or not row.get(n):
        return f"n = {int(row.get(n) or 0):,}: no evidence yet"
    return f"95% range {words.span({'low': row[f'{name}_low'], 'high': row[f'{name}_high']})}, n = {int(row[n]):,}"


def chart(fig: Any, key: str) -> None:
    """A Plotly figure in the page's theme (light or dark)."""
    st.plotly_chart(fig, theme="streamlit", key=key, config={"displaylogo": False})


def stage_words(row: dict[str, Any]) -> str:
    """A segment's stage as the pages show it, flagged when its demotion alarm fired."""
    return row["stage"] + (" (REVIEW: demotion alarm)" if row["review"] else "")


def stage_table(frame: pl.DataFrame) -> pl.DataFrame:
    """The published stages as a table: segment, stage, since, signed by."""
    return pl.DataFrame(
        [
            {
                "segment": words.where(r),
                "stage": stage_words(r),
                "since": "" if r["since"] is None else f"{r['since']:%Y-%m-%d}",
                "signed by": r["signed_by"] or "",
            }
            for r in frame.iter_rows(named=True)
        ],
        schema=dict.fromkeys(["segment", "stage", "since", "signed by"], pl.String),
    )
