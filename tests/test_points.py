"""Decision points: their TOML definitions are checked, registered once, and listed."""

from __future__ import annotations

import pytest

from shadow.errors import InvalidConfig
from shadow.points import add_point, get_point, list_points, parse_point
from shadow.store import Store
from tests.conftest import POINT_TOML


def test_a_point_is_parsed_with_its_policy_kept() -> None:
    text = POINT_TOML + "family_alpha = 0.1\n"
    point = parse_point(text)
    assert point.point_id == "pump-inspection"
    assert point.labels == ("inspect", "no_inspect")
    assert point.positive_label == "inspect"
    assert point.segment_columns == ("site", "region")
    assert point.policy == {"family_alpha": 0.1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('task = "binary"', 'task = "regression"'),
            "p.toml: task 'regression' is not one of binary, multiclass",
        ),
        (('owner = "Dana Reyes"\n', ""), "p.toml: missing 'owner'"),
        (
            ('positive_label = "inspect"\n', ""),
            "p.toml: a binary task needs positive_label (the label that a missed case hurts most)",
        ),
        (
            ('positive_label = "inspect"', 'positive_label = "fail"'),
            "p.toml: positive_label 'fail' is not one of the labels ['inspect', 'no_inspect']",
        ),
        (
            ('timezone = "Europe/Berlin"', 'timezone = "Europe/Berln"'),
            "p.toml: unknown timezone 'Europe/Berln' (did you mean 'Europe/Berlin'?)",
        ),
        (("name = ", "nmae = "), "p.toml: unknown key 'nmae' (did you mean 'name'?)"),
        (
            ('segments = ["site", "region"]', 'segments = ["site", "case_id"]'),
            "p.toml: segment column 'case_id' is a name the logs already use",
        ),
        (
            ('labels = ["inspect", "no_inspect"]', 'labels = ["inspect"]'),
            "p.toml: labels must be a list of at least two different, non-empty strings",
        ),
        (
            ('id = "pump-inspection"', 'id = "Pump Inspection"'),
            "p.toml: id 'Pump Inspection' must be lower case letters, digits, '-', '_' or '.'",
        ),
    ],
)
def test_bad_definitions_are_refused_with_the_problem_named(
    change: tuple[str, str], message: str
) -> None:
    old, new = change
    assert old in POINT_TOML
    with pytest.raises(InvalidConfig) as e:
        parse_point(POINT_TOML.replace(old, new, 1), "p.toml")
    assert str(e.value) == message


def test_multiclass_points_need_no_positive_label() -> None:
    text = (
        'id = "triage"\nname = "Triage"\nowner = "Sam"\ntask = "multiclass"\n'
        'labels = ["low", "mid", "high"]\ntimezone = "UTC"\n'
    )
    assert parse_point(text).positive_label is None


def test_registering_twice_is_a_no_op_and_changes_need_update() -> None:
    with Store.memory() as store:
        point = parse_point(POINT_TOML)
        assert add_point(store, point, POINT_TOML) == "added"
        assert add_point(store, point, POINT_TOML) == "unchanged"
        renamed = POINT_TOML.replace('owner = "Dana Reyes"', 'owner = "Lee Park"')
        with pytest.raises(InvalidConfig) as e:
            add_point(store, parse_point(renamed), renamed)
        assert e.value.hint == "run `shadow point add FILE --update` to replace it"
        assert add_point(store, parse_point(renamed), renamed, update=True) == "updated"
        assert [p.owner for p in list_points(store)] == ["Lee Park"]


def test_labels_cannot_change_once_logs_are_loaded(store: Store) -> None:
    store.execute(
        "INSERT INTO decisions VALUES ('pump-inspection', 'c1', now(), 'inspect', NULL, NULL,"
        " NULL, 1, 1)"
    )
    changed = POINT_TOML.replace('"no_inspect"]', '"skip"]')
    with pytest.raises(InvalidConfig) as e:
        add_point(store, parse_point(changed), changed, update=True)
    assert str(e.value) == (
        "Cannot change labels of 'pump-inspection': logs are already loaded under the old definition"
    )
    assert get_point(store, "pump-inspection").labels == ("inspect", "no_inspect")  # type: ignore[union-attr]
