"""Track record: how the model has done next to the people, in headline numbers and over time."""

import streamlit as st

import ui
from shadow import charts, words

ctx = ui.context()
c = ctx.choice
ui.header("Track record", ctx)
sel = ui.selection(ctx.snapshot.path, c)
w = sel.window
pending = int(w["agree_pending"] + w["disagree_pending"])

cols = st.columns(5)
with cols[0]:
    ui.card(
        "Cases shadowed",
        f"{int(w['paired']):,}",
        f"of {int(w['decided']):,} decided by people (the model scored the rest too late or not at all)",
        help="Cases the people decided and the model had scored before they did.",
    )
with cols[1]:
    ui.card(
        "Outcome known",
        f"{int(w['resolved']):,}",
        f"{pending:,} still waiting for their outcome",
        help="Shadowed cases whose real outcome is known: accuracy is measured on these.",
    )
with cols[2]:
    ui.card(
        "Agreement",
        words.pct(w["agreement"]),
        ui.rate_detail(w, "agreement", "paired"),
        help="How often the model's label equals the person's decision. Not accuracy.",
    )
with cols[3]:
    ui.card(
        "Model right",
        words.pct(w["model_accuracy"]),
        ui.rate_detail(w, "model_accuracy", "resolved"),
        help="Share of the cases with a known outcome where the model's label was right.",
    )
with cols[4]:
    ui.card(
        "People right",
        words.pct(w["person_accuracy"]),
        ui.rate_detail(w, "person_accuracy", "resolved"),
        help="The same cases: share where the person's decision was right.",
    )
if w["resolved"]:
    st.markdown(
        f"On these {int(w['resolved']):,} cases the model was right {words.pct(w['model_accuracy'])}"
        f" of the time and the people {words.pct(w['person_accuracy'])}: a difference of"
        f" **{words.points(w['difference'])}** (95% range {words.points(w['difference_low'])} to"
        f" {words.points(w['difference_high'])}). Of the {int(w['disagree_resolved']):,} resolved"
        f" disagreements the model was right {int(w['model_right_person_wrong']):,} times and the"
        f" people {int(w['person_right_model_wrong']):,} times."
    )
else:
    st.info(
        "No outcome is known yet for the cases in this view: no evidence yet on who is right."
        " Agreement is shown; accuracy appears as outcomes arrive (`shadow ingest outcomes`)."
    )

period = c.period
st.subheader("Accuracy so far, model and people")
if sel.cumulative.height and sel.cumulative["resolved"].max():
    ui.chart(charts.accuracy_figure(sel.cumulative, period), "accuracy")
    st.markdown(
        f"Each point is the share of cases the model (blue) and the people (amber) got right, counting"
        f" every case with a known outcome decided from the first day of the record up to that {period}"
        " (the same cases for both). The shaded band is the 95% range: the true accuracy is very likely"
        " inside it. Bands are wide where few outcomes are known and narrow as they accumulate; where"
        " the two bands overlap, the data cannot yet tell the two apart."
    )
else:
    st.info("No outcome is known yet in this view: no evidence yet on accuracy.")

st.subheader(f"Agreement each {period}")
if sel.periods.height:
    ui.chart(charts.agreement_figure(sel.periods, period), "agreement")
    st.markdown(
        f"The share of cases decided in each {period} where the model's label matched the person's"
        " decision, outcome known or not, with its 95% range (wider in periods with fewer cases)."
        " High agreement is not high accuracy: agreeing on a mistake is still a mistake."
    )
else:
    st.info("The model did not shadow any decision in these days.")

st.subheader("Who is accountable")
st.markdown(
    f"**{ui.md(ctx.point['owner'])}** owns the decision point *{ui.md(ctx.point['name'])}* and every"
    " number here."
)
stages = ui.stages(ctx.snapshot.path, c)
if stages is None:
    st.caption(
        "The model's stage per segment (shadow, advisory, assisted, autonomous) appears here once"
        f" the numbers are published with readiness gates: run `shadow refresh --db {ctx.db}`."
    )
elif stages.is_empty():
    st.caption(
        "No segment has a stage yet: stages are judged once cases have a known outcome. Until"
        " someone signs a segment up, the model runs in shadow everywhere."
    )
else:
    st.markdown(
        "The model's role in each segment, as signed off in the `shadow` command line (see"
        " Readiness for each gate's evidence and the sign-off history)."
    )
    st.dataframe(ui.stage_table(stages), hide_index=True, key="stages")
