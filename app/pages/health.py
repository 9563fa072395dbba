"""Model health: calibration, score drift, rolling accuracy with decline alarms, versions side by side."""

import polars as pl
import streamlit as st

import ui
from shadow import charts, words

ctx = ui.context()
c = ctx.choice
ui.header("Model health", ctx)
h = ui.health(ctx.snapshot.path, c)
sel = ui.selection(ctx.snapshot.path, c)

st.subheader("Calibration")
if h.calibration.height:
    first = h.calibration.row(0, named=True)
    cols = st.columns(3)
    with cols[0]:
        ui.card(
            "Brier score",
            f"{first['brier']:.3f}",
            f"n = {int(first['cases']):,} scored cases with a known outcome; 0 is perfect",
        )
    with cols[1]:
        ui.card(
            "Expected calibration error",
            f"{first['ece']:.3f}",
            "mean gap between score and outcome",
        )
    with cols[2]:
        ui.card(
            "Score minus outcome rate",
            words.points(first["calibration_in_the_large"]),
            "above 0: the model's probabilities run high",
        )
    ui.chart(charts.calibration_figure(h.calibration), "calibration")
    st.markdown(
        "The model's cases are grouped by the probability it gave; each point is a group's average"
        " probability (across) and the share that really turned out positive (up). On the dashed"
        " diagonal a probability of 0.3 means 3 in 10 turn out positive; above it the model"
        " under-states the risk, below it over-states it. Bigger points hold more cases."
    )
else:
    st.info("No scored case with a known outcome yet: no evidence yet on calibration.")

st.subheader("Score drift")
if h.drift.height and h.drift["psi"].drop_nulls().len():
    ui.chart(charts.drift_figure(h.drift), "drift")
    st.markdown(
        "How far the model's scores over the last four weeks have moved from its first four weeks"
        " (PSI; above about 0.25, dashed red, is usually a real shift). The dotted line is what chance"
        " alone gives at this volume: PSI means little until well above it. Drift needs no outcome,"
        " so it warns first; accuracy confirms."
    )
else:
    st.info(
        "Too few scores yet to measure drift (it needs 50 in the window and in the first weeks)."
    )

st.subheader("Recent accuracy and decline alarms")
if sel.rolling.height and sel.rolling["resolved"].max():
    alarms = h.alarms["as_of"].to_list() if h.alarms.height else []
    ui.chart(charts.rolling_figure(sel.rolling, alarms), "rolling")
    st.markdown(
        "Accuracy over the four weeks up to each week, so a recent decline is not hidden by a long"
        " good record; bands are 95% ranges. A dashed red line marks a day the decline alarm fired:"
        " the model's errors rose above its early level by more than chance explains."
        + (
            f" It fired on {len(alarms)} day(s), last on {alarms[-1]}."
            if alarms
            else " It has not fired."
        )
    )
else:
    st.info("No outcome known yet in this view: no evidence yet on recent accuracy.")

st.subheader("Model versions side by side")
rows = [
    {
        "version": r["model_version"],
        "shadowed": int(r["paired"]),
        "outcome known": int(r["resolved"]),
        "agreement": words.rate(
            r["agreement"], r["agreement_low"], r["agreement_high"], r["paired"]
        ),
        "model right": words.rate(
            r["model_accuracy"], r["model_accuracy_low"], r["model_accuracy_high"], r["resolved"]
        ),
        "people right (same cases)": words.rate(
            r["person_accuracy"], r["person_accuracy_low"], r["person_accuracy_high"], r["resolved"]
        ),
        "Brier": "no evidence yet" if r.get("brier") is None else f"{r['brier']:.3f}",
        "late predictions": int(r["late_predictions"]),
    }
    for r in h.versions.iter_rows(named=True)
]
if rows:
    st.dataframe(pl.DataFrame(rows), hide_index=True)
    st.caption(
        f"Each version over its whole record in {ctx.where}. Versions that ran side by side were judged"
        " on the same cases in those weeks; people's accuracy differs between rows because each row"
        " counts only the cases that version shadowed."
    )
