"""Evidence needed, worked by hand from STATISTICS.md's "price of peeking" table."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from shadow.track.evidence import evidence

KEY = {"model_version": "v1", "segment": "site", "segment_value": "kiel"}


def frames(
    *, matured: int, correct: int, p_value: float, lower: float, before: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    sequences = pl.DataFrame(
        [
            {
                **KEY,
                "as_of": date(2026, 1, 1),
                "matured": before,
                "model_correct": 0,
                "accuracy_evalue": 1.0,
                "accuracy_always_valid_p": 1.0,
                "difference_lower": -1.0,
            },
            {
                **KEY,
                "as_of": date(2026, 1, 29),
                "matured": matured,
                "model_correct": correct,
                "accuracy_evalue": 1 / p_value,
                "accuracy_always_valid_p": p_value,
                "difference_lower": lower,
            },
        ]
    )
    numbers = pl.DataFrame(
        [
            {
                **KEY,
                "period": "all",
                "resolved": matured,
                "model_accuracy": correct / matured,
                "person_accuracy": 0.85,
                "model_right_person_wrong": 15 * matured // 100,
                "person_right_model_wrong": 5 * matured // 100,
            }
        ]
    )
    return numbers, sequences


def test_accuracy_at_090_against_085_needs_395_cases_in_all() -> None:
    # 60 resolved so far, 54 right (0.90); 40 of them matured in the last 28 days: 10 a week
    numbers, sequences = frames(matured=60, correct=54, p_value=0.5, lower=-0.2, before=20)
    row = evidence(numbers, sequences, floor=0.85, margin=0.05, alpha=0.05).row(0, named=True)
    assert not row["accuracy_passes"]
    assert row["accuracy_cases_needed"] == 395 - 60  # STATISTICS.md 4.4: 0.90 -> 0.85 needs 395
    assert row["resolved_per_week"] == pytest.approx(10.0)
    assert row["accuracy_weeks_needed"] == pytest.approx(33.5)
    # model-only right 15%, person-only right 5%: the planning stream needs 100 paired cases (4.4)
    assert not row["margin_passes"]
    assert row["margin_cases_needed"] == 100 - 60
    assert row["margin_weeks_needed"] == pytest.approx(4.0)


def test_a_passed_test_needs_nothing_and_a_model_below_the_floor_never_passes() -> None:
    numbers, sequences = frames(matured=400, correct=368, p_value=0.001, lower=0.01, before=300)
    row = evidence(numbers, sequences, floor=0.85, margin=0.05, alpha=0.05).row(0, named=True)
    assert (row["accuracy_passes"], row["accuracy_cases_needed"], row["accuracy_weeks_needed"]) == (
        True,
        0,
        0,
    )
    assert (row["margin_passes"], row["margin_cases_needed"]) == (True, 0)
    numbers, sequences = frames(matured=400, correct=320, p_value=1.0, lower=-0.3, before=300)
    row = evidence(numbers, sequences, floor=0.85, margin=0.05, alpha=0.05).row(0, named=True)
    assert row["accuracy_cases_needed"] == float("inf")


def test_expected_cost_per_case_matches_statistics_section_7() -> None:
    """n = 1000 assets, 50 failures, C_FN = 50, C_FP = 1: model 0.62, person 1.08 per case."""
    from shadow.points import parse_point
    from shadow.track.numbers import numbers
    from tests.conftest import POINT_TOML

    point = parse_point(POINT_TOML + "[policy.costs]\nfalse_negative = 50\nfalse_positive = 1\n")
    counts = {
        "paired": 1000,
        "agree": 900,
        "decided": 1000,
        "resolved_decided": 1000,
        "resolved": 1000,
        "both_right": 800,
        "model_right_person_wrong": 100,
        "person_right_model_wrong": 50,
        "both_wrong": 50,
        "both_positive": 100,
        "model_only_positive": 60,
        "person_only_positive": 10,
        "both_negative": 830,
        "actual_positive": 50,
        "model_true_positive": 40,
        "model_positive_resolved": 160,
        "person_true_positive": 30,
        "person_positive_resolved": 110,
        "brier_n": 0,
        "brier_sum_e9": 0,
        "decided_positive": 110,
        "resolved_decided_positive": 110,
        "resolved_decided_negative": 890,
    }
    row = numbers(pl.DataFrame([counts]), point).row(0, named=True)
    assert row["model_cost_per_case"] == pytest.approx(0.62)
    assert row["person_cost_per_case"] == pytest.approx(1.08)
    # the same table: of 950 negatives, the model left 830 alone and the people 870
    assert row["model_specificity"] == pytest.approx(830 / 950)
    assert row["person_specificity"] == pytest.approx(870 / 950)
