"""`shadow gates`: each segment's stage, its next stage, and every criterion of that gate, in words.

Read from the published tables `gates` and `stages` (never from the store), with the point's owner.
"""

from __future__ import annotations

import json
import math
import shlex
from pathlib import Path
from typing import Any

import polars as pl

from shadow.config import did_you_mean
from shadow.errors import ShadowError
from shadow.policy import parse_policy
from shadow.snapshot import Published, open_published

_NEEDED_TABLES = {"stages", "points"}


def verdicts(
    db: Path | str, point_id: str, segment: tuple[str, str] | None = None
) -> dict[str, Any]:
    """The readiness of every segment of `point_id` (or one), for its current model version."""
    with open_published(db) as published:
        point = published_point(published, point_id)
        gates = published_gates(published, point_id)
        stages = published.table("stages").filter(point_id=point_id)
        meta = published.meta
    if segment is not None:
        stages = stages.filter(segment=segment[0], segment_value=segment[1])
        check_segment(point, segment, published_segments(gates, point_id))
    out: dict[str, Any] = {
        "point": {k: point[k] for k in ("point_id", "name", "owner")},
        "published_at": _iso(meta.get("published_at")),
        "data_cut_off": _iso(meta.get("data_cut_off")),
        "segments": judge(point, gates, stages),
    }
    return out


def judge(
    point: dict[str, Any],
    gates: pl.DataFrame,
    stages: pl.DataFrame,
    *,
    version: str | None = None,
) -> list[dict[str, Any]]:
    """Each published stage row with its next stage's criteria in words (of `version`, else its own)."""
    order = list(stages_of(point))
    out = []
    for s in stages.sort("segment", "segment_value").iter_rows(named=True):
        next_stage = _after(order, s["stage"])
        judged = version or s["model_version"]
        # no next stage (the last, or a policy with only shadow): no gate, no criteria
        mine = (
            gates.filter(
                model_version=judged,
                segment=s["segment"],
                segment_value=s["segment_value"],
                stage=next_stage,
            )
            if next_stage is not None and "stage" in gates.columns
            else gates.clear()
        )
        criteria = [_criterion(r, point) for r in mine.iter_rows(named=True)]
        out.append(
            {
                "segment": s["segment"],
                "segment_value": s["segment_value"],
                "model_version": judged,
                "stage": s["stage"],
                "since": _iso(s["since"]),
                "signed_by": s["signed_by"],
                "next_stage": next_stage,
                "ready": bool(criteria) and all(c["passes"] for c in criteria),
                "alpha": s["alpha"],
                "policy_version": s["policy_version"],
                "review": bool(s["review"]),
                "watch": {
                    k: s[k]
                    for k in (
                        "cases_since",
                        "accuracy_since",
                        "demotion_evalue",
                        "decline_alarms_since",
                    )
                },
                "criteria": criteria,
            }
        )
    return out


def review_words(s: dict[str, Any]) -> str:
    """Why a promoted segment is flagged for review, from its watch numbers (one line)."""
    w = s["watch"]
    return (
        f"REVIEW: since the promotion, {w['cases_since']:,} resolved cases at"
        f" {_pct(w['accuracy_since'])}; demotion e-value {w['demotion_evalue']:.3g}"
        f" (alarm at {1 / s['alpha']:.0f}); {w['decline_alarms_since']} decline alarm(s)."
    )


def signoff_command(db: Path | str, point_id: str, segment: str, value: str, to_stage: str) -> str:
    """The `shadow signoff` command that moves one segment to `to_stage` (the signer fills in)."""
    return (
        f"shadow signoff --point {shlex.quote(point_id)}"
        f" --segment {shlex.quote(f'{segment}={value}')} --to {to_stage}"
        f' --by "<your name>" --reason "..." --db {shlex.quote(str(db))}'
    )


