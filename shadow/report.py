"""`shadow report`: the morning briefing, from the published numbers (never from the store).

One briefing per decision point (optionally one segment): for each model version, in plain words,
how often the model agreed with the people, who was right when they disagreed, both accuracies on
the same cases with their intervals, what is still pending, what looks wrong (late predictions,
drift, decline alarms, selective labels), and what evidence each segment still needs. Rendered as
Markdown, as JSON for machines, or as one self-contained HTML file with charts. Every value that came
from a log is escaped in HTML.
"""

from __future__ import annotations

import dataclasses
import html
import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from shadow import words
from shadow.errors import ShadowError
from shadow.snapshot import Published, open_published, open_snapshot
from shadow.words import iso as _iso
from shadow.words import need as _need
from shadow.words import pct as _pct
from shadow.words import points as _points
from shadow.words import span as _range
from shadow.words import when as _when
from shadow.words import where as _where

FORMATS = ("md", "html", "json")
# Columns of the published numbers the briefing reads that earlier versions did not publish.
# A drift flag needs PSI above the usual "major shift" line and well above what chance gives.
PSI_MAJOR = 0.25
PSI_NOISE_TIMES = 3.0


@dataclass
class Briefing:
    """Everything the briefing says, as plain values (the JSON output is this)."""

    point: dict[str, Any]
    segment: dict[str, str]
    published_at: str
    data_cut_off: str | None
    versions: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    weekly: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)


def briefing(
    db: Path | str,
    point_id: str,
    segment: tuple[str, str] | None = None,
    *,
    snapshot: Path | None = None,
) -> Briefing:
    """Read the published numbers of `point_id` (and one segment) into a Briefing: from the
    snapshot published beside the store `db` now, or from the snapshot file `snapshot`."""
    with open_snapshot(snapshot) if snapshot else open_published(db) as published:
        point = _point(published, point_id)
        name, value = segment or ("all", "all")
        if name != "all" and name not in point["segments"]:
            raise ShadowError(
                f"{point_id} has no segment column {name!r}",
                hint="its segment columns are " + (", ".join(point["segments"]) or "(none)"),
            )
        everything = _table(published, "numbers").filter(point_id=point_id)
        numbers = everything.filter(segment=name, segment_value=value)
        if name != "all" and numbers.is_empty():
            values = everything.filter(segment=name)["segment_value"].unique().sort().to_list()
            raise ShadowError(
                f"{point_id} has no cases with {name} = {value!r}",
                hint=f"the values of {name} are " + ", ".join(values[:20]),
            )
        evidence = _rows(published, "evidence", point_id)
        selective = everything.filter(period="all").filter(pl.col("selective_labels"))
        drift = _rows(published, "drift", point_id)
        sequences = _rows(published, "sequences", point_id)
        stages = _rows(published, "stages", point_id)
        meta = published.meta
    out = Briefing(
        point={k: point[k] for k in ("point_id", "name", "owner", "task", "positive_label")},
        segment={"column": name, "value": value},
        published_at=_iso(meta.get("published_at")) or "",
        data_cut_off=_iso(meta.get("data_cut_off")),
    )
    whole = numbers.filter(period="all")
    for row in whole.sort("model_version").iter_rows(named=True):
        if row["paired"]:
            out.versions.append(_version(row, numbers))
    out.versions.sort(key=lambda v: v["last_week"] or "", reverse=True)
    out.segments = _segments(evidence, drift, sequences, name, value)
    out.warnings = _warnings(whole, out.segments, selective if name == "all" else whole)
    out.weekly = _weekly(numbers)
    out.stages = _stages(stages, name, value)
    out.warnings += [_review(s) for s in out.stages if s["review"]]
    return out


