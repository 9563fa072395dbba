"""Readiness gates end to end: the worked example of STATISTICS.md 9.3, sign-offs, snapshots, watch."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from click.testing import CliRunner
from scipy import integrate

from shadow.cli import cli
from shadow.errors import ShadowError
from shadow.ingestion import ingest_into, plan_sources
from shadow.points import add_point, parse_point
from shadow.refresh import refresh
from shadow.signoffs import sign_off
from shadow.snapshot import open_published
from shadow.store import Store

# One segment (site = a) judged as one of 4 segments in the family: alpha_s = 0.05 / 4 = 0.0125.
POINT = """
id = "pumps"
name = "Inspect this pump?"
owner = "Dana Reyes"
task = "binary"
labels = ["inspect", "no_inspect"]
positive_label = "inspect"
segments = ["site"]
timezone = "UTC"

[policy]
segments_in_family = 4
"""
NOW = datetime(2026, 6, 1, tzinfo=UTC)
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
MATURED = datetime(2026, 3, 10, 6, 0, tzinfo=UTC)


def cells(n: int) -> list[str]:
    """STATISTICS.md 9.3's stream: blocks of 25 with D = +1 at 0 and 16, -1 at 8; 1 both wrong."""
    kinds = {0: "model_right", 16: "model_right", 8: "person_right", 24: "both_wrong"}
    return [kinds.get(i % 25, "both_right") for i in range(n)]


def logs(
    kinds: list[str], first: int, decided: datetime, observed: datetime
) -> dict[str, pl.DataFrame]:
    """The three logs for cases first, first+1, ... of the given cells, one minute apart."""
    rows: dict[str, list[dict[str, object]]] = {"predictions": [], "decisions": [], "outcomes": []}
    for i, kind in enumerate(kinds):
        case = f"c{first + i:05d}"
        actual = "inspect" if (first + i) % 5 == 0 else "no_inspect"
        other = "no_inspect" if actual == "inspect" else "inspect"
        model = actual if kind in ("both_right", "model_right") else other
        person = actual if kind in ("both_right", "person_right") else other
        at = decided + timedelta(minutes=i)
        rows["predictions"].append(
            {
                "case_id": case,
                "predicted_at": at - timedelta(hours=1),
                "model_version": "v1",
                "predicted_label": model,
                "site": "a",
            }
        )
        rows["decisions"].append(
            {"case_id": case, "decided_at": at, "human_label": person, "site": "a"}
        )
        rows["outcomes"].append(
            {
                "case_id": case,
                "observed_at": observed + timedelta(seconds=30 * i),
                "actual_label": actual,
            }
        )
    return {log: pl.DataFrame(r) for log, r in rows.items()}


def load(db: Path, frames: dict[str, pl.DataFrame]) -> None:
    with Store.open(db) as store:
        for log, frame in frames.items():
            ingest_into(store, log, plan_sources(frame), point="pumps", now=NOW)


def build(tmp_path: Path, policy: str = "") -> Path:
    """A store with the worked example's 400 cases, refreshed."""
    db = tmp_path / "gates.duckdb"
    text = POINT + policy
    with Store.open(db, create=True) as store:
        add_point(store, parse_point(text), text)
    load(db, logs(cells(400), 0, START, MATURED))
    refresh(db)
    return db


def gate(db: Path, stage: str = "advisory") -> dict[str, dict[str, object]]:
    with open_published(db) as published:
        rows = published.table("gates").filter(stage=stage, segment="site", segment_value="a")
    return {r["criterion"]: r for r in rows.iter_rows(named=True)}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("example"))


def test_the_worked_example_of_statistics_9_3(example: Path) -> None:
    verdict = gate(example)
    # E2: E_400 = 1849.99 >= 1/0.0125 = 80 (one look: every outcome matured on the same day)
    assert verdict["accuracy"]["value"] == pytest.approx(1849.99, rel=1e-5)
    assert verdict["accuracy"]["threshold"] == pytest.approx(80)
    assert verdict["accuracy"]["passes"]
    # E3: one-sided PrPl-EB lower bound on the difference at alpha_s = 0.0125 is -0.028967 > -0.05
    assert verdict["people"]["value"] == pytest.approx(-0.028967, abs=1e-6)
    assert verdict["people"]["threshold"] == pytest.approx(-0.05)
    assert verdict["people"]["passes"]
    assert verdict["resolved"]["value"] == 400 and verdict["resolved"]["passes"]
    assert verdict["positives"]["value"] == 80  # every fifth case needed an inspection
    # one day of track record: the 4-week guard fails, so the segment is not ready yet
    assert not verdict["weeks"]["passes"] and not verdict["weeks"]["ready"]
    assert verdict["accuracy"]["alpha"] == pytest.approx(0.0125)
    with open_published(example) as published:
        day = published.table("sequences").filter(segment="site").row(-1, named=True)
    # the same stream at alpha = 0.05 (the descriptive bound): -0.015258
    assert day["difference_lower"] == pytest.approx(-0.015258, abs=1e-6)