def published_point(published: Published, point_id: str) -> dict[str, Any]:
    """The published row of `point_id`, or a ShadowError saying what to run."""
    missing = _NEEDED_TABLES - set(published.tables())
    if missing:
        raise ShadowError(
            "The published numbers have no readiness verdicts yet: no case has both a person's"
            " decision and a model's prediction",
            hint="load both logs, then run `shadow refresh`",
        )
    points = published.table("points")
    found = points.filter(point_id=point_id)
    if found.is_empty():
        known = points["point_id"].to_list()
        raise ShadowError(
            f"No decision point {point_id!r} in the published track record"
            + did_you_mean(point_id, known),
            hint="the published points are "
            + (", ".join(known) or "(none)")
            + "; after `shadow point add`, run `shadow refresh`",
        )
    return found.row(0, named=True)


def published_gates(published: Published, point_id: str) -> pl.DataFrame:
    """The published verdicts of `point_id` (none are published before any outcome is known)."""
    if "gates" not in published.tables():
        return pl.DataFrame(
            schema={"segment": pl.String, "segment_value": pl.String, "model_version": pl.String}
        )
    return published.table("gates").filter(point_id=point_id)


def stages_of(point: dict[str, Any]) -> tuple[str, ...]:
    """The stages, in order, of a published point's policy."""
    policy = parse_policy(json.loads(point["policy"]), point["point_id"])
    return policy.stages


def published_segments(gates: pl.DataFrame, point_id: str) -> dict[str, list[str]]:
    """Segment column -> its values with evidence, as published."""
    pairs = gates.select("segment", "segment_value").unique().sort("segment", "segment_value")
    out: dict[str, list[str]] = {}
    for column, value in pairs.iter_rows():
        out.setdefault(column, []).append(value)
    return out


def check_segment(
    point: dict[str, Any], segment: tuple[str, str], known: dict[str, list[str]]
) -> None:
    """Raise a ShadowError naming the fix when `segment` is not one the point's gates judge."""
    column, value = segment
    if column not in known:
        columns = list(known)
        raise ShadowError(
            f"{point['point_id']} has no segment column {column!r}" + did_you_mean(column, columns),
            hint="give --segment as column=value; its segment columns are "
            + (", ".join(columns) or "(none with evidence yet)"),
        )
    if value not in known[column]:
        raise ShadowError(
            f"{point['point_id']} has no segment {column} = {value!r}"
            + did_you_mean(value, known[column]),
            hint=f"the values of {column} are " + ", ".join(known[column][:20]),
        )


