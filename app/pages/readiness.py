"""Readiness: per segment, the gate into its next stage, the sign-offs so far, and how to sign off."""

from typing import Any

import polars as pl
import streamlit as st

import ui
from shadow import readiness, words

ctx = ui.context()
c = ctx.choice
owner = ctx.point["owner"]
ui.header("Readiness", ctx)
r = ui.readiness(ctx.snapshot.path, c)
if not r.judged:
    st.info(
        "No gate is judged yet: no case has both a person's decision and a model's prediction."
        f" Load both, then run `shadow refresh --db {ctx.db}`; this page shows the gates on the"
        " next click."
    )
    st.stop()
if len(r.order) < 2:
    st.info(
        f"The readiness policy of `{c.point_id}` names no stage after shadow, so there is no gate to"
        " judge and nothing to sign off. Add the stages to its `[policy]` (for example"
        ' `stages = ["shadow", "advisory", "assisted", "autonomous"]`), register it again with'
        " `shadow point add --update point.toml`, then run `shadow refresh`."
    )
    st.stop()


def checklist(v: dict[str, Any]) -> None:
    """One segment: its stage, the gate into the next stage criterion by criterion, the command."""
    head = f"Now **{v['stage']}**"
    head += (
        f" since {v['since'][:10]}, signed by {ui.md(v['signed_by'])}"
        if v["since"]
        else " (no sign-off yet)"
    )
    st.markdown(f"{head}. Owner: **{ui.md(owner)}**.")
    if v["review"]:
        st.warning(
            readiness.review_words(v)
            + " The evidence since the promotion no longer supports this stage: review it, and"
            " move it back if it stays so (moving down is always allowed)."
        )
    if v["next_stage"] is None:
        st.success(f"{v['stage']} is the policy's last stage: there is no further gate.")
    else:
        verdict = "READY" if v["ready"] else "not ready"
        st.markdown(
            f"Next stage **{v['next_stage']}**: **{verdict}** (model {ui.md(v['model_version'])}, error"
            f" rate {100 * v['alpha']:.2g}%, policy version {v['policy_version']})."
        )
        if v["criteria"]:
            rows = [
                {
                    "criterion": k["what"],
                    "evidence": k["evidence"],
                    "gate": k["gate"],
                    "result": "pass" if k["passes"] else "FAIL",
                    "evidence needed": k["need"].removeprefix("-> "),
                }
                for k in v["criteria"]
            ]
            st.table(pl.DataFrame(rows), hide_index=True)  # text, so it can be read and copied
        else:
            st.info(f"No resolved case of model {ui.md(v['model_version'])} here yet: no evidence.")
        command(
            v,
            v["next_stage"],
            "To sign it into the next stage, run this in the command line with your name and"
            " reason (the app never writes; the sign-off records you, the owner and the evidence"
            " as it stands; if the gate fails, it also needs --override with a reason):",
        )
    if v["stage"] != r.order[0]:
        back = r.order[r.order.index(v["stage"]) - 1]
        command(v, back, "To move it back one stage (always allowed):")


def command(v: dict[str, Any], to: str, lead: str) -> None:
    st.caption(lead)
    st.code(
        readiness.signoff_command(ctx.db, c.point_id, v["segment"], v["segment_value"], to),
        language="bash",
        wrap_lines=True,
    )


def where(v: dict[str, Any]) -> str:
    return words.where(v)


st.markdown(
    "Each segment earns its role on its own: shadow, then advisory, assisted and autonomous. Before"
    " a segment moves up, the gate of the next stage must pass, criterion by criterion. The bounds"
    " a gate uses stay valid however often they are looked at, so a daily look cannot pass by luck."
    ' Where a criterion fails, "evidence needed" says how many more cases with a known outcome it'
    " needs at the current difference, and about when at the current weekly volume."
)
latest = ctx.snapshot.versions[c.point_id][0]["model_version"]
if c.model_version != latest:
    st.caption(
        f"These are model {ui.md(c.model_version)}'s verdicts. A sign-off judges the version the"
        f" stages follow now ({ui.md(latest)}); choose it in the sidebar to see what a sign-off would record."
    )
if not r.verdicts:
    st.info(
        f"No case of model {ui.md(c.model_version)} with a known outcome yet ({ctx.where}): no evidence"
        " for any gate. Verdicts appear once outcomes are loaded (`shadow ingest outcomes ...`) and"
        " `shadow refresh` runs."
    )
elif len(r.verdicts) == 1:
    st.subheader(ui.md(where(r.verdicts[0])))
    checklist(r.verdicts[0])
else:
    st.subheader("Every segment")
    st.dataframe(
        pl.DataFrame(
            [
                {
                    "segment": where(v),
                    "stage": ui.stage_words(v),
                    "since": (v["since"] or "")[:10],
                    "signed by": v["signed_by"] or "",
                    "next stage": v["next_stage"] or "(last stage)",
                    "verdict": ""
                    if v["next_stage"] is None
                    else "READY"
                    if v["ready"]
                    else "not ready",
                }
                for v in r.verdicts
            ]
        ),
        hide_index=True,
        key="verdicts",
    )
    st.caption(
        f"Owner of every verdict here: {ui.md(owner)}. Open a segment for its gate, criterion by criterion."
    )
    for v in r.verdicts:
        verdict = (
            ""
            if v["next_stage"] is None
            else f", {v['next_stage']}: " + ("READY" if v["ready"] else "not ready")
        )
        review = " · REVIEW" if v["review"] else ""
        with st.expander(f"{ui.md(where(v))}: {v['stage']}{verdict}{review}"):
            checklist(v)

st.subheader("Sign-off history" + ("" if c.segment == "all" else f", {ctx.where}"))
if r.history.is_empty():
    st.info(
        f"No sign-off yet ({ctx.where}): the model is in shadow here. A named person signs off in"
        " the command line (the command is shown with each gate above); it is listed here after."
    )
else:
    st.dataframe(
        pl.DataFrame(
            [
                {
                    "#": h["signoff_id"],
                    "signed at": f"{h['signed_at']:%Y-%m-%d %H:%M} UTC",
                    "segment": where(h),
                    "move": f"{h['from_stage']} -> {h['to_stage']}",
                    "signed by": h["signed_by"]
                    + ("" if h["signed_by"] == h["owner"] else f" (owner: {h['owner']})"),
                    "reason": h["reason"],
                    "override": h["override_reason"] or "",
                    "policy version": h["policy_version"],
                }
                for h in r.history.iter_rows(named=True)
            ]
        ),
        hide_index=True,
        key="history",
    )
    st.caption(
        "An override moved a segment up although its gate did not pass; its reason is recorded."
        " Each sign-off froze the evidence as it stood: open one to read it exactly as stored."
        f" Check that none was changed since with `shadow signoff verify --db {ctx.db}`."
    )
    for h in r.history.iter_rows(named=True):
        with st.expander(
            f"Sign-off {h['signoff_id']}: evidence snapshot of {ui.md(where(h))},"
            f" {h['from_stage']} -> {h['to_stage']}"
        ):
            st.caption(f"As stored, hash {h['snapshot_hash']}")
            st.code(h["snapshot"], language="json", wrap_lines=True)
