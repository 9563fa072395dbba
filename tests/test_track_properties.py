"""Property tests of the track record: invariants that hold for any logs, whatever they hold.

Random small logs for the sample decision point (binary inspect/no_inspect, segments site and
region, Europe/Berlin): cases with decisions (some revised, some made after the outcome), predictions
from one or two model versions (some late, some for cases never decided), outcomes (some corrected,
some missing) and sites that sometimes change between a case's rows. They are loaded through
`ingest_into` into an in-memory store, and the track record is computed from it as `shadow refresh`
does: join, count, numbers, sequences. Times come from a coarse grid of 17-hour steps across a month
end, a DST change and several ISO weeks, so that a prediction, a decision and an outcome often share
an instant (the joining rules' "at or before" and "before" boundaries).
"""

from __future__ import annotations

import os
import random
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shadow.ingestion import ingest_into, plan_sources
from shadow.points import parse_point
from shadow.refresh import refresh
from shadow.snapshot import open_published
from shadow.store import Store
from shadow.track.cells import SCALE as BRIER_SCALE
from shadow.track.join import GROUP
from shadow.track.numbers import KEYS
from tests.conftest import POINT_TOML, register

pytestmark = pytest.mark.slow

SETTINGS = settings(
    # SHADOW_EXAMPLES=500 for a deeper run than the default, which keeps the file fast.
    max_examples=int(os.environ.get("SHADOW_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

POINT = parse_point(POINT_TOML)
BERLIN = ZoneInfo("Europe/Berlin")
POSITIVE = "inspect"
LABELS = ("inspect", "no_inspect")
SITES = ("kiel", "bonn", "graz", None)
REGIONS = ("north", "south", None)
SCORES = (None, 0.0, 0.1, 0.3, 0.5, 0.7, 1.0, 0.123456789)
MODEL = "gbm"
FLOOR = 0.85
# The time grid: 22:30 UTC is 23:30 or 00:30 in Berlin, so steps land on both sides of midnight;
# the grid spans the end of March (and Berlin's DST change on 29 March 2026) into May.
BASE = datetime(2026, 3, 20, 22, 30, tzinfo=UTC)
STEP = timedelta(hours=17)
TICKS = 60
NOW = BASE + TICKS * STEP + timedelta(days=1)  # every grid time is in the past for the loads

Row = tuple[Any, ...]
SCHEMAS: dict[str, pl.Schema] = {
    "predictions": pl.Schema(
        {
            "case_id": pl.String(),
            "predicted_at": pl.Datetime("us", "UTC"),
            "model": pl.String(),
            "model_version": pl.String(),
            "predicted_label": pl.String(),
            "score": pl.Float64(),
            "site": pl.String(),
            "region": pl.String(),
        }
    ),
    "decisions": pl.Schema(
        {
            "case_id": pl.String(),
            "decided_at": pl.Datetime("us", "UTC"),
            "human_label": pl.String(),
            "site": pl.String(),
            "region": pl.String(),
        }
    ),
    "outcomes": pl.Schema(
        {
            "case_id": pl.String(),
            "observed_at": pl.Datetime("us", "UTC"),
            "actual_label": pl.String(),
        }
    ),
}

# Every count of counts.py (all additive), and the outcome-table cells.
OUTCOME_CELLS = ("both_right", "model_right_person_wrong", "person_right_model_wrong", "both_wrong")
CELLS = (*OUTCOME_CELLS, "agree_pending", "disagree_pending")
COUNTS = (
    "decided",
    "resolved_decided",
    "outcomes_corrected",
    "decisions_changed_after_outcome",
    "decisions_revised",
    "decided_positive",
    "resolved_decided_positive",
    "resolved_decided_negative",
    "paired",
    "agree",
    "resolved",
    *CELLS,
    "both_positive",
    "model_only_positive",
    "person_only_positive",
    "both_negative",
    "actual_positive",
    "model_positive_resolved",
    "person_positive_resolved",
    "model_true_positive",
    "person_true_positive",
    "brier_n",
    "brier_sum_e9",
    "late_predictions",
    "scored_not_decided",
)
SCOPE_KEYS = [*KEYS, "scope"]
SEQUENCE_KEYS = [*GROUP, "as_of"]


@dataclass(frozen=True)
class Logs:
    """The three logs as rows, in the column order of SCHEMAS."""

    predictions: list[Row]
    decisions: list[Row]
    outcomes: list[Row]

    def rows(self, log: str) -> list[Row]:
        return {
            "predictions": self.predictions,
            "decisions": self.decisions,
            "outcomes": self.outcomes,
        }[log]

    def frame(self, log: str, rows: Iterable[Row] | None = None) -> pl.DataFrame:
        data = self.rows(log) if rows is None else list(rows)
        return pl.DataFrame(data, schema=SCHEMAS[log], orient="row")


def at(tick: int) -> datetime:
    return BASE + tick * STEP


@st.composite
def logs(draw: st.DrawFn, max_cases: int = 6, moving_predictions: bool = False) -> Logs:
    """A small random set of cases, each with its own decisions, outcomes and predictions.

    A case's decisions sometimes name another site or region than its own; its predictions do
    only with `moving_predictions`, since where an undecided case is counted then depends on row
    order (test_an_undecided_case_counts_in_its_latest_segment).
    """
    versions = draw(st.sampled_from([("v1",), ("v1", "v2")]))
    ticks = st.integers(0, TICKS - 1)
    labels = st.sampled_from(LABELS)
    predictions, decisions, outcomes = [], [], []
    for i in range(draw(st.integers(0, max_cases))):
        case = f"c{i}"
        home = (draw(st.sampled_from(SITES)), draw(st.sampled_from(REGIONS)))
        # mostly the case's own site and region, sometimes another (a moved asset, a typo)
        where = st.one_of(
            st.just(home), st.tuples(st.sampled_from(SITES), st.sampled_from(REGIONS))
        )
        # keys are unique per log (case, time): nothing is quarantined as a conflict
        for t in draw(st.lists(ticks, max_size=3, unique=True)):
            decisions.append((case, at(t), draw(labels), *draw(where)))
        for t in draw(st.lists(ticks, max_size=2, unique=True)):
            outcomes.append((case, at(t), draw(labels)))
        for version in versions:
            for t in draw(st.lists(ticks, max_size=2, unique=True)):
                score = draw(st.sampled_from(SCORES))
                segments = draw(where) if moving_predictions else home
                predictions.append((case, at(t), MODEL, version, draw(labels), score, *segments))
    return Logs(predictions, decisions, outcomes)


def build(folder: Path, parts: dict[str, list[pl.DataFrame]], *, daily: bool = False) -> Track:
    """A fresh store in `folder` with the sample point and each log loaded from its frames, in
    order, then refreshed as `shadow refresh` does; with `daily`, refreshed after every load (each
    refresh then reads again only the cases that load touched)."""
    db = folder / "shadow.duckdb"
    with Store.open(db, create=True) as store:
        register(store)
    for log, frames in parts.items():
        for frame in frames:
            if frame.is_empty():
                continue
            with Store.open(db) as store:
                (summary,) = ingest_into(
                    store, log, plan_sources(frame), point=POINT.point_id, now=NOW
                )
            # every generated row is valid: nothing may be lost on the way in
            assert (summary.accepted, summary.quarantined) == (frame.height, 0), summary.by_reason
            if daily:
                refresh(db)
    return track(db)


@dataclass(frozen=True)
class Track:
    counts: pl.DataFrame
    numbers: pl.DataFrame
    sequences: pl.DataFrame


def track(db: Path) -> Track:
    """The track record `shadow refresh` publishes (its numbers hold every count too)."""
    refresh(db)
    with open_published(db) as published:
        tables = set(published.tables())
        numbers = published.table("numbers").drop("point_id") if "numbers" in tables else None
        sequences = (
            published.table("sequences").drop("point_id")
            if "sequences" in tables
            else pl.DataFrame(schema={k: pl.String for k in SEQUENCE_KEYS})
        )
    assert numbers is not None
    numbers = numbers.sort(SCOPE_KEYS)
    return Track(numbers, numbers, sequences.sort(SEQUENCE_KEYS))


def track_of(
    data: Logs, *, daily: bool = False, parts: dict[str, list[pl.DataFrame]] | None = None
) -> Track:
    with tempfile.TemporaryDirectory() as folder:
        return build(
            Path(folder), parts or {log: [data.frame(log)] for log in SCHEMAS}, daily=daily
        )


# --- an independent oracle: DESIGN.md's joining rules as loops over cases ---------------------------


def local_day(t: datetime) -> date:
    return t.astimezone(BERLIN).date()


PERIOD_START: dict[str, Callable[[datetime], date]] = {
    "day": local_day,
    "week": lambda t: local_day(t) - timedelta(days=local_day(t).weekday()),
    "month": lambda t: local_day(t).replace(day=1),
}


def oracle(data: Logs, period: str) -> dict[tuple[Any, ...], dict[str, int]]:
    """Every count of counts.py for one period kind, keyed like its rows, from plain Python loops.

    DESIGN.md, "Joining": the outcome of record is the latest outcome; the decision of record is
    the latest decision made before that outcome was observed; the prediction of record, per model
    version, is the latest made at or before the decision of record, and a version with
    predictions only after it is a late prediction. A case scored but never decided counts, per
    version, at the time of its latest prediction (in the segment of its latest prediction that
    names one).
    """
    start = PERIOD_START[period]
    by_case: dict[str, dict[str, list[Row]]] = defaultdict(lambda: defaultdict(list))
    for log in SCHEMAS:
        for row in data.rows(log):
            by_case[row[0]][log].append(row)
    versions = sorted({p[3] for p in data.predictions})

    out: dict[tuple[Any, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))

    def add(version: str, segments: dict[str, str | None], t: datetime, name: str, n: int) -> None:
        for segment, value in (("all", "all"), *segments.items()):
            key = (version, segment, value if value is not None else "(none)", period, start(t))
            out[key][name] += n

    decided_cases = []  # (segments, decided_at, per-case decided counts)
    for rows in by_case.values():
        outcomes = sorted(rows["outcomes"], key=lambda r: r[1])
        actual = outcomes[-1][2] if outcomes else None
        observed = outcomes[-1][1] if outcomes else None
        in_time = sorted(
            (d for d in rows["decisions"] if observed is None or d[1] < observed),
            key=lambda d: d[1],
        )
        after = len(rows["decisions"]) - len(in_time)
        if not in_time:
            if after:  # decided only once the outcome was known: not a case of the record
                continue
            for version in versions:  # scored, never decided
                scored = sorted(
                    (p for p in rows["predictions"] if p[3] == version), key=lambda p: p[1]
                )
                if scored:
                    named = [p for p in scored if p[6] is not None] or scored
                    named_region = [p for p in scored if p[7] is not None] or scored
                    segments = {"site": named[-1][6], "region": named_region[-1][7]}
                    add(version, segments, scored[-1][1], "scored_not_decided", 1)
            continue
        _, decided_at, human, site, region = in_time[-1]
        segments = {"site": site, "region": region}
        resolved = actual is not None
        acted = human == POSITIVE
        decided_counts = {
            "decided": 1,
            "resolved_decided": resolved,
            "outcomes_corrected": len(outcomes) > 1,
            "decisions_changed_after_outcome": after > 0,
            "decisions_revised": len(in_time) > 1,
            "decided_positive": acted,
            "resolved_decided_positive": acted and resolved,
            "resolved_decided_negative": not acted and resolved,
        }
        decided_cases.append((segments, decided_at, decided_counts))
        for version in versions:
            scored = [p for p in rows["predictions"] if p[3] == version]
            if not scored:
                continue
            on_time = sorted((p for p in scored if p[1] <= decided_at), key=lambda p: p[1])
            if not on_time:
                add(version, segments, decided_at, "late_predictions", 1)
                continue
            _, _, _, _, model, score, _, _ = on_time[-1]
            cell = {
                (True, True): "both_right",
                (True, False): "model_right_person_wrong",
                (False, True): "person_right_model_wrong",
                (False, False): "both_wrong",
            }[(model == actual, human == actual)]
            if not resolved:
                cell = "agree_pending" if model == human else "disagree_pending"
            m, h, y = model == POSITIVE, human == POSITIVE, actual == POSITIVE
            paired_counts = {
                "paired": 1,
                "agree": model == human,
                "resolved": resolved,
                cell: 1,
                "both_positive": m and h,
                "model_only_positive": m and not h,
                "person_only_positive": not m and h,
                "both_negative": not m and not h,
                "actual_positive": resolved and y,
                "model_positive_resolved": resolved and m,
                "person_positive_resolved": resolved and h,
                "model_true_positive": resolved and m and y,
                "person_true_positive": resolved and h and y,
                "brier_n": resolved and score is not None,
                "brier_sum_e9": round((score - y) ** 2 * BRIER_SCALE)
                if resolved and score is not None
                else 0,
            }
            for name, n in paired_counts.items():
                add(version, segments, decided_at, name, int(n))
    # the decided counts stand in the rows of every version that scored anything, decided or not
    # (model coverage = paired / decided)
    for segments, decided_at, decided_counts in decided_cases:
        for version in versions:
            for name, n in decided_counts.items():
                add(version, segments, decided_at, name, int(n))
    return dict(out)


def as_keyed(counts: pl.DataFrame, period: str) -> dict[tuple[Any, ...], dict[str, int]]:
    rows = counts.filter(period=period, scope="period").iter_rows(named=True)
    return {tuple(r[k] for k in KEYS): {c: r[c] for c in COUNTS} for r in rows}


# --- the properties -----------------------------------------------------------------------------------

# Each rate of numbers.py with the count it is a share of (null exactly where that count is 0).
RATES = {
    "model_coverage": "decided",
    "outcome_coverage": "decided",
    "agreement": "paired",
    "model_accuracy": "resolved",
    "person_accuracy": "resolved",
    "difference": "resolved",
    "model_positive_rate": "paired",
    "person_positive_rate": "paired",
    "model_recall": "actual_positive",
    "person_recall": "actual_positive",
    "model_precision": "model_positive_resolved",
    "person_precision": "person_positive_resolved",
    "brier": "brier_n",
    "outcome_coverage_person_positive": "decided_positive",
}
ULP = 1e-12
# Each interval of numbers.py: its point estimate (or the estimate it must contain) and its range.
INTERVALS = {
    "agreement": ("agreement", 0.0, 1.0),
    "model_accuracy": ("model_accuracy", 0.0, 1.0),
    "person_accuracy": ("person_accuracy", 0.0, 1.0),
    "model_accuracy_cs": ("model_accuracy", 0.0, 1.0),
    "difference": ("difference", -1.0, 1.0),
    "model_recall": ("model_recall", 0.0, 1.0),
    "person_recall": ("person_recall", 0.0, 1.0),
    "model_precision": ("model_precision", 0.0, 1.0),
    "person_precision": ("person_precision", 0.0, 1.0),
    "outcome_coverage_person_positive": ("outcome_coverage_person_positive", 0.0, 1.0),
    "outcome_coverage_person_negative": ("outcome_coverage_person_negative", 0.0, 1.0),
    # normal-quantile intervals, not clipped: they leave [-1, 1] at small n (see
    # test_kappa_and_ac1_intervals_stay_within_their_range); only containment is checked here
    "kappa": ("kappa", -float("inf"), float("inf")),
    "ac1": ("ac1", -float("inf"), float("inf")),
}


def check_cells(counts: pl.DataFrame) -> None:
    """The four outcome cells sum to resolved, the six cells to paired, paired + late <= decided."""
    four = counts.select(pl.sum_horizontal(OUTCOME_CELLS)).to_series()
    six = counts.select(pl.sum_horizontal(CELLS)).to_series()
    assert (four == counts["resolved"]).all()
    assert (six == counts["paired"]).all()
    assert (counts["paired"] + counts["late_predictions"] <= counts["decided"]).all()
    assert (counts["resolved"] <= counts["resolved_decided"]).all()
    table = ("both_positive", "model_only_positive", "person_only_positive", "both_negative")
    assert (counts.select(pl.sum_horizontal(table)).to_series() == counts["paired"]).all()


def check_cumulative(counts: pl.DataFrame) -> None:
    """Cumulative counts never fall, and the last cumulative row is the sum of the period rows.

    If counts.py also gives a whole-record row (no period_start), it equals that sum as well.
    """
    group = ["model_version", "segment", "segment_value", "period"]
    dated = counts.filter(pl.col("period").is_in(list(PERIOD_START)))
    cumulative = dated.filter(scope="cumulative").sort(*group, "period_start")
    falls = cumulative.select(
        pl.any_horizontal(
            (pl.col(c).cast(pl.Int64).diff().over(group) < 0).fill_null(False) for c in COUNTS
        )
    ).to_series()
    assert not falls.any(), cumulative.filter(falls)
    last = cumulative.group_by(group).agg(pl.col(COUNTS).last()).sort(group)
    total = dated.filter(scope="period").group_by(group).agg(pl.col(COUNTS).sum()).sort(group)
    assert last.equals(total.cast(last.schema))
    # cumulative rows stand exactly where period rows do
    periods = dated.filter(scope="period").select(KEYS).sort(KEYS)
    assert cumulative.select(KEYS).sort(KEYS).equals(periods)
    whole = counts.filter(pl.col("period_start").is_null(), scope="period")
    if not whole.is_empty():
        group = ["model_version", "segment", "segment_value"]
        whole = whole.select(*group, *COUNTS).sort(group)
        for period in PERIOD_START:
            sums = total.filter(period=period).drop("period").sort(group)
            assert sums.cast(whole.schema).equals(whole), period


def check_rolling(counts: pl.DataFrame) -> None:
    """A rolling row sums the period rows of its week and the three weeks before it."""
    group = ["model_version", "segment", "segment_value"]
    weeks = counts.filter(period="week", scope="period")
    rolling = counts.filter(scope="rolling")
    assert rolling.select(KEYS).sort(KEYS).equals(weeks.select(KEYS).sort(KEYS))
    window = (
        rolling.select(*group, "period_start")
        .join(weeks, on=group, suffix="_week")
        .filter(
            pl.col("period_start_week") <= pl.col("period_start"),
            pl.col("period_start_week") > pl.col("period_start") - timedelta(weeks=4),
        )
        .group_by(*group, "period_start")
        .agg(pl.col(COUNTS).sum())
        .sort(*group, "period_start")
    )
    got = rolling.select(*group, "period_start", *COUNTS).sort(*group, "period_start")
    assert window.cast(got.schema).equals(got)


def check_segments_add_up(counts: pl.DataFrame) -> None:
    """The "all" row of each version and period is the sum of the rows of each segment's values."""
    keys = ["model_version", "period", "period_start"]
    periods = counts.filter(scope="period")
    whole = periods.filter(segment="all").select(*keys, *COUNTS).sort(keys)
    for segment in POINT.segment_columns:
        parts = periods.filter(segment=segment).group_by(keys).agg(pl.col(COUNTS).sum()).sort(keys)
        assert parts.cast(whole.schema).equals(whole), segment


def check_rates(table: pl.DataFrame) -> None:
    """A rate is null exactly where its n is 0; every interval holds its estimate, within range."""
    negative = table["decided"] - table["decided_positive"]
    for rate, n in [*RATES.items(), ("outcome_coverage_person_negative", None)]:
        empty = (negative if n is None else table[n]) == 0
        assert (table[rate].is_null() == empty).all(), rate
    for name, (estimate, low_end, high_end) in INTERVALS.items():
        rows = table.filter(pl.col(f"{name}_low").is_not_null())
        low, high, value = rows[f"{name}_low"], rows[f"{name}_high"], rows[estimate]
        assert (rows[f"{name}_high"].is_not_null()).all(), name
        assert value.is_not_null().all(), name
        # within a rounding error: the exact check is test_a_wilson_interval_holds_its_estimate
        bad = ~((low <= value + ULP) & (value <= high + ULP))
        assert not bad.any(), (name, rows.filter(bad).select(*KEYS, estimate, low.name, high.name))
        outside = (low < low_end - ULP) | (high > high_end + ULP)
        assert not outside.any(), (name, rows.filter(outside).select(KEYS, low.name, high.name))
    # the snapshot intervals exist wherever their rate does (kappa and AC1: where defined)
    for name in ("agreement", "model_accuracy", "difference", "model_recall", "model_precision"):
        assert (table[f"{name}_low"].is_null() == table[name].is_null()).all(), name
    assert (table.filter(pl.col("paired") == 0)["kappa"].is_null()).all()


def check_sequences(track: Track) -> None:
    """Each stream's last state counts every resolved paired case of that version and segment."""
    group = list(GROUP)
    seq = track.sequences
    rises = seq.select((pl.col("matured").diff().over(group).fill_null(1) > 0).all()).item()
    assert rises
    last = seq.group_by(group).agg(pl.col("matured", "model_correct", "person_correct").last())
    totals = (
        track.counts.filter(scope="period", period="month")
        .group_by(group)
        .agg(
            matured=pl.col("resolved").sum(),
            model_correct=pl.sum_horizontal("both_right", "model_right_person_wrong").sum(),
            person_correct=pl.sum_horizontal("both_right", "person_right_model_wrong").sum(),
        )
        .filter(pl.col("matured") > 0)
    )
    assert last.sort(group).cast(totals.schema).equals(totals.sort(group))
    for low, high in (("difference_cs_low", "difference_cs_high"),):
        assert (seq[low] <= seq[high]).all() and (seq[low] >= -1).all() and (seq[high] <= 1).all()
    p = seq["accuracy_always_valid_p"]
    assert ((p >= 0) & (p <= 1)).all()


@SETTINGS
@given(logs(moving_predictions=True))  # whichever segment an undecided case lands in
def test_invariants_of_the_track_record(data: Logs) -> None:
    """Cells add up, cumulative counts never fall, rolling windows and segments add up, intervals hold."""
    track = track_of(data)
    check_cells(track.counts)
    check_cumulative(track.counts)
    check_rolling(track.counts)
    check_segments_add_up(track.counts)
    check_rates(track.numbers)
    check_sequences(track)


def shuffled_parts(data: Logs, seed: int) -> dict[str, list[pl.DataFrame]]:
    """Each log's rows shuffled and, by the seed, loaded whole or split in two files in either order."""
    rng = random.Random(seed)
    parts = {}
    for log in SCHEMAS:
        rows = list(data.rows(log))
        rng.shuffle(rows)
        cut = rng.randint(0, len(rows))
        files = [data.frame(log, rows[:cut]), data.frame(log, rows[cut:])]
        parts[log] = files if rng.random() < 0.5 else files[::-1]
    # the logs themselves in any order: a prediction may be loaded before its decision
    order = list(parts)
    rng.shuffle(order)
    return {log: parts[log] for log in order}


def assert_same(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    assert a.columns == b.columns, what
    assert a.equals(b), (what, a.join(b, on=a.columns, how="anti"))


@SETTINGS
@given(logs(), st.integers(0, 2**32 - 1))
def test_permuting_the_input_rows_changes_nothing(data: Logs, seed: int) -> None:
    """Shuffled rows, split files, logs loaded in another order, a refresh after each file: the
    same track record as one refresh after every file, exactly."""
    first = track_of(data)
    # the shuffled files loaded one at a time, each followed by a refresh: every refresh but the
    # first reads again only the cases its load touched (the daily refresh)
    second = track_of(data, daily=True, parts=shuffled_parts(data, seed))
    assert_same(first.counts, second.counts, "counts")
    assert_same(first.numbers, second.numbers, "numbers")
    assert_same(first.sequences, second.sequences, "sequences")


@SETTINGS
@given(logs())
def test_counts_equal_a_plain_python_oracle(data: Logs) -> None:
    """Per day, week and month: counts.py gives what DESIGN.md's rules give, applied case by case."""
    counts = track_of(data).counts
    for period in PERIOD_START:
        assert as_keyed(counts, period) == oracle(data, period), period


# --- bugs the properties found, each pinned by its smallest example -----------------------------------


def counts_of(data: Logs) -> pl.DataFrame:
    return track_of(data).counts.filter(period="month", scope="period")


def test_an_undecided_case_counts_in_its_latest_segment() -> None:
    earlier = ("c1", at(0), MODEL, "v1", "inspect", 0.9, "bonn", "north")
    later = ("c1", at(1), MODEL, "v1", "inspect", 0.9, "kiel", "north")
    sites = []
    for rows in ([earlier, later], [later, earlier]):
        counts = counts_of(Logs(rows, [], []))
        scored = counts.filter(segment="site", scored_not_decided=1)
        sites.append(scored["segment_value"].to_list())
    assert sites == [["kiel"], ["kiel"]]


def test_a_wilson_interval_holds_its_estimate() -> None:
    """Ten cases where model and person agree: agreement 1.0, its interval must reach 1.0."""
    cases = [f"c{i}" for i in range(10)]
    data = Logs(
        predictions=[(c, at(0), MODEL, "v1", "inspect", None, "kiel", "north") for c in cases],
        decisions=[(c, at(1), "inspect", "kiel", "north") for c in cases],
        outcomes=[],
    )
    row = (
        track_of(data)
        .numbers.filter(segment="all", period="month", scope="period")
        .row(0, named=True)
    )
    assert row["agreement"] == 1.0
    assert row["agreement_low"] <= row["agreement"] <= row["agreement_high"]


def test_kappa_and_ac1_intervals_stay_within_their_range() -> None:
    """Seven paired cases: 5 both inspect, 1 only the model, 1 both no_inspect."""
    labels = [("inspect", "inspect")] * 5 + [("inspect", "no_inspect"), ("no_inspect",) * 2]
    data = Logs(
        predictions=[
            (f"c{i}", at(0), MODEL, "v1", model, None, "kiel", "north")
            for i, (model, _) in enumerate(labels)
        ],
        decisions=[(f"c{i}", at(1), human, "kiel", "north") for i, (_, human) in enumerate(labels)],
        outcomes=[],
    )
    row = (
        track_of(data)
        .numbers.filter(segment="all", period="month", scope="period")
        .row(0, named=True)
    )
    for name in ("kappa", "ac1"):
        assert -1 <= row[f"{name}_low"] <= row[name] <= row[f"{name}_high"] <= 1, name


def test_every_version_sees_every_decided_case() -> None:
    """v1 scored the decided case c1; v2 scored only c2, which nobody decided."""
    data = Logs(
        predictions=[
            ("c1", at(0), MODEL, "v1", "inspect", None, "kiel", "north"),
            ("c2", at(0), MODEL, "v2", "inspect", None, "kiel", "north"),
        ],
        decisions=[("c1", at(1), "inspect", "kiel", "north")],
        outcomes=[],
    )
    numbers_ = track_of(data).numbers.filter(segment="all", period="month", scope="period")
    by_version = {r["model_version"]: r for r in numbers_.iter_rows(named=True)}
    assert by_version["v1"]["decided"] == by_version["v2"]["decided"] == 1
    assert (by_version["v1"]["model_coverage"], by_version["v2"]["model_coverage"]) == (1.0, 0.0)


def test_two_models_with_one_version_label_do_not_depend_on_row_order() -> None:
    gbm = ("c1", at(0), "gbm", "v1", "inspect", None, "kiel", "north")
    rf = ("c1", at(0), "rf", "v1", "no_inspect", None, "kiel", "north")
    decisions = [("c1", at(1), "inspect", "kiel", "north")]
    agree = [
        counts_of(Logs(rows, decisions, [])).filter(segment="all")["agree"].to_list()
        for rows in ([gbm, rf], [rf, gbm])
    ]
    assert agree[0] == agree[1]
