"""Bad input: each gets one clear message (or a quarantine reason), pinned to the exact text."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.errors import InvalidLog
from shadow.ingestion import LoadSummary
from shadow.store import Store

Write = Callable[[str, str | bytes], Path]
Load = Callable[..., LoadSummary]
HEADER = "case_id,decided_at,human_label\n"


def run_ingest(db: Path, path: Path, *extra: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        cli,
        ["ingest", "decisions", str(path), "--point", "pump-inspection", "--db", str(db), *extra],
    )
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def refused(db: Path, path: Path, *extra: str) -> str:
    code, out, err = run_ingest(db, path, *extra)
    assert code == 1, out
    assert "Traceback" not in err
    with Store.open(db, read_only=True) as s:
        assert s.rows("SELECT count(*) FROM loads") == [(0,)]  # nothing was recorded or loaded
    return err


def reasons(store: Store, load_id: int | None) -> list[str]:
    rows = store.rows(
        "SELECT reason FROM quarantine WHERE load_id = $id ORDER BY source_row", {"id": load_id}
    )
    return [r[0] for r in rows]


# --- whole files that cannot be loaded: one message, nothing loaded --------------------------------


def test_missing_file(db: Path, tmp_path: Path) -> None:
    err = refused(db, tmp_path / "nope.csv")
    assert (
        err
        == f"Error: No such file: {tmp_path / 'nope.csv'}\n\nHint: check the path (and the current folder)\n"
    )


def test_unknown_extension(db: Path, write: Write) -> None:
    path = write("decisions.xlsx", "x")
    assert refused(db, path) == (
        f"Error: Cannot tell the format of {path} from its extension '.xlsx'\n\n"
        "Hint: name it .csv, .parquet or .jsonl, or pass --format csv|parquet|jsonl\n"
    )


def test_empty_file(db: Path, write: Write) -> None:
    path = write("d.csv", "")
    assert refused(db, path) == (
        f"Error: {path} is empty\n\nHint: check that the export wrote any rows\n"
    )


def test_header_only(db: Path, write: Write) -> None:
    path = write("d.csv", HEADER)
    assert refused(db, path) == (
        f"Error: {path} has a header but no rows\n\n"
        "Hint: check that the export wrote any rows; nothing was loaded\n"
    )


def test_wrong_delimiter(db: Path, write: Write) -> None:
    path = write("d.csv", HEADER + "c1,2026-03-02 09:00,inspect\n")
    mapping = write("m.toml", '[csv]\ndelimiter = ";"\n')
    assert refused(db, path, "--mapping", str(mapping)) == (
        f"Error: {path} was read as a single column 'case_id,decided_at,human_label': it looks"
        " comma-separated, but was read with another delimiter\n\n"
        "Hint: set the delimiter in the mapping file: [csv] delimiter = ','\n"
    )


def test_semicolon_and_tab_files_are_detected(store: Store, load: Load, write: Write) -> None:
    semi = write("semi.csv", "case_id;decided_at;human_label\nc1;2026-03-02 09:00;inspect\n")
    tab = write("tab.tsv", "case_id\tdecided_at\thuman_label\nc2\t2026-03-02 09:00\tinspect\n")
    assert load("decisions", semi).accepted == 1
    assert load("decisions", tab).accepted == 1


def test_non_utf8_bytes(db: Path, write: Write) -> None:
    path = write(
        "d.csv", (HEADER + "c1,2026-03-02 09:00,inspect\nc2,caf\xe9,x\n").encode("latin-1")
    )
    assert refused(db, path) == (
        f"Error: {path} is not UTF-8 text (byte 0xe9 on line 3)\n\n"
        'Hint: if it was saved as Latin-1 / Windows-1252, add [csv] encoding = "latin-1" to the'
        " mapping file; or re-save it as UTF-8\n"
    )


def test_a_utf16_file_is_named_as_utf16_with_the_mapping_that_reads_it(
    db: Path, write: Write
) -> None:
    # found with hostile files: the hint said Latin-1, which would have loaded it as garbage
    path = write("d.csv", (HEADER + "c1,2026-03-02 09:00,inspect\n").encode("utf-16"))
    assert refused(db, path) == (
        f"Error: {path} is UTF-16 text (it starts with a UTF-16 byte order mark)\n\n"
        'Hint: add [csv] encoding = "utf-16" to the mapping file; or re-save it as UTF-8\n'
    )


def test_a_header_longer_than_the_first_read_is_read_whole(
    store: Store, load: Load, write: Write
) -> None:
    # found with hostile files: the header was cut at 64 KiB, and a valid file was refused for "an empty
    # column name" (or a name cut in two)
    long_names = ",".join(f"{'x' * 30_000}_{i}" for i in range(3))
    path = write(
        "d.csv", f"case_id,decided_at,human_label,{long_names}\nc1,2026-03-02 09:00,inspect,a,b,c\n"
    )
    summary = load("decisions", path)
    assert (summary.rows_read, summary.accepted) == (1, 1)
    assert summary.warnings[
        0
    ] == "3 ignored columns (not part of the contract): " + long_names.replace(
        ",", ", "
    )  # each name whole (the third was cut at 64 KiB)


def test_a_blank_row_is_blank_across_every_column_of_a_wide_file(
    store: Store, load: Load, write: Write
) -> None:
    # the blank check runs BLANK_CHUNK columns at a time: a value in the last chunk is not blank
    extra = [f"extra_{i}" for i in range(250)]
    header = ",".join(["case_id", "decided_at", "human_label", *extra])
    empty = "," * (len(extra) + 2)
    last_only = empty + "x"  # only the very last column holds a value
    path = write(
        "d.csv", f"{header}\n{empty}\n{last_only}\nc1,2026-03-02 09:00,inspect{',' * 250}\n"
    )
    summary = load("decisions", path)
    assert (summary.rows_read, summary.accepted) == (3, 1)
    assert summary.by_reason == {"blank_row": 1, "missing_case_id": 1}


def test_a_file_of_thousands_of_columns_is_noted_in_a_line(
    store: Store, load: Load, write: Write
) -> None:
    extra = [f"extra_{i}" for i in range(2_000)]
    header = ",".join(["case_id", "decided_at", "human_label", *extra])
    path = write("d.csv", f"{header}\nc1,2026-03-02 09:00,inspect,{','.join('x' * 2_000)}\n")
    summary = load("decisions", path)
    assert (summary.rows_read, summary.accepted) == (1, 1)
    assert summary.warnings[0] == (
        "2,000 ignored columns (not part of the contract): "
        + ", ".join(extra[:20])
        + " and 1,980 more"
    )


def test_a_first_line_longer_than_16_mb_is_no_header(db: Path, write: Write) -> None:
    path = write("d.csv", b"x" * (17 << 20))
    assert refused(db, path) == (
        f"Error: {path}: the first line is longer than 16 MB, so it is no header\n\n"
        "Hint: check that the file is a CSV export with the column names on its first line\n"
    )


def test_latin1_loads_with_the_encoding_in_the_mapping(
    store: Store, load: Load, write: Write
) -> None:
    path = write("d.csv", (HEADER + "Müller-1,2026-03-02 09:00,inspect\n").encode("latin-1"))
    mapping = write("m.toml", '[csv]\nencoding = "latin-1"\n')
    assert load("decisions", path, mapping=mapping).accepted == 1
    assert store.rows("SELECT case_id FROM decisions") == [("Müller-1",)]


def test_missing_required_columns_are_named_with_close_matches(db: Path, write: Write) -> None:
    path = write("d.csv", "caseid,decided_at,label\nc1,2026-03-02 09:00,inspect\n")
    assert refused(db, path) == (
        f"Error: {path} is missing required columns for decisions: case_id (did you mean"
        " 'caseid'?), human_label (did you mean 'label'?)\n\n"
        'Hint: rename the column in the file, or map it: put [columns] case_id = "caseid" in a'
        " mapping file and pass --mapping FILE\n"
    )


def test_a_mapping_that_names_a_column_the_file_lacks(db: Path, write: Write) -> None:
    path = write("d.csv", HEADER + "c1,2026-03-02 09:00,inspect\n")
    mapping = write("m.toml", '[columns]\ncase_id = "AssetWeek"\n')
    assert refused(db, path, "--mapping", str(mapping)) == (
        f"Error: The mapping says case_id comes from the column 'AssetWeek', but {path} has no"
        " such column\n\nHint: its columns are 'case_id', 'decided_at', 'human_label'\n"
    )


def test_no_point_at_all(db: Path, write: Write) -> None:
    path = write("d.csv", HEADER + "c1,2026-03-02 09:00,inspect\n")
    result = CliRunner().invoke(cli, ["ingest", "decisions", str(path), "--db", str(db)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path} has no point_id column and no decision point was given\n\n"
        "Hint: pass --point ID (see `shadow point list`), or add a point_id column\n"
    )


def test_truncated_parquet(db: Path, tmp_path: Path) -> None:
    whole = tmp_path / "whole.parquet"
    pl.DataFrame(
        {
            "case_id": ["a"] * 1000,
            "decided_at": ["2026-03-02"] * 1000,
            "human_label": ["inspect"] * 1000,
        }
    ).write_parquet(whole)
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    err = refused(db, cut)
    assert err.startswith(
        f"Error: {cut} is not a readable Parquet file (it may be truncated or damaged): "
    )
    assert err.endswith("\n\nHint: export the file again; nothing was loaded\n")


# --- rows that cannot be accepted: quarantined with a reason, the rest loads ---------------------


def test_unparseable_impossible_and_future_timestamps(
    store: Store, load: Load, write: Write
) -> None:
    text = HEADER + (
        "c1,yesterday,inspect\n"
        "c2,2025-02-31,inspect\n"
        "c3,2031-01-06 10:00,inspect\n"
        "c4,,inspect\n"
        "c5,2026-03-02 09:00,inspect\n"
    )
    s = load("decisions", write("d.csv", text))
    assert (s.rows_read, s.accepted, s.quarantined) == (5, 1, 4)
    assert reasons(store, s.load_id) == [
        "unparseable timestamp 'yesterday' (decided_at)",
        "unparseable timestamp '2025-02-31' (decided_at)",
        "timestamp 2031-01-06 09:00:00 UTC is in the future (decided_at)",
        "missing decided_at",
    ]


def test_mixed_timestamp_formats_need_the_mapping(store: Store, load: Load, write: Write) -> None:
    text = HEADER + "c1,2026-03-02 09:00,inspect\nc2,05/03/2026 09:00,inspect\n"
    path = write("d.csv", text)
    s = load("decisions", path)
    assert (s.accepted, s.by_reason) == (1, {"unparseable_timestamp": 1})
    assert s.warnings[-1] == (
        "timestamps must be ISO 8601 (2026-03-02 07:00 or 2026-03-02T07:00:00+01:00) unless the"
        ' mapping lists their formats, e.g. [timestamps] formats = ["%d/%m/%Y %H:%M"]'
    )
    mapping = write("m.toml", '[timestamps]\nformats = ["%d/%m/%Y %H:%M"]\n')
    again = load("decisions", path, mapping=mapping)  # a new mapping makes it a new load
    assert (again.accepted, again.duplicates, again.quarantined) == (1, 1, 0)
    assert store.rows(
        "SELECT strftime(decided_at, '%Y-%m-%d %H:%M') FROM decisions ORDER BY 1"
    ) == [
        ("2026-03-02 08:00",),
        ("2026-03-05 08:00",),
    ]


def test_empty_case_id(store: Store, load: Load, write: Write) -> None:
    s = load("decisions", write("d.csv", HEADER + " ,2026-03-02 09:00,inspect\n"))
    assert reasons(store, s.load_id) == ["missing case_id"]


def test_label_spelling_not_in_the_mapping(store: Store, load: Load, write: Write) -> None:
    mapping = write("m.toml", '[labels]\ninspect = ["Y"]\n')
    s = load("decisions", write("d.csv", HEADER + "c1,2026-03-02 09:00,maybe\n"), mapping=mapping)
    assert reasons(store, s.load_id) == ["label 'maybe' not in label set (inspect, no_inspect)"]


def test_scores_outside_0_1_nan_and_text(store: Store, load: Load, write: Write) -> None:
    text = "case_id,predicted_at,model_version,predicted_label,score\n" + "".join(
        f"c{i},2026-03-02 08:00,v1,inspect,{score}\n"
        for i, score in enumerate(["1.7", "nan", "-0.1", "high", "", "0", "1"])
    )
    s = load("predictions", write("p.csv", text))
    assert (s.accepted, s.quarantined) == (3, 4)
    assert reasons(store, s.load_id) == [
        "score 1.7 outside 0..1",
        "score nan is not a number",
        "score -0.1 outside 0..1",
        "score 'high' is not a number",
    ]


def test_several_problems_in_one_row_are_all_named(store: Store, load: Load, write: Write) -> None:
    text = "case_id,predicted_at,model_version,predicted_label,score\n,soon,,maybe,2\n"
    s = load("predictions", write("p.csv", text))
    assert s.by_reason == {"missing_case_id": 1}  # counted under its first reason
    assert reasons(store, s.load_id) == [
        "missing case_id; unparseable timestamp 'soon' (predicted_at); label 'maybe' not in label"
        " set (inspect, no_inspect); missing model_version; score 2 outside 0..1"
    ]


def test_same_case_twice_in_one_file_with_different_content(
    store: Store, load: Load, write: Write
) -> None:
    text = (
        HEADER
        + "c1,2026-03-02 09:00,inspect\nc2,2026-03-02 09:00,inspect\nc1,2026-03-02 09:00,no_inspect\n"
    )
    s = load("decisions", write("d.csv", text))
    assert (s.accepted, s.quarantined) == (1, 2)
    assert reasons(store, s.load_id) == [
        "conflicts with row 3 of this file (same case_id and decided_at; different content)",
        "conflicts with row 1 of this file (same case_id and decided_at; different content)",
    ]
    assert store.rows("SELECT case_id FROM decisions") == [("c2",)]


def test_a_file_loaded_twice(db: Path, write: Write) -> None:
    path = write("d.csv", HEADER + "c1,2026-03-02 09:00,inspect\n")
    assert run_ingest(db, path)[0] == 0
    code, out, _ = run_ingest(db, path)
    assert code == 0
    assert out == (
        f"{path}: already loaded as load 1 (same content, same options): nothing changed"
        " (1 row; --force loads it again).\n"
    )
    code, out, _ = run_ingest(db, path, "--force")
    assert "1 row read: 0 accepted, 1 duplicates skipped, 0 quarantined" in out


def test_json_lines_with_one_broken_line(store: Store, load: Load, write: Write) -> None:
    text = (
        '{"case_id": "c1", "decided_at": "2026-03-02T09:00:00Z", "human_label": "inspect"}\n'
        '{"case_id": "c2", "decided_at": "2026-03-02T09:00:00Z", "human_label": \n'
        "\n"
        '{"case_id": "c3", "decided_at": "2026-03-02T09:00:00Z", "human_label": "no_inspect",'
        ' "decided_by": "ana"}\n'
        "[1, 2]\n"
    )
    s = load("decisions", write("d.jsonl", text))
    assert (s.rows_read, s.accepted, s.by_reason) == (4, 2, {"invalid_json": 2})
    originals = store.rows("SELECT CAST(original AS VARCHAR) FROM quarantine ORDER BY source_row")
    assert originals == [
        (
            '{"line":"{\\"case_id\\": \\"c2\\", \\"decided_at\\": \\"2026-03-02T09:00:00Z\\", \\"human_label\\": "}',
        ),
        ('{"line":"[1, 2]"}',),
    ]


def test_a_malformed_csv_line_is_quarantined_with_its_text(
    store: Store, load: Load, write: Write
) -> None:
    text = HEADER + "c1,2026-03-02 09:00,inspect\nc2,2026-03-02 09:00,inspect,extra\n"
    s = load("decisions", write("d.csv", text))
    assert (s.rows_read, s.accepted, s.by_reason) == (2, 1, {"malformed_line": 1})
    assert store.rows("SELECT source_row, original->>'line' FROM quarantine") == [
        (2, "c2,2026-03-02 09:00,inspect,extra")  # data row 2 (the file's line 3)
    ]


def test_blank_rows_are_quarantined_not_lost(store: Store, load: Load, write: Write) -> None:
    s = load("decisions", write("d.csv", HEADER + ",,\nc1,2026-03-02 09:00,inspect\n"))
    assert (s.rows_read, s.accepted, s.by_reason) == (2, 1, {"blank_row": 1})


@pytest.mark.parametrize("bad", ["[columns", "[colums]\na = 'b'\n"])
def test_a_broken_mapping_file_is_refused(db: Path, write: Write, bad: str) -> None:
    path = write("d.csv", HEADER + "c1,2026-03-02 09:00,inspect\n")
    mapping = write("m.toml", bad)
    err = refused(db, path, "--mapping", str(mapping))
    assert err.startswith(f"Error: {mapping}")


# --- frames through the Python API (found with hostile frames: raw Polars and DuckDB errors) ------


FRAME = {"case_id": ["c1"], "decided_at": ["2026-03-02 09:00"], "human_label": ["inspect"]}


def test_a_frame_column_of_python_objects_is_refused_naming_it(load: Load) -> None:
    frame = pl.DataFrame(FRAME).with_columns(pl.Series("note", [object()], dtype=pl.Object))
    with pytest.raises(InvalidLog) as e:
        load("decisions", frame)
    assert str(e.value) == "The frame's column 'note' holds Python objects, which cannot be loaded"
    assert (
        e.value.hint == "convert it to text or numbers first, e.g. pl.col('note').cast(pl.String)"
    )


def test_a_frame_of_128_bit_integers_loads_them_as_text(store: Store, load: Load) -> None:
    frame = pl.DataFrame(FRAME).with_columns(pl.Series("case_id", [2**100], dtype=pl.Int128))
    summary = load("decisions", frame)
    assert (summary.rows_read, summary.accepted) == (1, 1)
    assert store.rows("SELECT case_id FROM decisions") == [(str(2**100),)]


def test_a_pandas_frame_mixing_numbers_and_text_in_a_column_names_the_fix(load: Load) -> None:
    import pandas as pd

    frame = pd.DataFrame({**FRAME, "note": [1]}).astype({"note": object})
    frame.loc[len(frame)] = ["c2", "2026-03-02 10:00", "inspect", "text"]
    with pytest.raises(InvalidLog) as e:
        load("decisions", frame)
    assert str(e.value).startswith("Cannot read the pandas DataFrame: Could not convert 'text'")
    assert e.value.hint == "give each column one type, e.g. df['note'] = df['note'].astype(str)"


def test_a_frame_of_half_floats_and_nested_128_bit_integers_loads(load: Load) -> None:
    # found by fuzzing frames: DuckDB cannot read either through Arrow ("Unsupported Internal Arrow
    # Type e"; "format string '_pli128'")
    frame = pl.DataFrame(FRAME).with_columns(
        pl.Series("score", [0.5], dtype=pl.Float16),
        pl.Series("note", [[2**100]], dtype=pl.List(pl.Int128)),
    )
    summary = load("decisions", frame)
    assert (summary.rows_read, summary.accepted) == (1, 1)
