"""The real data sets in shared/realdata load through mappings and give the numbers their SOURCE.md quotes.

Each store is built the way a data team would: the mapping files and decision points in
tests/realdata/<dataset>/ (nothing reshaped, nothing copied into the repo), `shadow init`, `point
add`, `ingest ... --mapping` and `refresh` through the CLI; the numbers are read from the published
snapshot. Where to find the data: $SHADOW_REALDATA, else /work/shared/realdata, else
../shared/realdata beside the repository.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.snapshot import open_published

REPO = Path(__file__).resolve().parents[1]
MAPPINGS = Path(__file__).resolve().parent / "realdata"


def _realdata() -> Path:
    candidates = [Path("/work/shared/realdata"), REPO.parent / "shared" / "realdata"]
    if os.environ.get("SHADOW_REALDATA"):
        candidates.insert(0, Path(os.environ["SHADOW_REALDATA"]))
    for folder in candidates:
        if folder.is_dir():
            return folder
    pytest.skip(
        "real data not found: set SHADOW_REALDATA to the realdata folder (with compas_human_vs_algorithm/,"
        " dane_psa_rct/, chexpert_test_radiologists_vs_models/), or put it at ../shared/realdata"
        f" beside the repository ({REPO.parent / 'shared' / 'realdata'})"
    )


def _file(*parts: str) -> Path:
    path = _realdata().joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is missing from the real data folder")
    return path


def shadow(*args: str | Path) -> str:
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, f"shadow {args[0]}: {result.output} {result.exception!r}"
    return result.stdout


def ingest(
    db: Path, log: str, path: Path, mapping: Path, point: str | None = None
) -> dict[str, Any]:
    """One `shadow ingest --json` load; checks that every row read is accounted for."""
    args: list[str | Path] = ["ingest", log, path, "--db", db, "--mapping", mapping, "--json"]
    if point:
        args += ["--point", point]
    (summary,) = json.loads(shadow(*args))
    assert summary["already_loaded_as"] is None
    assert (
        summary["accepted"] + summary["duplicates"] + summary["quarantined"] == summary["rows_read"]
    ), summary
    assert sum(summary["quarantined_by_reason"].values()) == summary["quarantined"]
    return summary


def build(db: Path, points: list[Path]) -> None:
    shadow("init", "--db", db)
    shadow("point", "add", "--db", db, *points)


def totals(db: Path) -> pl.DataFrame:
    """The whole track record per point, version, segment and value: the latest cumulative row.

    Cumulative rows exist only for periods in which the segment value had cases, so the latest
    one is taken per segment value (not the latest period of the point).
    """
    with open_published(db) as published:
        published.verify()
        numbers = published.table("numbers")
    return (
        numbers.filter(scope="cumulative", period="month")
        .sort("period_start")
        .group_by("point_id", "model_version", "segment", "segment_value", maintain_order=True)
        .last()
    )


def row(
    table: pl.DataFrame, point: str, segment: str = "all", value: str = "all"
) -> dict[str, Any]:
    (found,) = table.filter(point_id=point, segment=segment, segment_value=value).to_dicts()
    return found


# --- COMPAS vs crowd workers (Lin et al. 2020) ------------------------------------------------


@pytest.fixture(scope="module")
def compas(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, dict[str, Any]]:
    data = _file("compas_human_vs_algorithm", "derived", "compas_human_predictions_long.csv")
    maps = MAPPINGS / "compas"
    db = tmp_path_factory.mktemp("compas") / "shadow.duckdb"
    build(db, [maps / "point-df.toml", maps / "point-df_violent.toml"])
    loads = {
        log: ingest(db, log, data, maps / f"{log}.toml")
        for log in ("predictions", "decisions", "outcomes")
    }
    shadow("refresh", "--db", db)
    rejected = json.loads(shadow("rejects", "--db", db, "--json", "--limit", "100000"))
    return totals(db), {"loads": loads, "rejected": rejected, "data": data}


def test_compas_every_row_is_accounted_for(compas: tuple[pl.DataFrame, dict[str, Any]]) -> None:
    _, found = compas
    raw = pl.read_csv(found["data"], infer_schema_length=0)
    no_time = raw.filter(pl.col("enter_time_utc").is_null())
    # what got quarantined: the answers without a time (one worker's answers 51-100 in df, the
    # ones SOURCE.md calls NA times), in the two logs that need it; outcomes all load
    assert no_time.height == 50
    for log in ("predictions", "decisions"):
        load = found["loads"][log]
        assert (load["rows_read"], load["accepted"]) == (18_526, 18_476)
        assert load["quarantined_by_reason"] == {"missing_timestamp": 50}
    assert found["loads"]["outcomes"]["accepted"] == 18_526
    rejected = found["rejected"]
    assert {r["reason"] for r in rejected} == {"missing predicted_at", "missing decided_at"}
    ids = sorted(r["original"]["response_row_id"] for r in rejected if r["log"] == "decisions")
    assert ids == sorted(no_time.filter(experiment="df")["response_row_id"].to_list())


def test_compas_clean_subset_gives_source_md_numbers(
    compas: tuple[pl.DataFrame, dict[str, Any]],
) -> None:
    # SOURCE.md: on the "clean" subset (user_submitted == 1 & user_passed_attention_checks == 1)
    # df: humans 0.616 (no feedback) and 0.630 (feedback) vs COMPAS >= 5 about 0.66;
    # df_violent: humans 0.592 / 0.726 vs COMPAS about 0.66.
    table, _ = compas
    quoted = {"df": (0.616, 0.630), "df_violent": (0.592, 0.726)}
    for point, (no_feedback, feedback) in quoted.items():
        # cohort = user_submitted/user_passed_attention_checks/user_group
        plain = row(table, point, "cohort", "1/1/vignette")
        told = row(table, point, "cohort", "1/1/feedback_vignette")
        assert plain["person_accuracy"] == pytest.approx(no_feedback, abs=0.0005)
        assert told["person_accuracy"] == pytest.approx(feedback, abs=0.0005)
        clean = row(table, point, "clean", "1/1")
        assert clean["model_accuracy"] == pytest.approx(0.66, abs=0.01)
        for r in (plain, told, clean):  # every paired case has its outcome: nothing pending
            assert r["resolved"] == r["paired"] == r["decided"]
            assert r["late_predictions"] == 0
        assert clean["resolved"] == plain["resolved"] + told["resolved"]
    # the clean answers: 2,800 + 2,400 in df less the 50 without a time; 2,400 + 3,450 in df_violent
    assert row(table, "df", "clean", "1/1")["resolved"] == 5_150
    assert row(table, "df_violent", "clean", "1/1")["resolved"] == 5_850


def test_compas_segments_cover_every_answer(compas: tuple[pl.DataFrame, dict[str, Any]]) -> None:
    table, _ = compas
    for point, answers in (("df", 9_219), ("df_violent", 9_257)):
        assert row(table, point)["decided"] == answers
        for segment in ("cohort", "clean", "user_group", "race", "sex"):
            values = table.filter(point_id=point, segment=segment)
            assert values["decided"].sum() == answers, segment
            assert "(none)" not in values["segment_value"].to_list()


# --- CheXpert test set: benchmark radiologists vs a leaderboard model -------------------------


@pytest.fixture(scope="module")
def chexpert(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    data = _file(
        "chexpert_test_radiologists_vs_models", "derived", "chexpert_test_5pathologies_long.csv"
    )
    maps = MAPPINGS / "chexpert"
    db = tmp_path_factory.mktemp("chexpert") / "shadow.duckdb"
    readers = ("bc4", "bc6", "bc8")
    build(db, [maps / f"point-{r}.toml" for r in readers])
    for r in readers:
        point = f"chexpert-{r}"
        # the same file and mapping under another point is a new load, not "already loaded"
        for log, mapping in (
            ("predictions", "predictions.toml"),
            ("decisions", f"decisions-{r}.toml"),
            ("outcomes", "outcomes.toml"),
        ):
            summary = ingest(db, log, data, maps / mapping, point=point)
            assert (summary["rows_read"], summary["accepted"]) == (2_500, 2_500), (r, log)
    shadow("refresh", "--db", db)
    return totals(db)


def test_chexpert_radiologists_pleural_effusion(chexpert: pl.DataFrame) -> None:
    # SOURCE.md: benchmark radiologists (sensitivity/specificity), Pleural Effusion:
    # bc4 0.82/0.95, bc6 0.83/0.83, bc8 0.89/0.86
    quoted = {"bc4": (0.82, 0.95), "bc6": (0.83, 0.83), "bc8": (0.89, 0.86)}
    for reader, (sensitivity, specificity) in quoted.items():
        r = row(chexpert, f"chexpert-{reader}", "pathology", "Pleural Effusion")
        assert r["resolved"] == 500
        assert r["person_recall"] == pytest.approx(sensitivity, abs=0.005)
        # specificity is not published as a rate: it is the person's recall of the negative label
        negatives = r["resolved"] - r["actual_positive"]
        false_positives = r["person_positive_resolved"] - r["person_true_positive"]
        assert 1 - false_positives / negatives == pytest.approx(specificity, abs=0.005)


def test_chexpert_prevalence(chexpert: pl.DataFrame) -> None:
    # SOURCE.md: prevalence on the 5 pathologies (ground truth)
    quoted = {
        "Atelectasis": 0.306,
        "Cardiomegaly": 0.302,
        "Consolidation": 0.058,
        "Edema": 0.156,
        "Pleural Effusion": 0.208,
    }
    for reader in ("bc4", "bc6", "bc8"):
        for pathology, prevalence in quoted.items():
            r = row(chexpert, f"chexpert-{reader}", "pathology", pathology)
            assert r["actual_positive"] / r["resolved"] == pytest.approx(prevalence, abs=0.0005)
        assert row(chexpert, f"chexpert-{reader}")["decided"] == 2_500


# --- Dane County PSA field experiment (interim data) -------------------------------------------


@pytest.fixture(scope="module")
def dane(tmp_path_factory: pytest.TempPathFactory) -> pl.DataFrame:
    data = _file("dane_psa_rct", "derived", "dane_psa_interim_merged.csv")
    maps = MAPPINGS / "dane_psa"
    db = tmp_path_factory.mktemp("dane") / "shadow.duckdb"
    outcomes = ("fta", "nca", "nvca")
    build(db, [maps / f"point-{o}.toml" for o in outcomes])
    for o in outcomes:
        for log, mapping in (
            ("predictions", "predictions.toml"),
            ("decisions", "decisions.toml"),
            ("outcomes", f"outcomes-{o}.toml"),
        ):
            summary = ingest(db, log, data, maps / mapping, point=f"dane-{o}")
            assert (summary["rows_read"], summary["accepted"]) == (1_891, 1_891), (o, log)
    shadow("refresh", "--db", db)
    return totals(db)


def test_dane_counts_match_source_md(dane: pl.DataFrame) -> None:
    # SOURCE.md: Z (PSA shown) 948 / hidden 943; D = 1410 / 264 / 217 (signature, small cash,
    # large cash); DMF 1212 / 679; Y positives FTA 341, NCA 465, NVCA 92 of 1891.
    for outcome, positives in (("fta", 341), ("nca", 465), ("nvca", 92)):
        point = f"dane-{outcome}"
        whole = row(dane, point)
        assert whole["decided"] == whole["paired"] == whole["resolved"] == 1_891
        assert whole["late_predictions"] == 0
        assert whole["decided_positive"] == 264 + 217  # any cash bond
        assert whole["both_positive"] + whole["model_only_positive"] == 679  # DMF: cash bond
        assert whole["actual_positive"] == positives
        assert row(dane, point, "psa_shown", "1")["decided"] == 948
        assert row(dane, point, "psa_shown", "0")["decided"] == 943
