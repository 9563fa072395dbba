"""The loading rules of DESIGN.md: every row accounted for, idempotent, no overwrite, UTC, atomic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from shadow.errors import InvalidLog, StoreError, UnknownPoint
from shadow.ingestion import LoadSummary, ingest_into, plan_sources
from shadow.store import Store

Write = Callable[[str, str | bytes], Path]
Load = Callable[..., LoadSummary]

DECISIONS = """case_id,decided_at,human_label,decided_by,site,region
c1,2026-03-02 09:00,inspect,ana,hamburg,north
c2,2026-03-02T10:00:00Z,no_inspect,ben,hamburg,north
c3,2026-03-02T10:00:00+05:30,inspect,ana,munich,south
"""


def accounted(s: LoadSummary) -> bool:
    return s.accepted + s.duplicates + s.quarantined == s.rows_read


def test_accepted_rows_are_stored_in_utc(store: Store, load: Load, write: Write) -> None:
    s = load("decisions", write("d.csv", DECISIONS))
    assert (s.rows_read, s.accepted, s.duplicates, s.quarantined) == (3, 3, 0, 0)
    rows = store.rows("SELECT case_id, decided_at FROM decisions ORDER BY case_id")
    assert rows == [
        # naive: read in the point's timezone (Europe/Berlin, UTC+1 in March)
        ("c1", datetime(2026, 3, 2, 8, 0, tzinfo=UTC)),
        ("c2", datetime(2026, 3, 2, 10, 0, tzinfo=UTC)),
        ("c3", datetime(2026, 3, 2, 4, 30, tzinfo=UTC)),
    ]


def test_naive_timestamps_take_the_mapping_timezone(store: Store, load: Load, write: Write) -> None:
    mapping = write("m.toml", '[timestamps]\ntimezone = "America/New_York"\n')
    load("decisions", write("d.csv", DECISIONS), mapping=mapping)
    rows = store.rows("SELECT decided_at FROM decisions WHERE case_id = 'c1'")
    assert rows == [(datetime(2026, 3, 2, 14, 0, tzinfo=UTC),)]  # 09:00 EST = 14:00 UTC


def test_an_assumed_timezone_is_said_out_loud(store: Store, load: Load, write: Write) -> None:
    s = load("decisions", write("d.csv", DECISIONS))
    assert s.warnings == [
        "1 timestamps had no UTC offset and were read as Europe/Berlin time (pump-inspection's"
        " timezone); if they are in another zone, set [timestamps] timezone in the mapping"
    ]
    mapping = write("m.toml", '[timestamps]\ntimezone = "Europe/Berlin"\n')
    assert load("decisions", write("d2.csv", DECISIONS), mapping=mapping).warnings == []


def test_daylight_saving_is_applied_to_naive_times(store: Store, load: Load, write: Write) -> None:
    text = "case_id,decided_at,human_label\nsummer,2025-07-01 09:00,inspect\n"
    load("decisions", write("d.csv", text))
    assert store.rows("SELECT decided_at FROM decisions") == [
        (datetime(2025, 7, 1, 7, 0, tzinfo=UTC),)  # Berlin is UTC+2 in July
    ]


def test_segments_and_people_are_kept(store: Store, load: Load, write: Write) -> None:
    load("decisions", write("d.csv", DECISIONS))
    rows = store.rows(
        "SELECT decided_by, segments->>'site', segments->>'region' FROM decisions ORDER BY case_id"
    )
    assert rows[0] == ("ana", "hamburg", "north")


def test_explanation_is_kept_as_json(store: Store, load: Load, write: Write) -> None:
    text = (
        "case_id,predicted_at,model_version,predicted_label,score,explanation\n"
        'c1,2026-03-02 08:00,v1,inspect,0.83,"{""vibration"": 0.31, ""age"": -0.02}"\n'
    )
    load("predictions", write("p.csv", text))
    rows = store.rows("SELECT score, explanation->>'vibration' FROM predictions")
    assert rows == [(0.83, "0.31")]


def test_same_file_twice_changes_nothing_and_says_so(
    store: Store, load: Load, write: Write
) -> None:
    path = write("d.csv", DECISIONS)
    first = load("decisions", path)
    before = store.rows("SELECT count(*) FROM decisions UNION ALL SELECT count(*) FROM loads")
    second = load("decisions", path)
    assert second.already_loaded_as == first.load_id
    assert second.load_id is None
    assert (second.rows_read, second.duplicates, second.accepted) == (3, 3, 0)
    after = store.rows("SELECT count(*) FROM decisions UNION ALL SELECT count(*) FROM loads")
    assert after == before


def test_same_rows_in_another_file_are_skipped_as_duplicates(
    store: Store, load: Load, write: Write
) -> None:
    load("decisions", write("d.csv", DECISIONS))
    s = load("decisions", write("again.csv", DECISIONS + "c4,2026-03-03 09:00,inspect,ana,,\n"))
    assert (s.rows_read, s.accepted, s.duplicates, s.quarantined) == (4, 1, 3, 0)
    assert store.rows("SELECT count(*) FROM decisions") == [(4,)]


def test_exact_duplicate_rows_in_one_file_are_skipped(
    store: Store, load: Load, write: Write
) -> None:
    text = DECISIONS + "c1,2026-03-02 09:00,inspect,ana,hamburg,north\n"
    s = load("decisions", write("d.csv", text))
    assert (s.rows_read, s.accepted, s.duplicates, s.quarantined) == (4, 3, 1, 0)


def test_a_conflicting_row_is_quarantined_and_never_overwrites(
    store: Store, load: Load, write: Write
) -> None:
    load("decisions", write("d.csv", DECISIONS))
    changed = "case_id,decided_at,human_label\nc1,2026-03-02 09:00,no_inspect\n"
    s = load("decisions", write("changed.csv", changed))
    assert (s.accepted, s.quarantined, s.by_reason) == (0, 1, {"conflict_with_store": 1})
    assert store.rows("SELECT reason FROM quarantine WHERE load_id = $id", {"id": s.load_id}) == [
        (
            "conflicts with accepted row from load 1 (row 1; same case_id and decided_at;"
            " different content)",
        )
    ]
    assert store.rows("SELECT human_label FROM decisions WHERE case_id = 'c1'") == [("inspect",)]


def test_a_revised_decision_is_a_new_row(store: Store, load: Load, write: Write) -> None:
    load("decisions", write("d.csv", DECISIONS))
    revised = "case_id,decided_at,human_label\nc1,2026-03-02 15:00,no_inspect\n"
    s = load("decisions", write("revised.csv", revised))
    assert s.accepted == 1
    assert store.rows(
        "SELECT human_label FROM decisions WHERE case_id = 'c1' ORDER BY decided_at"
    ) == [("inspect",), ("no_inspect",)]


def test_outcome_corrections_are_kept_as_history(store: Store, load: Load, write: Write) -> None:
    first = "case_id,observed_at,actual_label,note\nc1,2026-03-10 12:00,no_inspect,\n"
    later = "case_id,observed_at,actual_label,note\nc1,2026-03-20 12:00,inspect,lab result\n"
    load("outcomes", write("o1.csv", first))
    s = load("outcomes", write("o2.csv", later))
    assert s.accepted == 1
    history = store.rows("SELECT actual_label, note FROM outcomes ORDER BY observed_at")
    assert history == [("no_inspect", None), ("inspect", "lab result")]


def test_predictions_are_keyed_by_model_version(store: Store, load: Load, write: Write) -> None:
    text = (
        "case_id,predicted_at,model,model_version,predicted_label,score\n"
        "c1,2026-03-02 08:00,pump-risk,v1,inspect,0.8\n"
        "c1,2026-03-02 08:00,pump-risk,v2,no_inspect,0.3\n"
        "c1,2026-03-02 08:00,,v3,no_inspect,\n"
    )
    s = load("predictions", write("p.csv", text))
    assert (s.accepted, s.quarantined) == (3, 0)
    assert store.rows("SELECT model, score FROM predictions WHERE model_version = 'v3'") == [
        (None, None)
    ]


def test_rows_for_an_unregistered_point_are_quarantined(
    store: Store, load: Load, write: Write
) -> None:
    text = (
        "point_id,case_id,decided_at,human_label\n"
        "pump-inspection,c1,2026-03-02 09:00,inspect\n"
        "claims-triage,c2,2026-03-02 09:00,inspect\n"
    )
    s = load("decisions", write("d.csv", text), point=None)
    assert (s.accepted, s.by_reason) == (1, {"unknown_point": 1})
    assert store.rows("SELECT reason FROM quarantine") == [
        ("unknown decision point 'claims-triage'",)
    ]


def test_an_unknown_point_option_is_refused_before_reading(
    store: Store, load: Load, write: Write
) -> None:
    with pytest.raises(UnknownPoint) as e:
        load("decisions", write("d.csv", DECISIONS), point="pump-inspectoin")
    assert (
        str(e.value) == "Unknown decision point 'pump-inspectoin' (did you mean 'pump-inspection'?)"
    )
    assert e.value.hint == (
        "registered points: pump-inspection; add one with `shadow point add FILE`"
    )
    assert store.rows("SELECT count(*) FROM loads") == [(0,)]


def test_loading_into_an_empty_store_names_the_missing_point(write: Write) -> None:
    with Store.memory() as empty, pytest.raises(UnknownPoint) as e:
        ingest_into(empty, "decisions", plan_sources(write("d.csv", DECISIONS)), point="x")
    assert e.value.hint == (
        "no decision point is registered yet: add one with `shadow point add FILE`"
    )


def test_label_spellings_map_onto_the_label_set(store: Store, load: Load, write: Write) -> None:
    mapping = write("m.toml", '[labels]\ninspect = ["Y", "yes", "1"]\nno_inspect = ["N", "0"]\n')
    text = "case_id,decided_at,human_label\n" + "".join(
        f"c{i},2026-03-02 09:00,{label}\n"
        for i, label in enumerate(["Y", "yes", "1", "N", "0", "Inspect", " no_inspect ", "YES"])
    )
    s = load("decisions", write("d.csv", text), mapping=mapping)
    assert (s.accepted, s.quarantined) == (8, 0)
    labels = [r[0] for r in store.rows("SELECT human_label FROM decisions ORDER BY case_id")]
    assert labels == ["inspect"] * 3 + ["no_inspect"] * 2 + ["inspect", "no_inspect", "inspect"]


def test_polars_and_pandas_frames_load_like_files(store: Store, load: Load) -> None:
    frame = pl.DataFrame(
        {
            "case_id": ["a", "b"],
            "decided_at": [datetime(2026, 3, 2, 9), datetime(2026, 3, 2, 10)],
            "human_label": ["inspect", "maybe"],
        }
    )
    s = load("decisions", frame)
    assert (s.source, s.accepted, s.by_reason) == ("<frame>", 1, {"unknown_label": 1})
    s2 = load(
        "decisions",
        pd.DataFrame(
            {"case_id": ["c"], "decided_at": ["2026-03-02 11:00"], "human_label": ["no_inspect"]}
        ),
    )
    assert s2.accepted == 1
    # a naive datetime from a frame is local time at the decision point (Berlin, UTC+1)
    assert store.rows("SELECT decided_at FROM decisions WHERE case_id = 'a'") == [
        (datetime(2026, 3, 2, 8, 0, tzinfo=UTC),)
    ]


def test_a_folder_and_a_glob_load_every_file_in_order(
    store: Store, write: Write, tmp_path: Path
) -> None:
    write("exports/day=1/d.csv", "case_id,decided_at,human_label\na,2026-03-02 09:00,inspect\n")
    write("exports/day=2/d.csv", "case_id,decided_at,human_label\nb,2026-03-03 09:00,inspect\n")
    write("exports/readme.md", "not a log")
    folder = ingest_into(
        store, "decisions", plan_sources(tmp_path / "exports"), point="pump-inspection"
    )
    assert [Path(s.source).parent.name for s in folder] == ["day=1", "day=2"]
    again = ingest_into(
        store,
        "decisions",
        plan_sources(str(tmp_path / "exports" / "*" / "*.csv")),
        point="pump-inspection",
    )
    assert [s.already_loaded_as for s in again] == [s.load_id for s in folder]


def test_a_failed_load_leaves_the_store_as_it_was(
    store: Store, load: Load, write: Write, monkeypatch: pytest.MonkeyPatch
) -> None:
    load("decisions", write("d.csv", DECISIONS))
    before = store.rows("SELECT count(*) FROM decisions UNION ALL SELECT count(*) FROM loads")
    real = Store.execute

    def fail_on_quarantine(self: Store, text: str, params: object = None) -> None:
        if text.lstrip().startswith("INSERT INTO quarantine"):
            raise StoreError("disk on fire")
        real(self, text, params)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "execute", fail_on_quarantine)
    more = DECISIONS.replace("c1", "c9") + ",,,,,\n"
    with pytest.raises(StoreError):
        load("decisions", write("more.csv", more))
    monkeypatch.undo()
    after = store.rows("SELECT count(*) FROM decisions UNION ALL SELECT count(*) FROM loads")
    assert after == before
    assert store.rows("SELECT count(*) FROM quarantine") == [(0,)]
    again = load("decisions", write("more.csv", more))  # and it loads fine afterwards
    assert (again.accepted, again.duplicates, again.quarantined) == (1, 2, 1)


def test_a_csv_error_message_from_duckdb_never_escapes(
    store: Store, load: Load, write: Write
) -> None:
    text = 'case_id,decided_at,human_label\na,2026-03-02 09:00,inspect\nb,"unterminated,x\n'
    s = load("decisions", write("d.csv", text))
    assert accounted(s)
    with pytest.raises(InvalidLog):
        load("decisions", write("x.csv", "\n\n\n"))


def test_a_load_reports_its_phases_in_order(store: Store, write: Write) -> None:
    seen: list[str] = []
    ingest_into(
        store,
        "decisions",
        plan_sources(write("d.csv", DECISIONS)),
        point="pump-inspection",
        step=lambda _source, phase, _done: seen.append(phase),
    )
    phases = [p for i, p in enumerate(seen) if i == 0 or seen[i - 1] != p]
    assert phases == ["hashing", "reading", "checking", "writing"]


def test_mapping_defaults_fill_columns_the_file_lacks(
    store: Store, load: Load, write: Write
) -> None:
    mapping = write("m.toml", '[defaults]\nmodel_version = "compas-2013"\nmodel = "COMPAS"\n')
    text = "case_id,predicted_at,predicted_label,model\nc1,2026-03-02,inspect,\nc2,2026-03-02,maybe,X\n"
    s = load("predictions", write("p.csv", text), mapping=mapping)
    assert (s.accepted, s.quarantined) == (1, 1)
    # the file's own column wins over a default, even when blank
    assert store.rows("SELECT model, model_version FROM predictions") == [(None, "compas-2013")]
    assert store.rows("SELECT CAST(original AS VARCHAR) FROM quarantine") == [
        ('{"case_id":"c2","predicted_at":"2026-03-02","predicted_label":"maybe","model":"X"}',)
    ]


def test_a_case_id_can_be_joined_from_several_columns(
    store: Store, load: Load, write: Write
) -> None:
    mapping = write("m.toml", '[columns]\ncase_id = ["experiment", "row"]\n')
    text = (
        "experiment,row,decided_at,human_label\n"
        "df,370,2026-03-02 09:00,inspect\n"
        "df_violent,370,2026-03-02 09:00,no_inspect\n"
        ",371,2026-03-02 09:00,inspect\n"
    )
    s = load("decisions", write("d.csv", text), mapping=mapping)
    assert (s.accepted, s.by_reason) == (2, {"missing_case_id": 1})
    assert store.rows("SELECT case_id FROM decisions ORDER BY 1") == [
        ("df/370",),
        ("df_violent/370",),
    ]


def test_typed_parquet_columns_load_without_a_round_trip_through_text(
    store: Store, load: Load, tmp_path: Path
) -> None:
    path = tmp_path / "p.parquet"
    pl.DataFrame(
        {
            "case_id": ["a", "b", "c"],
            "predicted_at": pl.Series(
                [datetime(2026, 3, 2, 8, tzinfo=UTC)] * 3, dtype=pl.Datetime("us", "UTC")
            ),
            "model_version": ["v1"] * 3,
            "predicted_label": ["inspect", "no_inspect", "inspect"],
            "score": [0.8, 0.1, 1.5],
            "explanation": [{"vibration": 0.3}, {"vibration": -0.1}, None],
        }
    ).write_parquet(path)
    s = load("predictions", path)
    assert (s.accepted, s.by_reason, s.warnings[-1:]) == (
        2,
        {"score_out_of_range": 1},
        ["segment columns not in the file, stored empty: region, site"],
    )
    assert store.rows(
        "SELECT case_id, predicted_at, score, explanation->>'vibration' FROM predictions ORDER BY 1"
    ) == [
        ("a", datetime(2026, 3, 2, 8, tzinfo=UTC), 0.8, "0.3"),
        ("b", datetime(2026, 3, 2, 8, tzinfo=UTC), 0.1, "-0.1"),
    ]


def test_missing_value_spellings_from_the_mapping_are_empty(
    store: Store, load: Load, write: Write
) -> None:
    text = (
        "case_id,predicted_at,model_version,predicted_label,score,site\n"
        "c1,2026-03-02 08:00,v1,inspect,NA,hamburg\n"
        "c2,2026-03-02 08:00,v1,inspect, n/a ,NA\n"
        "NA,NA,NA,NA,NA,NA\n"
    )
    s = load("predictions", write("p.csv", text))
    assert s.quarantined == 3  # without the mapping, "NA" is a value like any other
    mapping = write("m.toml", '[values]\nmissing = ["NA", "n/a"]\n')
    s = load("predictions", write("p.csv", text), mapping=mapping)
    assert (s.accepted, s.by_reason) == (2, {"blank_row": 1})
    assert store.rows("SELECT case_id, score, segments->>'site' FROM predictions ORDER BY 1") == [
        ("c1", None, "hamburg"),
        ("c2", None, None),
    ]
