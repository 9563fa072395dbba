"""A store whose every free-text value is hostile: HTML, script and Markdown in the logs and the point.

`build(path)` registers a decision point, loads predictions, decisions and outcomes through the
real loader (so the values are stored exactly as a file would bring them), and publishes the
numbers with `shadow refresh`. The report and app tests then look for these values, shown as text.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl

from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, parse_point
from shadow.refresh import refresh
from shadow.store import Store

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
# Markdown and Streamlit's extensions (LaTeX, coloured text): shown as typed, not rendered
MARKDOWN = "**bold** <b>tag</b> [link](javascript:alert(1)) $x^2$ :red[red] `code`"
SITES = (SCRIPT, IMG, MARKDOWN)
VERSION = 'v1"><img src=x onerror=alert(3)>'
MODEL = "<b>risk</b><script>alert(4)</script>"
OWNER = 'Dana <img src=x onerror=alert("owner")>'
NAME = "Inspect <i>this</i> pump? <script>alert(5)</script>"
# explanation features are log values too: the case explorer lists the top ones
FEATURES = {SCRIPT: 0.4, IMG: -0.2, "age": 0.1}
POINT = "pump-inspection"
PER_SITE = 48  # more than browse.THIN resolved cases each, so the Segments page names best/worst
START = datetime(2026, 3, 2, 8, tzinfo=UTC)

POINT_TOML = f"""
id = "{POINT}"
name = {NAME!r}
owner = {OWNER!r}
task = "binary"
labels = ["inspect", "no_inspect"]
positive_label = "inspect"
segments = ["site", "region"]
timezone = "Europe/Berlin"

[policy]
"""


def case_ids() -> list[str]:
    """Every case id; two are hostile."""
    ids = [f"C-{i:03d}" for i in range(PER_SITE * len(SITES))]
    ids[2], ids[3] = SCRIPT, IMG  # two disagreements decided on the first day
    return ids


def frames() -> dict[str, pl.DataFrame]:
    """The three logs: cases spread over six weeks and three hostile sites, with disagreements."""
    ids = case_ids()
    n = len(ids)
    site = [SITES[i % len(SITES)] for i in range(n)]
    decided = [START + timedelta(days=(i * 42) // n, hours=i % 5) for i in range(n)]
    # the model says inspect on even cases, people on multiples of three; the truth sides with
    # the model at the Markdown site, with the people at the <img> site, and is mixed at the third
    model = ["inspect" if i % 2 == 0 else "no_inspect" for i in range(n)]
    human = ["inspect" if i % 3 == 0 else "no_inspect" for i in range(n)]
    truth = {MARKDOWN: model, IMG: human}
    actual = [
        truth[s][i] if s in truth and i % 6 else ("inspect" if i % 4 < 2 else "no_inspect")
        for i, s in enumerate(site)
    ]
    explanation = [json.dumps(FEATURES)] * n
    return {
        "predictions": pl.DataFrame(
            {
                "case_id": ids,
                "predicted_at": [d - timedelta(hours=1) for d in decided],
                "model": [MODEL] * n,
                "model_version": [VERSION] * n,
                "predicted_label": model,
                "score": [0.8 if m == "inspect" else 0.2 for m in model],
                "explanation": explanation,
                "site": site,
                "region": [IMG] * n,
            }
        ),
        "decisions": pl.DataFrame(
            {
                "case_id": ids,
                "decided_at": decided,
                "human_label": human,
                "decided_by": [IMG if i % 2 else SCRIPT for i in range(n)],
                "note": [MARKDOWN] * n,
                "site": site,
                "region": [IMG] * n,
            }
        ),
        "outcomes": pl.DataFrame(
            {
                "case_id": ids,
                "observed_at": [d + timedelta(days=3) for d in decided],
                "actual_label": actual,
            }
        ),
    }


def build(db: Path) -> Path:
    """A store at `db` holding the hostile logs, refreshed and published."""
    with Store.open(db, create=True) as store:
        add_point(store, parse_point(POINT_TOML), POINT_TOML)
        for log, frame in frames().items():
            (summary,) = ingest_into(store, log, plan_sources(frame), point=POINT)
            assert summary.accepted == frame.height, summary
    refresh(db)
    return db
