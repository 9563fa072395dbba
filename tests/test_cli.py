"""The `shadow` command: fast to start, plain output, exact errors, exit codes."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from shadow.cli import cli
from tests.conftest import POINT_TOML

DECISIONS = (
    "AssetWeek;When;Inspect?\n"
    "c1;02/03/2026 09:00;Y\n"
    "c2;02/03/2026 10:00;maybe\n"
    "c3;02/03/2026 11:00;N\n"
)
MAPPING = (
    '[columns]\ncase_id = "AssetWeek"\ndecided_at = "When"\nhuman_label = "Inspect?"\n'
    '[labels]\ninspect = ["Y"]\nno_inspect = ["N"]\n'
    '[timestamps]\nformats = ["%d/%m/%Y %H:%M"]\n'
)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def test_help_does_not_load_duckdb_polars_or_sklearn() -> None:
    code = (
        "import sys\n"
        "from shadow.cli import cli\n"
        "try:\n    cli(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('duckdb', 'polars', 'pyarrow', 'rich', 'sklearn', 'joblib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_whole_routine(tmp_path: Path) -> None:
    db = str(tmp_path / "ops.duckdb")
    point = tmp_path / "point.toml"
    point.write_text(POINT_TOML)
    (tmp_path / "d.csv").write_text(DECISIONS)
    (tmp_path / "m.toml").write_text(MAPPING)

    assert invoke("init", "--db", db) == (
        0,
        f"Created the store {db}.\nNext: register a decision point with `shadow point add point.toml`.\n",
        "",
    )
    assert (
        invoke("point", "add", str(point), "--db", db)[1]
        == "pump-inspection: added (owner: Dana Reyes)\n"
    )
    code, out, _ = invoke("point", "list", "--db", db)
    assert out == (
        "pump-inspection: Should this pump be inspected this week?\n"
        "  owner: Dana Reyes\n"
        "  task: binary, labels: inspect, no_inspect (positive: inspect)\n"
        "  segments: site, region; timezone: Europe/Berlin\n"
    )
    code, out, _ = invoke(
        "ingest",
        "decisions",
        str(tmp_path / "d.csv"),
        "--point",
        "pump-inspection",
        "--mapping",
        str(tmp_path / "m.toml"),
        "--db",
        db,
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'd.csv'} -> decisions (load 1, ")
    assert lines[1:] == [
        "  3 rows read: 2 accepted, 0 duplicates skipped, 1 quarantined",
        "            1  unknown_label: the label is not in the decision point's label set (nor mapped onto it)",
        "  note: segment columns not in the file, stored empty: region, site",
        "  note: 3 timestamps had no UTC offset and were read as Europe/Berlin time"
        " (pump-inspection's timezone); if they are in another zone, set [timestamps] timezone"
        " in the mapping",
        "  see them with: shadow rejects --load 1",
    ]
    code, out, _ = invoke("loads", "--db", db)
    assert out.splitlines()[1] == "  3 rows read: 2 accepted, 0 duplicates skipped, 1 quarantined"
    code, out, _ = invoke("rejects", "--load", "1", "--db", db)
    assert out == (
        f"load 1 row 2 ({tmp_path / 'd.csv'}): label 'maybe' not in label set (inspect, no_inspect)\n"
        '  {"AssetWeek":"c2","When":"02/03/2026 10:00","Inspect?":"maybe"}\n'
    )

    # Export the rejects, fix them, and load the fixed file with the same mapping.
    fixed = tmp_path / "to_fix.csv"
    code, out, _ = invoke(
        "rejects", "--reason", "unknown_label", "--export", str(fixed), "--db", db
    )
    assert code == 0
    with fixed.open() as f:
        rows = list(csv.DictReader(f))
    assert rows == [
        {
            "AssetWeek": "c2",
            "When": "02/03/2026 10:00",
            "Inspect?": "maybe",
            "shadow_load": "1",
            "shadow_row": "2",
            "shadow_reason": "label 'maybe' not in label set (inspect, no_inspect)",
        }
    ]
    text = fixed.read_text().replace(",maybe,", ",Y,")
    fixed.write_text(text)
    code, out, _ = invoke(
        "ingest",
        "decisions",
        str(fixed),
        "--point",
        "pump-inspection",
        "--mapping",
        str(tmp_path / "m.toml"),
        "--db",
        db,
        "--json",
    )
    summary = json.loads(out)[0]
    assert (summary["accepted"], summary["quarantined"], summary["load_id"]) == (1, 0, 2)


def test_json_summary_is_machine_readable(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "d.csv"
    path.write_text("case_id,decided_at,human_label\nc1,2026-03-02 09:00,inspect\n,,\n")
    code, out, _ = invoke(
        "ingest", "decisions", str(path), "--point", "pump-inspection", "--db", str(db), "--json"
    )
    assert code == 0
    [summary] = json.loads(out)
    assert {k: summary[k] for k in ("rows_read", "accepted", "duplicates", "quarantined")} == {
        "rows_read": 2,
        "accepted": 1,
        "duplicates": 0,
        "quarantined": 1,
    }
    assert summary["quarantined_by_reason"] == {"blank_row": 1}
    assert len(summary["content_hash"]) == 64


def test_a_missing_store_says_how_to_create_one(tmp_path: Path) -> None:
    db = tmp_path / "none.duckdb"
    assert invoke("loads", "--db", str(db)) == (
        1,
        "",
        f"Error: No shadow store at {db}\n\nHint: create one with `shadow init` (or point"
        " --db / SHADOW_DB at an existing store)\n",
    )


def test_the_store_comes_from_shadow_db(db: Path) -> None:
    result = CliRunner(env={"SHADOW_DB": str(db)}).invoke(cli, ["point", "list"])
    assert result.stdout.startswith("pump-inspection: ")


def test_rejects_for_an_unknown_load(db: Path) -> None:
    assert invoke("rejects", "--load", "99", "--db", str(db)) == (
        1,
        "",
        "Error: There is no load 99\n\nHint: list the loads with `shadow loads`\n",
    )


def test_an_unknown_log_is_a_usage_error(db: Path) -> None:
    code, _, err = invoke("ingest", "verdicts", "x.csv", "--db", str(db))
    assert code == 2
    assert "Invalid value for '{predictions|decisions|outcomes}'" in err


def test_demo_builds_a_store_from_the_sample(tmp_path: Path) -> None:
    from shadow.demo import SAMPLE

    record = json.loads((SAMPLE / "generator_record.json").read_text())
    expected = []
    for log, e in record["logs"].items():
        reasons = ", ".join(f"{n} {code}" for code, n in e["quarantined"].items())
        expected.append(
            f"{log}: {e['rows']:,} rows read, {e['accepted']:,} accepted,"
            f" {e['exact_duplicates']:,} duplicates skipped,"
            f" {sum(e['quarantined'].values()):,} quarantined ({reasons})"
        )
    db = tmp_path / "demo.duckdb"
    code, out, _ = invoke("demo", "--no-app", "--db", str(db))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Decision point pump-inspection: added (owner: Dana Reyes, maintenance lead)"
    assert lines[1:4] == expected
    assert lines[4].startswith("So far: ") and "have a known outcome" in lines[4]
    code, out, _ = invoke("demo", "--no-app", "--db", str(db))
    assert "predictions: already loaded (load 1), nothing changed" in out


def test_demo_will_not_mix_into_a_real_store(tmp_path: Path) -> None:
    db = tmp_path / "real.duckdb"
    other = POINT_TOML.replace('id = "pump-inspection"', 'id = "claims"')
    (tmp_path / "p.toml").write_text(other)
    invoke("point", "add", str(tmp_path / "p.toml"), "--db", str(db))
    code, _, err = invoke("demo", "--no-app", "--db", str(db))
    assert code == 1
    assert err == (
        f"Error: {db} already holds other decision points (claims); the demo will not mix its"
        " sample into it\n\nHint: run `shadow demo --db demo.duckdb` to build the demo in its own file\n"
    )


def test_a_missing_point_file_is_named(tmp_path: Path) -> None:
    db = tmp_path / "s.duckdb"
    code, _, err = invoke("point", "add", str(tmp_path / "nope.toml"), "--db", str(db))
    assert (code, err) == (1, f"Error: No such decision point file: {tmp_path / 'nope.toml'}\n")
    assert not db.exists()  # every file is checked before the store is touched


def test_files_loaded_before_a_bad_one_are_reported(db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "a.csv").write_text("case_id,decided_at,human_label\nc1,2026-03-02 09:00,inspect\n")
    (folder / "b.csv").write_text("case_id,decided_at,human_label\nc2,2026-03-02 09:00,inspect\n")
    (folder / "c.csv").write_text("")
    code, out, err = invoke(
        "ingest", "decisions", str(folder), "--point", "pump-inspection", "--db", str(db)
    )
    assert code == 1
    assert [line.split(" -> ")[0] for line in out.splitlines() if " -> " in line] == [
        str(folder / "a.csv"),
        str(folder / "b.csv"),
    ]
    assert err == (
        f"Error: {folder / 'c.csv'} is empty\n\n"
        "Hint: 2 earlier files were loaded (see above); check that the export wrote any rows\n"
    )
    code, out, _ = invoke("loads", "--db", str(db))
    assert out.count("load ") == 2