def test_a_stricter_stage_fails_where_the_first_passes(example: Path) -> None:
    # autonomous asks for superiority: the lower bound -0.029 is not above 0
    verdict = gate(example, "autonomous")
    assert verdict["people"]["threshold"] == 0 and not verdict["people"]["passes"]
    assert verdict["resolved"]["cases_needed"] == 600  # 1,000 needed, 400 resolved


def test_gates_says_what_is_missing_in_plain_words(example: Path) -> None:
    code, out, _ = run("gates", "--db", str(example), "--point", "pumps")
    assert code == 0
    assert "Owner: Dana Reyes." in out
    assert "site = a: shadow. Next: advisory: not ready (model v1, error rate 1.2%" in out
    assert "  pass  accuracy above 85%, peeking-safe: e-value 1.85e+03 (gate: reaches 80)" in out
    assert "  FAIL  weeks of track record: 0.0 (gate: at least 4) -> 4.0 more weeks" in out
    code, _, _ = run("gates", "--db", str(example), "--point", "pumps", "--fail-unless-ready")
    assert code == 3


def test_refusals_have_exact_messages(example: Path) -> None:
    db = str(example)
    base = ["signoff", "--db", db, "--point", "pumps", "--by", "Sam Ortiz", "--reason", "r"]
    code, _, err = run(*base, "--segment", "site=a", "--to", "advisory")
    assert code == 1
    assert err == (
        "Error: The gate into advisory does not pass for site = a: weeks fails\n\n"
        "Hint: see why with `shadow gates --point pumps --segment site=a`; to move it anyway,"
        " sign with --override REASON (recorded as an override)\n"
    )
    code, _, err = run(*base, "--segment", "site=a", "--to", "advisry")
    assert err == (
        "Error: Unknown stage 'advisry' (did you mean 'advisory'?)\n\n"
        "Hint: the stages of pumps are shadow, advisory, assisted, autonomous\n"
    )
    code, _, err = run(*base, "--segment", "site=b", "--to", "advisory")
    assert err == "Error: pumps has no segment site = 'b'\n\nHint: the values of site are a\n"
    code, _, err = run(*base, "--segment", "region=a", "--to", "advisory")
    assert err == (
        "Error: pumps has no segment column 'region'\n\n"
        "Hint: give --segment as column=value; its segment columns are site\n"
    )
    code, _, err = run(*base, "--segment", "site=a", "--to", "assisted")
    assert err.startswith(
        "Error: site = a is at shadow: it can move up one stage at a time, to advisory,"
    )
    code, out, _ = run("stages", "--db", db, "--point", "pumps")
    assert "History: no sign-off yet." in out  # nothing refused was recorded


