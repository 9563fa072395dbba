"""The README shows every command, and every command has an example in its help."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shadow.cli import cli
from shadow.points import parse_point

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "") -> list[str]:
    found = []
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            found += commands(command, f"{prefix}{name} ")
        else:
            found.append(f"{prefix}{name}")
    return found


@pytest.mark.parametrize("command", commands(cli))
def test_every_command_is_in_the_readme_and_has_an_example(command: str) -> None:
    assert f"shadow {command}" in README
    result = CliRunner().invoke(cli, [*command.split(), "--help"])
    assert result.exit_code == 0
    assert "Example" in result.stdout


def test_the_quickstart_is_two_commands() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    commands = [line for line in quickstart.strip().splitlines() if not line.startswith("#")]
    lines = [line.split("#")[0].strip() for line in commands]
    assert lines == ["pip install -e . && shadow demo", 'pip install -e ".[dev]" && pytest']


def test_ci_runs_the_readmes_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert 'pip install -e ".[dev]" && pytest' in ci.splitlines()


def test_the_readme_shows_what_shadow_demo_really_prints(tmp_path: Path) -> None:
    block = README.split("```\nDecision point", 1)[1].split("\n```", 1)[0]
    shown = ("Decision point" + block).splitlines()
    result = CliRunner().invoke(cli, ["demo", "--no-app", "--db", str(tmp_path / "demo.duckdb")])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[: len(shown)] == shown


def test_the_readme_quotes_the_real_briefing(tmp_path: Path) -> None:
    quoted = README.split("The briefing reads like this", 1)[1].split("\n\n", 2)[1]
    text = " ".join(line.removeprefix("> ").strip() for line in quoted.splitlines())
    text = text.removesuffix("...").strip()
    db = tmp_path / "demo.duckdb"
    assert CliRunner().invoke(cli, ["demo", "--no-app", "--db", str(db)]).exit_code == 0
    result = CliRunner().invoke(cli, ["report", "--db", str(db), "--point", "pump-inspection"])
    assert result.exit_code == 0, result.output
    assert text in " ".join(result.stdout.split())


def toml_blocks() -> list[str]:
    return [block.split("\n```", 1)[0] for block in README.split("```toml\n")[1:]]


def test_the_readmes_mapping_is_the_samples_file() -> None:
    mapping = ROOT / "sample_data" / "pump_inspection" / "decisions_mapping.toml"
    shown = [b for b in toml_blocks() if b.startswith("# The maintenance system's")]
    assert shown == [mapping.read_text(encoding="utf-8").rstrip("\n")]
    raw = mapping.with_name("decisions.csv").read_text(encoding="latin-1").splitlines()[:3]
    assert "\n".join(raw) in README  # the export's first lines, as the README shows them


def test_the_readmes_policy_is_accepted() -> None:
    (policy,) = [b for b in toml_blocks() if b.startswith("[policy]")]
    header = 'id = "p"\nname = "n"\nowner = "o"\ntask = "binary"\nlabels = ["a", "b"]\n'
    header += 'positive_label = "a"\ntimezone = "UTC"\n'
    point = parse_point(header + policy)
    assert point.readiness().gates["advisory"].min_resolved == 100
    assert point.readiness().costs == {"false_negative": 50, "false_positive": 1}


def test_the_readmes_screenshots_are_in_the_repository_and_small() -> None:
    shown = set(re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", README))
    committed = {str(p.relative_to(ROOT)) for p in (ROOT / "docs" / "screenshots").glob("*.png")}
    assert shown == committed and len(shown) >= 4
    for path in shown:
        assert (ROOT / path).stat().st_size < 400_000, path
