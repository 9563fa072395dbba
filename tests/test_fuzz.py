"""Fuzzing the loaders and the mapping and policy files: hostile input never crashes past the CLI.

Each property writes what hypothesis draws (random bytes, BOMs, odd encodings, NULs, huge fields,
mixed types, missing and extra columns; mapping and policy tables of any shape) and runs the real
`shadow` command on it. The command may refuse the input, with one `Error:` line (and no traceback),
or load it; a load must account for every row it read (accepted + duplicates + quarantined ==
rows read) and the store must hold exactly those counts. Where the number of rows is known from
how the file was written, the load must have read that many.

Examples are few by default so the file runs in seconds; SHADOW_FUZZ_EXAMPLES=500 digs deeper.
tests/fuzz/ has an atheris harness for long coverage-guided runs (not part of pytest).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from polars.testing.parametric import dataframes

from shadow.cli import cli
from shadow.errors import InvalidConfig, ShadowError
from shadow.ingestion import ingest_into, plan_sources
from shadow.mapping import parse_mapping
from shadow.points import add_point, parse_point
from shadow.policy import parse_policy
from shadow.store import Store
from tests.conftest import POINT_TOML

pytestmark = pytest.mark.slow

POINT = "pump-inspection"
EXAMPLES = int(os.environ.get("SHADOW_FUZZ_EXAMPLES", "15"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
CONTRACT = {
    "predictions": ["case_id", "predicted_at", "model", "model_version", "predicted_label", "score",
                    "explanation", "site", "region"],
    "decisions": ["case_id", "decided_at", "human_label", "decided_by", "note", "site", "region"],
    "outcomes": ["case_id", "observed_at", "actual_label", "note"],
}  # fmt: skip
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff"]
NASTY = [
    "", " ", "\x00", "a\x00b", "\r", "\n", "\r\n", '"', "'", ",", ";", "\t", "|", "\\", "NULL",
    "NaN", "inf", "-0", "1e309", "2026-02-30", "2026-03-02T07:00:00+01:00", "inspect",
    "no_inspect", "0.5", "{}", '{"a": 1}', "[1]", "\u202e", "\ufeff", "🙂", "Zürich", "\udcff",
]  # fmt: skip

WELL_FORMED = [t for t in NASTY if not any(0xD800 <= ord(c) <= 0xDFFF for c in t)]  # for Parquet


# --- running the command ------------------------------------------------------------------------


def new_store(folder: Path) -> Path:
    db = folder / "shadow.duckdb"
    with Store.open(db, create=True) as store:
        add_point(store, parse_point(POINT_TOML), POINT_TOML)
    return db


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def clean(result: Result) -> None:
    """The command ended as the CLI means to: success, or one `Error:` message; no traceback."""
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        trace = "".join(traceback.format_exception(result.exception))
        pytest.fail(f"an exception escaped the CLI:\n{trace}")
    assert result.exit_code in (0, 1), result.output
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: "), result.stderr
        assert "Traceback" not in result.stderr
        assert "Internal check failed" not in result.stderr, result.stderr


def ingest(db: Path, log: str, path: Path, *extra: str) -> dict[str, Any] | None:
    """Load `path` with `shadow ingest --json`; the summary, or None if the file was refused."""
    before = counts(db, log)
    result = run("ingest", log, str(path), "--point", POINT, "--db", str(db), "--json", *extra)
    clean(result)
    if result.exit_code == 1:
        assert counts(db, log) == before  # a refused file leaves no trace
        return None
    (summary,) = json.loads(result.stdout)
    if summary["already_loaded_as"] is not None:  # the same bytes drawn twice: nothing changes
        assert (summary["accepted"], summary["duplicates"]) == (0, summary["rows_read"])
        assert counts(db, log) == before
    else:
        accounted(db, log, summary)
    return dict(summary)


def counts(db: Path, log: str) -> tuple[int, int, int]:
    """Loads, rows of `log` and quarantined rows in the store."""
    with Store.open(db, read_only=True) as store:
        (row,) = store.rows(
            f"SELECT (SELECT count(*) FROM loads), (SELECT count(*) FROM {log}),"
            " (SELECT count(*) FROM quarantine)"
        )
    return row


def accounted(db: Path, log: str, summary: dict[str, Any]) -> None:
    """Every row read is accepted, a duplicate or quarantined, and the store holds those counts."""
    read = summary["rows_read"]
    assert summary["accepted"] + summary["duplicates"] + summary["quarantined"] == read, summary
    with Store.open(db, read_only=True) as store:
        (loads,) = store.rows(
            "SELECT rows_read, rows_accepted, rows_duplicate, rows_quarantined FROM loads"
            " WHERE load_id = $id",
            {"id": summary["load_id"]},
        )
        stored = store.rows(
            f"SELECT count(*) FROM {log} WHERE load_id = $id", {"id": summary["load_id"]}
        )
        quarantined = store.rows(
            "SELECT count(*) FROM quarantine WHERE load_id = $id", {"id": summary["load_id"]}
        )
    assert loads == (read, summary["accepted"], summary["duplicates"], summary["quarantined"])
    assert stored == [(summary["accepted"],)]
    assert quarantined == [(summary["quarantined"],)]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One store for a module's loads: each load is checked on its own load_id."""
    return new_store(tmp_path_factory.mktemp("fuzz"))


