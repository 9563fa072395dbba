"""Data quality: loads, quarantined rows, late predictions, outcome coverage and delay, selective labels."""

import polars as pl
import streamlit as st

import ui
from shadow import charts, words

ctx = ui.context()
c = ctx.choice
ui.header("Data quality", ctx)
q = ui.quality(ctx.snapshot.path, c)

st.subheader("Look into")
notes = ui.warnings(ctx.snapshot.path, c.point_id)
if notes:
    for note in notes:
        st.warning(ui.md(note))
    st.caption("The same list as the morning briefing (`shadow report`).")
else:
    st.success(
        "Nothing to look into: no late predictions, drift, decline alarm or selective labels."
    )

st.subheader("Loads")
if q.loads.height:
    ui.chart(charts.loads_figure(q.loads), "loads")
    st.markdown(
        "Every load of this decision point's logs: rows accepted, skipped as exact duplicates, and"
        " quarantined with a reason. Nothing is dropped silently; see the quarantined rows with"
        " `shadow rejects --load N`."
    )
    if q.reasons.height:
        st.dataframe(
            q.reasons.rename({"reason_code": "reason", "rows": "rows quarantined"}), hide_index=True
        )
else:
    st.info("No load of this decision point is published yet.")

st.subheader("Outcome coverage and late predictions")
if q.weeks.height:
    ui.chart(charts.coverage_figure(q.weeks), "coverage")
    late = int(q.weeks["late_predictions"].sum())
    st.markdown(
        "The line is the share of each week's decided cases whose outcome is known (recent weeks are"
        " lower because outcomes take time). Bars count predictions of this version logged after the"
        f" person had decided: they were not shadowing the decision and are not counted ({late:,} in"
        " this view)."
    )
if q.delays.height:
    ui.chart(charts.delay_figure(q.delays), "delays")
    st.markdown(
        "How many days passed between the decision and its outcome, for the cases decided each week:"
        " half of the outcomes came within the median, nine in ten within the 90th percentile."
    )

st.subheader("Selective labels")
if q.selective.height:
    rows = [
        {
            "segment": words.where(r),
            "outcome known where people acted": words.rate(
                r["outcome_coverage_person_positive"],
                r["outcome_coverage_person_positive_low"],
                r["outcome_coverage_person_positive_high"],
                r["decided_positive"],
            ),
            "outcome known elsewhere": words.rate(
                r["outcome_coverage_person_negative"],
                r["outcome_coverage_person_negative_low"],
                r["outcome_coverage_person_negative_high"],
                int(r["decided"] - r["decided_positive"]),
            ),
        }
        for r in q.selective.iter_rows(named=True)
    ]
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    st.markdown(
        "In these segments outcomes arrive far more often for the cases the people acted on than for"
        " the others, so accuracy there is measured mostly where the people chose to act, and is"
        " biased. A small random audit of the cases not acted on would make the comparison honest."
    )
else:
    st.success(
        "Outcomes arrive about as often whether or not the people acted: no sign of selective labels."
    )