def render(b: Briefing, fmt: str) -> str:
    """The briefing as Markdown, JSON or self-contained HTML."""
    if fmt == "json":
        return json.dumps(_jsonable(b.__dict__), indent=2)
    if fmt == "md":
        return _markdown(b)
    if fmt == "html":
        return _html(b)
    raise ShadowError(f"Unknown report format {fmt!r}", hint="use " + ", ".join(FORMATS))


# --- reading ----------------------------------------------------------------------------------------


def _point(published: Published, point_id: str) -> dict[str, Any]:
    points = published.table("points")
    found = points.filter(point_id=point_id)
    if found.is_empty():
        known = ", ".join(points["point_id"].to_list()) or "(none)"
        raise ShadowError(
            f"No decision point {point_id!r} in the published track record",
            hint=f"the published points are {known}; after `shadow point add`, run `shadow refresh`",
        )
    return found.row(0, named=True)


def _table(published: Published, name: str) -> pl.DataFrame:
    return published.table(name) if name in published.tables() else pl.DataFrame()


def _rows(published: Published, name: str, point_id: str) -> pl.DataFrame:
    """The point's rows of a table that is published once outcomes exist (empty before)."""
    table = _table(published, name)
    return table.filter(point_id=point_id) if table.width else table


def _version(row: dict[str, Any], numbers: pl.DataFrame) -> dict[str, Any]:
    version = row["model_version"]
    weeks = numbers.filter(model_version=version, period="week", scope="period").filter(
        pl.col("paired") > 0
    )
    a, b = row["both_right"], row["model_right_person_wrong"]
    c, d = row["person_right_model_wrong"], row["both_wrong"]
    return {
        "model_version": version,
        "weeks": weeks.height,
        "first_week": _iso(weeks["period_start"].min()) if weeks.height else None,
        "last_week": _iso(weeks["period_start"].max()) if weeks.height else None,
        "decided": row["decided"],
        "paired": row["paired"],
        "late_predictions": row["late_predictions"],
        "agree": row["agree"],
        "agreement": _interval(row, "agreement"),
        "kappa": _interval(row, "kappa"),
        "resolved": row["resolved"],
        "pending": row["agree_pending"] + row["disagree_pending"],
        "disagreements_resolved": row["disagree_resolved"],
        "model_right_person_wrong": b,
        "person_right_model_wrong": c,
        "both_wrong": d,
        "both_right": a,
        "model_accuracy": _interval(row, "model_accuracy"),
        "person_accuracy": _interval(row, "person_accuracy"),
        "difference": _interval(row, "difference"),
        "mcnemar_mid_p": row["mcnemar_mid_p"],
        "model_recall": _interval(row, "model_recall"),
        "person_recall": _interval(row, "person_recall"),
        "model_specificity": _interval(row, "model_specificity"),
        "person_specificity": _interval(row, "person_specificity"),
        "actual_positive": row.get("actual_positive"),
        "model_cost_per_case": row.get("model_cost_per_case"),
        "person_cost_per_case": row.get("person_cost_per_case"),
    }


