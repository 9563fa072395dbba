"""Readiness: per segment, what the evidence shows so far and what it still needs."""

import math

import polars as pl
import streamlit as st

import ui
from shadow import words

ctx = ui.context()
c = ctx.choice
ui.header("Readiness", ctx)
st.info(
    "Gate checklists for the next stage, sign-off history and the command to sign off appear here"
    " once the decision point has a readiness policy with stages. Until then this page shows the"
    " evidence the track record already holds. The app never changes anything: signing off will stay"
    " in the `shadow` command line, where the signer is named."
)
frame = ui.evidence(ctx.db, ctx.identity, c)
if frame.is_empty():
    st.info(f"No case of model {c.model_version} has a known outcome yet: no evidence yet.")
    st.stop()
first = frame.row(0, named=True)
st.markdown(
    f"Two pieces of evidence, judged with bounds that stay valid however often they are looked at"
    f" (so a daily look cannot pass by luck): the model's accuracy is shown to be **above"
    f" {words.pct(first['floor'])}** (the floor), and the model is shown to be **at most"
    f" {100 * first['margin']:.0f} points less accurate than the people** (the margin). Where it is"
    " not shown yet, the table says how many more cases with a known outcome it needs if accuracy"
    " stays where it is, and about when at the pace outcomes arrived over the last four weeks."
)
if c.segment != "all":
    mine = frame.filter(segment=c.segment, segment_value=c.segment_value)
    if mine.height:
        r = mine.row(0, named=True)
        cols = st.columns(2)
        with cols[0]:
            ui.card(
                f"Accuracy above {words.pct(r['floor'])}",
                words.need(
                    r["accuracy_passes"], r["accuracy_cases_needed"], r["accuracy_weeks_needed"]
                ),
                f"{ctx.where}: {int(r['matured']):,} cases with a known outcome so far",
            )
        with cols[1]:
            ui.card(
                f"At most {100 * r['margin']:.0f} points below the people",
                words.need(r["margin_passes"], r["margin_cases_needed"], r["margin_weeks_needed"]),
                f"lower bound of the difference: {words.points(r['difference_lower'])}",
            )
rows = [
    {
        "segment": words.where(r),
        "cases with outcome": int(r["matured"]),
        f"accuracy above {words.pct(r['floor'])}": words.need(
            r["accuracy_passes"], r["accuracy_cases_needed"], r["accuracy_weeks_needed"]
        ),
        f"within {100 * r['margin']:.0f} points of people": words.need(
            r["margin_passes"], r["margin_cases_needed"], r["margin_weeks_needed"]
        ),
        "difference, lower bound": words.points(r["difference_lower"]),
        "outcomes a week": "none lately"
        if not r["resolved_per_week"] or math.isnan(r["resolved_per_week"])
        else f"{r['resolved_per_week']:,.0f}",
        "as of": str(r["as_of"]),
    }
    for r in frame.iter_rows(named=True)
]
st.subheader(f"Evidence per segment, model {c.model_version}")
st.dataframe(pl.DataFrame(rows), hide_index=True)
st.caption(
    '"shown": the evidence is there. "N more cases (about W weeks)": what it still needs at the'
    ' current accuracy and pace. "not at current rates": at today\'s accuracy it would never pass.'
    f" Read the same in the briefing: `shadow report --point {c.point_id}"
    + ("" if c.segment == "all" else f" --segment {c.segment}={c.segment_value}")
    + "`."
)
