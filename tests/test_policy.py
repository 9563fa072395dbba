"""Readiness policies: defaults from STATISTICS.md 9.1, refusals with exact messages, versions."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.errors import InvalidConfig
from shadow.points import add_point, parse_point, policy_version
from shadow.policy import parse_policy
from shadow.store import Store
from tests.conftest import POINT_TOML


def test_the_defaults_are_statistics_9_1() -> None:
    policy = parse_policy({})
    assert policy.stages == ("shadow", "advisory", "assisted", "autonomous")
    table = {
        stage: (g.min_resolved, g.min_positives, g.margin, g.superiority, g.max_psi)
        for stage, g in policy.gates.items()
    }
    assert table == {
        "advisory": (100, 10, 0.05, False, 0.25),
        "assisted": (300, 30, 0.03, False, 0.25),
        "autonomous": (1000, 50, 0.0, True, 0.10),
    }
    assert {g.min_weeks for g in policy.gates.values()} == {4}  # 9.2 E1: at least 4 weeks
    assert policy.family_alpha == 0.05


def test_the_family_error_rate_is_split_across_segments() -> None:
    assert parse_policy({}).alpha(4) == pytest.approx(0.0125)  # 9.3: K = 4
    assert parse_policy({"segments_in_family": 10}).alpha(4) == pytest.approx(0.005)
    assert parse_policy({"split": "none"}).alpha(4) == pytest.approx(0.05)


def test_a_stage_gate_overrides_only_what_it_names() -> None:
    policy = parse_policy(
        {"stages": ["shadow", "advisory"], "gates": {"advisory": {"min_resolved": 50}}}
    )
    assert policy.stages == ("shadow", "advisory")
    assert policy.gates["advisory"].min_resolved == 50
    assert policy.gates["advisory"].margin == 0.05


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (
            "min_cases = 100",
            "p.toml: [policy] unknown key 'min_cases'",
        ),
        (
            "[policy.gates.advisory]\nmin_resolve = 10",
            "p.toml: [policy] unknown key 'gates.advisory.min_resolve' (did you mean"
            " 'min_resolved'?)",
        ),
        (
            'stages = ["shadow", "assisted", "advisory"]',
            "p.toml: [policy] stage 'advisory' is out of order",
        ),
        (
            'stages = ["shadow", "pilot"]',
            "p.toml: [policy] unknown stage 'pilot'",
        ),
        (
            'stages = ["advisory", "assisted"]',
            "p.toml: [policy] stages must start with 'shadow', not 'advisory'",
        ),
        (
            "[policy.gates.advisory]\nmargin = 5",
            "p.toml: [policy] gates.advisory.margin 5.0 is outside [0, 1]",
        ),
        (
            "[policy.gates.assisted]\naccuracy_floor = -0.1",
            "p.toml: [policy] gates.assisted.accuracy_floor -0.1 is outside [0, 1]",
        ),
        (
            "[policy.gates.pilot]\nmin_resolved = 10",
            "p.toml: [policy] gates.pilot is not a stage a segment can move into",
        ),
        (
            "family_alpha = 2",
            "p.toml: [policy] family_alpha 2.0 must be between 0 and 1",
        ),
        (
            "[policy.gates.advisory]\nmax_cost_difference = 0",
            "p.toml: [policy] gates.advisory.max_cost_difference needs the costs of errors",
        ),
        (
            "[policy.gates.autonomous]\nsuperiority = true\nmargin = 0.02",
            "p.toml: [policy] gates.autonomous.superiority asks for better than people:"
            " its margin must be 0",
        ),
    ],
)
def test_a_bad_policy_is_refused_naming_the_problem(policy: str, message: str) -> None:
    with pytest.raises(InvalidConfig) as e:
        parse_point(POINT_TOML + policy + "\n", "p.toml")
    assert str(e.value) == message


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        # found by tests/test_fuzz.py: int(nan) and int(inf) raised out of `shadow point add`
        (
            "[policy.gates.advisory]\nmin_resolved = nan",
            "p.toml: [policy] gates.advisory.min_resolved must be a finite number, not nan",
        ),
        (
            "[policy.gates.assisted]\nmin_positives = inf",
            "p.toml: [policy] gates.assisted.min_positives must be a finite number, not inf",
        ),
        # nan was accepted here: a gate that can never pass, and "NaN" in the policy's JSON
        (
            "[policy.gates.advisory]\nmax_psi = nan",
            "p.toml: [policy] gates.advisory.max_psi must be a finite number, not nan",
        ),
        (
            "[policy.costs]\nfalse_negative = -inf",
            "p.toml: [policy] costs.false_negative must be a finite number, not -inf",
        ),
        # accepted, then `shadow refresh` failed counting 1e300 weeks in days
        (
            "[policy.gates.advisory]\nquiet_weeks = 1e300",
            "p.toml: [policy] gates.advisory.quiet_weeks 1e+300 is more than 5200 weeks (a century)",
        ),
    ],
)
def test_a_policy_number_that_is_not_finite_or_beyond_a_century_of_weeks_is_refused(
    policy: str, message: str
) -> None:
    with pytest.raises(InvalidConfig) as e:
        parse_point(POINT_TOML + policy + "\n", "p.toml")
    assert str(e.value) == message
    assert parse_point(POINT_TOML + "[policy.gates.advisory]\nquiet_weeks = 5200\n")


def test_a_bad_policy_is_a_clear_error_at_the_command_line(db: object, write: object) -> None:
    path = write("p.toml", POINT_TOML + "[policy.gates.advisory]\nmargin = 5\n")  # type: ignore[operator]
    result = CliRunner().invoke(cli, ["point", "add", "--db", str(db), str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: [policy] gates.advisory.margin 5.0 is outside [0, 1]\n\n"
        "Hint: give it as a share: 0.05 means 5 points\n"
    )


def test_a_change_of_policy_is_recorded_as_a_new_version(store: Store) -> None:
    assert policy_version(store, "pump-inspection") == 1
    changed = POINT_TOML + "family_alpha = 0.1\n"
    add_point(store, parse_point(changed), changed, update=True)
    assert policy_version(store, "pump-inspection") == 2
    renamed = changed.replace('name = "Should', 'name = "Must')
    add_point(store, parse_point(renamed), renamed, update=True)  # same policy: same version
    assert policy_version(store, "pump-inspection") == 2
    rows = store.rows("SELECT version, policy FROM policy_versions ORDER BY version")
    assert [r[0] for r in rows] == [1, 2]


def test_the_documented_policy_and_the_samples_parse() -> None:
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    # every key of a policy is shown in docs/operations.md (the README links there)
    page = (root / "docs" / "operations.md").read_text(encoding="utf-8")
    section = page.split("### The decision point and its policy", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    policy = parse_policy(tomllib.loads(block)["policy"])
    assert policy.gates["advisory"].max_cost_difference == 0
    sample = (root / "sample_data" / "pump_inspection" / "point.toml").read_text(encoding="utf-8")
    point = parse_point(sample)
    assert point.readiness().gates["autonomous"].superiority