@contextmanager
def scratch() -> Iterator[Path]:
    """A folder for one example's files, removed after it (hypothesis runs many)."""
    with tempfile.TemporaryDirectory(prefix="shadow-fuzz-") as tmp:
        yield Path(tmp)


@contextmanager
def fresh() -> Iterator[tuple[Path, Path]]:
    """A new folder with a new store, removed after the example (hypothesis runs many)."""
    with tempfile.TemporaryDirectory(prefix="shadow-fuzz-") as tmp:
        folder = Path(tmp)
        yield folder, new_store(folder)


# --- random bytes ---------------------------------------------------------------------------------


@st.composite
def raw_files(draw: st.DrawFn) -> tuple[str, bytes]:
    """Any bytes, sometimes after a BOM and a plausible header, under any of the extensions."""
    ext = draw(st.sampled_from([".csv", ".jsonl", ".parquet", ".tsv", ".json"]))
    head = b""
    if draw(st.booleans()):
        head = draw(st.sampled_from(BOMS)) + b"case_id,decided_at,human_label\n"
    body = draw(st.binary(max_size=600))
    if ext == ".parquet" and draw(st.booleans()):
        body = b"PAR1" + body + b"PAR1"  # the magic bytes, so it gets past the first check
    return ext, head + body


@SETTINGS
@given(raw=raw_files(), log=st.sampled_from(sorted(CONTRACT)))
def test_random_bytes_are_refused_or_accounted_for(
    raw: tuple[str, bytes], log: str, db: Path
) -> None:
    with scratch() as folder:
        path = folder / f"log{raw[0]}"
        path.write_bytes(raw[1])
        ingest(db, log, path)


# --- CSV: random values in every column, odd encodings ----------------------------------------------


def cell() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(max_size=12),
        st.text(st.characters(codec="utf-8"), min_size=2000, max_size=5000).filter(
            lambda s: "\x00" not in s
        ),  # a huge field
    )