def _interval(row: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name not in row or row[name] is None:
        return None
    return {"value": row[name], "low": row.get(f"{name}_low"), "high": row.get(f"{name}_high")}


def _segments(
    evidence: pl.DataFrame, drift: pl.DataFrame, sequences: pl.DataFrame, name: str, value: str
) -> list[dict[str, Any]]:
    """Per segment value of the chosen column (or every column, for the whole point)."""
    if evidence.is_empty():
        return []
    rows = evidence if name == "all" else evidence.filter(segment=name, segment_value=value)
    latest_drift = (
        drift.filter(pl.col("psi").is_not_null())
        .sort("week")
        .group_by("model_version", "segment", "segment_value", maintain_order=True)
        .last()
        if not drift.is_empty()
        else pl.DataFrame()
    )
    alarms = (
        sequences.group_by("model_version", "segment", "segment_value").agg(
            pl.col("cusum_alarms").sum().alias("alarms"),
            pl.col("as_of").filter(pl.col("cusum_alarms") > 0).max().alias("last_alarm"),
        )
        if not sequences.is_empty()
        else pl.DataFrame()
    )
    out = []
    for r in rows.sort("model_version", "segment", "segment_value").iter_rows(named=True):
        key = {k: r[k] for k in ("model_version", "segment", "segment_value")}
        psi = latest_drift.filter(**key).to_dicts() if not latest_drift.is_empty() else []
        alarm = alarms.filter(**key).to_dicts() if not alarms.is_empty() else []
        drifted = bool(
            psi
            and psi[0]["psi"] > PSI_MAJOR
            and psi[0]["psi"] > PSI_NOISE_TIMES * (psi[0]["psi_noise"] or 0)
        )
        out.append(
            {
                **key,
                "resolved": r["matured"],
                "accuracy_passes": r["accuracy_passes"],
                "accuracy_cases_needed": r["accuracy_cases_needed"],
                "accuracy_weeks_needed": r["accuracy_weeks_needed"],
                "margin_passes": r["margin_passes"],
                "margin_cases_needed": r["margin_cases_needed"],
                "margin_weeks_needed": r["margin_weeks_needed"],
                "floor": r["floor"],
                "margin": r["margin"],
                "psi": psi[0]["psi"] if psi else None,
                "psi_noise": psi[0]["psi_noise"] if psi else None,
                "drifted": drifted,
                "decline_alarms": alarm[0]["alarms"] if alarm else 0,
                "last_decline_alarm": _iso(alarm[0]["last_alarm"]) if alarm else None,
            }
        )
    return out


def _stages(stages: pl.DataFrame, name: str, value: str) -> list[dict[str, Any]]:
    """Segments above shadow or flagged for review (all, or the one chosen), with the watch."""
    if stages.is_empty():
        return []
    rows = stages if name == "all" else stages.filter(segment=name, segment_value=value)
    rows = rows.filter((pl.col("stage") != "shadow") | pl.col("review"))
    keep = ("segment", "segment_value", "stage", "since", "signed_by", "review", "cases_since")
    return [
        {k: _iso(r[k]) if k == "since" else r[k] for k in (*keep, "accuracy_since")}
        for r in rows.sort("segment", "segment_value").iter_rows(named=True)
    ]


def _stage_line(s: dict[str, Any]) -> str:
    return (
        f"{_where(s)}: {s['stage']} since {(s['since'] or '')[:10]}, signed by {s['signed_by']}"
        + (" (flagged for review)" if s["review"] else "")
    )


def _review(s: dict[str, Any]) -> str:
    return (
        f"Review {_where(s)} ({s['stage']} since {(s['since'] or '')[:10]}, signed by"
        f" {s['signed_by']}): since the promotion the model was right on"
        f" {_pct(s['accuracy_since'])} of {s['cases_since']:,} resolved cases, and the demotion"
        " watch (peeking-safe e-process or decline alarm) fired. See `shadow gates`."
    )


def _warnings(
    whole: pl.DataFrame, segments: list[dict[str, Any]], selective: pl.DataFrame
) -> list[str]:
    warnings = []
    for r in selective.iter_rows(named=True):
        if r.get("selective_labels"):
            warnings.append(
                f"At {_where(r)} outcomes arrive for"
                f" {_pct(r['outcome_coverage_person_positive'])} of the cases the people acted on"
                f" but {_pct(r['outcome_coverage_person_negative'])} of the others: accuracy there"
                " is measured mostly where the people chose to act, and is biased. A small random"
                " audit of the cases not acted on would make the comparison honest."
            )
    for r in whole.iter_rows(named=True):
        v = r["model_version"]
        if r["late_predictions"]:
            warnings.append(
                f"{r['late_predictions']:,} predictions of {v} were logged after the person had"
                " decided; they are not counted (check the model's batch times)."
            )
        if r["decisions_changed_after_outcome"]:
            warnings.append(
                f"{r['decisions_changed_after_outcome']:,} decisions were changed after the outcome"
                " was known; the earlier decision counts."
            )
    for s in segments:
        where = _where(s)
        if s["drifted"]:
            warnings.append(
                f"Score drift at {where} ({s['model_version']}): PSI {s['psi']:.2f} against its first"
                f" weeks (chance alone gives about {s['psi_noise']:.2f} at this volume)."
            )
        if s["decline_alarms"]:
            warnings.append(
                f"Decline alarm at {where} ({s['model_version']}): the model's error rate rose above"
                f" its early level (last alarm {s['last_decline_alarm']})."
            )
    return list(dict.fromkeys(warnings))


def _weekly(numbers: pl.DataFrame) -> list[dict[str, Any]]:
    """Cumulative numbers at each week the version was running (it scored a case that week)."""
    active = (
        numbers.filter(period="week", scope="period")
        .filter(pl.col("paired") > 0)
        .select("model_version", "period_start")
    )
    weeks = numbers.filter(period="week", scope="cumulative").join(
        active, on=["model_version", "period_start"]
    )
    cols = [
        "model_version",
        "period_start",
        "resolved",
        "model_accuracy",
        "model_accuracy_low",
        "model_accuracy_high",
        "person_accuracy",
        "person_accuracy_low",
        "person_accuracy_high",
        "agreement",
    ]
    return weeks.select(cols).sort("model_version", "period_start").to_dicts()


# --- words ------------------------------------------------------------------------------------------


def _escaped(value: Any) -> Any:
    """Every text in a briefing's values escaped for a Markdown document (words.md_document)."""
    if isinstance(value, str):
        return words.md_document(value)
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _markdown(b: Briefing) -> str:
    # values from the logs and the point file show as typed: a site called **x** stays **x**
    point_id = b.point["point_id"]  # an id ([a-z0-9_.-]), shown as code
    b = dataclasses.replace(
        b,
        **{
            f.name: _escaped(getattr(b, f.name))
            for f in dataclasses.fields(b)
            if f.name not in ("published_at", "data_cut_off")
        },
    )
    p = {**b.point, "point_id": point_id}
    where = (
        "" if b.segment["column"] == "all" else f" — {b.segment['column']} = {b.segment['value']}"
    )
    lines = [
        f"# {p['name']}{where}",
        "",
        f"Decision point `{p['point_id']}`, owner: {p['owner']}. Numbers published"
        f" {_when(b.published_at)}, from the logs loaded up to {_when(b.data_cut_off)}.",
        "",
    ]
    if not b.versions:
        lines.append(
            "No case has both a person's decision and a model's prediction yet: no evidence yet."
        )
    for v in b.versions:
        lines += [f"## Model {v['model_version']}", "", *_paragraphs(v), ""]
    if b.stages:
        lines += [
            f"## Stages (owner: {p['owner']})",
            "",
            *(f"- {_stage_line(s)}" for s in b.stages),
            "",
        ]
    if b.segments:
        lines += ["## Segments", "", *_segment_table(b.segments), ""]
    if b.warnings:
        lines += ["## Look into", "", *(f"- {w}" for w in b.warnings), ""]
    lines.append(
        "Intervals are 95% intervals for the numbers as they stand (snapshot); readiness uses the"
        " peeking-safe bounds behind the segment table, valid however often you look."
    )
    return "\n".join(lines) + "\n"


def _count(n: int, noun: str) -> str:
    """A count and its noun, plural unless one: 1 time, 62 times, 3,112 cases."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def _paragraphs(v: dict[str, Any]) -> list[str]:
    span = f"over {v['weeks']} week{'s' if v['weeks'] != 1 else ''} ({v['first_week']} to {v['last_week']})"
    agreement = v["agreement"]
    out = [
        f"{span.capitalize()} and {_count(v['paired'], 'decision')}, the model agreed with your"
        f" people {_pct(agreement['value'])} of the time ({_range(agreement)}), on {v['agree']:,}"
        f" of {_count(v['paired'], 'case')}."
    ]
    if v["resolved"] == 0:
        out.append("No outcome is known yet for these cases: no evidence yet on who is right.")
        return out
    disagreements = v["disagreements_resolved"]
    neither = disagreements - v["model_right_person_wrong"] - v["person_right_model_wrong"]
    out.append(
        f"Of the {_count(disagreements, 'disagreement')} with a known outcome, the model was right"
        f" {_count(v['model_right_person_wrong'], 'time')} and the people"
        f" {_count(v['person_right_model_wrong'], 'time')}"
        + (f" (neither was right {_count(neither, 'time')})." if neither else ".")
        if disagreements
        else "They have not yet disagreed on a case with a known outcome."
    )
    m, h, d = v["model_accuracy"], v["person_accuracy"], v["difference"]
    out.append(
        f"On the {_count(v['resolved'], 'case')} with a known outcome, the model was right"
        f" {_pct(m['value'])} of the time ({_range(m)}) and the people {_pct(h['value'])}"
        f" ({_range(h)}): a difference of {_points(d['value'])} ({_points(d['low'])} to"
        f" {_points(d['high'])})"
        + (f"; McNemar mid-p {v['mcnemar_mid_p']:.3g}." if v["mcnemar_mid_p"] is not None else ".")
    )
    if v.get("model_recall"):
        mr, hr = v["model_recall"], v["person_recall"]
        out.append(
            f"Of the {_count(v['actual_positive'], 'case')} that turned out positive, the model flagged"
            f" {_pct(mr['value'])} ({_range(mr)}) and the people {_pct(hr['value'])} ({_range(hr)})"
            + _specificity(v)
        )
    if v.get("model_cost_per_case") is not None:
        out.append(
            f"Expected cost per case: model {v['model_cost_per_case']:.2f}, people"
            f" {v['person_cost_per_case']:.2f} (from the policy's costs)."
        )
    if v["pending"]:
        waiting = "is still waiting for its" if v["pending"] == 1 else "are still waiting for their"
        out.append(f"{_count(v['pending'], 'case')} {waiting} outcome.")
    if v["late_predictions"]:
        out.append(
            f"{v['late_predictions']:,} predictions came after the decision and do not count."
        )
    return [" ".join(out)]


def _specificity(v: dict[str, Any]) -> str:
    ms, hs = v.get("model_specificity"), v.get("person_specificity")
    if not ms or not hs:
        return "."
    return (
        f"; of those that turned out negative, the model left {_pct(ms['value'])} alone"
        f" ({_range(ms)}) and the people {_pct(hs['value'])} ({_range(hs)})."
    )


def _segment_table(segments: list[dict[str, Any]]) -> list[str]:
    head = [
        "| version | segment | resolved | accuracy vs floor | vs people (margin) | drift | decline |",
        "|---|---|---:|---|---|---|---|",
    ]
    rows = []
    for s in segments:
        rows.append(
            f"| {s['model_version']} | {_where(s)} | {s['resolved']:,} |"
            f" {_need(s['accuracy_passes'], s['accuracy_cases_needed'], s['accuracy_weeks_needed'])} |"
            f" {_need(s['margin_passes'], s['margin_cases_needed'], s['margin_weeks_needed'])} |"
            f" {'PSI ' + format(s['psi'], '.2f') if s['psi'] is not None else 'too few scores'}"
            f"{' (drift)' if s['drifted'] else ''} |"
            f" {str(s['decline_alarms']) + ' alarm(s)' if s['decline_alarms'] else 'none'} |"
        )
    return head + rows


# --- HTML -------------------------------------------------------------------------------------------


def _html(b: Briefing) -> str:
    """One self-contained page: the Markdown's content, escaped, and Plotly charts inlined."""
    import plotly.graph_objects as go
    from plotly.offline import get_plotlyjs

    e = html.escape
    p = b.point
    title = e(p["name"]) + (
        ""
        if b.segment["column"] == "all"
        else f" — {e(b.segment['column'])} = {e(b.segment['value'])}"
    )
    parts = [
        f"<h1>{title}</h1>",
        f"<p>Decision point <code>{e(p['point_id'])}</code>, owner: {e(p['owner'])}. Numbers"
        f" published {e(_when(b.published_at))}, from the logs loaded up to"
        f" {e(_when(b.data_cut_off))}.</p>",
    ]
    if not b.versions:
        parts.append("<p>No case has both a person's decision and a model's prediction yet.</p>")
    for v in b.versions:
        parts.append(f"<h2>Model {e(v['model_version'])}</h2>")
        parts += [f"<p>{e(text)}</p>" for text in _paragraphs(v)]
        weekly = [w for w in b.weekly if w["model_version"] == v["model_version"]]
        if weekly:
            parts.append(_chart(go, weekly, v["model_version"]))
    if b.stages:
        parts.append(
            f"<h2>Stages (owner: {e(p['owner'])})</h2><ul>"
            + "".join(f"<li>{e(_stage_line(s))}</li>" for s in b.stages)
            + "</ul>"
        )
    if b.segments:
        parts.append("<h2>Segments</h2>" + _html_table(b.segments))
    if b.warnings:
        parts.append(
            "<h2>Look into</h2><ul>" + "".join(f"<li>{e(w)}</li>" for w in b.warnings) + "</ul>"
        )
    body = "\n".join(parts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{title}</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.5}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .6rem}"
        "@media (prefers-color-scheme: dark){body{background:#111;color:#eee}td,th{border-color:#444}}"
        f"</style><script>{get_plotlyjs()}</script></head><body>\n{body}\n</body></html>\n"
    )