def jsonable(x: Any) -> Any:
    """The verdicts with non-finite numbers as null (the words say "not at the current rates")."""
    if isinstance(x, dict):
        return {k: jsonable(v) for k, v in x.items()}
    if isinstance(x, list):
        return [jsonable(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def render_text(v: dict[str, Any]) -> str:
    """The verdicts in plain words, one paragraph per segment."""
    p = v["point"]
    lines = [
        f"{p['point_id']}: {p['name']}",
        f"Owner: {p['owner']}. Evidence up to the data cut-off {_when(v['data_cut_off'])}.",
    ]
    if not v["segments"]:
        lines += ["", "No resolved case yet: no evidence for any gate."]
    for s in v["segments"]:
        lines.append("")
        head = f"{s['segment']} = {s['segment_value']}: {s['stage']}"
        if s["since"]:
            head += f" since {s['since'][:10]} (signed by {s['signed_by']})"
        if s["next_stage"] is None:
            lines.append(head + "; this is the last stage.")
        else:
            verdict = "READY" if s["ready"] else "not ready"
            lines.append(
                f"{head}. Next: {s['next_stage']}: {verdict}"
                f" (model {s['model_version']}, error rate {100 * s['alpha']:.2g}%,"
                f" policy version {s['policy_version']})."
            )
        if s["review"]:
            lines.append("  " + review_words(s))
        if s["next_stage"] is not None and not s["criteria"]:
            lines.append(f"  no resolved case of model {s['model_version']} here yet")
        for c in s["criteria"]:
            mark = "pass" if c["passes"] else "FAIL"
            need = "" if c["passes"] or not c["need"] else f" {c['need']}"
            lines.append(f"  {mark}  {c['words']}{need}")
    return "\n".join(lines) + "\n"


def _criterion(r: dict[str, Any], point: dict[str, Any]) -> dict[str, Any]:
    what, evidence, gate = _parts(r, point.get("positive_label"))
    return {
        "criterion": r["criterion"],
        "value": r["value"],
        "threshold": r["threshold"],
        "passes": r["passes"],
        "cases_needed": r["cases_needed"],
        "weeks_needed": r["weeks_needed"],
        "words": f"{what}: {evidence} (gate: {gate})",
        "what": what,
        "evidence": evidence,
        "gate": gate,
        "need": _need(r),
    }


def _parts(r: dict[str, Any], positive: str | None) -> tuple[str, str, str]:
    """What a criterion checks, its evidence and its threshold, each in words."""
    c, v, t, s = r["criterion"], r["value"], r["threshold"], r["setting"]
    if c == "resolved":
        return "resolved cases", f"{v:,.0f}", f"at least {t:,.0f}"
    if c == "positives":
        return f"resolved cases that were {positive}", f"{v:,.0f}", f"at least {t:,.0f}"
    if c == "weeks":
        return "weeks of track record", f"{v:.1f}", f"at least {t:g}"
    if c in ("accuracy", "recall"):
        what = "accuracy" if c == "accuracy" else f"recall on {positive}"
        return f"{what} above {_pct(s)}, peeking-safe", f"e-value {_num(v)}", f"reaches {t:,.0f}"
    if c == "people":
        bound = "above 0: better than the people" if s == 0 else f"above {100 * t:+.1f} points"
        return (
            "accuracy minus the people's, peeking-safe lower bound",
            f"{100 * v:+.1f} points",
            bound,
        )
    if c == "cost":
        return (
            "cost per case minus the people's, peeking-safe upper bound",
            f"{v:.3g}",
            f"below {t:g}",
        )
    if c == "calibration":
        return "calibration gap |mean score - observed rate|", _num(v), f"at most {t:g}"
    if c == "drift":
        return "score drift, latest weekly PSI", _num(v), f"below {t:g}"
    return f"decline alarms in the last {s:g} weeks", f"{v:.0f}", "none"


def _need(r: dict[str, Any]) -> str:
    if r["passes"]:
        return ""
    if r["criterion"] == "weeks":
        return f"-> {r['threshold'] - r['value']:.1f} more weeks of track record"
    cases, weeks = r["cases_needed"], r["weeks_needed"]
    if cases is None:
        return ""
    if math.isinf(cases):
        return "-> not at the current rates"
    if cases < 1:  # the estimate says it is about to pass: no "about 0 more cases"
        return "-> close: a few more resolved cases at the current rates"
    if math.isinf(weeks):
        when = "no cases arriving"
    elif weeks < 0.5:
        when = "within a week"
    else:
        when = f"about {weeks:.0f} weeks"
    return f"-> about {cases:,.0f} more resolved cases ({when} at the current volume)"


def _when(iso: str | None) -> str:
    return "(none)" if not iso else iso[:16].replace("T", " ") + " UTC"


def _after(order: list[str], stage: str) -> str | None:
    i = order.index(stage) if stage in order else 0
    return order[i + 1] if i + 1 < len(order) else None


def _num(x: float | None) -> str:
    return (
        "not enough data yet"
        if x is None or (isinstance(x, float) and math.isnan(x))
        else f"{x:.3g}"
    )


def _pct(x: float | None) -> str:
    return "no evidence yet" if x is None else f"{100 * x:.0f}%"


def _iso(x: Any) -> str | None:
    return None if x is None else x.isoformat() if hasattr(x, "isoformat") else str(x)