@st.composite
def csv_logs(draw: st.DrawFn) -> tuple[str, list[str], list[list[str]], str, str]:
    log = draw(st.sampled_from(sorted(CONTRACT)))
    contract = CONTRACT[log]
    columns = draw(st.lists(st.sampled_from(contract), unique=True, min_size=1))
    extra = draw(
        st.lists(st.text(st.characters(codec="utf-8"), min_size=1, max_size=8), max_size=2)
    )
    header = list(dict.fromkeys(columns + [e for e in extra if e.strip()]))
    rows = draw(
        st.lists(
            st.lists(cell(), min_size=len(header), max_size=len(header)), min_size=1, max_size=8
        )
    )
    delimiter = draw(st.sampled_from([",", ";", "\t", "|"]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1"]))
    return log, header, rows, delimiter, encoding


def csv_bytes(header: list[str], rows: list[list[str]], delimiter: str, encoding: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode(
        encoding, errors="replace" if encoding == "latin-1" else "surrogatepass"
    )


@SETTINGS
@given(generated=csv_logs(), mapped=st.booleans())
def test_csv_with_random_values_is_refused_or_accounted_for(
    generated: tuple[str, list[str], list[list[str]], str, str], mapped: bool, db: Path
) -> None:
    log, header, rows, delimiter, encoding = generated
    with scratch() as folder:
        path = folder / "log.csv"
        try:
            path.write_bytes(csv_bytes(header, rows, delimiter, encoding))
        except UnicodeEncodeError:
            return  # a lone surrogate cannot be written in this encoding at all
        extra: list[str] = []
        if mapped:  # the mapping names the encoding and delimiter, as a user would for such a file
            name = {"utf-8-sig": "utf-8"}.get(encoding, encoding)
            mapping = folder / "mapping.toml"
            mapping.write_text(f'[csv]\nencoding = "{name}"\ndelimiter = {json.dumps(delimiter)}\n')
            extra = ["--mapping", str(mapping)]
        summary = ingest(db, log, path, *extra)
        if (
            summary is not None
            and mapped
            and not any("\x00" in c for c in header + [c for r in rows for c in r])
        ):
            # csv.writer quotes what needs quoting: one record per row written
            assert summary["rows_read"] == len(rows), summary


# --- JSON Lines: any JSON value, mixed types per key ------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def json_lines(draw: st.DrawFn) -> tuple[str, list[str]]:
    log = draw(st.sampled_from(sorted(CONTRACT)))
    lines = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["object", "object", "value", "garbage"]))
        if kind == "object":
            keys = draw(
                st.lists(st.sampled_from(CONTRACT[log] + ["extra", "Case_ID", ""]), unique=True)
            )
            obj = {k: draw(json_values | st.sampled_from(NASTY)) for k in keys}
            lines.append(json.dumps(obj))  # NaN and Infinity as Python writes them
        elif kind == "value":
            lines.append(json.dumps(draw(json_values)))
        else:
            lines.append(
                draw(st.text(max_size=20).filter(lambda s: "\n" not in s and "\r" not in s))
            )
    return log, lines


@SETTINGS
@given(generated=json_lines(), bom=st.sampled_from([b"", b"\xef\xbb\xbf"]))
def test_json_lines_with_any_values_are_refused_or_accounted_for(
    generated: tuple[str, list[str]], bom: bytes, db: Path
) -> None:
    log, lines = generated
    with scratch() as folder:
        path = folder / "log.jsonl"
        try:
            path.write_bytes(bom + "\n".join(lines).encode("utf-8") + b"\n")
        except UnicodeEncodeError:
            return
        summary = ingest(db, log, path)
        if summary is not None:
            assert summary["rows_read"] == sum(1 for line in lines if line.strip()), summary


# --- Parquet: any type in any column -----------------------------------------------------------------

TYPED = {
    "int": st.integers(-(2**63), 2**63 - 1),
    "float": st.floats(),
    "bool": st.booleans(),
    "text": st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
    | st.sampled_from(WELL_FORMED),
    "date": st.dates(),
    "datetime": st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    "binary": st.binary(max_size=8),
    "list": st.lists(st.integers(-5, 5), max_size=3),
}


@st.composite
def parquet_frames(draw: st.DrawFn) -> tuple[str, pl.DataFrame]:
    log = draw(st.sampled_from(sorted(CONTRACT)))
    columns = draw(st.lists(st.sampled_from(CONTRACT[log] + ["extra"]), unique=True, min_size=1))
    n = draw(st.integers(1, 6))
    data: dict[str, pl.Series] = {}
    for name in columns:
        kind = draw(st.sampled_from(sorted(TYPED)))
        values = draw(st.lists(st.none() | TYPED[kind], min_size=n, max_size=n))
        data[name] = pl.Series(name, values, strict=False)
    return log, pl.DataFrame(data)


@SETTINGS
@given(generated=parquet_frames())
def test_parquet_with_any_types_is_refused_or_accounted_for(
    generated: tuple[str, pl.DataFrame], db: Path
) -> None:
    log, frame = generated
    with scratch() as folder:
        path = folder / "log.parquet"
        frame.write_parquet(path)
        summary = ingest(db, log, path)
        if summary is not None:
            assert summary["rows_read"] == frame.height, summary


# --- frames through the Python API: any Polars dtype in any column -----------------------------------


@SETTINGS
@given(frame=dataframes(cols=len(CONTRACT["decisions"]), min_size=1, max_size=5))
@example(frame=pl.DataFrame({"case_id": [None]}, schema={"case_id": pl.Float16}))
def test_a_frame_of_any_dtypes_is_refused_or_accounted_for(frame: pl.DataFrame) -> None:
    frame = frame.rename(dict(zip(frame.columns, CONTRACT["decisions"], strict=False)))
    with Store.memory() as store:
        add_point(store, parse_point(POINT_TOML), POINT_TOML)
        try:
            (summary,) = ingest_into(store, "decisions", plan_sources(frame), point=POINT)
        except ShadowError:
            return
        accounted = summary.accepted + summary.duplicates + summary.quarantined
        assert accounted == summary.rows_read == frame.height, summary
        assert store.rows("SELECT count(*) FROM decisions") == [(summary.accepted,)]


# --- mapping and policy files -------------------------------------------------------------------------


def toml(value: Any) -> str:
    """`value` as TOML (inline tables and arrays), so any shape hypothesis draws can be written."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # JSON strings are TOML basic strings
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml(str(k))} = {toml(v)}" for k, v in value.items()) + "}"


def toml_document(tables: dict[str, Any]) -> str:
    return "".join(f"{toml(name)} = {toml(body)}\n" for name, body in tables.items())


text_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.booleans(),
    text_values,
    st.dates(min_value=date(1, 1, 1)),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)),
)
toml_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text_values, inner, max_size=3),
    max_leaves=5,
)


def anything_or(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly `strategy` (plausible values), sometimes any TOML value at all."""
    return st.one_of(strategy, strategy, strategy, toml_values)


def keys(known: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(known) | text_values


numbers = st.one_of(
    st.integers(-5, 2000),
    st.floats(-1, 2),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e300, 2**63 - 1, 0]),
)
GATE_KEYS = ["min_resolved", "min_positives", "min_weeks", "accuracy_floor", "recall_floor",
             "margin", "superiority", "max_cost_difference", "max_calibration_gap", "max_psi",
             "quiet_weeks"]  # fmt: skip
