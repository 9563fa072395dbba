"""Disagreements: when the model and the people disagreed, who turned out right, case by case."""

import polars as pl
import streamlit as st

import ui
from shadow import browse, charts

PAGE = 25
ctx = ui.context()
c = ctx.choice
ui.header("Disagreements", ctx)
sel = ui.selection(ctx.snapshot.path, c)
w = sel.window
over_time = browse.disagreements_over_time(sel.periods)

disagreed = int(w["paired"] - w["agree"])
resolved = int(w["disagree_resolved"])
cols = st.columns(4)
with cols[0]:
    ui.card("Disagreements", f"{disagreed:,}", f"of {int(w['paired']):,} shadowed cases")
with cols[1]:
    ui.card(
        "Model right",
        f"{int(w['model_right_person_wrong']):,}",
        f"of {resolved:,} with a known outcome",
    )
with cols[2]:
    ui.card(
        "People right",
        f"{int(w['person_right_model_wrong']):,}",
        f"of {resolved:,} with a known outcome",
    )
with cols[3]:
    ui.card("Outcome pending", f"{int(w['disagree_pending']):,}", "disagreements still open")

st.subheader(f"Who was right, each {c.period}")
if over_time.height and disagreed:
    ui.chart(charts.disagreements_figure(over_time, c.period), "disagreements")
    st.markdown(
        f"Bars count the cases decided in each {c.period} where the model and the person disagreed, by"
        " who the outcome proved right (grey: outcome not known yet). The dotted line is the share of"
        " the resolved disagreements the model won, with its 95% range shaded: above 50% the model was"
        " right more often than the people when they differed; a wide band means few cases."
    )
else:
    st.info("The model and the people did not disagree in this view.")

st.subheader("The cases")
left, right = st.columns([3, 1])
# in a binary task a disagreement with a known outcome has exactly one side right
kinds = [k for k in browse.WHO if not (k == "both_wrong" and ctx.point["task"] == "binary")]
who = left.multiselect(
    "Show disagreements where",
    kinds,
    default=kinds,
    format_func=browse.WHO.get,
    key="who",
)
page_number = right.number_input("Page", min_value=1, value=1, step=1, key="case_page")
found = ui.cases(ctx.snapshot.path, c, tuple(who), PAGE, (int(page_number) - 1) * PAGE)
if not who or not found.total:
    st.info("No disagreement matches these filters.")
else:
    first = (int(page_number) - 1) * PAGE + 1
    st.caption(
        f"{found.total:,} disagreements match ({ctx.where}, decided {c.start} to {c.end}),"
        f" newest first; showing {first:,} to {first + len(found.rows) - 1:,}."
    )
    table = pl.DataFrame(
        [
            {
                "case": r["case_id"],
                "decided": r["decided_at"].strftime("%Y-%m-%d %H:%M"),
                "model said": r["predicted_label"],
                "probability": r["score"],
                "top reasons": ", ".join(f"{k} {v:+.3f}" for k, v in r["reasons"]) or "none logged",
                "person decided": r["human_label"],
                "decided by": r["decided_by"] or "not logged",
                "outcome": r["actual_label"] or "pending",
                "who was right": r["who"],
                "segment": ", ".join(f"{k} = {v}" for k, v in r["segments"].items()),
            }
            for r in found.rows
        ],
        schema={
            "case": pl.String,
            "decided": pl.String,
            "model said": pl.String,
            "probability": pl.Float64,
            "top reasons": pl.String,
            "person decided": pl.String,
            "decided by": pl.String,
            "outcome": pl.String,
            "who was right": pl.String,
            "segment": pl.String,
        },
    )
    st.dataframe(
        table,
        hide_index=True,
        column_config={
            "probability": st.column_config.NumberColumn(
                "probability", help="The model's probability of the positive label", format="%.2f"
            )
        },
    )
    st.markdown(
        "Each row is one case where the model and the person disagreed. *Top reasons* are the"
        " features that moved the model's probability most (how much the probability drops when the"
        " feature alone is set to a typical value). The outcome is what really happened, as logged"
        " (pending: not known yet)."
    )