def test_an_override_is_recorded_and_a_move_down_is_always_allowed(
    example: Path, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copyfile(example, db)
    shutil.copyfile(example.with_name("gates.published.duckdb"), tmp_path / "copy.published.duckdb")
    code, out, _ = run(
        *("signoff", "--db", str(db), "--point", "pumps", "--segment", "site=a"),
        *("--to", "advisory", "--by", "Sam Ortiz", "--reason", "pilot"),
        *("--override", "one-site pilot agreed with the works council"),
    )
    assert code == 0 and out.startswith("OVERRIDE: Signed off site = a: shadow -> advisory")
    code, out, _ = run(
        *("signoff", "--db", str(db), "--point", "pumps", "--segment", "site=a"),
        *("--to", "shadow", "--by", "Dana Reyes", "--reason", "pause for the audit"),
    )
    assert code == 0
    code, out, _ = run("stages", "--db", str(db), "--point", "pumps")
    assert "  site = a: shadow since" in out
    assert "1. " in out and "by Sam Ortiz (owner: Dana Reyes): pilot (policy version 1)" in out
    assert "OVERRIDE: one-site pilot agreed with the works council" in out
    assert "2. " in out and "advisory -> shadow, by Dana Reyes: pause for the audit" in out


@pytest.mark.slow
def test_the_snapshot_is_shown_exactly_as_signed_and_tampering_is_caught(tmp_path: Path) -> None:
    db = build(tmp_path, "[policy.gates.advisory]\nmin_weeks = 0\n")
    signed = datetime(2026, 3, 11, 9, 0, tzinfo=UTC)
    done = sign_off(
        db, "pumps", ("site", "a"), "advisory", by="Sam Ortiz", reason="gate passed", now=signed
    )
    assert not done.override
    _, before, _ = run("signoff", "show", "1", "--db", str(db))
    # later data: 300 cases at 60% accuracy, matured after the promotion
    kinds = ["both_right"] * 180 + ["person_right"] * 120
    load(db, logs(kinds, 400, START + timedelta(days=14), MATURED + timedelta(days=10)))
    refresh(db)
    _, after, _ = run("signoff", "show", "1", "--db", str(db))
    assert after == before  # byte-identical
    assert "Signed by Sam Ortiz at 2026-03-11T09:00:00+00:00 (owner: Dana Reyes)" in after
    assert '"value": 400.0' in after  # the resolved cases as they stood
    assert gate(db)["resolved"]["value"] == 700  # while the published numbers moved on
    code, out, _ = run("signoff", "verify", "--db", str(db))
    assert (code, out) == (0, "All 1 sign-offs match their hashes.\n")
    with Store.open(db) as store:
        store.execute("UPDATE signoffs SET reason = 'changed later' WHERE signoff_id = 1")
    code, _, err = run("signoff", "verify", "--db", str(db))
    assert code == 1
    assert err == (
        "Error: The sign-off log was changed after signing:\n"
        "sign-off 1: its contents no longer match its hash (changed)\n\n"
        "Hint: restore the store from a backup and compare the sign-offs\n"
    )


@pytest.mark.slow
def test_a_promoted_segment_whose_accuracy_falls_is_flagged_for_review(tmp_path: Path) -> None:
    db = build(tmp_path, "[policy.gates.advisory]\nmin_weeks = 0\n")
    sign_off(db, "pumps", ("site", "a"), "advisory", by="Dana Reyes", reason="ok",
             now=datetime(2026, 3, 11, 9, 0, tzinfo=UTC))  # fmt: skip
    kinds = ["both_right"] * 180 + ["person_right"] * 120
    load(db, logs(kinds, 400, START + timedelta(days=14), MATURED + timedelta(days=10)))
    refresh(db)
    with open_published(db) as published:
        row = published.table("stages").row(0, named=True)
    assert (row["stage"], row["cases_since"], row["review"]) == ("advisory", 300, True)

    # the mirror-image e-value for "accuracy >= 0.85", mixing q ~ U(0, 0.85), by integration
    def ratio(q: float) -> float:
        return float((q / 0.85) ** 180 * ((1 - q) / 0.15) ** 120)

    expected = integrate.quad(ratio, 0, 0.85, points=[0.6], limit=200)[0] / 0.85
    assert row["demotion_evalue"] == pytest.approx(expected, rel=1e-6)
    # the decline alarm: the CUSUM charted after the first 200 cases (their error rate is p0),
    # its alarms counted from the first case that matured after the promotion (case 400)
    from shadow.stats import monitoring
    from shadow.track.streams import CUSUM_H, MIN_RISE, REFERENCE_CASES

    kinds = [*cells(400), *kinds]
    errors = np.array([k in ("person_right", "both_wrong") for k in kinds], dtype=float)
    p0 = errors[:REFERENCE_CASES].mean()
    chart = monitoring.bernoulli_cusum(
        errors[REFERENCE_CASES:], p0, p0 + max(p0, MIN_RISE), CUSUM_H
    )
    after = int(np.sum(chart.alarms + REFERENCE_CASES >= 400))
    assert after > 0 and row["decline_alarms_since"] == after
    _, out, _ = run("gates", "--db", str(db), "--point", "pumps")
    assert "  REVIEW: since the promotion, 300 resolved cases at 60%" in out
    _, out, _ = run("report", "--db", str(db), "--point", "pumps")
    assert "Review site = a (advisory since 2026-03-11, signed by Dana Reyes)" in " ".join(
        out.split()
    )


@pytest.mark.slow
def test_the_peeking_simulation_keeps_false_readiness_below_alpha() -> None:
    """A model exactly at the floor, looked at daily for a year: ready in at most alpha of runs."""
    from shadow.track.gates import best_evalues

    rng = np.random.default_rng(20261126)
    runs, days, per_day, floor, alpha = 4000, 365, 20, 0.85, 0.05
    correct = rng.binomial(per_day, floor, size=(runs, days)).cumsum(axis=1)
    total = np.broadcast_to(np.arange(1, days + 1) * per_day, (runs, days))
    group = np.repeat(np.arange(runs), days)
    best = best_evalues(correct.ravel(), total.ravel(), floor, group)
    ready = np.mean(best >= 1 / alpha)
    assert ready <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / runs)
    # the naive daily rule (one-sided 95% Wilson lower bound above the floor) is fooled far more
    # often, as STATISTICS.md 4.1 says; this shows the simulation can tell the two apart
    from tests.support import oracles

    naive = oracles.wilson_lower_one_sided(correct, total, alpha) > floor
    assert naive.any(axis=1).mean() > 0.25
    # and a model that is really better (0.90) is found ready within the year almost always
    better = rng.binomial(per_day, 0.90, size=(runs // 4, days)).cumsum(axis=1)
    best = best_evalues(
        better.ravel(), total[: runs // 4].ravel(), floor, group[: (runs // 4) * days]
    )
    assert np.mean(best >= 1 / alpha) > 0.98


@pytest.mark.slow
def test_a_new_policy_needs_a_refresh_and_then_judges_all_the_evidence(tmp_path: Path) -> None:
    db = build(tmp_path)
    changed = POINT + "family_alpha = 0.1\n"
    with Store.open(db) as store:
        add_point(store, parse_point(changed), changed, update=True)
    with pytest.raises(ShadowError) as e:
        sign_off(db, "pumps", ("site", "a"), "advisory", by="Dana Reyes", reason="r")
    assert str(e.value) == "The published verdicts of pumps are older than its policy (version 2)"
    refresh(db)
    verdict = gate(db)
    assert verdict["accuracy"]["policy_version"] == 2
    assert verdict["accuracy"]["alpha"] == pytest.approx(0.1 / 4)
    assert verdict["accuracy"]["threshold"] == pytest.approx(40)


@pytest.mark.slow
def test_a_removed_sign_off_breaks_the_chain(tmp_path: Path) -> None:
    db = build(tmp_path, "[policy.gates.advisory]\nmin_weeks = 0\n")
    code, _, _ = run("gates", "--db", str(db), "--point", "pumps", "--fail-unless-ready")
    assert code == 0  # every criterion of the advisory gate passes
    sign_off(db, "pumps", ("site", "a"), "advisory", by="Dana Reyes", reason="up")
    sign_off(db, "pumps", ("site", "a"), "shadow", by="Dana Reyes", reason="pause")
    with Store.open(db) as store:
        store.execute("DELETE FROM signoffs WHERE signoff_id = 1")
    code, _, err = run("signoff", "verify", "--db", str(db))
    assert code == 1
    assert "sign-off 2: the sign-off before it was changed or removed\n" in err


def test_recall_and_cost_are_judged_on_the_same_stream(tmp_path: Path) -> None:
    costs = "[policy.costs]\nfalse_negative = 50\nfalse_positive = 1\n"
    gate_table = "[policy.gates.advisory]\nrecall_floor = 0.5\nmax_cost_difference = 0\n"
    db = build(tmp_path, costs + gate_table)
    verdict = gate(db)
    kinds = cells(400)
    positive = [i % 5 == 0 for i in range(400)]
    model_right = [k in ("both_right", "model_right") for k in kinds]
    person_right = [k in ("both_right", "person_right") for k in kinds]
    n = sum(positive)
    s = sum(p and m for p, m in zip(positive, model_right, strict=True))

    # recall: the e-value for "recall <= 0.5", mixing q ~ U(0.5, 1), by integration
    def ratio(q: float) -> float:
        return float((q / 0.5) ** s * ((1 - q) / 0.5) ** (n - s))

    expected = integrate.quad(ratio, 0.5, 1)[0] / 0.5
    assert (verdict["recall"]["value"], verdict["recall"]["setting"]) == (
        pytest.approx(expected, rel=1e-6),
        0.5,
    )

    # cost: a missed positive costs 50, a needless inspection 1; per case, model minus person
    def cost(right: bool, pos: bool) -> float:
        return 0.0 if right else (50.0 if pos else 1.0)

    diff = np.array(
        [
            cost(m, p) - cost(h, p)
            for m, h, p in zip(model_right, person_right, positive, strict=True)
        ]
    )
    from shadow.stats import sequential

    lower = sequential.prpl_eb((50 - diff) / 100, 0.0125).lower[-1]
    assert verdict["cost"]["value"] == pytest.approx(50 - 100 * lower, abs=1e-9)
    assert verdict["cost"]["passes"] == (50 - 100 * lower < 0)


def test_gates_as_json_is_strict_json_with_the_owner(example: Path) -> None:
    code, out, _ = run("gates", "--db", str(example), "--point", "pumps", "--format", "json")
    assert code == 0
    found = json.loads(out)
    assert found["point"]["owner"] == "Dana Reyes"
    [segment] = found["segments"]
    assert (segment["stage"], segment["next_stage"], segment["ready"]) == (
        "shadow",
        "advisory",
        False,
    )
    assert [c["criterion"] for c in segment["criteria"]] == [
        "resolved",
        "positives",
        "weeks",
        "accuracy",
        "people",
        "drift",
        "decline",
    ]


def test_a_sign_off_without_its_options_is_a_usage_error(example: Path) -> None:
    code, _, err = run("signoff", "--db", str(example), "--point", "pumps")
    assert code == 2
    assert "A sign-off needs --segment, --to, --by, --reason" in err


def test_a_point_without_outcomes_has_no_verdicts_yet(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    with Store.open(db, create=True) as store:
        add_point(store, parse_point(POINT), POINT)
    refresh(db)
    code, out, _ = run("gates", "--db", str(db), "--point", "pumps")
    assert code == 0
    assert out.endswith("\nNo resolved case yet: no evidence for any gate.\n")
    code, _, err = run(
        *("signoff", "--db", str(db), "--point", "pumps", "--segment", "site=a"),
        *("--to", "advisory", "--by", "Dana Reyes", "--reason", "r"),
    )
    assert err == (
        "Error: pumps has no segment column 'site'\n\n"
        "Hint: give --segment as column=value; its segment columns are (none with evidence yet)\n"
    )


def test_a_policy_with_only_the_shadow_stage_has_no_gate_to_judge(tmp_path: Path) -> None:
    db = build(tmp_path, 'stages = ["shadow"]\n')
    with open_published(db) as published:
        assert "gates" not in published.tables()  # nothing to judge, nothing published
        assert published.table("stages")["stage"].unique().to_list() == ["shadow"]
    code, out, _ = run("gates", "--point", "pumps", "--db", str(db))
    assert code == 0 and "site = a: shadow; this is the last stage." in out
    code, out, _ = run("gates", "--point", "pumps", "--db", str(db), "--format", "json")
    (segment,) = [s for s in json.loads(out)["segments"] if s["segment_value"] == "a"]
    assert code == 0 and segment["next_stage"] is None and segment["criteria"] == []


@pytest.mark.parametrize(
    ("cases", "weeks", "words"),
    [
        (0.4, 0.01, "-> close: a few more resolved cases at the current rates"),
        (30.0, 0.2, "-> about 30 more resolved cases (within a week at the current volume)"),
        (1200.0, 6.4, "-> about 1,200 more resolved cases (about 6 weeks at the current volume)"),
        (
            50.0,
            float("inf"),
            "-> about 50 more resolved cases (no cases arriving at the current volume)",
        ),
        (float("inf"), float("inf"), "-> not at the current rates"),
    ],
)
def test_evidence_needed_in_words_never_says_about_zero(
    cases: float, weeks: float, words: str
) -> None:
    from shadow.readiness import _need

    row = {"passes": False, "criterion": "people", "cases_needed": cases, "weeks_needed": weeks}
    assert _need(row) == words