STAGE_NAMES = ["shadow", "advisory", "assisted", "autonomous"]
gate_tables = st.dictionaries(keys(GATE_KEYS), anything_or(numbers | st.booleans()), max_size=4)
policies = st.fixed_dictionaries(
    {},
    optional={
        "stages": anything_or(st.lists(st.sampled_from(STAGE_NAMES), max_size=5)),
        "family_alpha": anything_or(numbers),
        "split": anything_or(st.sampled_from(["bonferroni", "none", "holm"])),
        "segments_in_family": anything_or(numbers),
        "costs": anything_or(
            st.dictionaries(
                keys(["false_negative", "false_positive", "true_positive", "true_negative"]),
                anything_or(numbers),
                max_size=3,
            )
        ),
        "gates": anything_or(
            st.dictionaries(keys(STAGE_NAMES), anything_or(gate_tables), max_size=3)
        ),
    },
) | st.dictionaries(text_values, toml_values, max_size=3)


@SETTINGS
@given(policy=policies)
@example(policy={"gates": {"advisory": {"min_resolved": math.nan}}})
@example(policy={"gates": {"advisory": {"min_positives": math.inf}}})
def test_any_policy_is_refused_with_a_message_or_registered(policy: dict[str, Any]) -> None:
    with fresh() as (folder, db):
        head = POINT_TOML.split("[policy]")[0].replace('id = "pump-inspection"', 'id = "fuzzed"')
        path = folder / "point.toml"
        path.write_text(head + f"policy = {toml(policy)}\n", encoding="utf-8")
        result = run("point", "add", str(path), "--db", str(db))
        clean(result)
        try:
            parsed = parse_policy(policy, positive_label="inspect")
        except InvalidConfig:
            assert result.exit_code == 1
            return
        assert result.exit_code == 0, result.stderr
        json.loads(parsed.as_json(), parse_constant=lambda c: pytest.fail(f"{c} in the policy"))
        assert 0 < parsed.alpha(3) < 1
        for gate in parsed.gates.values():
            assert gate.min_resolved >= 0 and gate.min_positives >= 0
            assert 0 <= gate.min_weeks <= 5200 and 0 <= gate.quiet_weeks <= 5200


