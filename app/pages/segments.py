"""Segments: where the model does better or worse than the people, segment by segment, over time."""

import polars as pl
import streamlit as st

import ui
from shadow import browse, charts, words

ctx = ui.context()
c = ctx.choice
ui.header("Segments", ctx)
columns = list(ctx.point["segments"])
if not columns:
    st.info(
        f"The decision point `{c.point_id}` has no segment columns: its whole track record is on"
        " the Track record page."
    )
    st.stop()
column = st.selectbox(
    "Segment column",
    columns,
    index=columns.index(c.segment) if c.segment in columns else 0,
    key="segment_column",
)
seg = ui.segments(ctx.snapshot.path, c, column)

st.subheader(f"Model minus people accuracy, by {column} and {c.period}")
if seg.periods.height and seg.periods["resolved"].sum():
    ui.chart(charts.heatmap_figure(seg.periods, browse.THIN, c.period), "heatmap")
    st.markdown(
        f"Each cell is one {column} in one {c.period}: blue where the model was right more often than"
        " the people on the same cases, red where the people were, white where they were level."
        f" Cells with fewer than {browse.THIN} cases with a known outcome are faint: too few to say"
        " much on their own (choose month for fuller cells). Hover a cell for its difference and n."
    )
else:
    st.info("No case with a known outcome in this view: no evidence yet.")

st.subheader(f"Each {column} over the chosen version's whole record")
stages = ui.stages(ctx.snapshot.path, c)
stage_of = (
    {}
    if stages is None
    else {
        r["segment_value"]: ui.stage_words(r)
        for r in stages.filter(segment=column).iter_rows(named=True)
    }
)
rows = []
for r in seg.whole.iter_rows(named=True):
    rows.append(
        {
            column: r["segment_value"],
            "shadowed": int(r["paired"]),
            "outcome known": int(r["resolved"]),
            "agreement": words.rate(
                r["agreement"], r["agreement_low"], r["agreement_high"], r["paired"]
            ),
            "model right": words.rate(
                r["model_accuracy"],
                r["model_accuracy_low"],
                r["model_accuracy_high"],
                r["resolved"],
            ),
            "people right": words.rate(
                r["person_accuracy"],
                r["person_accuracy_low"],
                r["person_accuracy_high"],
                r["resolved"],
            ),
            "difference": "no evidence yet"
            if r["difference"] is None
            else f"{words.points(r['difference'])} ({words.points(r['difference_low'])} to"
            f" {words.points(r['difference_high'])})",
            "stage": stage_of.get(r["segment_value"], "no verdict yet"),
        }
    )
judged = seg.whole.filter((pl.col("resolved") >= browse.THIN) & pl.col("difference").is_not_null())
if judged.height:
    best = judged.sort("difference", descending=True).row(0, named=True)
    worst = judged.sort("difference").row(0, named=True)
    st.markdown(
        f"Where the model did best next to the people: **{ui.md(best['segment_value'])}**"
        f" ({words.points(best['difference'])}, n = {int(best['resolved']):,}); where it did worst:"
        f" **{ui.md(worst['segment_value'])}** ({words.points(worst['difference'])},"
        f" n = {int(worst['resolved']):,})."
    )
if rows:
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    st.markdown(
        "Rates show the 95% range and n, the number of cases they are a share of. The difference is"
        " the model's accuracy minus the people's on the same cases, in percentage points, with its"
        " 95% range: a range entirely above 0 means the model was more accurate there. The stage"
        " is the model's role there as signed off (see Readiness)."
    )
if stages is None:
    st.caption(
        "Each segment's stage (shadow, advisory, assisted, autonomous) appears here once the numbers"
        f" are published with readiness gates: run `shadow refresh --db {ctx.db}`."
    )
