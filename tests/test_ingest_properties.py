"""Property tests of loading through the real CLI: every row read is accounted for, whatever it holds.

Random decision and prediction logs (messy case ids, timestamps in many spellings, impossible and
future ones, label spellings and garbage, bad scores, blank rows, exact duplicates, conflicting
versions of a row, lines with the wrong number of fields) are written to a CSV and loaded with
`shadow ingest ... --json`. Each row carries what we expect of it: the first problem the quarantine
must name, or, for a valid row, the values it must be stored with if accepted.
"""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shadow.cli import cli
from shadow.points import add_point, read_point
from shadow.store import Store

pytestmark = pytest.mark.slow

POINT_TOML = Path(__file__).resolve().parents[1] / "sample_data" / "pump_inspection" / "point.toml"
POINT = "pump-inspection"
BERLIN = ZoneInfo("Europe/Berlin")  # the point's timezone: naive times are read in it
LABELS = ("inspect", "no_inspect")
SPELLINGS = {
    "Y": "inspect",
    "yes": "inspect",
    "1": "inspect",
    "N": "no_inspect",
    "no": "no_inspect",
}
MAPPING = """
[labels]
inspect = ["Y", "yes", "1"]
no_inspect = ["N", "no"]

[timestamps]
formats = ["%d/%m/%Y %H:%M"]
"""
SETTINGS = settings(
    # SHADOW_EXAMPLES=500 for a deeper run than the default, which keeps the file fast.
    max_examples=int(os.environ.get("SHADOW_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Local (Europe/Berlin) wall-clock times that rows use; few of them, so keys collide often.
LOCAL_TIMES = [
    datetime(2025, 1, 15, 8, 0),
    datetime(2025, 7, 1, 9, 30),
    datetime(2025, 3, 30, 2, 30),  # does not exist in Berlin (clocks jump 02:00 -> 03:00)
    datetime(2025, 10, 26, 2, 30),  # happens twice in Berlin (clocks fall back 03:00 -> 02:00)
]
# DuckDB reads the non-existent 02:30 as 01:30 UTC (fold=0) and the doubled one as the later
# instant, 01:30 UTC (fold=1); pin that down rather than guess.
SPECIAL_INSTANTS = {
    datetime(2025, 3, 30, 2, 30): datetime(2025, 3, 30, 1, 30, tzinfo=UTC),
    datetime(2025, 10, 26, 2, 30): datetime(2025, 10, 26, 1, 30, tzinfo=UTC),
}
IMPOSSIBLE = [
    "2025-02-31 10:00:00",
    "2023-02-29",
    "2025-04-31T08:00",
    "2025-13-01 10:00",
    "2025-01-01 25:00:00",
    "2025-01-01 10:61:00",
    "2025-02-30T10:00:00+01:00",
]
GARBAGE_TIMES = ["abc", "yesterday", "2025", "10:00", "2025/01/15 08:00", "1e9", "0", "--", "NaT"]
GARBAGE_LABELS = ["maybe", "inspected", "ja", "inspect no_inspect", "0.5", "-", "N/A", "none", "?"]
NASTY_TEXT = [
    "ana",
    "Dana Reyes",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\r\nlf",
    "semi;colon",
    "Zürich",
    "日本",
    "🙂",
    "  padded  ",
    "'",
    "\\",
    "NULL",
    "=1+1",
]
CASE_IDS = ["C1", "C2", "C3", " C1 ", "c1", "Ünï-4", "a,b", 'q"5', "line\nbreak"]


# DuckDB's trim() strips the Unicode space separators (category Zs), not tabs or line breaks.
_ZS = "".join(chr(c) for c in range(0x3001) if unicodedata.category(chr(c)) == "Zs")


def spaces(s: str) -> str:
    """What the loader does to a text value before looking at it: trim() it."""
    return s.strip(_ZS)


@dataclass(frozen=True)
class Cell:
    """One value as written, the problem it must cause (if any) and what it must be stored as."""

    text: str
    problem: str | None = None
    value: Any = None


@dataclass
class Row:
    """One data row: its cells by column, plus a flag for lines written with the wrong field count."""

    cells: dict[str, Cell]
    ragged: int = 0  # -1: one field too few, +1: one too many
    tag: str = "random"

    def texts(self, columns: Sequence[str]) -> list[str]:
        values = [self.cells[c].text for c in columns]
        if self.ragged < 0:
            return values[:-1]
        if self.ragged > 0:
            return [*values, "extra"]
        return values


@dataclass
class Log:
    """A generated log: which log it is, its columns, whether the mapping is used, and its rows."""

    log: str
    columns: list[str]
    mapped: bool
    rows: list[Row] = field(default_factory=list)


# --- strategies for single values ------------------------------------------------------------


_FREE = "\x00free"  # marker: draw free text


def _free_text() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY_TEXT),
        st.text(
            alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")),
            max_size=8,
        ),
    )


@st.composite
def free_cell(draw: st.DrawFn) -> Cell:
    text = draw(st.sampled_from(["", "ana", _FREE]))
    if text == _FREE:
        text = draw(_free_text())
    return Cell(text, None, spaces(text) or None)


@st.composite
def case_cell(draw: st.DrawFn, clean: bool = False) -> Cell:
    kind = draw(st.sampled_from(["pool"] if clean else ["pool"] * 6 + ["free", "blank"]))
    if kind == "pool":
        text = draw(st.sampled_from(CASE_IDS))
    elif kind == "free":
        text = draw(_free_text())
    else:
        text = draw(st.sampled_from(["", "   "]))
    stripped = spaces(text)
    return Cell(text, None if stripped else "missing_case_id", stripped or None)


def _instant(local: datetime) -> datetime:
    return SPECIAL_INSTANTS.get(local) or local.replace(tzinfo=BERLIN).astimezone(UTC)


@st.composite
def time_cell(draw: st.DrawFn, mapped: bool, clean: bool = False) -> Cell:
    valid = ["naive", "naive", "aware", "aware", "date"] + (["mapped"] if mapped else [])
    invalid = ["impossible", "garbage", "future", "blank"] + ([] if mapped else ["mapped"])
    kind = draw(st.sampled_from(valid if clean else valid * 2 + invalid))
    local = draw(st.sampled_from(LOCAL_TIMES))
    if kind == "naive":
        fmt = draw(st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]))
        return Cell(local.strftime(fmt), None, _instant(local))
    if kind == "date":
        day = local.replace(hour=0, minute=0)
        return Cell(day.strftime("%Y-%m-%d"), None, _instant(day))
    if kind == "aware":
        instant = _instant(local)
        hours, minutes = draw(st.sampled_from([(0, 0), (2, 0), (-8, 0), (5, 30), (-3, -30)]))
        offset = timedelta(hours=hours, minutes=minutes)
        shown = instant.astimezone(timezone(offset)).strftime("%Y-%m-%dT%H:%M:%S")
        sign = "-" if offset < timedelta(0) else "+"
        hh, mm = divmod(abs(hours * 60 + minutes), 60)
        suffixes = [f"{sign}{hh:02d}:{mm:02d}", f"{sign}{hh:02d}{mm:02d}"]
        if mm == 0:
            suffixes.append(f"{sign}{hh:02d}")
        if offset == timedelta(0):
            suffixes += ["Z", "z"]
        separator = draw(st.sampled_from(["", " "]))
        return Cell(shown + separator + draw(st.sampled_from(suffixes)), None, instant)
    if kind == "mapped":
        text = local.strftime("%d/%m/%Y %H:%M")
        return Cell(text, None, _instant(local)) if mapped else Cell(text, "unparseable_timestamp")
    if kind == "impossible":
        return Cell(draw(st.sampled_from(IMPOSSIBLE)), "unparseable_timestamp")
    if kind == "garbage":
        return Cell(draw(st.sampled_from(GARBAGE_TIMES)), "unparseable_timestamp")
    if kind == "future":
        ahead = datetime.now(UTC) + timedelta(days=draw(st.integers(2, 365 * 400)))
        fmt = draw(st.sampled_from(["%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]))
        return Cell(ahead.strftime(fmt), "future_timestamp")
    return Cell(draw(st.sampled_from(["", "  "])), "missing_timestamp")


@st.composite
def label_cell(draw: st.DrawFn, mapped: bool, clean: bool = False) -> Cell:
    valid = ["label", "label"] + (["spelling"] if mapped else [])
    invalid = ["garbage", "blank"] + ([] if mapped else ["spelling"])
    kind = draw(st.sampled_from(valid if clean else valid * 2 + invalid))
    if kind == "label":
        label = draw(st.sampled_from(LABELS))
        shown = draw(st.sampled_from([label, label.upper(), label.title(), f" {label} "]))
        return Cell(shown, None, label)
    if kind == "spelling":
        spelling = draw(st.sampled_from(sorted(SPELLINGS)))
        shown = draw(st.sampled_from([spelling, spelling.lower(), spelling.upper()]))
        return Cell(shown, None, SPELLINGS[spelling]) if mapped else Cell(shown, "unknown_label")
    if kind == "garbage":
        return Cell(draw(st.sampled_from(GARBAGE_LABELS)), "unknown_label")
    return Cell(draw(st.sampled_from(["", " "])), "missing_label")


SCORES: dict[str, tuple[str | None, float | None]] = {
    "0": (None, 0.0),
    "1": (None, 1.0),
    "0.5": (None, 0.5),
    " 0.25 ": (None, 0.25),
    "1e-3": (None, 0.001),
    "": (None, None),
    "1.7": ("score_out_of_range", None),
    "-0.1": ("score_out_of_range", None),
    "inf": ("score_out_of_range", None),
    "-inf": ("score_out_of_range", None),
    "1e3": ("score_out_of_range", None),
    "nan": ("score_not_a_number", None),
    "NaN": ("score_not_a_number", None),
    "abc": ("unparseable_score", None),
    "0,5": ("unparseable_score", None),
    "1.2.3": ("unparseable_score", None),
}
EXPLANATIONS: dict[str, tuple[str | None, Any]] = {
    "": (None, None),
    '{"vibration": 0.31, "age": -0.02}': (None, {"vibration": 0.31, "age": -0.02}),
    "{}": (None, {}),
    "[1, 2]": ("invalid_explanation", None),
    "not json": ("invalid_explanation", None),
    '"text"': ("invalid_explanation", None),
    "{broken": ("invalid_explanation", None),
}


@st.composite
def score_cell(draw: st.DrawFn, clean: bool = False) -> Cell:
    text = draw(st.sampled_from([t for t in sorted(SCORES) if not clean or not SCORES[t][0]]))
    problem, value = SCORES[text]
    return Cell(text, problem, value)


@st.composite
def explanation_cell(draw: st.DrawFn, clean: bool = False) -> Cell:
    ok = [t for t in sorted(EXPLANATIONS) if not clean or not EXPLANATIONS[t][0]]
    text = draw(st.sampled_from(ok))
    problem, value = EXPLANATIONS[text]
    return Cell(text, problem, value)


@st.composite
def version_cell(draw: st.DrawFn, clean: bool = False) -> Cell:
    text = draw(st.sampled_from(["v1", "v2", " v1 "] + ([] if clean else ["", " "])))
    return Cell(text, None if spaces(text) else "missing_model_version", spaces(text) or None)


# --- strategies for whole logs ---------------------------------------------------------------

DECISION_COLUMNS = ["case_id", "decided_at", "human_label", "decided_by", "note", "site", "region"]
PREDICTION_COLUMNS = [
    "case_id",
    "predicted_at",
    "model",
    "model_version",
    "predicted_label",
    "score",
    "explanation",
    "site",
    "region",
]
# The order in which the loader checks a row: the quarantine's reason is the first problem found.
CHECK_ORDER = {
    "decisions": ["case_id", "decided_at", "human_label"],
    "predictions": [
        "case_id",
        "predicted_at",
        "predicted_label",
        "model_version",
        "score",
        "explanation",
    ],
}


def expected_problem(log: str, row: Row) -> str | None:
    """The reason code the quarantine must give `row`, or None if the row is valid."""
    if row.ragged:
        return "malformed_line"
    if all(not spaces(c.text) for c in row.cells.values()):
        return "blank_row"
    for column in CHECK_ORDER[log]:
        if row.cells[column].problem:
            return row.cells[column].problem
    return None


BLANK_PROBLEMS = {
    "case_id": "missing_case_id",
    "decided_at": "missing_timestamp",
    "predicted_at": "missing_timestamp",
    "human_label": "missing_label",
    "predicted_label": "missing_label",
    "model_version": "missing_model_version",
}


@st.composite
def blank_row(draw: st.DrawFn, columns: list[str]) -> Row:
    return Row(
        {c: Cell(draw(st.sampled_from(["", " ", "  "])), BLANK_PROBLEMS.get(c)) for c in columns},
        tag="blank",
    )


@st.composite
def decision_row(draw: st.DrawFn, mapped: bool) -> Row:
    clean = draw(st.integers(0, 9)) < 6  # most rows are valid, so keys meet and collide
    return Row(
        {
            "case_id": draw(case_cell(clean=clean)),
            "decided_at": draw(time_cell(mapped, clean)),
            "human_label": draw(label_cell(mapped, clean)),
            "decided_by": draw(free_cell()),
            "note": draw(free_cell()),
            "site": draw(free_cell()),
            "region": draw(free_cell()),
        }
    )


@st.composite
def prediction_row(draw: st.DrawFn, mapped: bool) -> Row:
    clean = draw(st.integers(0, 9)) < 6
    model = draw(st.sampled_from(["pump-risk", "other", "", " pump-risk "]))
    return Row(
        {
            "case_id": draw(case_cell(clean=clean)),
            "predicted_at": draw(time_cell(mapped, clean)),
            "model": Cell(model, None, spaces(model) or None),
            "model_version": draw(version_cell(clean=clean)),
            "predicted_label": draw(label_cell(mapped, clean)),
            "score": draw(score_cell(clean=clean)),
            "explanation": draw(explanation_cell(clean=clean)),
            "site": draw(free_cell()),
            "region": draw(free_cell()),
        }
    )


@st.composite
def logs(draw: st.DrawFn) -> Log:
    log = draw(st.sampled_from(["decisions", "predictions"]))
    mapped = draw(st.booleans())
    columns = DECISION_COLUMNS if log == "decisions" else PREDICTION_COLUMNS
    one = decision_row(mapped) if log == "decisions" else prediction_row(mapped)
    blank = blank_row(columns)

    @st.composite
    def any_row(draw: st.DrawFn) -> Row:
        return draw(blank if draw(st.integers(0, 9)) == 9 else one)

    rows: list[Row] = draw(st.lists(any_row(), min_size=1, max_size=25))
    # Exact duplicates of earlier rows, and rows with an earlier row's key but other content.
    for _ in range(draw(st.integers(0, 4))):
        source = draw(st.sampled_from(rows))
        at = draw(st.integers(0, len(rows)))
        rows.insert(at, Row(dict(source.cells), tag="copy"))
    for _ in range(draw(st.integers(0, 3))):
        source = draw(st.sampled_from(rows))
        if source.tag == "blank":
            continue
        label_column = "human_label" if log == "decisions" else "predicted_label"
        changed = dict(source.cells)
        old = changed[label_column]
        if old.problem is None:
            other = next(label for label in LABELS if label != old.value)
            changed[label_column] = Cell(other, None, other)
        else:  # the label stays invalid; vary a free-text column instead
            changed["region"] = Cell("elsewhere", None, "elsewhere")
        at = draw(st.integers(0, len(rows)))
        rows.insert(at, Row(changed, tag="variant"))
    if draw(st.integers(0, 4)) == 4:  # now and then, lines with one field too few or too many
        for _ in range(draw(st.integers(1, 2))):
            i = draw(st.integers(0, len(rows) - 1))
            rows[i] = replace(rows[i], ragged=draw(st.sampled_from([-1, 1])))
    return Log(log, list(columns), mapped, rows)


# --- running the CLI -------------------------------------------------------------------------


def write_csv(
    path: Path, generated: Log, *, terminator: str = "\n", order: list[int] | None = None
) -> None:
    order = order if order is not None else list(range(len(generated.rows)))
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator=terminator)
        writer.writerow(generated.columns)
        for i in order:
            writer.writerow(generated.rows[i].texts(generated.columns))


def new_store(folder: Path) -> Path:
    """A fresh store file with the sample decision point registered."""
    db = folder / "shadow.duckdb"
    point, text = read_point(POINT_TOML)
    with Store.open(db, create=True) as store:
        add_point(store, point, text)
    return db


def ingest(db: Path, generated: Log, path: Path) -> Result:
    args = ["ingest", generated.log, str(path), "--point", POINT, "--db", str(db), "--json"]
    if generated.mapped:
        mapping = path.parent / "mapping.toml"
        mapping.write_text(MAPPING, encoding="utf-8")
        args += ["--mapping", str(mapping)]
    return CliRunner().invoke(cli, args, catch_exceptions=True)


def summary_of(result: Result) -> dict[str, Any]:
    """The one load summary printed by `--json`, after checking that nothing escaped."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"an exception escaped the CLI:\n{trace}")
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("Error:"), result.stderr
    # Every generated file is a well-formed CSV with rows, so refusing it is wrong too.
    assert result.exit_code == 0, f"the CLI refused a well-formed file:\n{result.stderr}"
    summaries = json.loads(result.stdout)
    assert len(summaries) == 1
    summary: dict[str, Any] = summaries[0]
    return summary


def accounted(summary: dict[str, Any]) -> None:
    total = summary["accepted"] + summary["duplicates"] + summary["quarantined"]
    assert total == summary["rows_read"], summary
    assert sum(summary["quarantined_by_reason"].values()) == summary["quarantined"], summary


@dataclass
class Stored:
    """What the store holds for one load: accepted rows by source_row, quarantine, and loads."""

    accepted: dict[int, dict[str, Any]]
    quarantined: list[tuple[int, str]]
    loads: int


def stored(db: Path, log: str, load_id: int) -> Stored:
    with Store.open(db, read_only=True) as store:
        frame = store.frame(f"SELECT * FROM {log} WHERE load_id = $id", {"id": load_id})
        quarantined = store.rows(
            "SELECT source_row, reason_code FROM quarantine WHERE load_id = $id"
            " ORDER BY source_row, reason_code",
            {"id": load_id},
        )
        loads = store.rows("SELECT count(*) FROM loads")[0][0]
    accepted = {r["source_row"]: r for r in frame.iter_rows(named=True)}
    assert len(accepted) == frame.height, "two accepted rows share a source_row"
    return Stored(accepted, [(r[0], r[1]) for r in quarantined], int(loads))


def check_stored_values(log: str, row: Row, stored: dict[str, Any]) -> None:
    """An accepted row is stored with exactly the values we wrote, typed and in UTC."""
    cells = row.cells
    assert stored["point_id"] == POINT
    assert stored["case_id"] == cells["case_id"].value
    if log == "decisions":
        assert stored["decided_at"] == cells["decided_at"].value
        assert stored["human_label"] == cells["human_label"].value
        assert stored["decided_by"] == cells["decided_by"].value
        assert stored["note"] == cells["note"].value
    else:
        assert stored["predicted_at"] == cells["predicted_at"].value
        assert stored["predicted_label"] == cells["predicted_label"].value
        assert stored["model"] == cells["model"].value
        assert stored["model_version"] == cells["model_version"].value
        score = cells["score"].value
        assert (stored["score"] is None) if score is None else math.isclose(stored["score"], score)
        explanation = stored["explanation"]
        assert (json.loads(explanation) if explanation else None) == cells["explanation"].value
    segments = json.loads(stored["segments"])
    assert segments == {"site": cells["site"].value, "region": cells["region"].value}


# --- the properties --------------------------------------------------------------------------


@SETTINGS
@given(generated=logs())
def test_every_row_is_accepted_skipped_or_quarantined(generated: Log) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = new_store(folder)
        path = folder / "log.csv"
        write_csv(path, generated)
        summary = summary_of(ingest(db, generated, path))

        n = len(generated.rows)
        assert summary["rows_read"] == n
        accounted(summary)
        assert summary["load_id"] is not None
        store = stored(db, generated.log, summary["load_id"])
        assert store.loads == 1
        assert len(store.accepted) == summary["accepted"]
        assert len(store.quarantined) == summary["quarantined"]
        by_reason: dict[str, int] = {}
        for _, code in store.quarantined:
            by_reason[code] = by_reason.get(code, 0) + 1
        assert by_reason == summary["quarantined_by_reason"]

        expected = [expected_problem(generated.log, r) for r in generated.rows]
        invalid = sum(1 for e in expected if e is not None)
        assert summary["quarantined"] >= invalid
        assert summary["accepted"] <= n - invalid
        event("some rows accepted" if summary["accepted"] else "no row accepted")
        event("some duplicates" if summary["duplicates"] else "no duplicates")
        if any(code.startswith("conflict") for code in by_reason):
            event("some conflicts")

        if any(r.ragged for r in generated.rows):
            event("with malformed lines")
        # Row by row: source_row is the data row's number (1 = the first line after the header).
        reasons = dict(store.quarantined)
        assert len(reasons) == len(store.quarantined), "two quarantined rows share a source_row"
        assert not set(reasons) & set(store.accepted), "a row is both accepted and quarantined"
        for number, (row, problem) in enumerate(zip(generated.rows, expected, strict=True), 1):
            if problem is not None:
                assert reasons.get(number) == problem, (number, row, reasons.get(number))
            elif number in store.accepted:
                check_stored_values(generated.log, row, store.accepted[number])
            elif number in reasons:
                assert reasons[number] in ("conflict_in_load", "conflict_with_store"), (number, row)


@SETTINGS
@given(generated=logs(), data=st.data())
def test_the_same_rows_again_are_all_duplicates_or_quarantined(
    generated: Log, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = new_store(folder)
        first_path = folder / "first.csv"
        write_csv(first_path, generated)
        first = summary_of(ingest(db, generated, first_path))
        accounted(first)

        # The same bytes under another name: recognised as already loaded, nothing changes.
        renamed = folder / "renamed.csv"
        renamed.write_bytes(first_path.read_bytes())
        again = summary_of(ingest(db, generated, renamed))
        assert again["already_loaded_as"] == first["load_id"]
        assert again["accepted"] == 0
        assert again["rows_read"] == first["rows_read"]

        # The same rows in another file (other line endings, maybe another order): each row is a
        # duplicate of what the first load stored, or is quarantined for the same reason as before.
        order = data.draw(st.permutations(range(len(generated.rows))), label="order")
        second_path = folder / "second.csv"
        write_csv(second_path, generated, terminator="\r\n", order=list(order))
        second = summary_of(ingest(db, generated, second_path))
        accounted(second)
        assert second["already_loaded_as"] is None
        assert second["rows_read"] == first["rows_read"] == len(generated.rows)
        assert second["accepted"] == 0
        assert second["duplicates"] == first["accepted"] + first["duplicates"]
        assert second["quarantined_by_reason"] == first["quarantined_by_reason"]
        store = stored(db, generated.log, second["load_id"])
        assert store.loads == 2
        assert store.accepted == {}
        assert len(store.quarantined) == second["quarantined"]


# --- what the properties found, pinned down ---------------------------------------------------


def test_source_row_names_one_row_even_after_a_malformed_line(tmp_path: Path) -> None:
    db = new_store(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text(
        "case_id,decided_at,human_label\n"
        "A,2025-01-01 10:00,inspect,extra\n"  # data row 1: one field too many
        "B,2025-01-01 10:00,bogus\n"  # data row 2: unknown label
        "C,2025-01-01 10:00,inspect\n",  # data row 3: accepted
        encoding="utf-8",
    )
    summary = summary_of(ingest(db, Log("decisions", [], mapped=False), path))
    assert (summary["accepted"], summary["quarantined"]) == (1, 2)
    store = stored(db, "decisions", summary["load_id"])
    # Found by the first property: C was stored as row 2, B quarantined as row 1, A as row 2.
    assert [(n, r["case_id"]) for n, r in store.accepted.items()] == [(3, "C")]
    assert store.quarantined == [(1, "malformed_line"), (2, "unknown_label")]


@pytest.mark.parametrize(
    "text",
    ["2025-01-15 08:00:00 +01:00", "2025-01-15T08:00:00 +0100", "2025-01-15T07:00:00z"],
)
def test_iso_offsets_after_a_space_and_lower_case_z_are_parsed(tmp_path: Path, text: str) -> None:
    # Found by the first property (fixed in 0c94049): these were quarantined as unparseable.
    db = new_store(tmp_path)
    path = tmp_path / "d.csv"
    path.write_text(f"case_id,decided_at,human_label\nC1,{text},inspect\n", encoding="utf-8")
    summary = summary_of(ingest(db, Log("decisions", [], mapped=False), path))
    assert (summary["accepted"], summary["quarantined"]) == (1, 0)
    store = stored(db, "decisions", summary["load_id"])
    assert [r["decided_at"] for r in store.accepted.values()] == [
        datetime(2025, 1, 15, 7, 0, tzinfo=UTC)
    ]