@SETTINGS
@given(text=st.text(max_size=200) | toml_values.map(lambda v: toml_document({"policy": v})))
def test_any_point_file_text_is_refused_with_a_message_or_registered(text: str) -> None:
    with fresh() as (folder, db):
        path = folder / "point.toml"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        clean(run("point", "add", str(path), "--db", str(db)))


CONTRACT_NAMES = sorted({c for columns in CONTRACT.values() for c in columns} | {"point_id"})
mappings = st.fixed_dictionaries(
    {},
    optional={
        "columns": anything_or(
            st.dictionaries(
                keys(CONTRACT_NAMES),
                anything_or(
                    st.sampled_from(["id", "when", "label", "who", "x"])
                    | st.lists(st.sampled_from(["id", "who", "x"]), max_size=3)
                ),
                max_size=3,
            )
        ),
        "labels": anything_or(
            st.dictionaries(
                keys(["inspect", "no_inspect", "maybe"]),
                anything_or(
                    st.lists(
                        st.sampled_from(["Y", "N", "1", "0", "yes", " ", ""]) | st.integers(0, 2),
                        max_size=3,
                    )
                ),
                max_size=2,
            )
        ),
        "timestamps": anything_or(
            st.fixed_dictionaries(
                {},
                optional={
                    "timezone": anything_or(
                        st.sampled_from(
                            ["Europe/Berlin", "UTC", "Mars/Olympus", "", "../etc/passwd"]
                        )
                    ),
                    "formats": anything_or(
                        st.lists(
                            st.sampled_from(
                                ["%d/%m/%Y %H:%M", "%Y", "%Q", "%", "%%", "%d.%m.%Y", "%s", "%-d"]
                            ),
                            max_size=2,
                        )
                    ),
                },
            )
        ),
        "csv": anything_or(
            st.fixed_dictionaries(
                {},
                optional={
                    "delimiter": anything_or(
                        st.sampled_from(
                            [",", ";", "\t", "|", "\n", "\r", '"', "\x00", "ab", "", "\\"]
                        )
                    ),
                    "encoding": anything_or(
                        st.sampled_from(["utf-8", "UTF8", "latin1", "utf-16", "cp1252", ""])
                    ),
                    "quote": anything_or(st.sampled_from(['"', "'", ",", "\n", "\x00", "", "\\"])),
                },
            )
        ),
        "defaults": anything_or(
            st.dictionaries(
                keys(CONTRACT_NAMES),
                anything_or(st.sampled_from(["inspect", "x", "2026-01-01", "1e400"]) | numbers),
                max_size=2,
            )
        ),
        "values": anything_or(
            st.fixed_dictionaries(
                {},
                optional={
                    "missing": anything_or(
                        st.lists(st.sampled_from(["NA", "null", " ", "-", "inspect"]), max_size=2)
                    )
                },
            )
        ),
    },
)
DECISIONS = "id;when;label;who;x\nA;02/03/2026 09:00;Y;ana;1\nB;2026-03-02 10:00;inspect;bo;2\nA;02/03/2026 09:00;Y;ana;1\n"


@SETTINGS
@given(mapping=mappings, delimited=st.sampled_from([",", ";"]))
@example(mapping={"timestamps": {"formats": 0}}, delimited=",")
def test_any_mapping_is_refused_with_a_message_or_loads_every_row(
    mapping: dict[str, Any], delimited: str, db: Path
) -> None:
    with scratch() as folder:
        path = folder / "decisions.csv"
        path.write_text(DECISIONS.replace(";", delimited), encoding="utf-8")
        mapping_path = folder / "mapping.toml"
        mapping_path.write_text(toml_document(mapping), encoding="utf-8")
        summary = ingest(db, "decisions", path, "--mapping", str(mapping_path))
        try:
            parse_mapping(toml_document(mapping))
        except InvalidConfig:
            assert summary is None  # a mapping that does not parse loads nothing