def _chart(go: Any, weekly: list[dict[str, Any]], version: str) -> str:
    """Cumulative accuracy of model and people by week of decision, with 95% bands."""
    x = [str(w["period_start"]) for w in weekly]
    fig = go.Figure()
    for side, colour in (("model", "#1f77b4"), ("person", "#ff7f0e")):
        low = [w[f"{side}_accuracy_low"] for w in weekly]
        high = [w[f"{side}_accuracy_high"] for w in weekly]
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=high + low[::-1],
                fill="toself",
                line={"width": 0},
                fillcolor=colour,
                opacity=0.2,
                hoverinfo="skip",
                showlegend=False,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x, y=[w[f"{side}_accuracy"] for w in weekly], name=side, line={"color": colour}
            )
        )
    fig.update_layout(
        title=f"Cumulative accuracy, model {html.escape(version)} and people (95% band)",
        yaxis={"tickformat": ".0%", "title": "share right"},
        xaxis={"title": "week of decision"},
        height=360,
        margin={"t": 50, "b": 40, "l": 60, "r": 20},
    )
    return str(fig.to_html(full_html=False, include_plotlyjs=False))


def _html_table(segments: list[dict[str, Any]]) -> str:
    e = html.escape
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "version",
            "segment",
            "resolved",
            "accuracy vs floor",
            "vs people (margin)",
            "drift",
            "decline",
        )
    )
    rows = []
    for s in segments:
        cells = [
            s["model_version"],
            _where(s),
            f"{s['resolved']:,}",
            _need(s["accuracy_passes"], s["accuracy_cases_needed"], s["accuracy_weeks_needed"]),
            _need(s["margin_passes"], s["margin_cases_needed"], s["margin_weeks_needed"]),
            ("too few scores" if s["psi"] is None else f"PSI {s['psi']:.2f}")
            + (" (drift)" if s["drifted"] else ""),
            f"{s['decline_alarms']} alarm(s)" if s["decline_alarms"] else "none",
        ]
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


# --- plain values -------------------------------------------------------------------------------------


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, datetime | date):
        return x.isoformat()
    return x
