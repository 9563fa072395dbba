"""Running a model in shadow: scores, labels and explanations are right, and bad fits log nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
from click.testing import CliRunner
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeRegressor

from shadow.cli import cli
from shadow.errors import InvalidLog, InvalidModel
from shadow.points import get_point, parse_point
from shadow.runner import load_model, model_features, score_cases, score_frame
from shadow.store import Store
from tests.conftest import NOW, POINT_TOML

POINT = parse_point(POINT_TOML)
MULTI = parse_point(
    'id = "triage"\nname = "Triage"\nowner = "Ops"\ntask = "multiclass"\n'
    'labels = ["low", "mid", "high"]\ntimezone = "UTC"\n'
)
NUMERIC = ["vibration_mm_s", "temperature_c", "pressure_bar", "age_years", "days_since_service"]
FEATURES = [*NUMERIC, "asset_class"]


def pumps(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Synthetic pump-weeks shaped like the sample: five numbers and an asset class."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "vibration_mm_s": rng.gamma(2.0, 2.0, n),
            "temperature_c": rng.normal(60.0, 10.0, n),
            "pressure_bar": rng.normal(8.0, 1.0, n),
            "age_years": rng.uniform(0.0, 30.0, n),
            "days_since_service": rng.uniform(0.0, 400.0, n),
            "asset_class": rng.choice(["centrifugal", "reciprocating"], n),
        }
    )
    logit = (
        0.5 * frame["vibration_mm_s"]
        + 0.05 * (frame["temperature_c"] - 60)
        + 0.004 * frame["days_since_service"]
        + 0.8 * (frame["asset_class"] == "reciprocating")
        - 2.5
    )
    frame["label"] = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "inspect", "no_inspect")
    return frame


def pipeline(classifier: Any) -> Pipeline:
    prep = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["asset_class"]),
        ]
    )
    return Pipeline([("prep", prep), ("clf", classifier)])


@pytest.fixture(scope="module")
def train() -> pd.DataFrame:
    return pumps()


@pytest.fixture(scope="module")
def model(train: pd.DataFrame) -> Pipeline:
    return pipeline(LogisticRegression()).fit(train[FEATURES], train["label"])


def cases_of(frame: pd.DataFrame, **extra: Any) -> pl.DataFrame:
    cases = pl.from_pandas(frame[FEATURES])
    return cases.with_columns(case_id=pl.format("c{}", pl.int_range(pl.len())), **extra)


def test_scores_and_labels_are_the_models_own(model: Pipeline) -> None:
    test = pumps(50, seed=1)
    cases = cases_of(test, site=pl.lit("hamburg"))
    out = score_frame(model, cases, point=POINT, model_version="v1", predicted_at=NOW, top=0)

    proba = model.predict_proba(test[FEATURES])
    inspect = list(model.classes_).index("inspect")
    assert out.columns == [
        "case_id",
        "predicted_at",
        "model",
        "model_version",
        "predicted_label",
        "score",
        "explanation",
        "site",
    ]
    assert out["case_id"].to_list() == [f"c{i}" for i in range(50)]
    assert out["predicted_label"].to_list() == list(model.predict(test[FEATURES]))
    np.testing.assert_allclose(out["score"].to_numpy(), proba[:, inspect], rtol=0, atol=1e-12)
    assert out["predicted_at"].dtype == pl.Datetime("us", "UTC")
    assert set(out["predicted_at"].to_list()) == {NOW}
    assert out["explanation"].null_count() == 50  # top=0: no explanations
    assert out["model"].null_count() == 50
    assert set(out["site"].to_list()) == {"hamburg"}


def test_the_explanation_is_the_change_in_probability_without_each_feature() -> None:
    # Two features, a logistic regression: work out the occlusion by hand.
    train = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 0.5, 2.5], "b": [1.0, 0.0, 1.0, 0.0, 0.0, 1.0]})
    y = ["no_inspect", "no_inspect", "inspect", "inspect", "no_inspect", "inspect"]
    lr = LogisticRegression().fit(train, y)
    cases = pl.DataFrame({"case_id": ["x", "y", "z"], "a": [3.0, 0.0, 1.0], "b": [1.0, 0.0, 0.0]})
    # Reference (from the cases): median a = 1.0; median b = 0.0.
    out = score_frame(lr, cases, point=POINT, model_version="v1", predicted_at=NOW, top=2)

    w_a, w_b = lr.coef_[0]
    pos = list(lr.classes_).index("inspect")
    sign = 1 if pos == 1 else -1  # coef_ points towards classes_[1]

    def p(a: float, b: float) -> float:
        return float(1 / (1 + np.exp(-sign * (w_a * a + w_b * b + lr.intercept_[0]))))

    expected = []
    for a, b in [(3.0, 1.0), (0.0, 0.0), (1.0, 0.0)]:
        contributions = {"a": p(a, b) - p(1.0, b), "b": p(a, b) - p(a, 0.0)}
        ranked = sorted(contributions.items(), key=lambda kv: -abs(kv[1]))
        expected.append({k: round(v, 4) for k, v in ranked if round(v, 4) != 0})
    got = [json.loads(e) for e in out["explanation"]]
    assert got == expected
    assert [list(g) for g in got] == [list(e) for e in expected]  # ordered, largest first
    assert got[2] == {}  # the case at the reference on every feature: nothing moved it
    np.testing.assert_allclose(out["score"].to_numpy(), [p(3.0, 1.0), p(0.0, 0.0), p(1.0, 0.0)])


def test_a_reference_dict_or_frame_sets_what_a_feature_is_replaced_by() -> None:
    train = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})
    lr = LogisticRegression().fit(train, ["no_inspect", "no_inspect", "inspect", "inspect"])
    cases = pl.DataFrame({"case_id": ["x"], "a": [3.0], "b": [1.0]})
    pos = list(lr.classes_).index("inspect")

    def p(a: float, b: float) -> float:
        return float(lr.predict_proba(pd.DataFrame({"a": [a], "b": [b]}))[0, pos])

    by_dict = score_frame(
        lr, cases, point=POINT, model_version="v1", reference={"a": 0.0, "b": 0.0}, top=2
    )
    assert json.loads(by_dict["explanation"][0]) == pytest.approx(
        {"a": p(3.0, 1.0) - p(0.0, 1.0), "b": p(3.0, 1.0) - p(3.0, 0.0)}, abs=5e-5
    )
    by_frame = score_frame(
        lr, cases, point=POINT, model_version="v1", reference=pl.from_pandas(train), top=2
    )
    # medians of the training data: a = 1.5, b = 0.5
    assert json.loads(by_frame["explanation"][0]) == pytest.approx(
        {"a": p(3.0, 1.0) - p(1.5, 1.0), "b": p(3.0, 1.0) - p(3.0, 0.5)}, abs=5e-5
    )


def test_a_categorical_feature_is_replaced_by_its_most_frequent_value(model: Pipeline) -> None:
    test = pumps(40, seed=2)
    cases = cases_of(test)
    out = score_frame(model, cases, point=POINT, model_version="v1", top=len(FEATURES))
    most = test["asset_class"].value_counts().idxmax()
    pos = list(model.classes_).index("inspect")
    at_reference = test.assign(asset_class=most)
    change = (
        model.predict_proba(test[FEATURES])[:, pos]
        - model.predict_proba(at_reference[FEATURES])[:, pos]
    )
    for explanation, delta, cls in zip(
        out["explanation"], change, test["asset_class"], strict=True
    ):
        got = json.loads(explanation)
        if cls == most or round(delta, 4) == 0:
            assert "asset_class" not in got
        else:
            assert got["asset_class"] == pytest.approx(round(delta, 4), abs=1e-12)


@pytest.mark.parametrize(
    "classifier",
    [
        RandomForestClassifier(n_estimators=10, random_state=0),
        HistGradientBoostingClassifier(max_iter=20, random_state=0),
    ],
    ids=["random_forest", "hist_gradient_boosting"],
)
def test_non_linear_models_are_explained_by_the_same_method(
    train: pd.DataFrame, classifier: Any
) -> None:
    model = pipeline(classifier).fit(train[FEATURES], train["label"])
    test = pumps(30, seed=3)
    out = score_frame(model, cases_of(test), point=POINT, model_version="v2", top=3)
    pos = list(model.classes_).index("inspect")
    proba = model.predict_proba(test[FEATURES])[:, pos]
    np.testing.assert_allclose(out["score"].to_numpy(), proba)
    assert out["predicted_label"].to_list() == list(model.predict(test[FEATURES]))
    # the vibration term, checked against a by-hand occlusion at the cases' median
    at_median = test.assign(vibration_mm_s=test["vibration_mm_s"].median())
    delta = proba - model.predict_proba(at_median[FEATURES])[:, pos]
    for explanation, d in zip(out["explanation"], delta, strict=True):
        got = json.loads(explanation)
        assert len(got) <= 3
        if "vibration_mm_s" in got:
            assert got["vibration_mm_s"] == pytest.approx(round(d, 4), abs=1e-12)


def test_a_plain_estimator_with_zero_one_classes(train: pd.DataFrame) -> None:
    y = (train["label"] == "inspect").astype(int)
    lr = LogisticRegression(max_iter=5000).fit(train[NUMERIC], y)
    test = pumps(20, seed=4)
    out = score_frame(
        lr, cases_of(test).drop("asset_class"), point=POINT, model_version="v1", top=1
    )
    proba = lr.predict_proba(test[NUMERIC])[:, 1]
    np.testing.assert_allclose(out["score"].to_numpy(), proba)
    expected = np.where(lr.predict(test[NUMERIC]) == 1, "inspect", "no_inspect")
    assert out["predicted_label"].to_list() == list(expected)
    assert all(len(json.loads(e)) <= 1 for e in out["explanation"])


def test_false_true_classes_map_true_to_the_positive_label(train: pd.DataFrame) -> None:
    y = train["label"] == "inspect"
    lr = LogisticRegression(max_iter=5000).fit(train[NUMERIC], y)
    out = score_frame(lr, cases_of(pumps(10, seed=5)), point=POINT, model_version="v1", top=0)
    proba = lr.predict_proba(pumps(10, seed=5)[NUMERIC])[:, 1]
    np.testing.assert_allclose(out["score"].to_numpy(), proba)


def test_multiclass_explains_the_predicted_label_and_has_no_score(train: pd.DataFrame) -> None:
    y = pd.cut(train["vibration_mm_s"], [-1, 2.5, 5.0, 1e9], labels=["low", "mid", "high"])
    lr = LogisticRegression(max_iter=5000).fit(train[NUMERIC], y.astype(str))
    test = pumps(25, seed=6)
    out = score_frame(lr, cases_of(test), point=MULTI, model_version="v1", top=1)
    assert out["predicted_label"].to_list() == list(lr.predict(test[NUMERIC]))
    assert out["score"].null_count() == 25
    proba = lr.predict_proba(test[NUMERIC])
    best = proba.argmax(axis=1)
    at_median = test.assign(vibration_mm_s=test["vibration_mm_s"].median())
    moved = lr.predict_proba(at_median[NUMERIC])
    rows = np.arange(25)
    delta = proba[rows, best] - moved[rows, best]
    for explanation, d in zip(out["explanation"], delta, strict=True):
        got = json.loads(explanation)
        if "vibration_mm_s" in got:
            assert got["vibration_mm_s"] == pytest.approx(round(d, 4), abs=1e-12)


def test_small_batches_give_the_same_result(model: Pipeline) -> None:
    cases = cases_of(pumps(53, seed=7))
    whole = score_frame(model, cases, point=POINT, model_version="v1", predicted_at=NOW)
    batched = score_frame(
        model, cases, point=POINT, model_version="v1", predicted_at=NOW, batch_size=10
    )
    assert batched.equals(whole)


def test_predicted_at_comes_from_the_cases_when_they_have_it(model: Pipeline) -> None:
    cases = cases_of(pumps(3, seed=8)).with_columns(
        predicted_at=pl.Series(["2026-03-02 07:00", "2026-03-02T07:00:00+00:00", None])
    )
    out = score_frame(model, cases, point=POINT, model_version="v1", top=0)
    assert out["predicted_at"].to_list() == [
        datetime(2026, 3, 2, 6, 0, tzinfo=UTC),  # naive: the point's timezone (Berlin, UTC+1)
        datetime(2026, 3, 2, 7, 0, tzinfo=UTC),
        None,  # left for the load to quarantine as missing
    ]
    bad = cases.with_columns(predicted_at=pl.Series(["2026-03-02 07:00", "soon", None]))
    with pytest.raises(InvalidLog, match=r"predicted_at 'soon' \(row 2\) is not a timestamp"):
        score_frame(model, bad, point=POINT, model_version="v1")


def test_missing_feature_columns_are_named_with_close_matches(model: Pipeline) -> None:
    cases = cases_of(pumps(5)).rename({"vibration_mm_s": "vibration_mms"}).drop("age_years")
    with pytest.raises(InvalidModel) as e:
        score_frame(model, cases, point=POINT, model_version="v1")
    assert str(e.value) == (
        "The model's feature columns are missing from the cases: vibration_mm_s (did you mean"
        " 'vibration_mms'?), age_years"
    )
    assert e.value.hint is not None and e.value.hint.startswith(
        "the model was fit on vibration_mm_s, temperature_c,"
    )


def test_cases_without_case_id_are_refused(model: Pipeline) -> None:
    cases = cases_of(pumps(5)).rename({"case_id": "case"})
    with pytest.raises(InvalidLog, match=r"^No case_id column in the cases \(did you mean 'case'"):
        score_frame(model, cases, point=POINT, model_version="v1")


def test_classes_that_are_not_the_points_labels_are_refused(train: pd.DataFrame) -> None:
    lr = LogisticRegression(max_iter=5000).fit(
        train[NUMERIC], train["label"].map({"inspect": "Y"}).fillna("N")
    )
    with pytest.raises(InvalidModel) as e:
        score_frame(lr, cases_of(pumps(5)), point=POINT, model_version="v1")
    assert str(e.value) == (
        "The model's classes ('N', 'Y') do not match the labels of pump-inspection"
        " (inspect, no_inspect)"
    )
    assert e.value.hint == (
        "fit the model on the labels inspect, no_inspect, or on 0/1 (or False/True) with 1"
        " meaning 'inspect'"
    )
    three = LogisticRegression(max_iter=5000).fit(train[NUMERIC], np.arange(len(train)) % 3)
    with pytest.raises(InvalidModel, match=r"classes \(0, 1, 2\) do not match"):
        score_frame(three, cases_of(pumps(5)), point=POINT, model_version="v1")


def test_a_model_without_feature_names_or_probabilities_is_refused(train: pd.DataFrame) -> None:
    no_names = LogisticRegression(max_iter=5000).fit(train[NUMERIC].to_numpy(), train["label"])
    with pytest.raises(InvalidModel) as e:
        model_features(no_names)
    assert e.value.hint == "fit the model on a pandas or Polars DataFrame with named columns"
    regressor = DecisionTreeRegressor().fit(train[NUMERIC], train["vibration_mm_s"])
    with pytest.raises(InvalidModel, match="DecisionTreeRegressor, which gives no probabilities"):
        score_frame(regressor, cases_of(pumps(5)), point=POINT, model_version="v1")


def test_a_model_that_fails_on_the_values_says_so(model: Pipeline) -> None:
    cases = cases_of(pumps(5)).with_columns(temperature_c=pl.lit("hot"))
    with pytest.raises(InvalidModel, match=r"^The model failed to score the cases: ValueError"):
        score_frame(model, cases, point=POINT, model_version="v1")


def test_load_model_refuses_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(InvalidModel, match=r"^No such model file: "):
        load_model(tmp_path / "nope.joblib")
    (tmp_path / "junk.joblib").write_bytes(b"not a pickle")
    with pytest.raises(InvalidModel, match=r"^Cannot read the model file .*junk\.joblib: "):
        load_model(tmp_path / "junk.joblib")
    joblib.dump({"weights": [1, 2]}, tmp_path / "dict.joblib")
    with pytest.raises(InvalidModel, match="is a dict, which gives no probabilities"):
        load_model(tmp_path / "dict.joblib")


# --- into the store ----------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path: Path, model: Pipeline) -> tuple[Path, Path]:
    joblib.dump(model, tmp_path / "model.joblib")
    test = pumps(40, seed=9)
    cases = cases_of(test, site=pl.lit("hamburg"))
    cases.write_csv(tmp_path / "cases.csv")
    return tmp_path / "model.joblib", tmp_path / "cases.csv"


def stored(db: Path) -> pl.DataFrame:
    with Store.open(db, read_only=True) as store:
        return store.frame(
            "SELECT case_id, predicted_at, model, model_version, predicted_label, score,"
            " CAST(explanation AS VARCHAR) AS explanation, segments->>'site' AS site"
            " FROM predictions ORDER BY source_row"
        )


def loads_count(db: Path) -> int:
    with Store.open(db, read_only=True) as store:
        return int(store.rows("SELECT count(*) FROM loads")[0][0])


def test_score_cases_loads_what_score_frame_computes(
    db: Path, files: tuple[Path, Path], model: Pipeline
) -> None:
    model_path, cases_path = files
    summary = score_cases(
        db, "pump-inspection", model_path, cases_path, model_version="v1", now=NOW
    )
    with Store.open(db, read_only=True) as store:
        point = get_point(store, "pump-inspection")
    assert (summary.rows_read, summary.accepted, summary.quarantined) == (40, 40, 0)
    assert summary.source == str(cases_path)
    assert point is not None
    expected = score_frame(
        model, pl.read_csv(cases_path), point=point, model_version="v1", predicted_at=NOW
    )
    got = stored(db)
    assert got["case_id"].to_list() == expected["case_id"].to_list()
    assert got["predicted_label"].to_list() == expected["predicted_label"].to_list()
    np.testing.assert_allclose(got["score"].to_numpy(), expected["score"].to_numpy())
    assert [json.loads(e) for e in got["explanation"]] == [
        json.loads(e) for e in expected["explanation"]
    ]
    assert set(got["site"].to_list()) == {"hamburg"}
    assert set(got["predicted_at"].to_list()) == {NOW}


def test_scoring_the_same_cases_again_changes_nothing(db: Path, files: tuple[Path, Path]) -> None:
    model_path, cases_path = files
    first = score_cases(db, "pump-inspection", model_path, cases_path, model_version="v1", now=NOW)
    again = score_cases(db, "pump-inspection", model_path, cases_path, model_version="v1", now=NOW)
    assert first.accepted == 40
    assert (again.accepted, again.duplicates, again.already_loaded_as) == (0, 40, first.load_id)
    assert stored(db).height == 40


def test_a_cases_file_with_its_own_times_scores_idempotently(
    db: Path, tmp_path: Path, model: Pipeline
) -> None:
    joblib.dump(model, tmp_path / "model.joblib")
    cases = cases_of(pumps(10, seed=10), predicted_at=pl.lit("2026-03-02T07:00:00+00:00"))
    cases.write_parquet(tmp_path / "cases.parquet")
    paths = ("pump-inspection", tmp_path / "model.joblib", tmp_path / "cases.parquet")
    first = score_cases(db, *paths, model_version="v1")
    again = score_cases(db, *paths, model_version="v1")
    assert (first.accepted, again.accepted, again.duplicates) == (10, 0, 10)


class StoreProbe:
    """A model that, each time it predicts, has another process try to write to the store."""

    def __init__(self, model: Pipeline, db: Path, log: Path) -> None:
        self.model, self.db, self.log = model, db, log
        self.classes_ = model.classes_
        self.feature_names_in_ = model.feature_names_in_

    def predict_proba(self, x: Any) -> Any:
        code = f"from shadow.store import Store\nStore.open({str(self.db)!r}, wait=0).close()"
        exit_code = subprocess.run([sys.executable, "-c", code], capture_output=True).returncode
        with self.log.open("a") as f:
            f.write(f"{exit_code}\n")
        return self.model.predict_proba(x)


def test_the_store_is_free_for_others_while_the_model_runs(
    db: Path, files: tuple[Path, Path], model: Pipeline, tmp_path: Path
) -> None:
    _, cases_path = files
    log = tmp_path / "writers.txt"
    joblib.dump(StoreProbe(model, db, log), tmp_path / "probe.joblib")
    summary = score_cases(
        db, "pump-inspection", tmp_path / "probe.joblib", cases_path, model_version="v1", top=0
    )
    assert summary.accepted == 40
    assert log.read_text().split() == ["0"]  # the other process could open the store


def test_a_mismatched_model_writes_nothing(
    db: Path, files: tuple[Path, Path], tmp_path: Path
) -> None:
    model_path, _ = files
    cases_of(pumps(5)).drop("pressure_bar").write_csv(tmp_path / "short.csv")
    with pytest.raises(InvalidModel, match=r"short\.csv: pressure_bar$"):
        score_cases(db, "pump-inspection", model_path, tmp_path / "short.csv", model_version="v1")
    assert loads_count(db) == 0
    assert stored(db).height == 0


def test_cli_scores_and_prints_the_load_summary(db: Path, files: tuple[Path, Path]) -> None:
    model_path, cases_path = files
    args = [
        "score",
        "--db",
        str(db),
        "--point",
        "pump-inspection",
        "--model",
        str(model_path),
        "--cases",
        str(cases_path),
        "--model-version",
        "pump-risk-v1",
        "--model-name",
        "pump-risk",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{cases_path} -> predictions (load 1, ")
    assert lines[1] == "  40 rows read: 40 accepted, 0 duplicates skipped, 0 quarantined"
    got = stored(db)
    assert set(got["model"].to_list()) == {"pump-risk"}
    assert set(got["model_version"].to_list()) == {"pump-risk-v1"}

    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["rows_read"] == 40
    assert summary["accepted"] + summary["duplicates"] == 40  # a new time: new rows, or the same


def test_cli_refuses_a_mismatched_model_with_the_missing_columns(
    db: Path, files: tuple[Path, Path], tmp_path: Path
) -> None:
    model_path, _ = files
    cases_of(pumps(5)).drop("asset_class").write_parquet(tmp_path / "cases.parquet")
    result = CliRunner().invoke(
        cli,
        [
            "score",
            "--db",
            str(db),
            "--point",
            "pump-inspection",
            "--model",
            str(model_path),
            "--cases",
            str(tmp_path / "cases.parquet"),
            "--model-version",
            "v1",
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"Error: The model's feature columns are missing from {tmp_path / 'cases.parquet'}:"
        " asset_class\n\nHint: the model was fit on"
    )
    assert loads_count(db) == 0
